-- spec §10: one row per device, keyed by its unique modbus_code; times in ms since the epoch.
-- IF NOT EXISTS: a database the Go service made already holds the table. Portable SQL: one file
-- for SQLite, PostgreSQL and MySQL/MariaDB.
CREATE TABLE IF NOT EXISTS modbus_slave_config (
    id VARCHAR(64) PRIMARY KEY,
    create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL,
    modbus_code VARCHAR(128) NOT NULL UNIQUE,
    slave_address VARCHAR(512) NOT NULL,
    slave BIGINT NOT NULL,
    timeout BIGINT NOT NULL,
    idle_timeout BIGINT NOT NULL,
    link_recovery_timeout BIGINT NOT NULL,
    protocol_recovery_timeout BIGINT NOT NULL,
    connect_delay BIGINT NOT NULL,
    enable_tls BIGINT NOT NULL,
    tls_cert_file VARCHAR(1024) NOT NULL,
    tls_key_file VARCHAR(1024) NOT NULL,
    tls_ca_file VARCHAR(1024) NOT NULL,
    status BIGINT NOT NULL,
    remark VARCHAR(1024) NOT NULL
);

-- spec §13: object storage templates, one row per (tenant_id, oss_code); times in ms since the
-- epoch. Portable SQL: one file for SQLite, PostgreSQL and MySQL/MariaDB.
CREATE TABLE IF NOT EXISTS oss (
    id VARCHAR(64) PRIMARY KEY,
    tenant_id VARCHAR(64) NOT NULL,
    category BIGINT NOT NULL,
    oss_code VARCHAR(128) NOT NULL,
    endpoint VARCHAR(512) NOT NULL,
    access_key VARCHAR(512) NOT NULL,
    secret_key VARCHAR(512) NOT NULL,
    bucket_name VARCHAR(255) NOT NULL,
    app_id VARCHAR(255) NOT NULL,
    region VARCHAR(128) NOT NULL,
    remark VARCHAR(1024) NOT NULL,
    status BIGINT NOT NULL,
    create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL,
    UNIQUE (tenant_id, oss_code)
);

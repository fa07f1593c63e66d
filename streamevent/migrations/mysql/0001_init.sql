CREATE TABLE IF NOT EXISTS device_point_mapping (
    id VARCHAR(64) PRIMARY KEY,
    create_time DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    update_time DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    delete_time DATETIME(6) NULL,
    is_deleted INT NOT NULL DEFAULT 0,
    create_user VARCHAR(64) NOT NULL DEFAULT '',
    update_user VARCHAR(64) NOT NULL DEFAULT '',
    dept_code VARCHAR(64) NOT NULL DEFAULT '',
    tag_station VARCHAR(64) NOT NULL DEFAULT '',
    coa INT NOT NULL DEFAULT 0,
    ioa INT NOT NULL DEFAULT 0,
    device_id VARCHAR(64) NOT NULL DEFAULT '',
    device_name VARCHAR(128) NOT NULL DEFAULT '',
    td_table_type VARCHAR(255) NOT NULL DEFAULT '',
    enable_push INT NOT NULL DEFAULT 1,
    enable_raw_insert INT NOT NULL DEFAULT 1,
    description VARCHAR(256) NOT NULL DEFAULT '',
    ext_1 VARCHAR(64) NOT NULL DEFAULT '',
    ext_2 VARCHAR(64) NOT NULL DEFAULT '',
    ext_3 VARCHAR(64) NOT NULL DEFAULT '',
    ext_4 VARCHAR(64) NOT NULL DEFAULT '',
    ext_5 VARCHAR(64) NOT NULL DEFAULT '',
    UNIQUE KEY uk_device_point_mapping_key (tag_station, coa, ioa)
) DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS raw_point_data (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    ts VARCHAR(32) NOT NULL,
    msg_id VARCHAR(64) NOT NULL,
    host_v VARCHAR(64) NOT NULL,
    port_v INT NOT NULL,
    asdu VARCHAR(32) NOT NULL,
    type_id INT NOT NULL,
    data_type INT NOT NULL,
    coa INT NOT NULL,
    ioa INT NOT NULL,
    ioa_value VARCHAR(1048) NOT NULL,
    raw_msg TEXT NOT NULL,
    tag_station VARCHAR(64) NOT NULL,
    chunk_id VARCHAR(255) NOT NULL DEFAULT '',
    KEY idx_raw_point_data_point (tag_station, coa, ioa, ts),
    KEY idx_raw_point_data_chunk (chunk_id)
) DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS inbound_event (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    kind VARCHAR(32) NOT NULL,
    event_key VARCHAR(255) NOT NULL,
    payload MEDIUMTEXT NOT NULL,
    received_at BIGINT NOT NULL,
    KEY idx_inbound_event_kind (kind, received_at)
) DEFAULT CHARSET = utf8mb4;

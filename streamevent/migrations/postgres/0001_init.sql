CREATE TABLE IF NOT EXISTS device_point_mapping (
    id VARCHAR(64) PRIMARY KEY,
    create_time TIMESTAMPTZ NOT NULL DEFAULT now(),
    update_time TIMESTAMPTZ NOT NULL DEFAULT now(),
    delete_time TIMESTAMPTZ NULL,
    is_deleted INTEGER NOT NULL DEFAULT 0,
    create_user VARCHAR(64) NOT NULL DEFAULT '',
    update_user VARCHAR(64) NOT NULL DEFAULT '',
    dept_code VARCHAR(64) NOT NULL DEFAULT '',
    tag_station VARCHAR(64) NOT NULL DEFAULT '',
    coa INTEGER NOT NULL DEFAULT 0,
    ioa INTEGER NOT NULL DEFAULT 0,
    device_id VARCHAR(64) NOT NULL DEFAULT '',
    device_name VARCHAR(128) NOT NULL DEFAULT '',
    td_table_type VARCHAR(255) NOT NULL DEFAULT '',
    enable_push INTEGER NOT NULL DEFAULT 1,
    enable_raw_insert INTEGER NOT NULL DEFAULT 1,
    description VARCHAR(256) NOT NULL DEFAULT '',
    ext_1 VARCHAR(64) NOT NULL DEFAULT '',
    ext_2 VARCHAR(64) NOT NULL DEFAULT '',
    ext_3 VARCHAR(64) NOT NULL DEFAULT '',
    ext_4 VARCHAR(64) NOT NULL DEFAULT '',
    ext_5 VARCHAR(64) NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS uk_device_point_mapping_key ON device_point_mapping (tag_station, coa, ioa);

CREATE TABLE IF NOT EXISTS raw_point_data (
    id BIGSERIAL PRIMARY KEY,
    ts VARCHAR(32) NOT NULL,
    msg_id VARCHAR(64) NOT NULL,
    host_v VARCHAR(64) NOT NULL,
    port_v INTEGER NOT NULL,
    asdu VARCHAR(32) NOT NULL,
    type_id INTEGER NOT NULL,
    data_type INTEGER NOT NULL,
    coa INTEGER NOT NULL,
    ioa INTEGER NOT NULL,
    ioa_value VARCHAR(1048) NOT NULL,
    raw_msg TEXT NOT NULL,
    tag_station VARCHAR(64) NOT NULL,
    chunk_id VARCHAR(255) NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS idx_raw_point_data_point ON raw_point_data (tag_station, coa, ioa, ts);
CREATE INDEX IF NOT EXISTS idx_raw_point_data_chunk ON raw_point_data (chunk_id);

CREATE TABLE IF NOT EXISTS inbound_event (
    id BIGSERIAL PRIMARY KEY,
    kind VARCHAR(32) NOT NULL,
    event_key VARCHAR(255) NOT NULL,
    payload TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_inbound_event_kind ON inbound_event (kind, received_at);

CREATE TABLE IF NOT EXISTS device_point_mapping (
    id TEXT PRIMARY KEY NOT NULL,
    create_time TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    update_time TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    delete_time TEXT NULL,
    is_deleted INTEGER NOT NULL DEFAULT 0,
    create_user TEXT NOT NULL DEFAULT '',
    update_user TEXT NOT NULL DEFAULT '',
    dept_code TEXT NOT NULL DEFAULT '',
    tag_station TEXT NOT NULL DEFAULT '',
    coa INTEGER NOT NULL DEFAULT 0,
    ioa INTEGER NOT NULL DEFAULT 0,
    device_id TEXT NOT NULL DEFAULT '',
    device_name TEXT NOT NULL DEFAULT '',
    td_table_type TEXT NOT NULL DEFAULT '',
    enable_push INTEGER NOT NULL DEFAULT 1,
    enable_raw_insert INTEGER NOT NULL DEFAULT 1,
    description TEXT NOT NULL DEFAULT '',
    ext_1 TEXT NOT NULL DEFAULT '',
    ext_2 TEXT NOT NULL DEFAULT '',
    ext_3 TEXT NOT NULL DEFAULT '',
    ext_4 TEXT NOT NULL DEFAULT '',
    ext_5 TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS uk_device_point_mapping_key ON device_point_mapping (tag_station, coa, ioa);

CREATE TABLE IF NOT EXISTS raw_point_data (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    host_v TEXT NOT NULL,
    port_v INTEGER NOT NULL,
    asdu TEXT NOT NULL,
    type_id INTEGER NOT NULL,
    data_type INTEGER NOT NULL,
    coa INTEGER NOT NULL,
    ioa INTEGER NOT NULL,
    ioa_value TEXT NOT NULL,
    raw_msg TEXT NOT NULL,
    tag_station TEXT NOT NULL,
    chunk_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS idx_raw_point_data_point ON raw_point_data (tag_station, coa, ioa, ts);
CREATE INDEX IF NOT EXISTS idx_raw_point_data_chunk ON raw_point_data (chunk_id);

CREATE TABLE IF NOT EXISTS inbound_event (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    event_key TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_inbound_event_kind ON inbound_event (kind, received_at);

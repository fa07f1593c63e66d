-- spec §14: one row per HLS segment, keyed by its unique ts_file (the upstream columns).
CREATE TABLE IF NOT EXISTS hls_ts_files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event VARCHAR(16) NOT NULL DEFAULT '',
    stream_name VARCHAR(255) NOT NULL DEFAULT '',
    cwd VARCHAR(1024) NOT NULL DEFAULT '',
    ts_file VARCHAR(1024) NOT NULL UNIQUE,
    live_m3u8_file VARCHAR(1024) NOT NULL DEFAULT '',
    record_m3u8_file VARCHAR(1024) NULL,
    ts_id BIGINT NOT NULL DEFAULT 0,
    ts_timestamp BIGINT NOT NULL DEFAULT 0,
    duration DOUBLE PRECISION NULL,
    server_id VARCHAR(255) NOT NULL DEFAULT '',
    create_time DATETIME NOT NULL,
    update_time DATETIME NOT NULL,
    delete_time DATETIME NULL,
    is_deleted INTEGER NOT NULL DEFAULT 0,
    version BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS idx_hls_ts_files_stream_time ON hls_ts_files (stream_name, ts_timestamp);

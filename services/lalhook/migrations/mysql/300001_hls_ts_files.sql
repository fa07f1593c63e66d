-- spec §14: one row per HLS segment, keyed by its unique ts_file (the upstream columns; a database
-- the Go service made holds the table already).
CREATE TABLE IF NOT EXISTS hls_ts_files (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    event VARCHAR(16) NOT NULL DEFAULT '',
    stream_name VARCHAR(255) NOT NULL DEFAULT '',
    cwd VARCHAR(1024) NOT NULL DEFAULT '',
    ts_file VARCHAR(700) NOT NULL,
    live_m3u8_file VARCHAR(1024) NOT NULL DEFAULT '',
    record_m3u8_file VARCHAR(1024) NULL,
    ts_id BIGINT NOT NULL DEFAULT 0,
    ts_timestamp BIGINT NOT NULL DEFAULT 0,
    duration DOUBLE NULL,
    server_id VARCHAR(255) NOT NULL DEFAULT '',
    create_time DATETIME NOT NULL,
    update_time DATETIME NOT NULL,
    delete_time DATETIME NULL,
    is_deleted TINYINT NOT NULL DEFAULT 0,
    version BIGINT NOT NULL DEFAULT 0,
    UNIQUE KEY uk_hls_ts_files_ts_file (ts_file),
    KEY idx_hls_ts_files_stream_time (stream_name, ts_timestamp)
) DEFAULT CHARSET = utf8mb4;

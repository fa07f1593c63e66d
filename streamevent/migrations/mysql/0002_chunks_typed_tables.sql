-- One row per stored chunk: the duplicate check and the row writes share one transaction on
-- this key (a redelivered chunk is stored once; two writers cannot both pass the check).
CREATE TABLE IF NOT EXISTS stream_chunk (
    chunk_key VARCHAR(191) NOT NULL PRIMARY KEY,
    chunk_id TEXT NOT NULL,
    row_count INT NOT NULL,
    stored_at BIGINT NOT NULL
) DEFAULT CHARSET = utf8mb4;
-- the chunk lives in stream_chunk now: one index less on the hot table
ALTER TABLE raw_point_data DROP INDEX idx_raw_point_data_chunk;

-- Typed tables of spec §4.3, routed by td_table_type (yc: telemetry, yx: tele-signal); ts is the
-- push time in Unix microseconds, device_ms the device time tag in Unix milliseconds.
CREATE TABLE IF NOT EXISTS telemetry_data (
    ts BIGINT NOT NULL,
    msg_id VARCHAR(64) NOT NULL,
    data_type INT NOT NULL,
    telemetry_value DOUBLE NOT NULL,
    quality INT NOT NULL,
    device_ms BIGINT NULL,
    tag_station VARCHAR(64) NOT NULL,
    device_id VARCHAR(64) NOT NULL,
    tag_coa INT NOT NULL,
    tag_ioa INT NOT NULL,
    KEY idx_telemetry_data_point (tag_station, tag_coa, tag_ioa, ts)
) DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS tele_signal_data (
    ts BIGINT NOT NULL,
    msg_id VARCHAR(64) NOT NULL,
    data_type INT NOT NULL,
    signal_value BOOLEAN NOT NULL,
    quality INT NOT NULL,
    device_ms BIGINT NULL,
    tag_station VARCHAR(64) NOT NULL,
    device_id VARCHAR(64) NOT NULL,
    tag_coa INT NOT NULL,
    tag_ioa INT NOT NULL,
    KEY idx_tele_signal_data_point (tag_station, tag_coa, tag_ioa, ts)
) DEFAULT CHARSET = utf8mb4;

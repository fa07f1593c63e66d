-- One row per stored chunk: the duplicate check and the row writes share one transaction on
-- this key (a redelivered chunk is stored once; two writers cannot both pass the check).
CREATE TABLE IF NOT EXISTS stream_chunk (
    chunk_key VARCHAR(191) PRIMARY KEY,
    chunk_id TEXT NOT NULL,
    row_count INTEGER NOT NULL,
    stored_at BIGINT NOT NULL
);
-- the chunk lives in stream_chunk now: one index less on the hot table
DROP INDEX IF EXISTS idx_raw_point_data_chunk;

-- Typed tables of spec §4.3 (documented upstream, never written there), routed by the point
-- mapping's td_table_type (yc: telemetry, yx: tele-signal). Times are numbers: ts is the push
-- time in Unix microseconds, device_ms the device time tag in Unix milliseconds (NULL without).
CREATE TABLE IF NOT EXISTS telemetry_data (
    ts BIGINT NOT NULL,
    msg_id VARCHAR(64) NOT NULL,
    data_type INTEGER NOT NULL,
    telemetry_value DOUBLE PRECISION NOT NULL,
    quality INTEGER NOT NULL,
    device_ms BIGINT NULL,
    tag_station VARCHAR(64) NOT NULL,
    device_id VARCHAR(64) NOT NULL,
    tag_coa INTEGER NOT NULL,
    tag_ioa INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_telemetry_data_point ON telemetry_data (tag_station, tag_coa, tag_ioa, ts);

CREATE TABLE IF NOT EXISTS tele_signal_data (
    ts BIGINT NOT NULL,
    msg_id VARCHAR(64) NOT NULL,
    data_type INTEGER NOT NULL,
    signal_value BOOLEAN NOT NULL,
    quality INTEGER NOT NULL,
    device_ms BIGINT NULL,
    tag_station VARCHAR(64) NOT NULL,
    device_id VARCHAR(64) NOT NULL,
    tag_coa INTEGER NOT NULL,
    tag_ioa INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_tele_signal_data_point ON tele_signal_data (tag_station, tag_coa, tag_ioa, ts);

-- One row per stored chunk: the duplicate check and the row writes share one transaction on
-- this key (a redelivered chunk is stored once; two writers cannot both pass the check).
CREATE TABLE IF NOT EXISTS stream_chunk (
    chunk_key TEXT PRIMARY KEY NOT NULL,
    chunk_id TEXT NOT NULL,
    row_count INTEGER NOT NULL,
    stored_at INTEGER NOT NULL
);
-- the chunk lives in stream_chunk now: one index less on the hot table
DROP INDEX IF EXISTS idx_raw_point_data_chunk;

-- Typed tables of spec §4.3 (documented upstream, never written there), routed by the point
-- mapping's td_table_type (yc: telemetry, yx: tele-signal). Times are numbers: ts is the push
-- time in Unix microseconds, device_ms the device time tag in Unix milliseconds (NULL without).
CREATE TABLE IF NOT EXISTS telemetry_data (
    ts INTEGER NOT NULL,
    msg_id TEXT NOT NULL,
    data_type INTEGER NOT NULL,
    telemetry_value REAL NOT NULL,
    quality INTEGER NOT NULL,
    device_ms INTEGER NULL,
    tag_station TEXT NOT NULL,
    device_id TEXT NOT NULL,
    tag_coa INTEGER NOT NULL,
    tag_ioa INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_telemetry_data_point ON telemetry_data (tag_station, tag_coa, tag_ioa, ts);

CREATE TABLE IF NOT EXISTS tele_signal_data (
    ts INTEGER NOT NULL,
    msg_id TEXT NOT NULL,
    data_type INTEGER NOT NULL,
    signal_value INTEGER NOT NULL,
    quality INTEGER NOT NULL,
    device_ms INTEGER NULL,
    tag_station TEXT NOT NULL,
    device_id TEXT NOT NULL,
    tag_coa INTEGER NOT NULL,
    tag_ioa INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_tele_signal_data_point ON tele_signal_data (tag_station, tag_coa, tag_ioa, ts);

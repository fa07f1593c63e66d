-- raw_point_data is the hot table (every point of every mapped station, hundreds of thousands a
-- second): it is indexed by time only, which new rows append to. The per-point index cost ~90 % of
-- an insert (every row lands on its own point's page). Per-point series are the typed tables'
-- job (telemetry_data, tele_signal_data keep their point index); a reader of raw_point_data sees
-- the same rows as before, selected by time range at index speed.
DROP INDEX IF EXISTS idx_raw_point_data_point;
-- BRIN: a few pages for the whole table, as rows arrive in time order
CREATE INDEX IF NOT EXISTS idx_raw_point_data_ts ON raw_point_data USING brin (ts);

-- the SQLite cron job store (cron::SqliteCron): one row per job, its lease and last run
CREATE TABLE IF NOT EXISTS trigger_cron (job_id TEXT PRIMARY KEY NOT NULL, job TEXT NOT NULL,
    next_run INTEGER NULL, sched INTEGER NULL, last_run INTEGER NULL, last_sched INTEGER NULL);
CREATE INDEX IF NOT EXISTS idx_trigger_cron_next ON trigger_cron (next_run);

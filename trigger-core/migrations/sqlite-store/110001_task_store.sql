-- the SQLite task store (store::SqliteStore): tasks as JSON plus their payload, queue pauses, daily counters
CREATE TABLE IF NOT EXISTS trigger_task (queue TEXT NOT NULL, id TEXT NOT NULL, info TEXT NOT NULL,
    payload BLOB NOT NULL, PRIMARY KEY (queue, id));
CREATE TABLE IF NOT EXISTS trigger_queue (queue TEXT PRIMARY KEY NOT NULL, paused INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS trigger_stats (queue TEXT NOT NULL, day INTEGER NOT NULL,
    processed INTEGER NOT NULL, failed INTEGER NOT NULL, PRIMARY KEY (queue, day));

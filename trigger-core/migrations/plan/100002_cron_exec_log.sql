-- one row per cron handler run (spec §6.3), written by cron_log::CronExecLog
CREATE TABLE IF NOT EXISTS cron_exec_log (id BIGINT PRIMARY KEY, trace_id VARCHAR(64) NOT NULL,
    job_id VARCHAR(64) NOT NULL, task_code VARCHAR(128) NOT NULL, task_name VARCHAR(255) NOT NULL,
    scheduled_time VARCHAR(19) NOT NULL, start_time VARCHAR(19) NOT NULL, end_time VARCHAR(19) NOT NULL,
    cost_ms BIGINT NOT NULL, status BIGINT NOT NULL, message TEXT NOT NULL, error_message TEXT NOT NULL);

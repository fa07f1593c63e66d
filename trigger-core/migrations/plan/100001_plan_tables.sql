-- the plan tables (spec §6.2), upstream's names and columns; times in ms since the epoch.
-- IF NOT EXISTS on tables: a database the Go service made already holds them. Written in the SQL
-- that SQLite, PostgreSQL and MySQL/MariaDB share, so one file serves all three.
CREATE TABLE IF NOT EXISTS plan (id BIGINT PRIMARY KEY, plan_id VARCHAR(128) NOT NULL UNIQUE,
    plan_name VARCHAR(255) NOT NULL, type VARCHAR(128) NOT NULL, group_id VARCHAR(128) NOT NULL,
    recurrence_rule TEXT NOT NULL, rrule_str TEXT NOT NULL, start_time BIGINT NOT NULL, end_time BIGINT NOT NULL,
    status BIGINT NOT NULL, scan_flg BIGINT NOT NULL, terminated_reason TEXT NOT NULL, paused_time BIGINT NULL,
    paused_reason TEXT NOT NULL, finished_time BIGINT NULL, description TEXT NOT NULL, ext_1 TEXT NOT NULL,
    ext_2 TEXT NOT NULL, ext_3 TEXT NOT NULL, ext_4 TEXT NOT NULL, ext_5 TEXT NOT NULL, dept_code VARCHAR(128) NOT NULL,
    create_user VARCHAR(128) NOT NULL, update_user VARCHAR(128) NOT NULL, create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL, is_deleted BIGINT NOT NULL, version BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS plan_batch (id BIGINT PRIMARY KEY, plan_pk BIGINT NOT NULL, plan_id VARCHAR(128) NOT NULL,
    batch_id VARCHAR(64) NOT NULL UNIQUE, batch_name VARCHAR(255) NOT NULL, batch_num VARCHAR(128) NOT NULL UNIQUE,
    status BIGINT NOT NULL, scan_flg BIGINT NOT NULL, plan_trigger_time BIGINT NOT NULL, terminated_reason TEXT NOT NULL,
    paused_time BIGINT NULL, paused_reason TEXT NOT NULL, finished_time BIGINT NULL, ext_1 TEXT NOT NULL,
    ext_2 TEXT NOT NULL, ext_3 TEXT NOT NULL, ext_4 TEXT NOT NULL, ext_5 TEXT NOT NULL, dept_code VARCHAR(128) NOT NULL,
    create_time BIGINT NOT NULL, update_time BIGINT NOT NULL, is_deleted BIGINT NOT NULL, version BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS plan_exec_item (id BIGINT PRIMARY KEY, plan_pk BIGINT NOT NULL, plan_id VARCHAR(128) NOT NULL,
    batch_pk BIGINT NOT NULL, batch_id VARCHAR(64) NOT NULL, exec_id VARCHAR(64) NOT NULL UNIQUE, item_id VARCHAR(255) NOT NULL,
    item_type VARCHAR(128) NOT NULL, item_name VARCHAR(255) NOT NULL, item_row_id BIGINT NOT NULL, point_id VARCHAR(255) NOT NULL,
    payload TEXT NOT NULL, request_timeout BIGINT NOT NULL, plan_trigger_time BIGINT NOT NULL, next_trigger_time BIGINT NOT NULL,
    last_trigger_time BIGINT NULL, trigger_count BIGINT NOT NULL, status BIGINT NOT NULL, last_result VARCHAR(64) NOT NULL,
    last_message TEXT NOT NULL, last_reason TEXT NOT NULL, terminated_reason TEXT NOT NULL, paused_time BIGINT NULL,
    paused_reason TEXT NOT NULL, ext_1 TEXT NOT NULL, ext_2 TEXT NOT NULL, ext_3 TEXT NOT NULL, ext_4 TEXT NOT NULL,
    ext_5 TEXT NOT NULL, dept_code VARCHAR(128) NOT NULL, create_time BIGINT NOT NULL, update_time BIGINT NOT NULL,
    is_deleted BIGINT NOT NULL, version BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS plan_exec_log (id BIGINT PRIMARY KEY, plan_pk BIGINT NOT NULL, plan_id VARCHAR(128) NOT NULL,
    plan_name VARCHAR(255) NOT NULL, batch_pk BIGINT NOT NULL, batch_id VARCHAR(64) NOT NULL, item_pk BIGINT NOT NULL,
    exec_id VARCHAR(64) NOT NULL, item_id VARCHAR(255) NOT NULL, item_type VARCHAR(128) NOT NULL, item_name VARCHAR(255) NOT NULL,
    point_id VARCHAR(255) NOT NULL, trigger_time BIGINT NOT NULL, trace_id VARCHAR(64) NOT NULL, exec_result VARCHAR(64) NOT NULL,
    message TEXT NOT NULL, reason TEXT NOT NULL, create_time BIGINT NOT NULL, is_deleted BIGINT NOT NULL);
CREATE INDEX idx_plan_exec_item_scan ON plan_exec_item (is_deleted, next_trigger_time, status);
CREATE INDEX idx_plan_exec_item_batch ON plan_exec_item (batch_pk, status);
CREATE INDEX idx_plan_batch_plan ON plan_batch (plan_pk);
CREATE INDEX idx_plan_exec_log_item ON plan_exec_log (plan_id, exec_id);

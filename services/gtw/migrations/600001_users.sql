-- spec §15: the users gtw's login checks; the legacy base columns of spec §0.3 (string id,
-- soft delete), times in ms since the epoch, passwords as argon2id PHC strings only. Portable
-- SQL: one file for SQLite, PostgreSQL and MySQL/MariaDB.
CREATE TABLE IF NOT EXISTS users (
    id VARCHAR(64) PRIMARY KEY,
    username VARCHAR(128) NOT NULL UNIQUE,
    password_hash VARCHAR(255) NOT NULL,
    nickname VARCHAR(128) NOT NULL,
    mobile VARCHAR(32) NOT NULL,
    email VARCHAR(255) NOT NULL,
    avatar VARCHAR(1024) NOT NULL,
    dept_code VARCHAR(64) NOT NULL,
    role VARCHAR(64) NOT NULL,
    create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL,
    is_deleted BIGINT NOT NULL DEFAULT 0
);

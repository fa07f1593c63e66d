-- casbin policies (zero-edge owns this table: migrations 500001-599999), in the layout of the
-- casbin adapters (gorm-adapter, sqlx-adapter): one rule per row, ptype `p` or `g`, values
-- v0..v5. A table the Go platform's gorm-adapter made (with its `id` column) is read as it is.
-- Portable SQL: one file for SQLite, PostgreSQL and MySQL/MariaDB.
CREATE TABLE IF NOT EXISTS casbin_rule (
    ptype VARCHAR(12) NOT NULL,
    v0 VARCHAR(128) NOT NULL DEFAULT '',
    v1 VARCHAR(128) NOT NULL DEFAULT '',
    v2 VARCHAR(128) NOT NULL DEFAULT '',
    v3 VARCHAR(128) NOT NULL DEFAULT '',
    v4 VARCHAR(128) NOT NULL DEFAULT '',
    v5 VARCHAR(128) NOT NULL DEFAULT '',
    UNIQUE (ptype, v0, v1, v2, v3, v4, v5)
);

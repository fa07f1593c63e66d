-- wsconfig: versioned client configuration, one row per (app, name); a change takes the app's
-- next version, so a client that knows version N asks for what changed since N.
CREATE TABLE IF NOT EXISTS client_config (
    app VARCHAR(128) NOT NULL,
    name VARCHAR(128) NOT NULL,
    version BIGINT NOT NULL,
    body TEXT NOT NULL,
    update_time BIGINT NOT NULL,
    PRIMARY KEY (app, name)
);

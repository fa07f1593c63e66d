-- the holiday calendar's overrides (spec §6.4), read by holiday::HolidayStore
CREATE TABLE IF NOT EXISTS holiday_source (date VARCHAR(10) PRIMARY KEY, name VARCHAR(64) NOT NULL,
    type VARCHAR(16) NOT NULL, note VARCHAR(512) NOT NULL, is_festival_day BIGINT NOT NULL, enabled BIGINT NOT NULL,
    update_time BIGINT NOT NULL);

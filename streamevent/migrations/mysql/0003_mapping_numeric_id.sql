-- Mapping rows keep their string UUID primary key (upstream's) and gain a numeric id, the one the
-- int64 `id` of PbDevicePointMapping reports and QueryPointMappingById looks up (upstream reports 0
-- and can find no row by id). Existing rows are numbered as the column is added.
ALTER TABLE device_point_mapping ADD COLUMN num_id BIGINT NOT NULL AUTO_INCREMENT UNIQUE;

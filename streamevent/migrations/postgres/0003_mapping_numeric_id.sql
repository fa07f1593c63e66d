-- Mapping rows keep their string UUID primary key (upstream's) and gain a numeric id, the one the
-- int64 `id` of PbDevicePointMapping reports and QueryPointMappingById looks up (upstream reports 0
-- and can find no row by id). Existing rows are numbered by the new column's sequence.
ALTER TABLE device_point_mapping ADD COLUMN IF NOT EXISTS num_id BIGSERIAL;
CREATE UNIQUE INDEX IF NOT EXISTS uk_device_point_mapping_num_id ON device_point_mapping (num_id);

-- Mapping rows keep their string UUID primary key (upstream's) and gain a numeric id, the one the
-- int64 `id` of PbDevicePointMapping reports and QueryPointMappingById looks up (upstream reports 0
-- and can find no row by id).
ALTER TABLE device_point_mapping ADD COLUMN num_id INTEGER NULL;
UPDATE device_point_mapping SET num_id = rowid WHERE num_id IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS uk_device_point_mapping_num_id ON device_point_mapping (num_id);
CREATE TRIGGER IF NOT EXISTS trg_device_point_mapping_num_id AFTER INSERT ON device_point_mapping
WHEN NEW.num_id IS NULL
BEGIN
    UPDATE device_point_mapping
    SET num_id = (SELECT COALESCE(MAX(num_id), 0) + 1 FROM device_point_mapping)
    WHERE rowid = NEW.rowid;
END;

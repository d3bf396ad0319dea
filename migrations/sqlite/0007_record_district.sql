-- The district of each record's current version, lower-cased: district scopes and the
-- dashboard's counts read this column instead of opening every record's JSON body.
ALTER TABLE source_records ADD COLUMN district_key TEXT;

UPDATE source_records SET district_key = (
    SELECT LOWER(v.body -> 'child' ->> 'district') FROM record_versions v
    WHERE v.record_key = source_records.record_key AND v.version = source_records.current_version);

CREATE INDEX source_records_district ON source_records (district_key, child_id);

-- Blocking keys stored as 64-bit hashes (issue 9: the text keys and their two text indexes were
-- half of a bulk import's time on PostgreSQL). The table is derived from `source_records`
-- (`refresh_blocking_keys` rebuilds it), so it carries no foreign key, and no primary key: the
-- registry writes each record's distinct hashes once, after deleting the old ones. A hash
-- collision only adds a candidate record, which scoring then judges on its fields.
DROP TABLE blocking_keys;
CREATE TABLE blocking_keys (
    key_hash   BIGINT NOT NULL,
    record_key BIGINT NOT NULL
);
CREATE INDEX blocking_keys_lookup ON blocking_keys (key_hash, record_key);
CREATE INDEX blocking_keys_record ON blocking_keys (record_key);
-- Every record is keyed again, with hashes, when the store next opens.
UPDATE source_records SET blocking_model_version = NULL;

-- Blocking keys stored as 64-bit hashes (issue 9): integer keys in a table clustered on its
-- look-up order instead of text keys in a table with two indexes. The table is derived from
-- `source_records` (`refresh_blocking_keys` rebuilds it), so it carries no foreign key. A hash
-- collision only adds a candidate record, which scoring then judges on its fields.
DROP TABLE blocking_keys;
CREATE TABLE blocking_keys (
    key_hash   INTEGER NOT NULL,
    record_key INTEGER NOT NULL,
    PRIMARY KEY (key_hash, record_key)
) WITHOUT ROWID;
CREATE INDEX blocking_keys_record ON blocking_keys (record_key);
-- Every record is keyed again, with hashes, when the store next opens.
UPDATE source_records SET blocking_model_version = NULL;

-- A registration reads the child and current version of every stored record sharing a blocking
-- key with it (a few hundred at a million children). Looked up in the table itself, each row
-- costs a leaf page of wide rows (the match fields are stored inline); this narrow index keeps
-- the three columns together, about 40 bytes a record, so its pages stay in the writer's page
-- cache. (PostgreSQL is left without it: there every index on source_records slows bulk
-- imports, and its index-only scans need a vacuumed table.)
CREATE INDEX source_records_current ON source_records (record_key, child_id, current_version);

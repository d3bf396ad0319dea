-- A registration reads the child and current version of every stored record sharing a blocking
-- key with it (a few hundred at a million children). Through the primary key, each of those
-- rows is a visit to a heap page of wide rows, mostly outside shared buffers at that size; this
-- index carries the two columns, so a vacuumed table answers from the index alone.
CREATE INDEX source_records_current ON source_records (record_key) INCLUDE (child_id, current_version);

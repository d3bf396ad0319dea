-- Merges and unlinks: where each record started, and every link decision with its provenance.
ALTER TABLE source_records ADD COLUMN origin_child_id TEXT REFERENCES children (child_id);
UPDATE source_records SET origin_child_id = child_id;

CREATE TABLE link_history (
    link_key         INTEGER PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (kind IN ('merge', 'unlink')),
    from_child_id    TEXT NOT NULL REFERENCES children (child_id),
    to_child_id      TEXT NOT NULL REFERENCES children (child_id),
    source_system    TEXT,
    source_record_id TEXT,
    actor            TEXT NOT NULL,
    reason           TEXT NOT NULL,
    decided_at       TEXT NOT NULL
);
CREATE INDEX link_history_children ON link_history (from_child_id, to_child_id);

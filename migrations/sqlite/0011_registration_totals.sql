-- The dashboard's running totals (issue 8): a projection of the change feed, folded in by a
-- background task (registry::counts), so the dashboard reads a few rows instead of counting
-- every child. Rebuilt from scratch by emptying the three tables and setting position to 0.

-- What each active child was last counted towards.
CREATE TABLE counted_children (
    child_id  TEXT PRIMARY KEY,
    month     TEXT NOT NULL,
    -- JSON arrays: lower-cased district keys ('' for a record without one), source systems.
    districts TEXT NOT NULL,
    agencies  TEXT NOT NULL
);

-- Children within a read scope ('all' with value '', 'source_system', 'district') counted
-- under one bucket of a dimension ('children' with bucket '', 'district', 'agency', 'month').
CREATE TABLE registration_totals (
    scope_kind  TEXT NOT NULL,
    scope_value TEXT NOT NULL,
    dimension   TEXT NOT NULL,
    bucket      TEXT NOT NULL,
    children    INTEGER NOT NULL,
    PRIMARY KEY (scope_kind, scope_value, dimension, bucket)
);

-- The change-feed position folded so far; a fold moves it only from the value it read.
CREATE TABLE registration_totals_position (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    position  INTEGER NOT NULL,
    folded_at TEXT
);
INSERT INTO registration_totals_position (id, position) VALUES (1, 0);

-- The dashboard lists the largest buckets of a scope's dimension.
CREATE INDEX registration_totals_largest
    ON registration_totals (scope_kind, scope_value, dimension, children);

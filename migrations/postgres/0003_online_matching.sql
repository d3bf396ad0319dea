-- Online matching: stored model versions, blocking keys per record, link provenance, the review
-- queue with steward decisions, and the remembered "not a match" pairs.

CREATE TABLE match_models (
    version      BIGINT PRIMARY KEY,
    -- The model file (JSON): columns, comparisons, thresholds and learned weights.
    spec         TEXT NOT NULL,
    origin       TEXT NOT NULL,
    note         TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    activated_at TIMESTAMPTZ
);
CREATE TABLE match_model_active (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL REFERENCES match_models (version)
);

-- How each record came to its child, and the evidence: automatic links keep the model version,
-- probability and explanation; manual ones are in link_history.
ALTER TABLE source_records ADD COLUMN link_method TEXT NOT NULL DEFAULT 'new'
    CHECK (link_method IN ('new', 'identifier', 'automatic', 'manual'));
ALTER TABLE source_records ADD COLUMN link_model_version BIGINT;
ALTER TABLE source_records ADD COLUMN link_probability DOUBLE PRECISION;
ALTER TABLE source_records ADD COLUMN link_explanation JSONB;
-- The current version's child fields, what candidates are scored on.
ALTER TABLE source_records ADD COLUMN match_child JSONB;
-- The model version whose blocking keys this record holds; NULL until computed.
ALTER TABLE source_records ADD COLUMN blocking_model_version BIGINT;

UPDATE source_records SET link_method = 'identifier' WHERE record_key IN
    (SELECT record_key FROM record_versions WHERE version = 1 AND match_outcome = 'linked');
UPDATE source_records SET link_method = 'manual' WHERE origin_child_id <> child_id;
UPDATE source_records sr SET match_child = v.body -> 'child' FROM record_versions v
    WHERE v.record_key = sr.record_key AND v.version = sr.current_version;

CREATE TABLE blocking_keys (
    record_key   BIGINT NOT NULL REFERENCES source_records (record_key),
    blocking_key TEXT NOT NULL,
    PRIMARY KEY (record_key, blocking_key)
);
CREATE INDEX blocking_keys_lookup ON blocking_keys (blocking_key, record_key);

CREATE TABLE match_candidates (
    candidate_key      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    record_key         BIGINT NOT NULL REFERENCES source_records (record_key),
    record_version     BIGINT NOT NULL,
    candidate_child_id TEXT NOT NULL REFERENCES children (child_id),
    probability        DOUBLE PRECISION NOT NULL,
    explanation        JSONB NOT NULL,
    model_version      BIGINT NOT NULL,
    record_district    TEXT,
    candidate_district TEXT,
    status             TEXT NOT NULL
        CHECK (status IN ('open', 'deferred', 'linked', 'not_a_match', 'superseded')),
    created_at         TIMESTAMPTZ NOT NULL,
    decided_at         TIMESTAMPTZ,
    decided_by         TEXT,
    reason             TEXT
);
CREATE INDEX match_candidates_status ON match_candidates (status, created_at);
CREATE UNIQUE INDEX match_candidates_pending ON match_candidates (record_key, candidate_child_id)
    WHERE status IN ('open', 'deferred');

-- Every decision ever taken on a candidate (a deferred one may be decided again later).
CREATE TABLE match_decisions (
    decision_key  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    candidate_key BIGINT NOT NULL REFERENCES match_candidates (candidate_key),
    decision      TEXT NOT NULL CHECK (decision IN ('link', 'not_a_match', 'defer')),
    actor         TEXT NOT NULL,
    reason        TEXT NOT NULL,
    decided_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX match_decisions_actor ON match_decisions (actor);

-- Pairs of records a steward said are different children: never linked automatically again.
CREATE TABLE not_a_match (
    record_key_low  BIGINT NOT NULL REFERENCES source_records (record_key),
    record_key_high BIGINT NOT NULL REFERENCES source_records (record_key),
    decided_by      TEXT NOT NULL,
    reason          TEXT NOT NULL,
    decided_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (record_key_low, record_key_high),
    CHECK (record_key_low < record_key_high)
);
CREATE INDEX not_a_match_high ON not_a_match (record_key_high);

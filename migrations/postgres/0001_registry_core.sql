-- Registry core: children, versioned source records, timeline events, change feed, API clients.

CREATE TABLE children (
    child_id    TEXT PRIMARY KEY,
    status      TEXT NOT NULL CHECK (status IN ('active', 'merged')),
    merged_into TEXT REFERENCES children (child_id),
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    CHECK ((status = 'merged') = (merged_into IS NOT NULL))
);

CREATE TABLE source_records (
    record_key       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_system    TEXT NOT NULL,
    source_record_id TEXT NOT NULL,
    child_id         TEXT NOT NULL REFERENCES children (child_id),
    current_version  BIGINT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    CONSTRAINT source_records_source_key UNIQUE (source_system, source_record_id)
);
CREATE INDEX source_records_child ON source_records (child_id, source_system);

-- Every version ever received is kept; the current one is source_records.current_version.
CREATE TABLE record_versions (
    record_key        BIGINT NOT NULL REFERENCES source_records (record_key),
    version           BIGINT NOT NULL,
    content_hash      TEXT NOT NULL,
    body              JSONB NOT NULL,
    match_outcome     TEXT NOT NULL,
    match_probability DOUBLE PRECISION,
    received_at       TIMESTAMPTZ NOT NULL,
    received_from     TEXT NOT NULL,
    PRIMARY KEY (record_key, version)
);

-- Identifiers of each record's current version, by a normalised key for look-ups.
CREATE TABLE record_identifiers (
    record_key BIGINT NOT NULL REFERENCES source_records (record_key),
    kind       TEXT NOT NULL,
    value_key  TEXT NOT NULL,
    PRIMARY KEY (record_key, kind, value_key)
);
CREATE INDEX record_identifiers_lookup ON record_identifiers (kind, value_key);

-- An event is stored once per record (by content); a later version that no longer reports it
-- marks it retracted instead of deleting it.
CREATE TABLE events (
    event_key            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    record_key           BIGINT NOT NULL REFERENCES source_records (record_key),
    version              BIGINT NOT NULL,
    retracted_in_version BIGINT,
    content_hash         TEXT NOT NULL,
    event_type           TEXT NOT NULL,
    event_date           DATE NOT NULL,
    sensitivity          TEXT NOT NULL CHECK (sensitivity IN ('normal', 'restricted', 'confidential')),
    details              JSONB NOT NULL,
    received_at          TIMESTAMPTZ NOT NULL,
    CONSTRAINT events_record_content UNIQUE (record_key, content_hash)
);

-- The change feed: seq is allocated from outbox_head inside each writing transaction; the row
-- lock on outbox_head is held until commit, so seq is gap-free and in commit order.
CREATE TABLE outbox (
    seq        BIGINT PRIMARY KEY,
    kind       TEXT NOT NULL,
    child_id   TEXT NOT NULL,
    payload    JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE outbox_head (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq BIGINT NOT NULL
);
INSERT INTO outbox_head (id, last_seq) VALUES (1, 0);

CREATE TABLE api_clients (
    client_id  TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    agency     TEXT,
    role       TEXT NOT NULL,
    key_hash   TEXT NOT NULL,
    key_prefix TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ,
    CONSTRAINT api_clients_key_hash UNIQUE (key_hash)
);

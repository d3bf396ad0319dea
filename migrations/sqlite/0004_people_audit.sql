-- People, their sessions, and the tamper-evident audit log (issue 7).

CREATE TABLE users (
    user_id             TEXT PRIMARY KEY,
    username            TEXT NOT NULL,
    role                TEXT NOT NULL,
    district            TEXT,
    password_hash       TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    password_changed_at TEXT NOT NULL,
    disabled_at         TEXT,
    failed_logins       INTEGER NOT NULL DEFAULT 0,
    locked_until        TEXT,
    CONSTRAINT users_username UNIQUE (username)
);

-- A session is known by the SHA-256 digest of its cookie; the CSRF token likewise.
CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (user_id),
    csrf_hash    TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Append-only and hash-chained: entry_hash = HMAC(key, prev_hash || canonical entry).
CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY,
    at         TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id   TEXT NOT NULL,
    actor_role TEXT,
    action     TEXT NOT NULL,
    target     TEXT,
    details    TEXT NOT NULL,
    purpose    TEXT,
    flagged    INTEGER NOT NULL,
    request_id TEXT,
    prev_hash  TEXT NOT NULL,
    entry_hash TEXT NOT NULL
);
-- Which children each entry names (a read, a write, the hits of a search): the access log.
CREATE TABLE audit_children (
    child_id TEXT NOT NULL,
    seq      INTEGER NOT NULL REFERENCES audit_log (seq),
    PRIMARY KEY (child_id, seq)
);
-- The chain's end: serialises appends and lets `audit verify` see a deleted last entry.
CREATE TABLE audit_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq  INTEGER NOT NULL,
    last_hash TEXT NOT NULL
);
INSERT INTO audit_head (id, last_seq, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_children_no_update BEFORE UPDATE ON audit_children
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_children_no_delete BEFORE DELETE ON audit_children
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

-- API keys expire: keys created without an expiry get one a year from this migration.
UPDATE api_clients SET expires_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+365 days')
WHERE expires_at IS NULL;

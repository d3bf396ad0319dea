-- Webhook subscriptions, their deliveries and the delivery worker's position in the change
-- feed (issue 9). A delivery is written once per subscription and outbox entry, before it is
-- sent, so a restart resumes every pending one.

CREATE TABLE webhook_subscriptions (
    subscription_id TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL REFERENCES api_clients (client_id),
    url             TEXT NOT NULL,
    -- JSON array of outbox kinds; empty means every kind.
    event_types     TEXT NOT NULL,
    -- The Standard Webhooks signing secret (`whsec_…`); kept because signing needs it.
    secret          TEXT NOT NULL,
    -- Deliveries cover outbox entries after this position (the head when subscribed).
    start_seq       INTEGER NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX webhook_subscriptions_client ON webhook_subscriptions (client_id);

CREATE TABLE webhook_deliveries (
    delivery_id       TEXT PRIMARY KEY,
    subscription_id   TEXT NOT NULL REFERENCES webhook_subscriptions (subscription_id) ON DELETE CASCADE,
    seq               INTEGER NOT NULL,
    child_id          TEXT NOT NULL,
    kind              TEXT NOT NULL,
    -- The exact JSON text that is signed and sent, identical on every attempt.
    body              TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'skipped')),
    attempts          INTEGER NOT NULL,
    -- Milliseconds since the epoch: compared as numbers on both backends.
    next_attempt_ms   INTEGER NOT NULL,
    created_at        TEXT NOT NULL,
    finished_at       TEXT,
    CONSTRAINT webhook_deliveries_entry UNIQUE (subscription_id, seq)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_ms);
CREATE INDEX webhook_deliveries_child ON webhook_deliveries (subscription_id, child_id, seq);

CREATE TABLE webhook_attempts (
    delivery_id  TEXT NOT NULL REFERENCES webhook_deliveries (delivery_id) ON DELETE CASCADE,
    attempt      INTEGER NOT NULL,
    at           TEXT NOT NULL,
    status_code  INTEGER,
    error        TEXT,
    PRIMARY KEY (delivery_id, attempt)
);

CREATE TABLE webhook_cursor (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq INTEGER NOT NULL
);
INSERT INTO webhook_cursor (id, last_seq) VALUES (1, 0);

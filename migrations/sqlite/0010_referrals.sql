-- Referrals between agencies: one row per referral with its current status, and every status
-- change with who made it, when and why. A referral made with a `referral` timeline event
-- keeps that event's key, so the child's timeline shows the referral's current status.

CREATE TABLE referrals (
    referral_id INTEGER PRIMARY KEY,
    -- The child as it was when the referral was made; reads follow merges to the survivor.
    child_id    TEXT NOT NULL REFERENCES children (child_id),
    -- The `referral` event that made it; NULL for a referral made with POST /v1/referrals.
    event_key   INTEGER UNIQUE REFERENCES events (event_key),
    from_system TEXT NOT NULL,
    to_system   TEXT NOT NULL,
    reason      TEXT,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'declined', 'closed')),
    -- The day the referral was made (the event's date), what indicators count by.
    referred_on TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    accepted_at TEXT,
    closed_at   TEXT
);
CREATE INDEX referrals_to ON referrals (to_system, status, referral_id);
CREATE INDEX referrals_from ON referrals (from_system, status, referral_id);
CREATE INDEX referrals_child ON referrals (child_id);

CREATE TABLE referral_status_history (
    referral_id INTEGER NOT NULL REFERENCES referrals (referral_id),
    step        INTEGER NOT NULL,
    status      TEXT NOT NULL,
    -- The API client or person that made the change.
    actor       TEXT NOT NULL,
    note        TEXT,
    changed_at  TEXT NOT NULL,
    PRIMARY KEY (referral_id, step)
);

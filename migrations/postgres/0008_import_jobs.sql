-- Bulk import jobs (issue 9): the uploaded body and the job's progress live in the database, so
-- a job survives a restart and resumes at the first row not yet committed. Each chunk's
-- registrations, its per-row results and the job's counters commit in one transaction.
CREATE TABLE import_jobs (
    job_id        TEXT PRIMARY KEY,
    status        TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    format        TEXT NOT NULL CHECK (format IN ('csv', 'ndjson')),
    mapping       TEXT NOT NULL CHECK (mapping IN ('canonical', 'primero', 'oscar')),
    -- The one source system rows may name (an agency's own); NULL lets rows name any (the CLI).
    source_system TEXT,
    submitted_by  TEXT NOT NULL,
    total_rows    BIGINT NOT NULL,
    rows_done     BIGINT NOT NULL DEFAULT 0,
    linked        BIGINT NOT NULL DEFAULT 0,
    created_new   BIGINT NOT NULL DEFAULT 0,
    review        BIGINT NOT NULL DEFAULT 0,
    rejected      BIGINT NOT NULL DEFAULT 0,
    error         TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ
);
CREATE INDEX import_jobs_pending ON import_jobs (status, created_at);

CREATE TABLE import_bodies (
    job_id TEXT PRIMARY KEY REFERENCES import_jobs (job_id),
    body   BYTEA NOT NULL
);

CREATE TABLE import_results (
    job_id           TEXT NOT NULL REFERENCES import_jobs (job_id),
    row_number       BIGINT NOT NULL,
    line             BIGINT NOT NULL,
    source_system    TEXT,
    source_record_id TEXT,
    child_id         TEXT,
    outcome          TEXT NOT NULL CHECK (outcome IN ('new', 'linked', 'review', 'rejected')),
    error_field      TEXT,
    error_code       TEXT,
    error_message    TEXT,
    PRIMARY KEY (job_id, row_number)
);

-- A data steward's claim on a pending match candidate: while it lasts, other stewards see who
-- is deciding it and cannot decide it themselves, so two people do not work the same pair.
-- The times are RFC 3339 text in UTC as sqlx writes them, which order as the instants do.
ALTER TABLE match_candidates ADD COLUMN claimed_by TEXT;
ALTER TABLE match_candidates ADD COLUMN claimed_until TEXT;

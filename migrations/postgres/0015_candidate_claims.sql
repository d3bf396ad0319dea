-- A data steward's claim on a pending match candidate: while it lasts, other stewards see who
-- is deciding it and cannot decide it themselves, so two people do not work the same pair.
ALTER TABLE match_candidates ADD COLUMN claimed_by TEXT;
ALTER TABLE match_candidates ADD COLUMN claimed_until TIMESTAMPTZ;

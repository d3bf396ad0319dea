-- Every change to a child (a record joins or leaves, a merge, an unmerge) counts one revision:
-- the API's ETag, so a steward's decision taken on a stale view is refused (412), not applied.
ALTER TABLE children ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;

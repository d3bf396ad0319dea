-- Every store open asks whether any record's blocking keys are of another model version than
-- the active one; with this index the answer is a look-up, not a walk over every record.
CREATE INDEX source_records_blocking_version ON source_records (blocking_model_version);

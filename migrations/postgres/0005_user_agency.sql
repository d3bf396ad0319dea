-- A person may work for an agency (a school's registrar, a police officer): they log in to the
-- web UI and see what that agency's API client would see.
ALTER TABLE users ADD COLUMN agency TEXT;

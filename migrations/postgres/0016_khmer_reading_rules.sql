-- The Khmer romanisation now reads spelling as it is pronounced (a word-final subscript is
-- silent, the samyok sannya and yuukaleapintu give a vowel, a syllable's last consonant takes
-- no inherent vowel), so the blocking keys of records holding Khmer script are out of date.
-- They are keyed again when the store next opens; records in Latin letters keep theirs.
UPDATE source_records SET blocking_model_version = NULL
WHERE match_child::text ~ '[\u1780-\u17FF]';

-- The Khmer romanisation now reads spelling as it is pronounced (a word-final subscript is
-- silent, the samyok sannya and yuukaleapintu give a vowel, a syllable's last consonant takes
-- no inherent vowel), so the blocking keys of records holding Khmer script are out of date.
-- They are keyed again when the store next opens; records in Latin letters keep theirs.
-- (GLOB's range compares code points: U+1780 to U+17FF, the Khmer block.)
UPDATE source_records SET blocking_model_version = NULL
WHERE match_child GLOB '*[ក-៹]*';

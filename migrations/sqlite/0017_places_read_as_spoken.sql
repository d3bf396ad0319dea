-- Place names are now read as spoken before they are keyed: "Kg." is written out as
-- "Kampong", "Khang" and "Kh." are dropped with the other generic place words, a word-final
-- "r" after a vowel is left out (Khmer leaves a final រ unspoken: "Rokar" / "Roka"), and a
-- place's words are run together ("Mean Chey" / "Meanchey"). Every blocking key built from a
-- district, subcounty or village changes with it, so every record is keyed again when the
-- store next opens.
UPDATE source_records SET blocking_model_version = NULL;

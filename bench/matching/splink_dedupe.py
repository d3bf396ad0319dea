#!/usr/bin/env python3
"""Splink 5 (DuckDB) baseline: the documented Fellegi–Sunter workflow with EM.

Writes `record_id,cluster_id` for every input record, like `child-registry dedupe`.

    python3 splink_dedupe.py --kind child --input records.csv --output clusters.csv
    python3 splink_dedupe.py --kind febrl --input febrl4a.csv --input2 febrl4b.csv --output clusters.csv

Workflow (Splink docs, "Deduplicate 50k rows historical persons" example):
estimate_probability_two_random_records_match with deterministic rules,
estimate_u_using_random_sampling(1e6), EM sessions blocked on different
columns, predict, cluster_pairwise_predictions_at_threshold (connected
components) at 0.95.
"""
import argparse
import time

import duckdb
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on


def child_settings(link_type):
    return SettingsCreator(
        link_type=link_type,
        unique_id_column_name="record_id",
        comparisons=[
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("family_name").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True),
            cl.ExactMatch("sex"),
            cl.ExactMatch("district"),
            cl.LevenshteinAtThresholds("village", 2),
            cl.NameComparison("mother_name"),
            cl.NameComparison("father_name"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("given_name", "family_name"),
            block_on("family_name", "given_name"),
            block_on("date_of_birth", "district"),
            block_on("substr(given_name,1,2)", "substr(family_name,1,2)", "substr(date_of_birth,1,4)"),
            block_on("family_name", "mother_name"),
            block_on("given_name", "village"),
        ],
        retain_intermediate_calculation_columns=False,
    )


def febrl_settings(link_type):
    return SettingsCreator(
        link_type=link_type,
        unique_id_column_name="rec_id",
        comparisons=[
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d"),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number"),
            cl.JaroWinklerAtThresholds("address_1", [0.9, 0.75]),
            cl.JaroWinklerAtThresholds("suburb", [0.9, 0.75]),
            cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]),
            cl.ExactMatch("state"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("given_name", "surname"),
            block_on("surname", "given_name"),
            block_on("date_of_birth"),
            block_on("soc_sec_id"),
            block_on("postcode", "street_number"),
            block_on("substr(given_name,1,2)", "substr(surname,1,2)"),
        ],
        retain_intermediate_calculation_columns=False,
    )


def load_frames(con, db_api, files):
    """Each file as table `input_<i>`, registered with Splink."""
    frames = []
    for i, f in enumerate(files):
        name = f"input_{i}"
        # Minimal cleaning any Splink user does: lower case, trimmed, empty = NULL.
        con.execute(f"create table raw_{i} as select * from read_csv('{f}', all_varchar=true, header=true)")
        cols = [r[0] for r in con.execute(f"describe raw_{i}").fetchall()]
        select = ", ".join(f"nullif(trim(lower({c})), '') as {c}" for c in cols)
        con.execute(f"create table {name} as select {select} from raw_{i}")
        frames.append(db_api.register(name))
    return frames


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", choices=["child", "febrl"], required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--input2")
    ap.add_argument("--output", required=True)
    ap.add_argument("--threshold", type=float, default=0.95)
    args = ap.parse_args()
    started = time.time()
    con = duckdb.connect()
    files = [args.input] + ([args.input2] if args.input2 else [])
    db_api = DuckDBAPI(connection=con)
    frames = load_frames(con, db_api, files)
    link_type = "link_only" if args.input2 else "dedupe_only"
    if args.kind == "child":
        settings = child_settings(link_type)
        deterministic = [
            block_on("given_name", "family_name", "date_of_birth"),
            block_on("family_name", "given_name", "date_of_birth"),
        ]
        em_rules = [block_on("date_of_birth"), block_on("given_name", "family_name")]
        id_col = "record_id"
    else:
        settings = febrl_settings(link_type)
        deterministic = [block_on("given_name", "surname", "date_of_birth"), block_on("soc_sec_id")]
        em_rules = [block_on("date_of_birth"), block_on("given_name", "surname"), block_on("postcode")]
        id_col = "rec_id"
    linker = Linker(frames if len(frames) > 1 else frames[0], settings, log_level=30)
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    for rule in em_rules:
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    predictions = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=args.threshold
    )
    con.execute(
        f"copy (select {id_col} as record_id, cluster_id from {clusters.physical_name}) "
        f"to '{args.output}' (header, delimiter ',')"
    )
    print(f"splink: {time.time() - started:.2f} s", flush=True)


if __name__ == "__main__":
    main()

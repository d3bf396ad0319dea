#!/usr/bin/env python3
"""Splink's candidate pairs and blocking recall, for the benchmark table beside ours.

Counts the pairs the blocking rules of `splink_dedupe.py` generate (Splink's own exact count,
`count_comparisons_from_blocking_rules` on every record) and the share of true pairs among
them. Run apart from the timed `splink_dedupe.py` run, so Splink's wall time stays its own.

    python3 splink_blocking.py --kind child --input records.csv --truth truth.csv --report report.json
    python3 splink_blocking.py --kind febrl --input a.csv --input2 b.csv --truth truth.csv --report report.json
"""
import argparse
import json

import duckdb
from splink import DuckDBAPI
from splink.blocking_analysis import count_comparisons_from_blocking_rules

from splink_dedupe import child_settings, febrl_settings, load_frames


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", choices=["child", "febrl"], required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--input2")
    ap.add_argument("--truth", required=True)
    ap.add_argument("--report", required=True)
    args = ap.parse_args()
    con = duckdb.connect()
    db_api = DuckDBAPI(connection=con)
    files = [args.input] + ([args.input2] if args.input2 else [])
    frames = load_frames(con, db_api, files)
    link_type = "link_only" if args.input2 else "dedupe_only"
    settings = (child_settings if args.kind == "child" else febrl_settings)(link_type)
    id_col = "record_id" if args.kind == "child" else "rec_id"
    rules = settings.blocking_rules_to_generate_predictions

    counted = count_comparisons_from_blocking_rules(
        frames if len(frames) > 1 else frames[0],
        blocking_rules=rules,
        link_type=link_type,
        unique_id_column_name=id_col,
        record_sample_proportion=1.0,
    )
    splink_count = counted[-1]["cumulative_comparison_count"]

    # The same pairs, materialised, to see which true pairs they hold.
    left, right = ("input_0", "input_1") if args.input2 else ("input_0", "input_0")
    order = "" if args.input2 else f"l.{id_col} < r.{id_col} and "
    union = " union ".join(
        f"select l.{id_col} as a, r.{id_col} as b from {left} l join {right} r "
        f"on {order}({rule.get_blocking_rule('duckdb').blocking_rule_sql})"
        for rule in rules
    )
    con.execute(f"create table candidates as {union}")
    (pairs,) = con.execute("select count(*) from candidates").fetchone()
    if pairs != splink_count:
        raise SystemExit(f"materialised {pairs} pairs, Splink counts {splink_count}")

    con.execute(
        f"create table truth as select lower(trim(record_id)) as id, cluster_id "
        f"from read_csv('{args.truth}', all_varchar=true, header=true)"
    )
    if args.input2:
        # Link: a true pair is one record of each file in the same cluster.
        true_pairs = (
            f"select t1.id as a, t2.id as b from truth t1 join truth t2 on t1.cluster_id = t2.cluster_id "
            f"join {left} l on l.{id_col} = t1.id join {right} r on r.{id_col} = t2.id"
        )
    else:
        true_pairs = (
            "select t1.id as a, t2.id as b from truth t1 join truth t2 "
            "on t1.cluster_id = t2.cluster_id and t1.id < t2.id"
        )
    con.execute(f"create table true_pairs as {true_pairs}")
    (true_total,) = con.execute("select count(*) from true_pairs").fetchone()
    (found,) = con.execute(
        "select count(*) from true_pairs t join candidates c on c.a = t.a and c.b = t.b"
    ).fetchone()
    report = {
        "candidate_pairs": pairs,
        "blocking_recall": found / true_total if true_total else 1.0,
    }
    with open(args.report, "w", encoding="utf-8") as f:
        json.dump(report, f)
    print(json.dumps(report))


if __name__ == "__main__":
    main()

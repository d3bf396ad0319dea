#!/usr/bin/env python3
"""Score `record_id,cluster_id` against ground truth: pairwise P/R/F1, B-cubed F1,
largest predicted and true cluster. Prints one JSON object.

    python3 score.py --predicted clusters.csv --truth truth.csv
"""
import argparse
import csv
import json
from collections import Counter


def load(path):
    with open(path, newline="", encoding="utf-8") as f:
        return {row[0]: row[1] for i, row in enumerate(csv.reader(f)) if i > 0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--predicted", required=True)
    ap.add_argument("--truth", required=True)
    args = ap.parse_args()
    pred = load(args.predicted)
    truth = load(args.truth)
    ids = [i for i in truth if i in pred]
    missing = len(truth) - len(ids)
    p_size = Counter(pred[i] for i in ids)
    t_size = Counter(truth[i] for i in ids)
    both = Counter((pred[i], truth[i]) for i in ids)
    pairs = lambda n: n * (n - 1) // 2
    pp = sum(pairs(n) for n in p_size.values())
    tp_ = sum(pairs(n) for n in t_size.values())
    tp = sum(pairs(n) for n in both.values())
    precision = tp / pp if pp else 1.0
    recall = tp / tp_ if tp_ else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    n = len(ids) or 1
    bp = sum(k * k / p_size[p] for (p, t), k in both.items()) / n
    br = sum(k * k / t_size[t] for (p, t), k in both.items()) / n
    bf1 = 2 * bp * br / (bp + br) if bp + br else 0.0
    print(json.dumps({
        "pairwise_precision": precision, "pairwise_recall": recall, "pairwise_f1": f1,
        "bcubed_f1": bf1, "largest_predicted_cluster": max(p_size.values(), default=0),
        "largest_true_cluster": max(t_size.values(), default=0), "records_missing_from_output": missing,
    }))


if __name__ == "__main__":
    main()

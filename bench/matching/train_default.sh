#!/usr/bin/env bash
# Reproduce the trained child model shipped with the crate
# (`matching/models/child-trained.json`, loaded by `Model::default_child()`),
# then measure it online on an independent generated set.
#
#   bash bench/matching/train_default.sh            # writes the model, prints the evaluation
#   EVAL=0 bash bench/matching/train_default.sh     # model only
#
# Training data: `child-registry generate --records 200000 --seed 1` (a
# different seed from the benchmark's 20261123 and from the evaluation's 2).
# Comparisons, blocking rules and thresholds come from
# `matching/models/child.toml`; training is deterministic, so the same
# sources give a byte-identical model file.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${OUT:-$CARGO_TARGET_DIR/default-model}
TRAIN_RECORDS=${TRAIN_RECORDS:-200000}
EVAL_RECORDS=${EVAL_RECORDS:-200000}
mkdir -p "$OUT"
cargo build --release -p gateway >&2
BIN=$CARGO_TARGET_DIR/release/child-registry
"$BIN" generate --records "$TRAIN_RECORDS" --seed 1 --output "$OUT/train.csv" --truth "$OUT/train_truth.csv" >&2
"$BIN" train --input "$OUT/train.csv" --model-config matching/models/child.toml \
  --output matching/models/child-trained.json >&2
if [ "${EVAL:-1}" = 1 ]; then
  "$BIN" generate --records "$EVAL_RECORDS" --seed 2 --output "$OUT/eval.csv" --truth "$OUT/eval_truth.csv" >&2
  cargo run --release -p matching --example online_eval -- \
    matching/models/child-trained.json "$OUT/eval.csv" "$OUT/eval_truth.csv"
fi

#!/usr/bin/env bash
# Batch-dedupe benchmark: ours (`child-registry dedupe`) and Splink 5 on the
# same files, in the same run, on this machine. Prints a Markdown table.
#
#   bash bench/matching/run.sh                       # FEBRL3, FEBRL4, children 10k/200k/1M
#   SIZES="10000" SPLINK_MAX=10000 bash bench/matching/run.sh
#   INDEPENDENT_SIZES="" THIRD_SIZES="" bash bench/matching/run.sh  # own generator only
#
# "children N" is the project's own generator (`child-registry generate`); "independent N"
# is `independent_children.py`, written apart from it, so that a figure does not rest on the
# habits of the generator the model was developed with; "third N" is `third_children.py`,
# written apart from both (and from the engine) after the engine had been tuned on them.
#
# Needs: cargo, python3 with `pip install splink` (Splink 5, DuckDB), GNU time.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
DATA=${DATA:-$ROOT/../shared/data}
SIZES=${SIZES:-"10000 200000 1000000"}
SPLINK_MAX=${SPLINK_MAX:-200000}
SEED=${SEED:-20261123}
INDEPENDENT_SIZES=${INDEPENDENT_SIZES-"10000 200000"}
INDEPENDENT_SEED=${INDEPENDENT_SEED:-1}
THIRD_SIZES=${THIRD_SIZES-"10000 200000"}
OUT=${OUT:-$ROOT/target/bench-matching}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
mkdir -p "$OUT"
cargo build --release -p gateway >&2
BIN=$CARGO_TARGET_DIR/release/child-registry
RESULTS=$OUT/results.jsonl
: > "$RESULTS"

# Splink's candidate pairs and blocking recall, counted apart from its timed run (into the
# report.json that `run` reads next): splink_blocking KIND TRUTH INPUT [INPUT2]
splink_blocking() {
  local kind=$1 truth=$2 input=$3 input2=${4:-}
  (cd bench/matching && python3 splink_blocking.py --kind "$kind" --input "$input" \
    ${input2:+--input2 "$input2"} --truth "$truth" --report "$OUT/report.json") >&2
}

# run NAME ENGINE TRUTH CMD... : time the command, score its clusters, append a JSON line.
run() {
  local name=$1 engine=$2 truth=$3 clusters=$4; shift 4
  echo "== $name / $engine" >&2
  /usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$@" >&2
  read -r wall rss_kb < "$OUT/time.txt"
  local score report="{}"
  score=$(python3 bench/matching/score.py --predicted "$clusters" --truth "$truth")
  [ -f "$OUT/report.json" ] && report=$(cat "$OUT/report.json")
  python3 - "$name" "$engine" "$wall" "$rss_kb" "$score" "$report" >> "$RESULTS" <<'PY'
import json, sys
name, engine, wall, rss, score, report = sys.argv[1:]
score = json.loads(score); report = json.loads(report)
print(json.dumps({"set": name, "engine": engine, "wall_s": float(wall), "peak_rss_mib": int(rss) / 1024,
                  "candidate_pairs": report.get("candidate_pairs"), "blocking_recall": report.get("blocking_recall"), **score}))
PY
  rm -f "$OUT/report.json"
}


run FEBRL3 ours "$DATA/febrl3_truth.csv" "$OUT/f3.csv" \
  "$BIN" dedupe --report "$OUT/report.json" --model matching/models/febrl.toml --input "$DATA/febrl3.csv" --output "$OUT/f3.csv" --truth "$DATA/febrl3_truth.csv"
splink_blocking febrl "$DATA/febrl3_truth.csv" "$DATA/febrl3.csv"
run FEBRL3 splink "$DATA/febrl3_truth.csv" "$OUT/f3s.csv" \
  python3 bench/matching/splink_dedupe.py --kind febrl --input "$DATA/febrl3.csv" --output "$OUT/f3s.csv"
run FEBRL4 ours "$DATA/febrl4_truth.csv" "$OUT/f4.csv" \
  "$BIN" dedupe --report "$OUT/report.json" --model matching/models/febrl.toml --input "$DATA/febrl4a.csv" --input2 "$DATA/febrl4b.csv" --output "$OUT/f4.csv" --truth "$DATA/febrl4_truth.csv"
splink_blocking febrl "$DATA/febrl4_truth.csv" "$DATA/febrl4a.csv" "$DATA/febrl4b.csv"
run FEBRL4 splink "$DATA/febrl4_truth.csv" "$OUT/f4s.csv" \
  python3 bench/matching/splink_dedupe.py --kind febrl --input "$DATA/febrl4a.csv" --input2 "$DATA/febrl4b.csv" --output "$OUT/f4s.csv"

for n in $SIZES; do
  f=$OUT/children_$n.csv t=$OUT/children_${n}_truth.csv
  [ -f "$f" ] || "$BIN" generate --records "$n" --seed "$SEED" --output "$f" --truth "$t" >&2
  run "children $n" ours "$t" "$OUT/c$n.csv" "$BIN" dedupe --report "$OUT/report.json" --input "$f" --output "$OUT/c$n.csv" --truth "$t"
  if [ "$n" -le "$SPLINK_MAX" ]; then
    splink_blocking child "$t" "$f"
    run "children $n" splink "$t" "$OUT/c${n}s.csv" python3 bench/matching/splink_dedupe.py --kind child --input "$f" --output "$OUT/c${n}s.csv"
  fi
done

# python_sets NAME SCRIPT SIZES: the sets a Python generator writes (seed INDEPENDENT_SEED),
# ours and Splink on each.
python_sets() {
  local name=$1 script=$2 sizes=$3 n f t
  for n in $sizes; do
    f=$OUT/${name}_$n.csv t=$OUT/${name}_${n}_truth.csv
    [ -f "$f" ] || python3 "bench/matching/$script" --records "$n" --seed "$INDEPENDENT_SEED" \
      --output "$f" --truth "$t" >&2
    run "$name $n" ours "$t" "$OUT/${name}_${n}_ours.csv" "$BIN" dedupe --report "$OUT/report.json" \
      --input "$f" --output "$OUT/${name}_${n}_ours.csv" --truth "$t"
    if [ "$n" -le "$SPLINK_MAX" ]; then
      splink_blocking child "$t" "$f"
      run "$name $n" splink "$t" "$OUT/${name}_${n}_splink.csv" python3 bench/matching/splink_dedupe.py \
        --kind child --input "$f" --output "$OUT/${name}_${n}_splink.csv"
    fi
  done
}
python_sets independent independent_children.py "$INDEPENDENT_SIZES"
python_sets third third_children.py "$THIRD_SIZES"

python3 - "$RESULTS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| set | engine | pairwise F1 | P | R | B-cubed F1 | blocking recall | candidate pairs | largest cluster (true) | wall s | peak RSS MiB |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
fmt = lambda v, f: "—" if v is None else format(v, f)
for r in rows:
    print(f"| {r['set']} | {r['engine']} | {r['pairwise_f1']:.4f} | {r['pairwise_precision']:.4f} | {r['pairwise_recall']:.4f} | "
          f"{r['bcubed_f1']:.4f} | {fmt(r['blocking_recall'], '.4f')} | {fmt(r['candidate_pairs'], ',')} | "
          f"{r['largest_predicted_cluster']} ({r['largest_true_cluster']}) | {r['wall_s']:.1f} | {r['peak_rss_mib']:.0f} |")
PY

#!/usr/bin/env bash
# Search over HTTP: loads RECORDS generated records into a fresh embedded registry (the demo
# loader), lets the index catch up, then runs wrk with CONNECTIONS concurrent clients for
# DURATION over queries made from the same generated records (names + birth date).
#
#   RECORDS=20000 CONNECTIONS=32 DURATION=20s bash bench/search/run.sh
set -euo pipefail
RECORDS=${RECORDS:-20000}
CONNECTIONS=${CONNECTIONS:-32}
DURATION=${DURATION:-20s}
SEED=${SEED:-2026}
PORT=${PORT:-18480}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

# wrk is not on a fresh machine: Debian's package, as the test scripts install theirs.
if ! command -v wrk >/dev/null 2>&1; then
  echo "installing wrk" >&2
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get -o DPkg::Lock::Timeout=300 update -qq
  $sudo_cmd apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends wrk >/dev/null
fi
WORK=$(mktemp -d)
SERVER=
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT

# BIN=path/to/child-registry skips the release build (e.g. to measure a dev build).
if [ -z "${BIN:-}" ]; then
  cargo build --release -p gateway --bin child-registry
  BIN=$CARGO_TARGET_DIR/release/child-registry
fi

"$BIN" generate --records "$RECORDS" --seed "$SEED" --output "$WORK/records.csv" >/dev/null
python3 - "$WORK/records.csv" "$WORK/queries.txt" <<'PY'
import csv, sys, urllib.parse
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as out:
    for row in csv.DictReader(f):
        words = [row.get("given_name", ""), row.get("family_name", ""), row.get("date_of_birth", "")]
        text = " ".join(w for w in words if w)
        if text:
            out.write("q=" + urllib.parse.quote_plus(text) + "\n")
PY

start=$(date +%s.%N)
"$BIN" demo --data-dir "$WORK/data" --records "$RECORDS" --seed "$SEED" --no-serve > "$WORK/demo.txt"
echo "loaded $RECORDS records in $(echo "$(date +%s.%N) - $start" | bc) s"
KEY=$(awk '$1 == "national_official" {print $3}' "$WORK/demo.txt")

"$BIN" reindex --data-dir "$WORK/data"
echo "index size: $(du -sh "$WORK/data/search-index" | cut -f1)"

# One key sending thousands of searches a second would pass the per-key and per-address
# limits (6,000 and 12,000 a minute by default) within seconds: they are raised for the run.
"$BIN" serve --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" \
  --rate-limit-per-credential 100000000 --rate-limit-per-address 100000000 > /dev/null &
SERVER=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done

KEY=$KEY QUERIES=$WORK/queries.txt wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency \
  -s bench/search/search.lua "http://127.0.0.1:$PORT"

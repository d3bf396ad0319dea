#!/usr/bin/env bash
# Schema-driven API fuzzing with schemathesis (PyPI) against the real binary: every operation
# of /openapi.json, as an agency system, a data steward and a national official. Checks: no
# 5xx, status codes and content types as documented, responses match their schemas (every
# 4xx is problem+json). EXAMPLES=1000 (per operation and phase) gives about 20,000 requests per
# role. Needs python3 with venv; installs schemathesis into target/schemathesis-venv.
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${EXAMPLES:-1000}"
port="${PORT:-18080}"
venv="${CARGO_TARGET_DIR:-target}/schemathesis-venv"
[ -x "$venv/bin/st" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q schemathesis; }
cargo build --locked --bin child-registry
binary="${CARGO_TARGET_DIR:-target}/debug/child-registry"
data="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; rm -rf "$data"' EXIT
key() { "$binary" clients create --data-dir "$data" --name "api fuzz $1" --role "$1" ${2:+--agency "$2"} | tail -1; }
agency="$(key agency police-ug)"; steward="$(key data_steward)"; official="$(key national_official)"
"$binary" serve --data-dir "$data" --listen "127.0.0.1:$port" \
    --rate-limit-per-credential 100000000 --rate-limit-per-address 100000000 --login-rate-limit 100000000 \
    > "$data/server.out" 2> "$data/server.err" &
server=$!
until curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do sleep 0.2; done
status=0
for who in agency steward official; do
    echo "== as $who"
    "$venv/bin/st" run "http://127.0.0.1:$port/openapi.json" -H "Authorization: Bearer ${!who}" \
        -c not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
        -n "$examples" --seed 20261201 --continue-on-failure || status=1
done
if grep -qi panicked "$data/server.err"; then echo "the server panicked:"; grep -i -A3 panicked "$data/server.err"; status=1; fi
exit "$status"

#!/usr/bin/env bash
# Crash recovery, at length: the `kill -9` test of tests/ops.rs with many cycles per backend
# (default 20; CYCLES=50 scripts/crash-cycles.sh for more). Each cycle starts the real binary,
# lets four writers register over HTTP, kills it with SIGKILL at a random moment (0.25–1 s),
# and restarts. Prints one line per backend: acknowledged registrations (all must be found
# exactly once), unacknowledged attempts and how many of those were stored anyway, and the
# time from process start to ready.
set -euo pipefail
cd "$(dirname "$0")/.."

export CHILD_REGISTRY_TEST_DATABASE_URL="${CHILD_REGISTRY_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export CHILD_REGISTRY_CRASH_CYCLES="${CYCLES:-20}"
bash scripts/ensure-postgres.sh >/dev/null 2>&1
cargo test -p gateway --test ops --locked acknowledged_registrations_survive_kill_9 \
    -- --nocapture --test-threads 1 2>&1 | grep -oE 'CRASH-REPORT.*|test result.*|panicked.*'

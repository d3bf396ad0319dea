#!/usr/bin/env bash
# Builds every cargo-fuzz target with libFuzzer's coverage instrumentation (the flags
# `cargo fuzz build -s none` uses, without needing cargo-fuzz installed) and runs each for
# SECONDS seconds (default 30). Needs a nightly toolchain: `rustup toolchain install nightly`.
# With cargo-fuzz installed, `cd fuzz && cargo +nightly fuzz run normalize` does the same.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${SECONDS_PER_TARGET:-30}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps RUSTFLAGS off build scripts and proc macros (as cargo-fuzz does).
host="$(rustc +nightly -vV | sed -n 's/^host: //p')"
cargo +nightly build --release --bins --target "$host"
for target in normalize csv_import record_json child_id; do
    mkdir -p "corpus/$target" "artifacts/$target"
    echo "== $target (${seconds} s)"
    "$CARGO_TARGET_DIR/$host/release/$target" -max_total_time="$seconds" -print_final_stats=1 \
        -artifact_prefix="artifacts/$target/" "corpus/$target" 2>&1 \
        | grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+== ERROR|SUMMARY)|panicked' || true
    if [ -n "$(ls -A "artifacts/$target")" ]; then
        echo "$target: crash inputs in fuzz/artifacts/$target/ (reproduce: $CARGO_TARGET_DIR/$host/release/$target FILE)"
        failed=1
    fi
done
exit "${failed:-0}"

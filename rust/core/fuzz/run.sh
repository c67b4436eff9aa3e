#!/usr/bin/env bash
# Replay the kept inputs, then fuzz every target (or those named) for SECONDS
# each with libFuzzer, on the stable toolchain:
#   rust/core/fuzz/run.sh [SECONDS] [TARGET...]
# Coverage comes from LLVM's SanitizerCoverage pass, which stable rustc runs
# with -Cpasses=sancov-module (what cargo-fuzz passes, minus the nightly-only
# -Zsanitizer=address: a panic is the crash we look for, safe Rust does not
# need ASan). New inputs go to target/fuzz/corpus/<target> (kept between
# local runs, not in git); a crash is written to artifacts/<target>/ and the
# run fails: copy the file to regressions/<target>/ once it is fixed, so
# `cargo test` replays it from then on.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-60}
shift || true
all=(frame_reader handshake room_commands http websocket socketio)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all[@]}"); fi
target_dir=${CARGO_TARGET_DIR:-$PWD/../../../target}
host=$(rustc -vV | sed -n 's/^host: //p')

failed=()
# 1. The seeds and every crash kept as a regression, through `cargo test`.
if ! CARGO_TARGET_DIR=$target_dir cargo test --quiet; then
  failed+=("replay")
fi

# 2. The targets, instrumented (own target dir: other RUSTFLAGS).
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth \
--cfg fuzzing -Cdebug-assertions -Coverflow-checks"
CARGO_TARGET_DIR=$target_dir/fuzz cargo build --quiet --features libfuzzer --bins --target "$host"
bin=$target_dir/fuzz/$host/debug

# 3. Each target for $secs seconds on the kept corpus (+ what earlier local runs found).
for t in "${targets[@]}"; do
  work=$target_dir/fuzz/corpus/$t
  mkdir -p "$work" "artifacts/$t" "regressions/$t"
  echo "fuzz $t: ${secs}s"
  if ! "$bin/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
      -print_final_stats=1 -artifact_prefix="artifacts/$t/" \
      "$work" "corpus/$t" "regressions/$t" >"artifacts/$t.log" 2>&1; then
    grep -a -E "panicked|ERROR|Test unit written|SUMMARY" "artifacts/$t.log" | head -20 || true
    failed+=("$t")
  fi
  grep -a -E "^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)|^Done" \
    "artifacts/$t.log" | tr '\n' ' ' || true
  echo
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]} (new crash inputs in rust/core/fuzz/artifacts/, logs beside them)" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${secs}s each, no crash"

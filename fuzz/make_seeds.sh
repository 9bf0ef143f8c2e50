#!/usr/bin/env bash
# Rewrites fuzz/seeds/ with examples/make_seeds.rs, built with the flags
# `cargo fuzz build -a` uses so it reuses that build (no second C build).
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1 ASAN_OPTIONS=detect_odr_violation=0
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cllvm-args=-simplifycfg-branch-fold-threshold=0 -Zsanitizer=address -Cllvm-args=-sanitizer-coverage-stack-depth -Cdebug-assertions -Ccodegen-units=1"
cargo run --manifest-path Cargo.toml --target "$(rustc -vV | sed -n 's/^host: //p')" --release \
  --config 'profile.release.debug="line-tables-only"' --example make_seeds

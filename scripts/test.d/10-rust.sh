#!/usr/bin/env bash
# Rust unit tests, the in-memory endpoint pair, the layering check (tests/layering.rs), and the native release binaries
# the later suites use.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --bins
cargo test --release --workspace

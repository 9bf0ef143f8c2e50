#!/usr/bin/env bash
# Rust: builds the native release binaries the later suites use (socket-iwa-server, socket-iwa-client,
# socket-iwa-h3-client), then `cargo test --release --workspace`: the unit tests of every workspace member
# (#[cfg(test)] modules in src/**, testkit/, sys/) and the integration tests in tests/rust/ (each a [[test]] in
# Cargo.toml): layering.rs (imports of src/ against docs/ARCHITECTURE.md), memory_pair.rs, h3_static.rs and
# h3_session.rs (in process, over the in-memory link of tests/rust/harness/mod.rs).
# First checks that none is left out (autotests = false: a tests/*.rs, or a tests/rust/*.rs without its
# [[test]] entry, would never run).
set -euo pipefail
cd "$(dirname "$0")/../.."
for f in tests/*.rs; do
  if [ -e "$f" ]; then echo "10-rust: $f: Rust integration tests go in tests/rust/ with a [[test]] entry in Cargo.toml" >&2; exit 1; fi
done
for f in tests/rust/*.rs; do
  if ! grep -qx "path = \"$f\"" Cargo.toml; then echo "10-rust: $f has no [[test]] entry (path = \"$f\") in Cargo.toml" >&2; exit 1; fi
done
cargo build --release --bins
cargo test --release --workspace

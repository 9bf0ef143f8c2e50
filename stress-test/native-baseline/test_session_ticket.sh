#!/usr/bin/env bash
# The seeds' test_session_ticket by hand: a full handshake that stores a ticket,
# then a resumed connection whose first stream data travels as 0-RTT.
# Exits non-zero unless the second connection resumed with 0-RTT accepted.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin="$here/build"
[ -x "$bin/socket-iwa-server" ] || bash "$here/build_native.sh"
work=$(mktemp -d)
port=${PORT:-4433}
"$bin/socket-iwa-server" --listen "127.0.0.1:$port" --json >"$work/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do grep -q listening "$work/server.log" && break; sleep 0.1; done
# The client verifies the server: pin the certificate the server printed.
pin=$(grep -m1 listening "$work/server.log" | python3 -c 'import json,sys; print(json.load(sys.stdin)["cert_sha256"])')
"$bin/socket-iwa-client" --connect "127.0.0.1:$port" --cert-hash "$pin" --session "$work/session.json" --json
second=$("$bin/socket-iwa-client" --connect "127.0.0.1:$port" --cert-hash "$pin" --session "$work/session.json" --json)
echo "$second"
echo "$second" | grep -q '"early_data":"accepted"' && echo "$second" | grep -q '"resumed":true'

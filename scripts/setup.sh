#!/usr/bin/env bash
# Installs everything the build, demo and tests need. Idempotent: every step
# checks first and does nothing when its tool is already there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
say() { echo "setup: $*" >&2; }

# --- Debian packages -------------------------------------------------------
# emscripten: wasm32-unknown-emscripten linker (3.1.6); clang/libclang: bindgen;
# chromium: IWA and WebTransport tests; iproute2: network namespaces;
# ngtcp2-client (Debian's C ngtcp2 client, GnuTLS) and valgrind: handshake tests;
# pkg-config, libnghttp3-dev, cmake: the SOCKET_IWA_SYSTEM_NGHTTP3 override test (15-sys-build);
# redis-server: the Socket.IO Redis adapter cluster tests (started by the tests on loopback).
apt_pkgs=(emscripten clang libclang-dev chromium iproute2 curl ca-certificates ngtcp2-client valgrind pkg-config libnghttp3-dev cmake redis-server)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "apt-get install ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- Rust --------------------------------------------------------------------
if ! rustup target list --installed | grep -qx wasm32-unknown-emscripten; then
  say "rustup target add wasm32-unknown-emscripten"
  rustup target add wasm32-unknown-emscripten
fi

# --- quinn-peer: quinn 0.11 (crates.io) echo client/server for the interop matrix.
# Its own workspace and Cargo.lock, native only; a no-op when already built.
[ -x "$root/tests/peers/quinn-peer/target/release/quinn-peer" ] || say "cargo build tests/peers/quinn-peer (first time: ~1.5 min of CPU)"
cargo build --release --locked --quiet --manifest-path "$root/tests/peers/quinn-peer/Cargo.toml"

# --- Python peers (aioquic is the independent QUIC/HTTP/3 implementation) -----
if ! python3 -c 'import aioquic, wsproto, pytest, sys; sys.exit(0 if aioquic.__version__ == "1.7.2" else 1)' 2>/dev/null; then
  say "pip install -r tests/requirements.txt"
  python3 -m pip install -q -r "$root/tests/requirements.txt"
fi

# --- npm: Node 26 (JSPI), ws, socket.io, playwright-core ----------------------
if [ ! -f "$root/node_modules/.package-lock.json" ] || [ "$root/package-lock.json" -nt "$root/node_modules/.package-lock.json" ]; then
  say "npm ci"
  (cd "$root" && npm ci --no-audit --no-fund --loglevel=error)
fi

# --- upstream C sources (pinned, checksum-verified) ---------------------------
bash "$root/vendor/fetch.sh"

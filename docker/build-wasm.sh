#!/usr/bin/env bash
# The in-container build (also run directly on a Debian 12 host when no Docker
# engine is available): fetches the pinned C sources, builds the server and
# client for wasm32-unknown-emscripten through the Direct Sockets bridge, and
# lays out OUT/ as a servable IWA: the demo app, api/ and wasm/<program>.{js,wasm}
# (npm run build:swbn then signs OUT/ into OUT/socket-iwa.swbn).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/dist}
cd "$root"
export NODE_PATH=${NODE_PATH:-/usr/share/nodejs}
command -v emcc >/dev/null || { echo "build-wasm: emcc not found (apt-get install emscripten)" >&2; exit 1; }
rustup target list --installed | grep -qx wasm32-unknown-emscripten || rustup target add wasm32-unknown-emscripten
bash vendor/fetch.sh
cargo build --release --target wasm32-unknown-emscripten --bins
rel=target/wasm32-unknown-emscripten/release
rm -rf "$out"
mkdir -p "$out/wasm"
cp -r iwa/. "$out/"
rm -f "$out/make-icon.mjs"   # a build tool, not part of the app
mkdir -p "$out/api"
cp api/*.js api/*.d.ts "$out/api/"   # the JavaScript API the demo app imports (/api/direct_sockets_api.js)
for b in socket-iwa-server socket-iwa-client; do
  cp "$rel/$b.js" "$out/wasm/$b.js"
  cp "$rel/${b//-/_}.wasm" "$out/wasm/${b//-/_}.wasm"
done
# wasm/licenses/: the upstream license texts of the C libraries linked into the
# .wasm, from the pinned trees (the .wasm is GPL through wolfSSL, see
# WOLFSSL-GPL-NOTICE.md). This script is also the npm package's `prepack`.
mkdir -p "$out/wasm/licenses"
for lib in $(bash vendor/pins.sh libraries); do
  tree=$(bash vendor/pins.sh tree "$lib")
  cp "$tree/COPYING" "$out/wasm/licenses/$lib-COPYING"
  if [ -f "$tree/LICENSING" ]; then cp "$tree/LICENSING" "$out/wasm/licenses/$lib-LICENSING"; fi
done
cp WOLFSSL-GPL-NOTICE.md "$out/wasm/licenses/"
echo "build-wasm: $out (IWA shell + wasm/)" >&2
ls -la "$out/wasm" >&2

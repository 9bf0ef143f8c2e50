#!/usr/bin/env bash
# The wasm32-unknown-emscripten build of the three -sys crates links into the
# real server and client binaries (the same Rust source as the native ones),
# through docker/build-wasm.sh, the script the Docker build runs. The server
# references all three libraries (library_versions()), so a successful link
# proves ngtcp2, nghttp3 and wolfSSL all resolve for wasm32.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
bash docker/build-wasm.sh "$out/dist"
for f in wasm/socket-iwa-server.js wasm/socket_iwa_server.wasm wasm/socket-iwa-client.js wasm/socket_iwa_client.wasm index.html loader.js; do
  test -s "$out/dist/$f" || { echo "missing dist/$f" >&2; exit 1; }
done
# The module really is the server: it carries the versions of the three C libraries.
# (versions from vendor/pins.txt, the one place that names them)
for lib in $(bash vendor/pins.sh libraries); do
  v=$(bash vendor/pins.sh version "$lib")
  grep -aq "$v" "$out/dist/wasm/socket_iwa_server.wasm" || { echo "no $lib $v in the server module" >&2; exit 1; }
done
echo "wasm build OK: $(stat -c %s "$out/dist/wasm/socket_iwa_server.wasm") bytes server module"

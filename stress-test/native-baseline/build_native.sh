#!/usr/bin/env bash
# Builds the native baseline binaries (the same Rust source as the wasm build)
# into stress-test/native-baseline/build/.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/stress-test/native-baseline/build"
bash "$root/vendor/fetch.sh"
(cd "$root" && cargo build --release --bins)
mkdir -p "$out"
for b in socket-iwa-server socket-iwa-client; do
  cp "$root/target/release/$b" "$out/$b"
done
echo "built: $out/socket-iwa-server $out/socket-iwa-client"

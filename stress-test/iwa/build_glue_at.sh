#!/usr/bin/env bash
# Builds the wasm socket-iwa-server of an earlier revision, for an A/B of two
# builds in one IWA benchmark run (bench_iwa.mjs --server-variants "label=@glue=DIR;...").
#
#   bash stress-test/iwa/build_glue_at.sh REV DIR
#
# REV: any git revision of this repository (e.g. 4e19841, the tree on the day
# issue 11 was filed). DIR gets socket-iwa-server.js and socket_iwa_server.wasm.
# The build happens in a throw-away worktree with its own target directory
# (~2 min of CPU on 2 cores once the C sources are fetched); both are removed
# afterwards. Needs what scripts/setup.sh installs (emscripten, the rustup target).
set -euo pipefail
if [ $# -ne 2 ]; then echo "usage: build_glue_at.sh REV DIR" >&2; exit 2; fi
rev=$1 out=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
commit=$(git -C "$root" rev-parse --verify --quiet "$rev^{commit}") || { echo "build_glue_at.sh: $rev is not a revision of $root" >&2; exit 2; }
work=$(mktemp -d)
cleanup() { git -C "$root" worktree remove --force "$work/tree" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
git -C "$root" worktree add --detach "$work/tree" "$commit" >/dev/null
bash "$work/tree/vendor/fetch.sh" >&2
(cd "$work/tree" && NODE_PATH=${NODE_PATH:-/usr/share/nodejs} CARGO_TARGET_DIR="$work/target" \
  cargo build --release --target wasm32-unknown-emscripten --bin socket-iwa-server >&2)
mkdir -p "$out"
cp "$work/target/wasm32-unknown-emscripten/release/socket-iwa-server.js" \
   "$work/target/wasm32-unknown-emscripten/release/socket_iwa_server.wasm" "$out/"
echo "build_glue_at.sh: $out holds socket-iwa-server at ${commit:0:7}" >&2

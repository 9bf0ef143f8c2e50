#!/usr/bin/env bash
# Fetch the upstream C trees (ngtcp2, nghttp3, wolfSSL) from crates.io packages
# that carry them, pinned by version and SHA-256 (vendor/pins.txt), into
# vendor/src/ (git-ignored) or $SOCKET_IWA_VENDOR_DIR.
# Idempotent: a tree that is already extracted and stamped is not touched again,
# so a second build needs no network.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest=${SOCKET_IWA_VENDOR_DIR:-$here/src}  # the -sys build scripts read the same variable
mkdir -p "$dest"
cargo_home=${CARGO_HOME:-$HOME/.cargo}

while read -r name version sum _library _tree; do
  case "$name" in ''|'#'*) continue ;; esac
  out="$dest/$name-$version"
  if [ -f "$out/.socket-iwa-verified" ] && [ "$(cat "$out/.socket-iwa-verified")" = "$sum" ]; then
    continue
  fi
  crate=$(ls "$cargo_home"/registry/cache/*/"$name-$version.crate" 2>/dev/null | head -n1 || true)
  if [ -z "$crate" ]; then
    # `cargo info` downloads the package through cargo's own registry client
    # (checksum-verified against the index) into cargo's cache.
    cargo info --quiet "$name@$version" >/dev/null 2>&1 || true
    crate=$(ls "$cargo_home"/registry/cache/*/"$name-$version.crate" 2>/dev/null | head -n1 || true)
  fi
  if [ -z "$crate" ]; then
    echo "vendor/fetch.sh: could not download $name $version from crates.io" >&2
    exit 1
  fi
  got=$(sha256sum "$crate" | cut -d' ' -f1)
  if [ "$got" != "$sum" ]; then
    echo "vendor/fetch.sh: checksum mismatch for $crate: expected $sum, got $got" >&2
    exit 1
  fi
  rm -rf "$out" "$out.tmp"
  mkdir -p "$out.tmp"
  tar -xzf "$crate" -C "$out.tmp" --strip-components=1
  echo "$sum" > "$out.tmp/.socket-iwa-verified"
  mv "$out.tmp" "$out"
  echo "vendor/fetch.sh: $name $version verified and extracted" >&2
done < "$here/pins.txt"

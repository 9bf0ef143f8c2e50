#!/usr/bin/env bash
# Prints facts from vendor/pins.txt for shell scripts and tests, so no script
# repeats a version:
#   bash vendor/pins.sh version ngtcp2     -> 1.25.0
#   bash vendor/pins.sh tree ngtcp2        -> /abs/vendor/src/ngtcp2-sys-0.2.0/deps/ngtcp2
#   bash vendor/pins.sh libraries          -> ngtcp2 nghttp3 wolfssl (one a line)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
what=${1:-}; lib=${2:-}
found=0
while read -r name version _sum library tree; do
  case "$name" in ''|'#'*) continue ;; esac
  l=${library%%=*}; v=${library#*=}
  case "$what" in
    libraries) echo "$l"; found=1 ;;
    version) [ "$l" = "$lib" ] && { echo "$v"; found=1; } ;;
    tree) [ "$l" = "$lib" ] && { echo "${SOCKET_IWA_VENDOR_DIR:-$here/src}/$name-$version/$tree"; found=1; } ;;
    *) echo "usage: vendor/pins.sh version|tree LIBRARY | libraries" >&2; exit 2 ;;
  esac
done <"$here/pins.txt"
[ "$found" = 1 ] || { echo "vendor/pins.sh: no library '$lib' in vendor/pins.txt" >&2; exit 1; }

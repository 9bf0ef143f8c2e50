#!/usr/bin/env bash
# Builds the wasm QUIC server/client and the IWA shell into dist/.
# With a Docker engine: in a clean debian:bookworm container (docker/Dockerfile).
# Without one (these machines have only the docker client): the same
# in-container script, docker/build-wasm.sh, directly on this Debian 12 host.
set -euo pipefail
root=$(cd "$(dirname "$0")" && pwd)
cd "$root"
if docker info >/dev/null 2>&1; then
  docker build -f docker/Dockerfile -t socket-iwa-wasm .
  mkdir -p dist
  docker run --rm -v "$root/dist:/out" socket-iwa-wasm
else
  echo "docker_build_quic.sh: no Docker engine; running docker/build-wasm.sh on this host" >&2
  bash scripts/setup.sh
  bash docker/build-wasm.sh "$root/dist"
fi

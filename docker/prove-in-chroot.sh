#!/usr/bin/env bash
# Proves docker/Dockerfile without a Docker engine: builds a debian:bookworm root
# with debootstrap in a folder this script creates, installs into it exactly the
# Debian packages the Dockerfile's apt-get line names, copies the build context
# (what .dockerignore lets through) to /src, runs docker/build-wasm.sh inside it
# with chroot, then builds dist/ on this host the same way and compares the two
# layouts (file names, and that every file is non-empty). Slow (debootstrap plus
# a cold build of the three C libraries: ~15-30 min on 2 cores) and needs root
# and the network (deb.debian.org, crates.io): run it by hand, not in CI.
# The result of the last run is recorded in docs/DOCKER.md.
#
#   sudo bash docker/prove-in-chroot.sh [WORKDIR]     (WORKDIR is created; default: a mktemp dir)
#   SOCKET_IWA_KEEP_CHROOT=1 keeps WORKDIR afterwards.
#
# One step differs from the Dockerfile: its `curl https://sh.rustup.rs | sh`
# (stable toolchain + wasm32-unknown-emscripten target). This machine's network
# does not resolve sh.rustup.rs and the machine has one Rust toolchain, so the
# host's RUSTUP_HOME (the same stable toolchain with that target) is bind-mounted
# read-only into the root instead. Everything else (cargo's crates, the pinned C
# sources through vendor/fetch.sh, emcc) comes from inside the bookworm root.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
say() { echo "prove-in-chroot: $*" >&2; }
[ "$(id -u)" -eq 0 ] || { say "needs root (debootstrap, chroot, mount)"; exit 1; }
command -v debootstrap >/dev/null || { say "debootstrap not found (apt-get install debootstrap)"; exit 1; }
rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
toolchain=$(rustup show active-toolchain | cut -d' ' -f1)
[ -d "$rustup_home/toolchains/$toolchain" ] || { say "no toolchain $toolchain under $rustup_home"; exit 1; }
rustup target list --installed | grep -qx wasm32-unknown-emscripten || { say "host toolchain lacks wasm32-unknown-emscripten"; exit 1; }

work=${1:-$(mktemp -d /var/tmp/socket-iwa-bookworm.XXXXXX)}
mkdir -p "$work"
work=$(cd "$work" && pwd)
rootfs="$work/rootfs"
mounts=()
cleanup() {
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[$i]}" 2>/dev/null || true; done
  if [ -z "${SOCKET_IWA_KEEP_CHROOT:-}" ]; then rm -rf "$work"; else say "kept $work"; fi
}
trap cleanup EXIT
start=$(date +%s)

# 1. debian:bookworm (the Dockerfile's FROM) as a minbase root.
boot="reused root"
if [ ! -x "$rootfs/usr/bin/apt-get" ]; then
  boot="debootstrap"
  say "debootstrap bookworm -> $rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
fi
mount_bind() { mkdir -p "$2"; mount --bind "$1" "$2"; mounts+=("$2"); }
mount -t proc proc "$rootfs/proc"; mounts+=("$rootfs/proc")
mount_bind /dev "$rootfs/dev"
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"

# 2. The Dockerfile's apt-get line, read from the Dockerfile itself.
pkgs=$(sed -n '/apt-get install/,/&&/p' "$root/docker/Dockerfile" | sed 's/.*--no-install-recommends//; s/&&.*//; s/\\//g' | tr -s ' \n' ' ')
say "apt-get install $pkgs"
chroot "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
  sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends $pkgs" >"$work/apt.log" 2>&1 \
  || { tail -20 "$work/apt.log" >&2; exit 1; }

# Local CA certificates (a TLS-inspecting egress proxy, as on the machines this
# was proven on) are trusted by the host; the root needs them for crates.io.
# A Docker build behind such a proxy needs the same two lines in its Dockerfile.
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
  cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
  chroot "$rootfs" /usr/sbin/update-ca-certificates >/dev/null 2>&1
fi

# 3. Rust: the host's toolchain, read-only (see the header).
mount_bind "$rustup_home" "$rootfs/opt/rustup"
mount -o remount,bind,ro "$rootfs/opt/rustup"

# 4. The build context (COPY . /src), filtered by .dockerignore.
rm -rf "$rootfs/src"
mkdir -p "$rootfs/src"
# Every file git tracks or would track (untracked, not ignored), minus the
# .dockerignore entries (which also drop a worktree's shared symlinks).
ignore_re=$(grep -v -e '^#' -e '^$' "$root/.dockerignore" | sed 's/[.]/\\./g' | paste -sd'|')
(cd "$root" && git ls-files -co --exclude-standard) | grep -Ev "^($ignore_re)(/|$)" | tr '\n' '\0' \
  | (cd "$root" && tar --null -T - -cf -) | tar -xf - -C "$rootfs/src"

# 5. docker/build-wasm.sh inside the root (the Dockerfile's RUN), with the
# Dockerfile's ENV (PATH with cargo, NODE_PATH).
tc_bin="/opt/rustup/toolchains/$toolchain/bin"
# build-wasm.sh asks `rustup target list --installed`; the rustup binary is not
# part of a toolchain folder, so a small stand-in answers from the toolchain.
mkdir -p "$rootfs/root/.cargo/bin"
cat >"$rootfs/root/.cargo/bin/rustup" <<EOF
#!/bin/sh
if [ "\$*" = "target list --installed" ]; then
  ls -F /opt/rustup/toolchains/$toolchain/lib/rustlib | sed -n "s,/\\\$,,p" | grep -- -; exit
fi
echo "rustup stand-in (docker/prove-in-chroot.sh): only 'target list --installed'" >&2; exit 1
EOF
chmod +x "$rootfs/root/.cargo/bin/rustup"
say "chroot: bash docker/build-wasm.sh /src/dist"
nice chroot "$rootfs" /usr/bin/env -i HOME=/root RUSTUP_HOME=/opt/rustup CARGO_HOME=/root/.cargo \
  PATH="/root/.cargo/bin:$tc_bin:/usr/sbin:/usr/bin:/sbin:/bin" NODE_PATH=/usr/share/nodejs \
  bash -c 'cd /src && bash docker/build-wasm.sh /src/dist' >"$work/build-chroot.log" 2>&1 \
  || { tail -30 "$work/build-chroot.log" >&2; exit 1; }
chroot_s=$(( $(date +%s) - start ))

# 6. The host build of the same script, and the comparison.
say "host: bash docker/build-wasm.sh $work/host-dist"
(cd "$root" && nice bash docker/build-wasm.sh "$work/host-dist") >"$work/build-host.log" 2>&1 \
  || { tail -30 "$work/build-host.log" >&2; exit 1; }
layout() { (cd "$1" && find . -type f ! -empty | sort; find . -type f -empty | sed 's/^/EMPTY /' | sort); }
layout "$rootfs/src/dist" >"$work/layout-chroot.txt"
layout "$work/host-dist" >"$work/layout-host.txt"
if ! diff -u "$work/layout-host.txt" "$work/layout-chroot.txt" >&2; then
  say "FAILED: the chroot (Dockerfile) build's dist/ differs in layout from the host build"
  exit 1
fi
say "OK: identical layout ($(wc -l <"$work/layout-host.txt") files); ${chroot_s}s for $boot + apt + the cold chroot build"
for f in wasm/socket_iwa_server.wasm wasm/socket_iwa_client.wasm; do
  say "  $f: chroot $(stat -c %s "$rootfs/src/dist/$f") bytes, host $(stat -c %s "$work/host-dist/$f") bytes"
done
say "  emcc in the root: $(chroot "$rootfs" emcc --version 2>/dev/null | head -1)"

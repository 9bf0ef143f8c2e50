#!/usr/bin/env bash
# The -sys build scripts (issue 9), on nghttp3-sys (the one -sys crate with no
# -sys dependency, so the checks cost one small C library), in their own target
# dir (target/sys-build-test) so the main build is never invalidated:
# 1. the build script never reaches the network: with the pinned tree present,
#    `cargo build --offline` inside `unshare -n` (a network namespace with no
#    route anywhere) builds it; with the tree absent (an empty
#    SOCKET_IWA_VENDOR_DIR) it fails naming vendor/fetch.sh and downloads nothing;
# 2. every environment variable it reads is declared with rerun-if-env-changed;
# 3. SOCKET_IWA_SYSTEM_NGHTTP3=1 finds Debian's libnghttp3-dev through
#    pkg-config and refuses it by name as older than the pin; with nghttp3
#    installed by upstream's CMake under a prefix (PKG_CONFIG_PATH) it builds,
#    and the crate's link test passes loading that prefix's libnghttp3.so (the
#    default build links the pinned tree statically);
# 4. no build script or suite repeats a pinned library version (vendor/pins.txt
#    is the one place).
# ~3 min the first time (build dependencies + nghttp3), ~1 min after.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export CARGO_TARGET_DIR="$root/target/sys-build-test"
fail() { echo "15-sys-build: $*" >&2; exit 1; }
log=$(mktemp); empty=$(mktemp -d)
trap 'rm -rf "$log" "$empty"' EXIT
build() { nice cargo build --release --quiet -p nghttp3-sys "$@" >"$log" 2>&1; }

echo "--- sys-build: offline, in a network namespace with no network" >&2
cargo fetch --quiet >/dev/null 2>&1 || true  # crates for the build dependencies (cargo's own download)
unshare -n true 2>/dev/null || fail "unshare -n is not permitted here (needs root or user namespaces)"
# Force the build script to run again (in this target dir only), then build without any network.
rm -rf "$CARGO_TARGET_DIR"/release/build/nghttp3-sys-* "$CARGO_TARGET_DIR"/release/.fingerprint/nghttp3-sys-*
unshare -n env "CARGO_TARGET_DIR=$CARGO_TARGET_DIR" nice cargo build --release --quiet --offline -p nghttp3-sys >"$log" 2>&1 \
  || { tail -30 "$log" >&2; fail "nghttp3-sys does not build without network"; }

echo "--- sys-build: rerun-if-env-changed for every variable read" >&2
out=$(ls -t "$CARGO_TARGET_DIR"/release/build/nghttp3-sys-*/output | head -1)
for v in SOCKET_IWA_SYSTEM_NGHTTP3 SOCKET_IWA_VENDOR_DIR BINDGEN_EXTRA_CLANG_ARGS LIBCLANG_PATH PKG_CONFIG_PATH; do
  grep -qx "cargo:rerun-if-env-changed=$v" "$out" || fail "$out has no rerun-if-env-changed=$v"
done
grep -q "cargo:rerun-if-changed=.*vendor/pins.txt" "$out" || fail "$out does not rerun when vendor/pins.txt changes"

echo "--- sys-build: a missing tree is an error that names vendor/fetch.sh; nothing is downloaded" >&2
if SOCKET_IWA_VENDOR_DIR="$empty" build; then fail "built with an empty SOCKET_IWA_VENDOR_DIR"; fi
grep -q "bash vendor/fetch.sh" "$log" || { tail -20 "$log" >&2; fail "the error does not name vendor/fetch.sh"; }
[ -z "$(ls -A "$empty")" ] || fail "the build script wrote into the vendor dir: $(ls -A "$empty")"

echo "--- sys-build: SOCKET_IWA_SYSTEM_NGHTTP3=1 with Debian's libnghttp3-dev" >&2
pin=$(bash vendor/pins.sh version nghttp3)
sys=$(pkg-config --modversion libnghttp3 2>/dev/null) || fail "pkg-config finds no libnghttp3 (scripts/setup.sh installs libnghttp3-dev)"
if SOCKET_IWA_SYSTEM_NGHTTP3=1 build; then
  echo "15-sys-build: note: the system libnghttp3 $sys is accepted (>= $pin)" >&2
else
  grep -q "pkg-config finds libnghttp3 $sys, older than the pinned $pin" "$log" || { tail -20 "$log" >&2; fail "no clear error for the system libnghttp3 $sys"; }
fi
if SOCKET_IWA_SYSTEM_NGHTTP3=yes build; then fail "SOCKET_IWA_SYSTEM_NGHTTP3=yes was accepted"; fi
grep -q "SOCKET_IWA_SYSTEM_NGHTTP3=yes: want 1" "$log" || fail "no clear error for a bad SOCKET_IWA_SYSTEM_NGHTTP3 value"

echo "--- sys-build: SOCKET_IWA_SYSTEM_NGHTTP3=1 with nghttp3 installed by its own CMake build under a prefix" >&2
# A system-style install of the real library (upstream's CMake, `make install`,
# its libnghttp3.pc) from the pinned tree: the override must find it through
# PKG_CONFIG_PATH, generate bindings from its headers and link its shared library.
prefix="$empty/prefix"
tree=$(bash vendor/pins.sh tree nghttp3)
{ nice cmake -S "$tree" -B "$empty/cmake-build" -DENABLE_LIB_ONLY=ON -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$prefix" && nice cmake --build "$empty/cmake-build" -j2 && cmake --install "$empty/cmake-build"; } >"$log" 2>&1 \
  || { tail -20 "$log" >&2; fail "cmake build of nghttp3 into a prefix failed"; }
pcdir=$(dirname "$(find "$prefix" -name libnghttp3.pc | head -1)")
libdir=$(dirname "$(find "$prefix" -name 'libnghttp3.so*' | head -1)")
SOCKET_IWA_SYSTEM_NGHTTP3=1 PKG_CONFIG_PATH="$pcdir" LD_LIBRARY_PATH="$libdir" \
  nice cargo test --release --quiet -p nghttp3-sys >"$log" 2>&1 || { tail -30 "$log" >&2; fail "nghttp3-sys with the prefix's libnghttp3 failed its link test"; }
grep -q "test result: ok. 1 passed" "$log" || { cat "$log" >&2; fail "the link test did not run"; }
testbin=$(ls -t "$CARGO_TARGET_DIR"/release/deps/nghttp3_sys-* | grep -v '\.d$' | head -1)
# ldd's output is captured first: `ldd | grep -q` under pipefail fails when grep exits at the
# match before ldd has written the rest (SIGPIPE), which made this check flaky under load.
deps=$(LD_LIBRARY_PATH="$libdir" ldd "$testbin")
grep -q "libnghttp3.so.* => $libdir/" <<<"$deps" || fail "$testbin does not load the prefix's libnghttp3.so"
if SOCKET_IWA_SYSTEM_NGHTTP3=0 nice cargo test --release --quiet -p nghttp3-sys >"$log" 2>&1; then
  testbin=$(ls -t "$CARGO_TARGET_DIR"/release/deps/nghttp3_sys-* | grep -v '\.d$' | head -1)
  deps=$(ldd "$testbin")
  if grep -q libnghttp3.so <<<"$deps"; then fail "the pinned build loads a shared libnghttp3"; fi
else
  tail -20 "$log" >&2; fail "nghttp3-sys link test with the pinned tree failed"
fi

echo "--- sys-build: versions only in vendor/pins.txt" >&2
for lib in $(bash vendor/pins.sh libraries); do
  v=$(bash vendor/pins.sh version "$lib")
  hits=$(git grep -n -F "$v" -- sys scripts docker vendor/fetch.sh ':!*.md'); rc=$?
  [ "$rc" -le 1 ] || fail "git grep failed ($rc)"
  hits=$(printf '%s\n' "$hits" | grep -v -e '^sys/.*\.h:' -e '^$' || true)
  [ -z "$hits" ] || fail "$lib $v is written outside vendor/pins.txt: $hits"
done
echo "sys-build OK: offline build in an empty network namespace, env vars declared, missing tree and old system library refused by name, a prefix-installed nghttp3 linked through the override" >&2

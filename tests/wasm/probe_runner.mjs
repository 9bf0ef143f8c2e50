// Loads the wasm probe (emscripten/probe, built for wasm32-unknown-emscripten)
// in this process and runs one mode through JSPI. The Direct Sockets
// implementation must already be on globalThis (node/direct-sockets.js for
// real sockets, fake_direct_sockets.mjs for failure injection).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const probeDir = path.resolve(here, '../../emscripten/probe/target/wasm32-unknown-emscripten/release');
export const probeJs = path.join(probeDir, 'ds-probe.js');
export const probeWasm = path.join(probeDir, 'ds_probe.wasm');

let factory = null;
let wasmModule = null;

/** Compiles the module once per process. */
async function load() {
  if (!factory) {
    if (!fs.existsSync(probeJs)) throw new Error(`probe not built: ${probeJs} (run scripts/test.d/40-wasm-bridge.sh)`);
    factory = (await import(pathToFileURL(probeJs).href)).default;
    wasmModule = await WebAssembly.compile(fs.readFileSync(probeWasm));
  }
  return { factory, wasmModule };
}

/**
 * Starts `ds-probe <args>`. Returns { module, lines, ready, done } where
 * `ready` resolves with the READY line's text, and `done` with
 * { status, result } (result = parsed RESULT json).
 */
export async function startProbe(args, { echo = false } = {}) {
  const { factory, wasmModule } = await load();
  const lines = [];
  let readyResolve;
  const ready = new Promise((r) => { readyResolve = r; });
  const onLine = (line) => {
    lines.push(line);
    if (echo) console.error(`[probe ${args[0]}] ${line}`);
    if (line.startsWith('READY ')) readyResolve(line.slice(6));
  };
  const module = await factory({
    wasmModule,
    noExitRuntime: true,
    print: onLine,
    printErr: (l) => { lines.push(`stderr: ${l}`); if (echo) console.error(`[probe ${args[0]} stderr] ${l}`); },
  });
  const done = module.runMain(args).then((status) => {
    const r = lines.find((l) => l.startsWith('RESULT '));
    return { status, result: r ? JSON.parse(r.slice(7)) : null, lines };
  });
  // A probe that ends before READY must not leave `ready` hanging.
  done.then(() => readyResolve(null), () => readyResolve(null));
  return { module, lines, ready, done };
}

/** Runs a mode to completion. */
export async function runProbe(args, opts) {
  const p = await startProbe(args, opts);
  return p.done;
}

/** Rejects after ms with a message naming what timed out. */
export function within(ms, promise, what) {
  let t;
  return Promise.race([
    promise.finally(() => clearTimeout(t)),
    new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`timed out after ${ms} ms: ${what}`)), ms); }),
  ]);
}

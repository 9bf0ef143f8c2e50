// Where SocketIWA finds the wasm programs under Node (api/h3_server.js loadModule,
// docs/JS_SERVERS.md "Loading"): of the default places that hold both the glue and the
// .wasm, the newest build. A checkout with an older dist/ (docker_build_quic.sh) beside a
// fresh `cargo build` must load the fresh one, not the stale copy that comes first in the
// list. Checked on a copy of api/ and node/ in a temporary tree whose dist/wasm/ holds a
// .wasm that does not compile: loading succeeds only while that one is the older.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const built = path.join(root, 'target/wasm32-unknown-emscripten/release');

test('under Node, the newest of dist/wasm and target/ is loaded, not the first in the list', async (t) => {
  for (const f of ['socket-iwa-server.js', 'socket_iwa_server.wasm']) {
    assert.ok(fs.existsSync(path.join(built, f)), `${f} is missing: cargo build --release --target wasm32-unknown-emscripten --bins`);
  }
  const tree = fs.mkdtempSync(path.join(os.tmpdir(), 'siwa-loading-'));
  t.after(() => fs.rmSync(tree, { recursive: true, force: true }));
  for (const d of ['api', 'node']) fs.cpSync(path.join(root, d), path.join(tree, d), { recursive: true });
  const target = path.join(tree, 'target/wasm32-unknown-emscripten/release');
  const dist = path.join(tree, 'dist/wasm');
  for (const d of [target, dist]) {
    fs.mkdirSync(d, { recursive: true });
    fs.copyFileSync(path.join(built, 'socket-iwa-server.js'), path.join(d, 'socket-iwa-server.js'));
  }
  fs.copyFileSync(path.join(built, 'socket_iwa_server.wasm'), path.join(target, 'socket_iwa_server.wasm'));
  const stale = path.join(dist, 'socket_iwa_server.wasm');
  fs.writeFileSync(stale, Buffer.from('not a wasm module'));
  const api = pathToFileURL(path.join(tree, 'api/h3_server.js')).href;

  // dist/'s copy is older: the fresh target/ build loads.
  const old = new Date('2020-01-01T00:00:00Z');
  fs.utimesSync(stale, old, old);
  const a = await import(`${api}?older`);
  const { factory, module } = await a.loadProgram('server', undefined, 'test');
  assert.equal(typeof factory, 'function');
  assert.ok(module instanceof WebAssembly.Module);

  // dist/'s copy is newer: it is the one chosen (and it does not compile).
  const later = new Date(Date.now() + 60_000);
  fs.utimesSync(stale, later, later);
  const b = await import(`${api}?newer`);
  await assert.rejects(b.loadProgram('server', undefined, 'test'), WebAssembly.CompileError);
});

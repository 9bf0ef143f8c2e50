// The signed web bundle the IWA tests install: $SOCKET_IWA_SWBN when set
// (scripts/test.d/35-iwa-quic.sh builds it once per run), otherwise built here
// into a temporary folder with a throw-away signing key: docker/build-wasm.sh
// lays out the app, scripts/build-swbn.mjs signs it. Never the user's own key.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export async function signedBundle() {
  if (process.env.SOCKET_IWA_SWBN) {
    if (!fs.existsSync(process.env.SOCKET_IWA_SWBN)) throw new Error(`SOCKET_IWA_SWBN=${process.env.SOCKET_IWA_SWBN} does not exist`);
    return process.env.SOCKET_IWA_SWBN;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'socket-iwa-swbn-'));
  await run('bash', [path.join(root, 'docker/build-wasm.sh'), path.join(dir, 'app')], { cwd: root, maxBuffer: 1 << 26 });
  const out = path.join(dir, 'socket-iwa.swbn');
  await run(process.execPath, [path.join(root, 'scripts/build-swbn.mjs'), '--app', path.join(dir, 'app'), '--key', path.join(dir, 'key.pem'), '--out', out], { cwd: root });
  return out;
}

// Runs inside a test network namespace: installs the IWA in headless Chromium
// (launched inside the namespace, app server too), starts the wasm probe's
// `multicast` mode there, and plays the native node:dgram peer. Prints
// `CHILD <json>`.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchIwa } from '../harness/iwa.js';
import { probeDir } from './probe_runner.mjs';
import { multicastPeer } from './multicast_peer.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const group = '239.10.10.10';
const port = 5353;
const out = {};
let iwa;
try {
  iwa = await launchIwa({ appDir: path.resolve(here, '../../iwa'), mounts: { '/wasm/': probeDir }, timeoutMs: 90000 });
  let id, fd;
  let fdKnown;
  const fdReady = new Promise((r) => { fdKnown = r; });
  out.peer = await multicastPeer({
    group, port, count: 3, timeoutMs: 30000,
    onListening: async () => {
      id = await iwa.call('/loader.js', 'start', { module: '/wasm/ds-probe.js', args: ['multicast', group, String(port), '3'] });
      const ready = await iwa.call('/loader.js', 'ready', id, 20000);
      fd = Number(/fd=(\d+)/.exec(ready)[1]);
      fdKnown();
    },
    beforePing: async () => {
      await fdReady; // the announcement can arrive before ready() returns
      out.groupsWhileJoined = await iwa.call('/loader.js', 'joinedGroups', id, fd);
    },
  });
  const r = await iwa.call('/loader.js', 'done', id, 20000);
  out.probe = r.result;
  out.status = r.status;
} catch (e) {
  out.error = String(e && e.stack || e);
  if (iwa) out.console = iwa.consoleLines.slice(-20);
} finally {
  if (iwa) await iwa.close();
}
console.log('CHILD ' + JSON.stringify(out));

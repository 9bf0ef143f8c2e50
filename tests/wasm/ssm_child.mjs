// Runs inside a test network namespace (netns.mjs: lo up, multicast on,
// 224.0.0.0/4 routed to lo): the wasm probe's `ssm-recv` mode joins
// (GROUP, SOURCE) through IP_ADD_SOURCE_MEMBERSHIP, either under Node 26
// (argv[2] = 'node': node/direct-sockets.js) or in the IWA (argv[2] = 'iwa':
// Chromium with SourceSpecificMulticastInDirectSockets, app server inside the
// namespace too). Two node:dgram senders, SOURCE (127.0.0.1) and OTHER
// (127.0.0.2), send interleaved to the group; an any-source node:dgram
// listener is the control that both reach the wire. Prints `CHILD <json>`.
import dgram from 'node:dgram';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { install } from '../../node/direct-sockets.js';
import { launchIwa } from '../harness/iwa.js';
import { startProbe, probeDir, within } from './probe_runner.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const mode = process.argv[2];
const GROUP = '239.60.60.60';
const PORT = 5960;
const SOURCE = '127.0.0.1';
const OTHER = '127.0.0.2';
const ROUNDS = 5;
const out = { mode };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function sender(addr) {
  const s = dgram.createSocket('udp4');
  await new Promise((r) => s.bind(0, addr, r));
  s.setMulticastTTL(1);
  return s;
}

let iwa;
try {
  const control = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  const controlGot = [];
  control.on('message', (m, r) => controlGot.push(`${m}|${r.address}`));
  await new Promise((r) => control.bind(PORT, '0.0.0.0', r));
  control.addMembership(GROUP);

  const args = ['ssm-recv', GROUP, SOURCE, String(PORT), String(ROUNDS)];
  let done;
  if (mode === 'node') {
    install(globalThis);
    const p = await startProbe(args);
    out.ready = await within(10000, p.ready, 'probe READY');
    done = () => within(15000, p.done, 'probe exit');
  } else if (mode === 'iwa') {
    iwa = await launchIwa({
      appDir: path.resolve(here, '../../iwa'), mounts: { '/wasm/': probeDir }, timeoutMs: 90000,
      args: ['--enable-features=IsolatedWebApps,IsolatedWebAppDevMode,SourceSpecificMulticastInDirectSockets'],
    });
    const id = await iwa.call('/loader.js', 'start', { module: '/wasm/ds-probe.js', args });
    out.ready = await iwa.call('/loader.js', 'ready', id, 20000);
    done = () => iwa.call('/loader.js', 'done', id, 20000);
  } else {
    throw new Error(`ssm_child.mjs: mode must be node or iwa, got ${mode}`);
  }
  if (out.ready) {
    const a = await sender(SOURCE), b = await sender(OTHER);
    for (let i = 0; i < ROUNDS; i++) {
      await new Promise((r) => b.send(`other-${i}`, PORT, GROUP, r));
      await new Promise((r) => a.send(`source-${i}`, PORT, GROUP, r));
      await sleep(10);
    }
    a.close(); b.close();
  }
  const r = await done();
  out.probe = r.result;
  out.status = r.status;
  // The control heard both senders (bounded wait: loopback delivers at once).
  for (let i = 0; i < 50 && out.ready && controlGot.length < 2 * ROUNDS; i++) await sleep(20);
  out.control = controlGot.sort();
  control.close();
} catch (e) {
  out.error = String(e && e.stack || e);
  if (iwa) out.console = iwa.consoleLines.slice(-20);
} finally {
  if (iwa) await iwa.close();
}
console.log('CHILD ' + JSON.stringify(out));
process.exit(0);

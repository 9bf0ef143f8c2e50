// Runs inside a network namespace created by iwa_ssm.test.js (lo up,
// multicast on, 224.0.0.0/4 routed to lo). Two Node senders on the same
// group and port, one bound to 127.0.0.1 (the chosen source) and one to
// 127.0.0.2 (another source); a Node any-source listener on the port is the
// control that both sources' datagrams are on the wire. Prints one JSON line.
import dgram from 'node:dgram';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchIwa } from '../harness/iwa.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const apiDir = path.resolve(here, '../../api');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const GROUP = '239.50.50.50';
const PORT = 5900;
const SOURCE = '127.0.0.1';
const OTHER = '127.0.0.2';
const ROUNDS = 5;
const out = {};

async function sender(addr) {
  const s = dgram.createSocket('udp4');
  await new Promise((r) => s.bind(0, addr, r));
  s.setMulticastTTL(1);
  return s;
}

/** Interleave OTHER and SOURCE datagrams, ROUNDS each, until `done()` or 5 s. */
async function exchange(tag, received, done) {
  const control = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  const controlGot = [];
  control.on('message', (m, r) => controlGot.push(`${m}|${r.address}`));
  await new Promise((r) => control.bind(PORT, '0.0.0.0', r));
  control.addMembership(GROUP);
  const a = await sender(SOURCE), b = await sender(OTHER);
  for (let i = 0; i < ROUNDS; i++) {
    await new Promise((r) => b.send(`${tag}-other-${i}`, PORT, GROUP, r));
    await new Promise((r) => a.send(`${tag}-source-${i}`, PORT, GROUP, r));
  }
  const t0 = Date.now();
  let got = [];
  while (Date.now() - t0 < 5000) {
    got = await received();
    if (done(got) && controlGot.length >= 2 * ROUNDS) break;
    await sleep(100);
  }
  a.close(); b.close(); control.close();
  return { got, control: controlGot.sort() };
}

async function run(name, args, body) {
  const iwa = await launchIwa({ mounts: { '/api/': apiDir, '/tests/js/': here }, timeoutMs: 60000, args });
  try {
    const call = (fn, ...a) => iwa.call('/tests/js/iwa/ssm_scenarios.js', fn, ...a);
    out[name] = await body(call);
  } catch (err) {
    out.error = `${name}: ${err && err.stack || err}`;
    out.console = iwa.consoleLines;
  } finally { await iwa.close(); }
}

// 1. With the feature: the API detects it and a source-specific join hears the chosen source only.
await run('enabled', ['--enable-features=IsolatedWebApps,IsolatedWebAppDevMode,SourceSpecificMulticastInDirectSockets'], async (call) => {
  const probe = await call('probe');
  const start = await call('ssmStart', GROUP, PORT, SOURCE);
  const x = await exchange('api', () => call('ssmReceived'), (got) => got.filter((g) => g.text.startsWith('api-source-')).length >= ROUNDS);
  await call('ssmStop');
  return { probe, start, received: x.got.map((g) => `${g.text}|${g.from}`).sort(), control: x.control };
});
// 2. Without it (Chromium's default): the API refuses with ENOTSUP, and plain Direct Sockets
//    silently turn joinGroup(group, {sourceAddress}) into an any-source join (hears both sources).
if (!out.error) {
  await run('disabled', [], async (call) => {
    const probe = await call('probe');
    const start = await call('plainStart', GROUP, PORT, SOURCE);
    const x = await exchange('plain', () => call('plainReceived'), (got) => got.length >= 2 * ROUNDS);
    await call('plainStop');
    return { probe, start, received: x.got.map((g) => `${g.text}|${g.from}`).sort(), control: x.control };
  });
}
console.log(JSON.stringify(out));
process.exit(0);

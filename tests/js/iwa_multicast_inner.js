// Runs inside a network namespace created by iwa_multicast.test.js (lo up,
// multicast on, 224.0.0.0/4 routed to lo). Prints one JSON line with results.
import dgram from 'node:dgram';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchIwa } from '../harness/iwa.js';
import fs from 'node:fs';
import os from 'node:os';
import { install } from '../../node/direct-sockets.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const apiDir = path.resolve(here, '../../api');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const GROUP = '239.20.20.20';
const PORT = 5600;
const GROUP6 = 'ff15::1:3';
const PORT6 = 5650;
const out = {};

async function nodeSide() {
  // Node's own Direct Sockets run the same quick example (as globals).
  // Lay the file out as the README does: quick_example.js beside ./api/.
  install(globalThis);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'siwa-quick-'));
  fs.copyFileSync(path.join(here, 'iwa/quick_example.js'), path.join(dir, 'quick_example.js'));
  fs.symlinkSync(apiDir, path.join(dir, 'api'));
  const { runAndCollect } = await import(path.join(dir, 'quick_example.js'));
  out.nodeQuickExample = await runAndCollect();
}

const iwa = await launchIwa({
  mounts: { '/api/': apiDir, '/tests/js/': here, '/media/': path.resolve(here, '../../examples/multicast-media-lan') },
  extraFiles: { '/quick_example.js': fs.readFileSync(path.join(here, 'iwa/quick_example.js')) },
  timeoutMs: 60000,
});
try {
  const call = (fn, ...a) => iwa.call('/tests/js/iwa/scenarios.js', fn, ...a);
  out.start = await call('multicastStart', GROUP, PORT);
  const listener = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  const nodeGot = [];
  listener.on('message', (m, r) => nodeGot.push({ text: m.toString(), port: r.port }));
  await new Promise((r) => listener.bind(PORT, '0.0.0.0', r));
  listener.addMembership(GROUP);
  const sender = dgram.createSocket('udp4');
  await new Promise((r) => sender.bind(0, '127.0.0.1', r));
  sender.setMulticastTTL(1);
  sender.send('from-node', PORT, GROUP);
  await call('multicastSend', 'from-iwa');
  const t0 = Date.now();
  let received = [];
  while (Date.now() - t0 < 5000) {
    received = await call('multicastReceived');
    if (received.some((x) => x.text === 'from-node') && received.some((x) => x.text === 'from-iwa') && nodeGot.some((x) => x.text === 'from-iwa')) break;
    await sleep(100);
  }
  out.iwaReceived = received.map((x) => x.text).sort();
  out.nodeReceived = nodeGot.map((x) => x.text).sort();
  out.stop = await call('multicastStop');
  listener.close(); sender.close();
  // IPv6: group ff15::1:3 over the namespace's veth (lo does not carry IPv6 multicast)
  out.v6start = await call('multicastStart', GROUP6, PORT6, 'udp6');
  const l6 = dgram.createSocket({ type: 'udp6', reuseAddr: true });
  const node6 = [];
  l6.on('message', (m) => node6.push(m.toString()));
  await new Promise((r) => l6.bind(PORT6, '::', r));
  l6.addMembership(GROUP6);
  const s6 = dgram.createSocket('udp6');
  await new Promise((r) => s6.bind(0, '::', r));
  s6.send('v6-from-node', PORT6, GROUP6);
  await call('multicastSend', 'v6-from-iwa', 'udp6');
  const t6 = Date.now();
  let r6 = [];
  while (Date.now() - t6 < 5000) {
    r6 = await call('multicastReceived', 'udp6');
    if (r6.length >= 2 && node6.includes('v6-from-iwa')) break;
    await sleep(100);
  }
  out.v6iwaReceived = r6.map((x) => `${x.text}/${x.family}`).sort();
  out.v6nodeReceived = node6.sort();
  out.v6stop = await call('multicastStop', 'udp6');
  l6.close(); s6.close();
  out.iwaQuickExample = await iwa.call('/quick_example.js', 'runAndCollect');
  // examples/multicast-media-lan: Node sender -> receiver in the IWA and one in Node.
  install(globalThis);
  const { default: SocketIWA } = await import('../../api/direct_sockets_api.js');
  const { runSender } = await import('../../examples/multicast-media-lan/sender.js');
  const { startReceiver } = await import('../../examples/multicast-media-lan/receiver.js');
  await call('mediaReceive', '239.30.30.30', 5700);
  const nodeRx = await startReceiver(SocketIWA, { group: '239.30.30.30', port: 5700 });
  out.mediaSent = await runSender(SocketIWA, { group: '239.30.30.30', port: 5700, durationMs: 1500 });
  await sleep(300);
  out.mediaIwa = await call('mediaStats');
  out.mediaNode = nodeRx.stats();
  await call('mediaStop'); await nodeRx.close();
  // deliberate 10% loss at the sender: the receiver must report it
  const lossyRx = await startReceiver(SocketIWA, { group: '239.30.30.31', port: 5701 });
  out.lossySent = await runSender(SocketIWA, { group: '239.30.30.31', port: 5701, durationMs: 1500, loss: 0.1 });
  await sleep(300);
  out.mediaLossy = lossyRx.stats();
  await lossyRx.close();
} catch (err) {
  out.error = String(err && err.stack || err);
  out.console = iwa.consoleLines;
} finally {
  await iwa.close();
}
// The example's own IWA page (index.html + app.js): join, receive, render the table.
if (!out.error) {
  const page = await launchIwa({
    appDir: path.resolve(here, '../../examples/multicast-media-lan'),
    mounts: { '/api/': apiDir },
    timeoutMs: 60000,
  });
  try {
    await page.call('/app.js', 'receive', '239.40.40.40', 5800);
    install(globalThis);
    const { default: SocketIWA } = await import('../../api/direct_sockets_api.js');
    const { runSender } = await import('../../examples/multicast-media-lan/sender.js');
    out.pageSent = await runSender(SocketIWA, { group: '239.40.40.40', port: 5800, durationMs: 1000 });
    await sleep(800); // the page re-renders every 500 ms
    out.pageRows = await page.evaluate(() => [...document.querySelectorAll('#stats tr')].map((tr) => [...tr.children].map((td) => td.textContent)));
    out.pageStatus = await page.evaluate(() => document.getElementById('status').textContent);
  } catch (err) {
    out.error = String(err && err.stack || err);
  } finally { await page.close(); }
}
if (!out.error) try { await nodeSide(); } catch (err) { out.nodeError = String(err && err.stack || err); }
console.log(JSON.stringify(out));
process.exit(0);

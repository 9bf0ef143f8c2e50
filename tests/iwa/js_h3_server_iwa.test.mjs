// SocketIWA.createHttp3Server inside a real installed Isolated Web App (headless
// Chromium, the browser's own Direct Sockets), answered by Chromium's own fetch()
// over HTTP/3 from the app page (issue 10, first slice; docs/JS_SERVERS.md).
// The certificate is made here (openssl) so Chromium can be told its SPKI hash at
// launch (--ignore-certificate-errors-spki-list) and QUIC forced for the port
// (--origin-to-force-quic-on) before the server exists.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freeUdpPort, launchJsServersIwa, makeCertificate, quicArgs, root } from './js_servers_iwa.mjs';

const run = promisify(execFile);
let iwa;
let tmp;
let port;
let port2;
let pairPorts;
let cert;
let key;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'siwa-jsh3-'));
  let spki;
  ({ cert, key, spki } = makeCertificate(tmp));
  port = await freeUdpPort();
  port2 = await freeUdpPort();
  pairPorts = [await freeUdpPort(), await freeUdpPort()];
  iwa = await launchJsServersIwa({
    // The last --enable-features wins: the harness's IWA features, plus Chromium 156's RFC 9220 client.
    args: ['--enable-features=IsolatedWebApps,IsolatedWebAppDevMode,EnableWebsocketsOverHttp3', ...quicArgs([port, port2, ...pairPorts], spki)],
  });
});

after(async () => {
  if (iwa) await iwa.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('IWA: createHttp3Server answers Chromium fetch() over HTTP/3; a throwing handler gives 500 and the server keeps serving', async () => {
  const info = await iwa.call('/t/h3_iwa_app.js', 'start', { port, cert, key });
  assert.equal(info.port, port);
  assert.equal(info.address, '127.0.0.1');
  const der = new crypto.X509Certificate(cert).raw;
  assert.deepEqual(info.hash, [...crypto.createHash('sha256').update(der).digest()], 'certificateHashes[0] is the SHA-256 of the certificate');
  const r = await iwa.call('/t/h3_iwa_app.js', 'fetchAll', port);
  assert.deepEqual(r.hello, [200, 'hello x'], JSON.stringify(r));
  assert.deepEqual(r.sum, [200, { bytes: 100000 }], JSON.stringify(r));
  assert.equal(r.thrown, 'TypeError', JSON.stringify(r)); // blocked by CORS: the 500 carries no CORS header
  // aioquic's HTTP/3 client sees the 500 itself, then a normal answer.
  const py = `
import asyncio, sys
sys.path.insert(0, ${JSON.stringify(path.join(root, 'tests/interop'))})
from h3_peers import h3_connect
from test_js_h3_websocket import Ws
async def main():
    async with h3_connect("127.0.0.1", ${port}) as c:
        print((await c.request("GET", "/throw"))[0], (await c.request("GET", "/hello?name=py"))[1].decode())
        ws, st, _ = await Ws.open(c, "/reverse")
        ws.send("stressed")
        print(st, (await ws.wait(1))[0][1])
asyncio.run(asyncio.wait_for(main(), 60))
`;
  const { stdout } = await run('python3', ['-c', py], { timeout: 90000 });
  // aioquic's WebSocket over HTTP/3 too (RFC 9220, wsproto framing).
  assert.equal(stdout.trim(), '500 hello py\n200 desserts');
  // And the page's own new WebSocket() over HTTP/3 to the server it runs.
  assert.deepEqual(await iwa.call('/t/h3_iwa_app.js', 'webSocket', port), { reversed: 'desserts', closeCode: 4000 });
  assert.deepEqual(r.after, [200, 'hello after'], JSON.stringify(r));
  assert.deepEqual(r.protocols, ['h3'], JSON.stringify(r));
  assert.deepEqual(r.errors, ['ERR_HANDLER_THREW'], JSON.stringify(r));
  assert.deepEqual(await iwa.call('/t/h3_iwa_app.js', 'errorCodes'), ['ERR_HANDLER_THREW', 'ERR_HANDLER_THREW']);
  assert.equal(await iwa.call('/t/h3_iwa_app.js', 'stop'), 'closed');
});

test('IWA dedicated worker: createHttp3Server runs in a module worker and the page fetch()es from it over HTTP/3', async () => {
  const r = await iwa.call('/t/h3_iwa_app.js', 'inWorker', { port: port2, cert, key });
  assert.equal(r.worker, true, JSON.stringify(r));
  assert.equal(r.port, port2);
  assert.deepEqual(r.hello, [200, 'worker says hello w'], JSON.stringify(r));
  assert.deepEqual(r.protocols, ['h3'], JSON.stringify(r));
  assert.equal(r.closed, true);
});

test('IWA: two createHttp3Server instances in one page, different handlers and ports; one closed, the other keeps serving', async () => {
  const app = '/t/h3_iwa_app.js';
  const r = await iwa.call(app, 'twoServers', { ports: pairPorts, cert, key });
  assert.deepEqual(r.ports, pairPorts, JSON.stringify(r));
  assert.deepEqual(r.first, [200, 'first /a'], JSON.stringify(r));
  assert.deepEqual(r.second, [200, 'second /b'], JSON.stringify(r));
  assert.deepEqual(r.protocols, ['h3'], JSON.stringify(r));
  // aioquic's HTTP/3 client reaches both servers in the page.
  const py = (paths) => `
import asyncio, sys
sys.path.insert(0, ${JSON.stringify(path.join(root, 'tests/interop'))})
from h3_peers import h3_connect
async def get(port, p):
    async with h3_connect("127.0.0.1", port) as c:
        st, body = await c.request("GET", p)
        return f"{st} {body.decode()}"
async def main():
    print("|".join([await get(port, p) for port, p in ${JSON.stringify(paths)}]))
asyncio.run(asyncio.wait_for(main(), 60))
`;
  const both = await run('python3', ['-c', py([[pairPorts[0], '/py1'], [pairPorts[1], '/py2']])], { timeout: 90000 });
  assert.equal(both.stdout.trim(), '200 first /py1|200 second /py2');
  const c = await iwa.call(app, 'closeFirst', pairPorts);
  assert.deepEqual(c.second, [200, 'second /after'], JSON.stringify(c));
  assert.ok(typeof c.first === 'string', `the closed server answered: ${JSON.stringify(c)}`);
  assert.deepEqual(c.secondAgain, [200, 'second /still'], JSON.stringify(c));
  const after = await run('python3', ['-c', py([[pairPorts[1], '/py3']])], { timeout: 90000 });
  assert.equal(after.stdout.trim(), '200 second /py3');
  assert.equal(await iwa.call(app, 'closeSecond'), 'closed');
});

// Certificate and ticket-key storage (docs/JS_SERVERS.md): the default storage in an
// IWA is OPFS. Our native client pins the hash, saves its session, and after the
// page reloads (every server object gone, a new wasm instance) the new server has
// the same certificate and accepts the client's 0-RTT. A dedicated worker's server
// reads the same OPFS storage: same hash, 0-RTT accepted there too.
const client = path.join(root, 'target/release/socket-iwa-client');
async function quicClient(p, hash, session) {
  const { stdout } = await run(client, ['--connect', `127.0.0.1:${p}`, '--cert-hash', hash, '--session', session, '--json', '--timeout', '60'], { timeout: 90000 });
  return JSON.parse(stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop());
}

test('IWA: default storage (OPFS) keeps the certificate hash and the ticket key across a page reload; 0-RTT accepted', async () => {
  const app = '/t/h3_storage_iwa_app.js';
  const session = path.join(tmp, 'storage-session.json');
  const a = await iwa.call(app, 'start');
  const first = await quicClient(a.port, a.hash, session);
  assert.equal(first.verified, true);
  assert.equal(first.early_data, 'none');
  await iwa.page.reload();
  await iwa.page.waitForLoadState('load');
  const b = await iwa.call(app, 'start');
  assert.equal(b.hash, a.hash, 'the same certificate after the reload');
  const second = await quicClient(b.port, b.hash, session);
  assert.equal(second.resumed, true, JSON.stringify(second));
  assert.equal(second.early_data, 'accepted', JSON.stringify(second));
  assert.equal(await iwa.call(app, 'stop'), 'closed');
  const files = await iwa.call(app, 'stored');
  assert.deepEqual(Object.keys(files).sort(), ['cert.pem', 'key.pem', 'ticket.key', 'ticket.key.replay'], JSON.stringify(files));
  assert.equal(files['ticket.key'], 48);
  assert.ok(files['ticket.key.replay'] >= 40, 'the anti-replay record of the 0-RTT handshake is in OPFS');

  const w = await iwa.call(app, 'startInWorker');
  assert.equal(w.worker, true);
  assert.equal(w.hash, a.hash, 'the worker reads the same OPFS storage');
  const third = await quicClient(w.port, w.hash, session);
  assert.equal(third.early_data, 'accepted', JSON.stringify(third));
  assert.equal(await iwa.call(app, 'stopWorker'), true);
});

// Adversarial tests of issue 13 (defects 0-2 and the limits a public server
// needs), under Node with real peers. Servers under attack run in a child
// process (limits_server.js) so a crash or descriptor exhaustion is observed
// from outside; each test then checks that a legitimate stock client is still
// served. Counts are bounded (the numbers); timeouts in the servers
// under test are lowered to 1 s and the waits allow several seconds on top,
// so a loaded CPU slows the test down but does not fail it.
import { sleep, within } from './helpers.js';
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import dgram from 'node:dgram';
import crypto from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { io as ioClient } from 'socket.io-client';
import { WebSocket } from 'ws';
import SocketIWA from '../direct_sockets_api.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const children = new Set();
after(() => { for (const c of children) c.kill('SIGKILL'); });

/** Start limits_server.js with `opts`; `nofile` lowers its descriptor limit (ulimit -n). */
async function child(opts, { nofile } = {}) {
  const script = path.join(here, 'limits_server.js');
  const json = JSON.stringify(opts);
  const proc = nofile
    ? spawn('bash', ['-c', `ulimit -n ${nofile} && exec "$0" "$1" "$2"`, process.execPath, script, json], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, [script, json], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const port = await within(new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => { out += d; const m = /\{"port":(\d+)\}/.exec(out); if (m) resolve(Number(m[1])); });
    proc.on('exit', (code) => reject(new Error(`server exited (${code}) before listening: ${stderr}`)));
  }), 20000, 'child server start');
  return {
    port, proc,
    get stderr() { return stderr; },
    alive() { return proc.exitCode === null && proc.signalCode === null; },
    stop() { proc.kill('SIGTERM'); children.delete(proc); },
  };
}

/** A stock socket.io-client connects and gets an ack back. */
async function sioEcho(port, transports = ['websocket']) {
  const c = ioClient(`http://127.0.0.1:${port}`, { transports, reconnection: false, forceNew: true, timeout: 15000 });
  try {
    await within(new Promise((resolve, reject) => { c.once('connect', resolve); c.once('connect_error', reject); }), 20000, 'socket.io connect');
    return await c.timeout(15000).emitWithAck('echo', { still: 'serving' });
  } finally { c.close(); }
}

/** Open a raw TCP connection; `closed` resolves when the server ends or resets it. */
function raw(port) {
  const s = net.connect(port, '127.0.0.1');
  s.setNoDelay(true);
  s.on('error', () => {});
  s.received = [];
  s.on('data', (d) => s.received.push(d));
  s.opened = new Promise((r) => { s.once('connect', r); s.once('close', r); });
  s.gone = new Promise((r) => { s.once('close', r); s.once('end', r); });
  return s;
}

const isClosedWithin = (s, ms) => Promise.race([s.gone.then(() => true), sleep(ms).then(() => false)]);

// ---------------------------------------------------------------------------
// Defect 0: peer input must never end the process
// ---------------------------------------------------------------------------

test('defect 0: junk after a request (unknown path, Socket.IO handshake, chunked POST, WebSocket upgrade) never kills the server', async () => {
  const srv = await child({ protocol: 'socket.io' });
  const attacks = {
    'unknown path': 'GET /x?EIO=4&transport=polling HTTP/1.1\r\nHost: a\r\n\r\n',
    'socket.io handshake': 'GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: a\r\n\r\n',
    'chunked POST': 'POST /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n',
    'websocket upgrade': `GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  };
  // Malformed header lines in the same packet: the server closes while the
  // response to the first request is still being produced (the crash).
  const junk = 'junk\r\njunk\r\n\r\n\x00\xff\x81\x7f' + 'A'.repeat(300);
  for (const [name, head] of Object.entries(attacks)) {
    for (let i = 0; i < 5; i++) {
      assert.ok(srv.alive(), `server process died during "${name}" + junk: ${srv.stderr.slice(-800)}`);
      const s = raw(srv.port);
      await s.opened;
      s.write(head + junk);
      s.write(junk);
      await isClosedWithin(s, 2000);
      s.destroy();
    }
    await sleep(300);
    assert.ok(srv.alive(), `server process died after "${name}" + junk: ${srv.stderr.slice(-800)}`);
  }
  assert.deepEqual(await sioEcho(srv.port), { still: 'serving' });
  assert.deepEqual(await sioEcho(srv.port, ['polling']), { still: 'serving' });
  assert.doesNotMatch(srv.stderr, /ERR_INTERNAL_ASSERTION|Uncaught|TypeError/);
  srv.stop();
});

// ---------------------------------------------------------------------------
// Defects 1 and 2: name resolution
// ---------------------------------------------------------------------------

test('defect 1: a UDP send to an unresolvable name fails that send (ENOTFOUND, error event if unawaited); the socket keeps working and closes', async () => {
  const peer = dgram.createSocket('udp4');
  await new Promise((r) => peer.bind(0, '127.0.0.1', r));
  const got = [];
  peer.on('message', (m) => got.push(m.toString()));
  const u = await SocketIWA.createUDP({ localAddress: '127.0.0.1' });
  await assert.rejects(u.send('x', 9, 'not-an-ip.invalid'), (e) => e.code === 'ENOTFOUND');
  const errors = [];
  u.on('error', (e) => errors.push(e.code));
  u.send('y', 9, 'also-not.invalid'); // nobody awaits: reported as an 'error' event
  const cbErr = await new Promise((r) => u.send('z', 9, 'third.invalid', r)); // callback gets it, no event
  assert.equal(cbErr.code, 'ENOTFOUND');
  await within((async () => { while (errors.length < 1) await sleep(20); })(), 10000, 'error event');
  await sleep(100);
  assert.deepEqual(errors, ['ENOTFOUND']);
  assert.equal(u.readyState, 1);
  await u.send('after', peer.address().port, '127.0.0.1');
  await u.send('by-name', peer.address().port, 'localhost');
  await within((async () => { while (got.length < 2) await sleep(20); })(), 5000, 'datagrams');
  assert.deepEqual(got.sort(), ['after', 'by-name']);
  await within(u.close(), 5000, 'close()');
  assert.equal(u.readyState, 3);
  peer.close();
});

test('defect 1 (Node Direct Sockets): a failed UDPSocket write errors the writable like Chromium, and close() still resolves', async () => {
  const s = new UDPSocket({ localAddress: '127.0.0.1' });
  const { readable, writable } = await s.opened;
  const w = writable.getWriter();
  await assert.rejects(w.write({ data: new Uint8Array([1]), remoteAddress: 'nope.invalid', remotePort: 9 }),
    (e) => e.name === 'NetworkError' && e.cause && e.cause.code === 'ENOTFOUND');
  w.releaseLock();
  await readable.cancel();
  await within(s.closed, 5000, 'closed');
});

test('defect 2: unresolvable TCP/UDP hosts report ENOTFOUND (API and Node Direct Sockets)', async () => {
  await assert.rejects(SocketIWA.createTCP('nope.invalid', 80), (e) => e.code === 'ENOTFOUND' && /nope\.invalid/.test(e.message));
  await assert.rejects(SocketIWA.createTCP('nope.invalid', 80, { protocol: 'websocket' }), (e) => e.code === 'ENOTFOUND');
  await assert.rejects(SocketIWA.createUDP({ remoteAddress: 'nope.invalid', remotePort: 9 }), (e) => e.code === 'ENOTFOUND');
  const t = new TCPSocket('nope.invalid', 80);
  await assert.rejects(t.opened, (e) => e.name === 'NetworkError' && e.cause.code === 'ENOTFOUND');
  // A refused connection keeps its own code.
  const free = net.createServer(); await new Promise((r) => free.listen(0, '127.0.0.1', r));
  const port = free.address().port; await new Promise((r) => free.close(r));
  await assert.rejects(SocketIWA.createTCP('127.0.0.1', port), (e) => e.code === 'ECONNREFUSED');
});

// Code that runs inside the real IWA (headless Chromium, browser Direct
// Sockets). Each export is called from Node by tests/js/iwa.test.js.
import SocketIWA from '/api/direct_sockets_api.js';

const state = globalThis.__siwa ||= { servers: {}, log: [] };

export function environment() {
  return {
    crossOriginIsolated: globalThis.crossOriginIsolated,
    ctors: ['UDPSocket', 'TCPSocket', 'TCPServerSocket', 'MulticastController'].filter((n) => typeof globalThis[n] === 'function'),
    permissions: { directSockets: SocketIWA.permissions.directSockets, multicast: SocketIWA.permissions.multicast, tcpServer: SocketIWA.permissions.tcpServer, policy: SocketIWA.permissions.policy },
  };
}

export async function assertPermissionsReport() {
  const report = await SocketIWA.assertPermissions({ multicast: true, tcpServer: true, localNetwork: true });
  return { runtime: report.runtime, localNetwork: report.localNetwork, multicast: report.multicast };
}

/** SocketIWA Socket.IO server in the IWA, for the stock Node client. */
export async function startSocketIOServer() {
  const server = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'socket.io', pingInterval: 2000, pingTimeout: 2000 });
  const seen = { connections: 0, acksFromClient: [], disconnects: [], binary: [] };
  server.on('connection', (s) => {
    seen.connections++;
    s.on('echo', (...args) => { const ack = args.pop(); ack(...args); });
    s.on('bin', (buf, ack) => { seen.binary.push(Array.from(new Uint8Array(buf))); ack(new Uint8Array(buf).reverse()); });
    s.on('join', (room, ack) => { s.join(room); ack(room); });
    s.on('to-room', (room, msg) => server.to(room).emit('room-msg', msg));
    s.on('ask-me', async () => {
      try { seen.acksFromClient.push(await s.emitWithAck('question', 6, { timeoutMs: 3000 })); } catch (e) { seen.acksFromClient.push('error:' + e.code); }
    });
    s.on('disconnect', (reason) => seen.disconnects.push(reason));
  });
  server.of('/admin').on('connection', (s) => s.on('whoami', (ack) => ack({ nsp: s.nsp, auth: s.handshake.auth })));
  state.servers.sio = { server, seen };
  return server.port;
}

export function socketIOServerSeen() { return state.servers.sio.seen; }

export async function stopSocketIOServer() { await state.servers.sio.server.close(); return true; }

/** SocketIWA Socket.IO client in the IWA against a stock Node socket.io server. */
export async function socketIOClient(port) {
  const out = {};
  const c = await SocketIWA.createTCP('127.0.0.1', port, { protocol: 'socket.io', auth: { from: 'iwa' } });
  out.connected = c.connected;
  out.echo = await c.emitWithAck('echo', { n: 1, s: 'two' });
  const bin = await c.emitWithAck('echo', new Uint8Array([1, 2, 3]));
  out.binaryBack = Array.from(new Uint8Array(bin));
  c.on('question', (x, ack) => ack(x * 7));
  out.serverAsked = await c.emitWithAck('make-server-ask');
  await c.emitWithAck('join', 'green');
  const roomMsg = new Promise((r) => c.once('room-msg', r));
  c.emit('to-room', 'green', 'hello green');
  out.roomMsg = await roomMsg;
  try { await c.emitWithAck('never-acked', { timeoutMs: 300 }); out.timeout = 'no error'; } catch (e) { out.timeout = e.code; }
  const admin = await SocketIWA.createTCP('127.0.0.1', port, { protocol: 'socket.io', namespace: '/admin', auth: { token: 'x' } });
  out.admin = await admin.emitWithAck('whoami');
  admin.disconnect();
  const reason = new Promise((r) => c.once('disconnect', r));
  c.emit('kick-me');
  out.disconnectReason = await reason;
  try { c.emit('after'); out.afterClose = 'no error'; } catch (e) { out.afterClose = e.code; }
  return out;
}

/** SocketIWA WebSocket client in the IWA against a stock Node `ws` server. */
export async function wsClient(port) {
  const out = {};
  const c = await SocketIWA.createTCP('127.0.0.1', port, { protocol: 'websocket', path: '/iwa', fragmentSize: 1000 });
  const next = () => new Promise((r) => c.once('message', (d, isBinary) => r([d, isBinary])));
  let m = next(); c.send('text from iwa'); out.text = (await m)[0];
  m = next(); c.send(new Uint8Array([5, 4, 3])); const [b, isBin] = await m; out.binary = [Array.from(new Uint8Array(b)), isBin];
  m = next(); c.send('y'.repeat(5000)); out.fragmentedLen = (await m)[0].length;
  m = next(); c.send('frag-please'); out.fromFragments = (await m)[0];
  const ping = new Promise((r) => c.once('ping', (d) => r(new TextDecoder().decode(d))));
  c.send('ping-please'); out.ping = await ping;
  const closed = new Promise((r) => c.once('close', (code, reason) => r({ code, reason })));
  c.close(4200, 'iwa done');
  out.close = await closed;
  return out;
}

/** SocketIWA WebSocket server in the IWA for a stock Node `ws` client. */
export async function startWsServer() {
  const server = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'websocket' });
  const seen = { closes: [], errors: [] };
  server.on('connection', (conn) => {
    conn.on('message', (d, isBinary) => conn.send(isBinary ? d : 'iwa:' + d));
    conn.on('close', (code, reason) => seen.closes.push([code, reason]));
  });
  server.on('clientError', (e) => seen.errors.push([e.code, e.closeCode]));
  state.servers.ws = { server, seen };
  return server.port;
}

export function wsServerSeen() { return state.servers.ws.seen; }

/** UDP round trip with a Node echo peer. */
export async function udpRoundTrip(port) {
  const udp = await SocketIWA.createUDP({ localAddress: '127.0.0.1' });
  const reply = new Promise((r) => udp.once('message', (d, rinfo) => r({ text: new TextDecoder().decode(d), rinfo })));
  await udp.send('ping over udp', port, '127.0.0.1');
  const got = await reply;
  let badPort;
  try { udp.send('x', 70000, '127.0.0.1'); } catch (e) { badPort = [e.name, e.code]; }
  let ssm;
  try { await udp.addSourceSpecificMembership('127.0.0.1', '232.1.1.1'); ssm = 'joined'; } catch (e) { ssm = e.code; }
  await udp.close();
  let afterClose;
  try { await udp.send('x', port, '127.0.0.1'); } catch (e) { afterClose = e.code; }
  return { ...got, localPort: udp.localPort, badPort, afterClose, ssm };
}

/** Multicast inside the IWA: join, receive from Node, send to the group (loopback). */
export async function multicastStart(group, port, type = 'udp4') {
  const m = await SocketIWA.createMulticastSocket({ type, localPort: port, multicastTimeToLive: 1, multicastLoopback: true });
  const received = [];
  m.on('message', (d, rinfo) => received.push({ text: new TextDecoder().decode(d), port: rinfo.port, family: rinfo.family }));
  await m.addMembership(group);
  // TTL is fixed at open in Direct Sockets: the helper re-opens on the same port and re-joins.
  if (type === 'udp4') await m.setMulticastTTL(2);
  (state.mc ||= {})[type] = { m, received, group, port };
  return { joined: [...m.multicast.joinedGroups], localPort: m.localPort, localAddress: m.localAddress };
}

export async function multicastSend(text, type = 'udp4') {
  const { m, group, port } = state.mc[type];
  await m.send(text, port, group);
  return true;
}

export function multicastReceived(type = 'udp4') { return state.mc[type].received; }

export async function multicastStop(type = 'udp4') {
  const { m, group } = state.mc[type];
  await m.dropMembership(group);
  const after = [...m.multicast.joinedGroups];
  await m.close();
  return { after };
}

/** The multicast media example's receiver, inside the IWA. */
export async function mediaReceive(group, port) {
  const { startReceiver } = await import('/media/receiver.js');
  state.media = await startReceiver(SocketIWA, { group, port });
  return true;
}

export function mediaStats() { return state.media.stats(); }

export async function mediaStop() { await state.media.close(); return true; }

/** Run without the local-network permission: what each call reports. */
export async function withoutLocalNetwork(port) {
  const out = {};
  const grab = (e) => ({ code: e.code, name: e.name, cause: e.cause && e.cause.name, message: e.message, feature: e.feature });
  try { await SocketIWA.createUDP({ remoteAddress: '127.0.0.1', remotePort: port }); out.udp = 'opened'; } catch (e) { out.udp = grab(e); }
  try { await SocketIWA.createTCP('127.0.0.1', port); out.tcp = 'opened'; } catch (e) { out.tcp = grab(e); }
  try { await SocketIWA.assertPermissions({ localNetwork: true }); out.assert = 'passed'; } catch (e) { out.assert = grab(e); }
  return out;
}

/** A second Socket.IO server with short heartbeats, recording reasons and errors. */
export async function startStrictServer() {
  const server = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'socket.io', pingInterval: 300, pingTimeout: 300, closeTimeoutMs: 500 });
  const seen = { disconnects: [], errors: [] };
  server.on('connection', (s) => {
    s.on('echo', (x, ack) => ack(x));
    s.on('disconnect', (reason) => seen.disconnects.push(reason));
  });
  server.on('error', (e) => seen.errors.push(e.code));
  state.servers.strict = { server, seen };
  return server.port;
}

export function strictSeen() { return state.servers.strict.seen; }
export async function stopStrictServer() { await state.servers.strict.server.close(); return true; }

/** SocketIWA client in the IWA against a server that stops pinging: 'ping timeout'. */
export async function clientPingTimeout(port) {
  const c = await SocketIWA.createTCP('127.0.0.1', port, { protocol: 'socket.io' });
  const t0 = performance.now();
  const reason = await new Promise((r) => c.once('disconnect', r));
  c.disconnect(); // no reconnection to a server that never pings
  return { reason, afterMs: Math.round(performance.now() - t0), pingInterval: c.pingInterval, pingTimeout: c.pingTimeout };
}

/** Raw TCP from the IWA: upload `size` bytes with backpressure, then count a download. */
export async function rawTransfer(port, upload, download) {
  const c = await SocketIWA.createTCP('127.0.0.1', port, { binaryType: 'uint8array' });
  let received = 0, sum = 0;
  const done = new Promise((resolve) => c.on('message', (b) => {
    received += b.byteLength;
    for (let i = 0; i < b.byteLength; i += 4096) sum = (sum + b[i]) % 1000003;
    if (received >= download) resolve();
  }));
  // One buffer, reused: its first word is the chunk's sequence number, changed
  // right after send() returns (the API must have taken a copy).
  const chunk = new Uint8Array(16384).map((_, i) => i & 0xff);
  const seq = new DataView(chunk.buffer);
  let sent = 0, sawBackpressure = false;
  for (let k = 0; sent < upload; k++) {
    seq.setUint32(0, k);
    const more = c.send(chunk);
    seq.setUint32(0, 0xffffffff);
    if (!more) { sawBackpressure = true; await new Promise((r) => c.once('drain', r)); }
    sent += chunk.length;
  }
  c.send(new TextEncoder().encode('\n')); // tells the peer the upload is complete... plus 1 byte
  await done;
  await c.close();
  return { sent, received, sawBackpressure };
}

/** Issue 13 defects 1 and 2 in the browser: UDP send to an unresolvable name, unresolvable TCP host. */
export async function unresolvableNames(port) {
  const udp = await SocketIWA.createUDP({ localAddress: '127.0.0.1' });
  const out = { errorEvents: [] };
  try { await udp.send('x', 9, 'not-an-ip.invalid'); out.sendCode = 'resolved?!'; } catch (e) { out.sendCode = e.code; out.sendMessage = e.message; }
  udp.on('error', (e) => out.errorEvents.push(e.code));
  udp.send('y', 9, 'also-not.invalid'); // not awaited: an 'error' event
  for (let i = 0; i < 200 && !out.errorEvents.length; i++) await new Promise((r) => setTimeout(r, 50));
  const reply = new Promise((r) => udp.once('message', (d) => r(new TextDecoder().decode(d))));
  await udp.send('still works', port, '127.0.0.1');
  out.reply = await Promise.race([reply, new Promise((r) => setTimeout(() => r('no reply'), 5000))]);
  out.readyState = udp.readyState;
  out.closed = await Promise.race([udp.close().then(() => 'closed'), new Promise((r) => setTimeout(() => r('close() pending'), 5000))]);
  try { await SocketIWA.createTCP('nope.invalid', 80); out.tcpCode = 'connected?!'; } catch (e) { out.tcpCode = e.code; out.tcpMessage = e.message; }
  return out;
}

/**
 * permessage-deflate in the browser: our WebSocket client against a stock ws
 * server that compresses everything (DecompressionStream inflates), our own
 * messages compressed with CompressionStream (BFINAL flush, RFC 7692
 * 7.2.3.4; the test checks RSV1 and sizes on the wire), then a decompression
 * bomb against maxPayload 1 MiB.
 */
export async function wsDeflateClient(port) {
  const out = {};
  const c = await SocketIWA.createTCP('127.0.0.1', port, { protocol: 'websocket', binaryType: 'uint8array', maxPayload: 1024 * 1024 });
  out.extensions = c.extensions;
  const next = () => new Promise((r) => c.once('message', (d, isBinary) => r([d, isBinary])));
  let m = next(); c.send('text-please'); const [text] = await m;
  out.textLen = text.length; out.textOk = text === 'deflate '.repeat(25000);
  const texts = [];
  for (let i = 0; i < 3; i++) { m = next(); c.send('again-' + i); texts.push((await m)[0]); }
  out.again = texts.map((t) => t.slice(0, 12));
  m = next(); c.send('bin-please'); const [bin, isBin] = await m;
  let sum = 0; for (const b of bin) sum = (sum + b) % 65521;
  out.bin = { len: bin.byteLength, sum, isBin };
  const big = 'x'.repeat(50000);
  m = next(); c.send(big); out.echoOk = (await m)[0] === 'echo:' + big;
  // three more compressed messages (each its own DEFLATE stream), then a binary one in 64-byte fragments
  out.echoes = [];
  for (let i = 0; i < 3; i++) { const t = `from iwa ${i} `.repeat(4000); m = next(); c.send(t); out.echoes.push((await m)[0] === 'echo:' + t); }
  const bin2 = new Uint8Array(40000).map((_, i) => i % 7);
  m = next(); c.send(bin2, { fragmentSize: 64 }); const [back] = await m;
  out.binEcho = back.byteLength === bin2.byteLength && back.every((b, i) => b === bin2[i]);
  const err = new Promise((r) => c.once('error', (e) => r([e.code, e.closeCode])));
  const closed = new Promise((r) => c.once('close', (code) => r(code)));
  let afterBomb = 0; c.on('message', () => { afterBomb++; });
  c.send('bomb-please');
  out.bombError = await err;
  out.bombClose = await closed;
  out.afterBomb = afterBomb;
  return out;
}

/**
 * permessage-deflate with both ends in the browser: our client (here) to our
 * WebSocket server (startWsServer, here too) through the test's capturing
 * proxy. Both send BFINAL-flushed messages, which Chromium's
 * DecompressionStream must inflate despite the bytes after the stream's end.
 */
export async function wsDeflateSelf(port) {
  const out = {};
  const c = await SocketIWA.createTCP('127.0.0.1', port, { protocol: 'websocket', binaryType: 'uint8array' });
  out.extensions = c.extensions;
  const next = () => new Promise((r) => c.once('message', (d) => r(d)));
  out.echoes = [];
  for (let i = 0; i < 3; i++) { const t = `self ${i} `.repeat(8000); const m = next(); c.send(t); out.echoes.push((await m) === 'iwa:' + t); }
  const bin = new Uint8Array(60000).map((_, i) => (i * 31) % 11);
  const m = next(); c.send(bin); const back = await m;
  out.binEcho = back.byteLength === bin.byteLength && back.every((b, i) => b === bin[i]);
  const closed = new Promise((r) => c.once('close', (code) => r(code)));
  c.close(1000);
  out.close = await closed;
  return out;
}

/**
 * Socket.IO over permessage-deflate in the browser: our Socket.IO client
 * against a stock socket.io server (through the test's capturing proxy);
 * large emits go out compressed (CompressionStream) and acks come back
 * compressed (DecompressionStream).
 */
export async function sioDeflateClient(port) {
  const c = await SocketIWA.createTCP('127.0.0.1', port, { protocol: 'socket.io', reconnection: false });
  const out = { extensions: c.transport.extensions, echoes: [] };
  for (let i = 0; i < 2; i++) {
    const payload = { i, text: `sio deflate ${i} `.repeat(6000) };
    const back = await c.emitWithAck('echo', payload);
    out.echoes.push(back.i === i && back.text === payload.text);
  }
  c.disconnect();
  return out;
}

/**
 * Socket.IO client reconnection in the browser, over the polling fallback:
 * start (the Node server refuses WebSocket), then the test restarts the server.
 */
export async function sioReconnectStart(port) {
  const st = { events: [], authCalls: 0 };
  const c = await SocketIWA.createTCP('127.0.0.1', port, {
    protocol: 'socket.io', reconnectionDelay: 100, reconnectionDelayMax: 400, randomizationFactor: 0,
    auth: (cb) => { st.authCalls++; cb({ n: st.authCalls }); },
  });
  for (const e of ['disconnect', 'reconnect_attempt', 'reconnect_error', 'reconnect', 'connect', 'close']) {
    c.on(e, (x) => st.events.push(x && x.code ? [e, x.code] : x === undefined ? [e] : [e, x]));
  }
  st.client = c;
  state.sioReconnect = st;
  return { transportName: c.transportName, who: await c.emitWithAck('whoami') };
}

/** While the server is down: report, and emit (buffered). */
export async function sioReconnectWhileDown() {
  const { client: c } = state.sioReconnect;
  while (c.connected) await new Promise((r) => setTimeout(r, 20));
  c.emit('note', 'sent while down');
  state.sioReconnect.pendingAck = c.emitWithAck('echo', 'queued ack', { timeoutMs: 20000 });
  return { connected: c.connected, readyState: c.readyState, sendBuffer: c.sendBuffer };
}

/** After the restart: wait for the reconnection and the buffered ack. */
export async function sioReconnectFinish() {
  const st = state.sioReconnect;
  const ack = await st.pendingAck;
  const who = await st.client.emitWithAck('whoami');
  st.client.disconnect();
  return { ack, who, events: st.events, authCalls: st.authCalls, transportName: st.client.transportName };
}

// The IWA side of tests/iwa/js_h3_server_iwa.test.mjs: the same kind of app as
// h3_app.mjs, started inside an installed Isolated Web App on Chromium's own
// Direct Sockets. The API is mounted at /api/, the wasm build at /wasm/.
import SocketIWA from '/api/direct_sockets_api.js';
import { moduleWorker } from './app_common.js';

const errors = [];
let server;

export async function start({ port, cert, key }) {
  server = await SocketIWA.createHttp3Server('127.0.0.1', {
    port,
    certificate: { cert, key },
    async fetch(request) {
      const url = new URL(request.url);
      // The test page fetches from the isolated-app:// origin: a cross-origin request
      // (timing-allow-origin lets the page see nextHopProtocol).
      const cors = { 'access-control-allow-origin': '*', 'timing-allow-origin': '*' };
      if (url.pathname === '/hello') return new Response(`hello ${url.searchParams.get('name')}`, { headers: cors });
      if (url.pathname === '/sum') {
        const b = new Uint8Array(await request.arrayBuffer());
        return Response.json({ bytes: b.length }, { headers: cors });
      }
      if (url.pathname === '/throw') throw new Error('on purpose');
      return new Response('not found', { status: 404, headers: cors });
    },
  });
  server.on('error', (e) => errors.push(e.code));
  // WebSocket over HTTP/3 (RFC 9220): each text message answered reversed.
  server.on('websocket', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(isBinary ? data : [...String(data)].reverse().join('')));
  });
  return { port: server.port, address: server.address, hash: [...server.certificateHashes[0].value] };
}

/** Chromium's own fetch() (HTTP/3: --origin-to-force-quic-on) against the server in this page. */
export async function fetchAll(port) {
  const base = `https://127.0.0.1:${port}`;
  const out = {};
  const hello = await fetch(`${base}/hello?name=x`);
  out.hello = [hello.status, await hello.text()];
  const sum = await fetch(`${base}/sum`, { method: 'POST', body: new Uint8Array(100_000), headers: { 'content-type': 'text/plain' } });
  out.sum = [sum.status, await sum.json()];
  // The 500 for a throwing handler has no CORS header, so the page sees a network
  // error; the test reads the status with aioquic instead.
  out.thrown = await fetch(`${base}/throw`).then((r) => r.status, (e) => e.name);
  const after = await fetch(`${base}/hello?name=after`);
  out.after = [after.status, await after.text()];
  out.protocols = [...new Set(performance.getEntriesByType('resource').filter((e) => e.name.startsWith(base) && !e.name.includes('/throw')).map((e) => e.nextHopProtocol))];
  out.errors = errors.slice();
  return out;
}

/** Chromium's own WebSocket over HTTP/3 (EnableWebsocketsOverHttp3) from this page to the server in it. */
export async function webSocket(port) {
  // Chromium sends a WebSocket over HTTP/3 only on an HTTP/3 connection it already has
  // for the origin, in the same privacy mode: WebSockets carry credentials, the CORS
  // fetches above did not, so this request opens that connection first (the page cannot
  // read its answer: the IWA's COEP blocks a no-cors response without CORP; it need not).
  await fetch(`https://127.0.0.1:${port}/hello?name=ws`, { mode: 'no-cors', credentials: 'include' }).catch(() => {});
  const ws = new WebSocket(`wss://127.0.0.1:${port}/reverse`);
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('WebSocket failed')); });
  const reply = new Promise((resolve) => { ws.onmessage = (e) => resolve(e.data); });
  ws.send('stressed');
  const reversed = await reply;
  const closed = new Promise((resolve) => { ws.onclose = (e) => resolve(e.code); });
  ws.close(4000);
  return { reversed, closeCode: await closed };
}

/** The same server in a dedicated worker; the page fetches from it over HTTP/3. */
export async function inWorker({ port, cert, key }) {
  const worker = moduleWorker('/t/h3_iwa_worker.js', 'socket-iwa-test-worker');
  const ask = (msg) => worker.ask(msg);
  const info = await ask({ start: { port, cert, key } });
  const r = await fetch(`https://127.0.0.1:${port}/hello?name=w`);
  info.hello = [r.status, await r.text()];
  info.protocols = [...new Set(performance.getEntriesByType('resource').filter((e) => e.name.includes(`:${port}/hello?name=w`)).map((e) => e.nextHopProtocol))];
  info.closed = (await ask({ stop: true })).closed;
  worker.terminate();
  return info;
}

export function errorCodes() {
  return errors.slice();
}

export async function stop() {
  await server.close();
  return 'closed';
}

// Two servers in this one page (issue 10: several servers at once in one page), each its
// own wasm instance with its own handler and port; one is closed while the other serves.
const pair = {};
const cors = { 'access-control-allow-origin': '*', 'timing-allow-origin': '*' };
async function get(port, p) {
  const r = await fetch(`https://127.0.0.1:${port}${p}`, { signal: AbortSignal.timeout(20000) });
  return [r.status, await r.text()];
}

export async function twoServers({ ports, cert, key }) {
  const make = (name, port) => SocketIWA.createHttp3Server('127.0.0.1', {
    port,
    certificate: { cert, key },
    fetch: (request) => new Response(`${name} ${new URL(request.url).pathname}`, { headers: cors }),
  });
  [pair.first, pair.second] = await Promise.all([make('first', ports[0]), make('second', ports[1])]);
  const out = { ports: [pair.first.port, pair.second.port] };
  [out.first, out.second] = await Promise.all([get(ports[0], '/a'), get(ports[1], '/b')]);
  out.protocols = [...new Set(performance.getEntriesByType('resource')
    .filter((e) => ports.some((p) => e.name.startsWith(`https://127.0.0.1:${p}/`))).map((e) => e.nextHopProtocol))];
  return out;
}

export async function closeFirst(ports) {
  await pair.first.close();
  const out = { second: await get(ports[1], '/after') };
  // Nothing listens there any more: a network error or the timeout, never an answer.
  out.first = await fetch(`https://127.0.0.1:${ports[0]}/gone`, { signal: AbortSignal.timeout(8000) }).then((r) => r.status, (e) => e.name);
  out.secondAgain = await get(ports[1], '/still');
  return out;
}

export async function closeSecond() {
  await pair.second.close();
  return 'closed';
}

// Runs inside a fresh project that installed the packed socket-iwa tarball
// (scripts/test.d/55-npm-pack.sh), under Node's permission model with read
// access to that project only: nothing here can reach the repository.
//   node --permission --allow-fs-read=PROJECT --allow-net consumer.mjs REPO
// Step 5 talks to the driver: it prints one line `h3-listening {port, sha256}`
// and reads one line from stdin, the JSON that aioquic's HTTP/3 client
// (tests/npm/h3_client.py, run by the driver) printed after its GET and POST.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import readline from 'node:readline';

const project = path.dirname(fileURLToPath(import.meta.url));
const repo = process.argv[2];
const step = (what) => console.log(`consumer: ${what}`);
const within = (p, ms, what) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`${what}: no answer in ${ms} ms`)), ms).unref())]);

// 0. The sandbox is real: the repository cannot be read from here.
assert.ok(repo, 'usage: consumer.mjs REPO');
assert.throws(() => fs.readFileSync(path.join(repo, 'package.json')), { code: 'ERR_ACCESS_DENIED' });
step('the repository is not readable from the consumer project');

// 1. Import check: both entry points resolve into this project's node_modules.
for (const spec of ['socket-iwa', 'socket-iwa/node', 'socket-iwa/package.json']) {
  const file = fileURLToPath(import.meta.resolve(spec));
  assert.ok(file.startsWith(path.join(project, 'node_modules', 'socket-iwa') + path.sep), `${spec} resolved to ${file}`);
}
const api = await import('socket-iwa');
const SocketIWA = api.default;
const nodeDS = await import('socket-iwa/node');
assert.equal(typeof SocketIWA.createTCPServer, 'function');
assert.equal(typeof nodeDS.install, 'function');
assert.equal(api.VERSION, JSON.parse(fs.readFileSync(path.join(project, 'node_modules/socket-iwa/package.json'))).version);
step(`imported socket-iwa ${api.VERSION} and socket-iwa/node`);

// 2. Our Socket.IO server (Direct Sockets for Node as globals) + the stock socket.io-client.
nodeDS.install(globalThis);
const { io } = await import('socket.io-client');
const server = await SocketIWA.createTCPServer('127.0.0.1', { protocol: 'socket.io' });
server.on('connection', (s) => {
  s.on('echo', (...args) => { const ack = args.pop(); ack(...args); });
});
const client = io(`http://127.0.0.1:${server.port}`, { transports: ['websocket'], reconnection: false, forceNew: true });
await within(new Promise((resolve, reject) => { client.once('connect', resolve); client.once('connect_error', reject); }), 10000, 'connect');
assert.deepEqual(await within(client.emitWithAck('echo', { a: [1, 'two', null] }), 10000, 'json echo'), { a: [1, 'two', null] });
const bin = await within(client.emitWithAck('echo', { file: Buffer.from([1, 2, 3]) }), 10000, 'binary echo');
assert.deepEqual([...bin.file], [1, 2, 3]);
client.close();
await server.close();
step(`stock socket.io-client talked to our Socket.IO server on port ${server.port} (JSON and binary acks)`);

// 3. The shipped WebAssembly and its license files are where the notice says.
for (const f of ['socket-iwa-server.js', 'socket_iwa_server.wasm', 'socket-iwa-client.js', 'socket_iwa_client.wasm',
  'licenses/wolfssl-COPYING', 'licenses/ngtcp2-COPYING', 'licenses/nghttp3-COPYING', 'licenses/WOLFSSL-GPL-NOTICE.md']) {
  assert.ok(fs.statSync(path.join(project, 'node_modules/socket-iwa/dist/wasm', f)).size > 0, f);
}
step('dist/wasm/ has both programs and the license texts');

// 4. createHttp3Server finds the wasm inside the package (dist/wasm/, docs/JS_SERVERS.md "Loading").
// 5. ...and answers aioquic's HTTP/3 client: a GET and a 256 KiB POST, and the
// certificate aioquic saw is the one whose hash the server reports.
const hex = (buf) => Buffer.from(buf).toString('hex');
const uploads = [];
const errors = [];
const storage = path.join(project, '.socket-iwa');   // inside the project: the user's ~/.socket-iwa stays untouched
const h3 = await within(SocketIWA.createHttp3Server('127.0.0.1', {
  storage,
  async fetch(request) {
    const url = new URL(request.url);
    if (request.method === 'GET' && url.pathname === '/hello') return new Response(`hello ${url.searchParams.get('name')} from socket-iwa ${api.VERSION}`);
    if (request.method === 'POST' && url.pathname === '/upload') {
      const body = new Uint8Array(await request.arrayBuffer());
      const sha256 = hex(await crypto.subtle.digest('SHA-256', body));
      uploads.push({ bytes: body.byteLength, sha256, type: request.headers.get('content-type') });
      return Response.json({ bytes: body.byteLength, sha256 });
    }
    return new Response('not found', { status: 404 });
  },
}), 30000, 'createHttp3Server');
h3.on('error', (err) => errors.push(err));
assert.ok(h3.port > 0 && h3.certificateHashes.length === 1 && h3.certificateHashes[0].algorithm === 'sha-256');
const pin = hex(h3.certificateHashes[0].value);
assert.equal(pin.length, 64);
assert.equal(fs.statSync(path.join(storage, 'key.pem')).mode & 0o777, 0o600, 'the stored private key is 0600');
step(`createHttp3Server ran the packaged wasm on port ${h3.port} (certificate kept in ${storage})`);
console.log(`h3-listening ${JSON.stringify({ port: h3.port, sha256: pin })}`);
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const next = await within(lines.next(), 90000, "aioquic's result on stdin");
assert.ok(!next.done, 'stdin ended before the aioquic client reported');
const seen = JSON.parse(next.value);
assert.equal(seen.cert_sha256, pin, 'the certificate aioquic saw hashes to server.certificateHashes[0]');
assert.deepEqual(seen.get, { status: 200, body: `hello aioquic from socket-iwa ${api.VERSION}` });
assert.equal(seen.post.status, 200);
assert.deepEqual(JSON.parse(seen.post.body), { bytes: seen.post.sent_bytes, sha256: seen.post.sent_sha256 });
assert.deepEqual(uploads, [{ bytes: seen.post.sent_bytes, sha256: seen.post.sent_sha256, type: 'application/octet-stream' }]);
assert.deepEqual(errors, []);
await within(h3.close(), 10000, 'HTTP/3 server close');
step(`aioquic GET and POST (${seen.post.sent_bytes} bytes) answered by the fetch handler; its certificate hashes to server.certificateHashes`);
process.exit(0);  // stdin stays open (the driver's pipe)

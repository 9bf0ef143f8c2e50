// UDP echo rate through the bridge, side by side: the same Rust probe
// (`ds-probe udp-echo`) built natively (kernel sockets), as wasm under Node 26
// (node/direct-sockets.js) and as wasm in the installed IWA (Chromium's
// Direct Sockets). A node:dgram client keeps WINDOW datagrams of SIZE bytes in
// flight and counts echoes per second. Prints one JSON line per target and a
// summary with ratios to native.
//   node stress-test/wasm/udp_echo_bench.mjs [count=20000] [size=1200] [window=32] [mode=udp-echo|udp-driver]
// (udp-echo: std UdpSocket, blocking recv_from; udp-driver: the QUIC driver's
// non-blocking poll + recvmsg-until-EAGAIN + sendmsg loop)
import { spawn, execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { install } from '../../node/direct-sockets.js';
import { startProbe, probeDir } from '../../tests/wasm/probe_runner.mjs';
import { launchIwa } from '../../tests/harness/iwa.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const probeCrate = path.resolve(here, '../../emscripten/probe');
const [count, size, windowSize] = [Number(process.argv[2] || 20000), Number(process.argv[3] || 1200), Number(process.argv[4] || 32)];
const mode = process.argv[5] || 'udp-echo';

async function drive(port) {
  const client = dgram.createSocket('udp4');
  await new Promise((r) => client.bind(0, '127.0.0.1', r));
  const payload = Buffer.alloc(size, 0x61);
  let sent = 0, got = 0;
  const t0 = process.hrtime.bigint();
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bench stalled at ${got}/${count}`)), 120000);
    const send = () => { if (sent < count) { sent++; client.send(payload, port, '127.0.0.1'); } };
    // Loss on loopback is rare but possible: top the window up if idle.
    let last = got;
    const refill = setInterval(() => { if (got === last && sent - got < windowSize) { for (let i = 0; i < windowSize; i++) send(); } last = got; }, 200);
    client.on('message', () => {
      got++;
      if (got >= count) { clearTimeout(timer); clearInterval(refill); resolve(); } else send();
    });
    for (let i = 0; i < windowSize; i++) send();
  });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  client.close();
  return { datagrams: got, seconds: +secs.toFixed(3), perSecond: Math.round(got / secs), MBps: +((got * size) / secs / 1e6).toFixed(2) };
}

// The probe echoes exactly `count` datagrams; refills may send a few more,
// so ask it for a little more than we wait for and then stop it.
const probeCount = String(count + 10 * windowSize + 100);

async function native() {
  execFileSync('cargo', ['build', '--quiet', '--release'], { cwd: probeCrate, stdio: 'inherit' });
  const bin = path.join(probeCrate, 'target/release/ds-probe');
  const child = spawn(bin, [mode, '127.0.0.1:0', probeCount], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve) => {
    child.stdout.on('data', (d) => { const m = /READY .*:(\d+)/.exec(String(d)); if (m) resolve(Number(m[1])); });
  });
  try { return await drive(port); } finally { child.kill(); }
}

async function wasmNode() {
  install(globalThis);
  const p = await startProbe([mode, '127.0.0.1:0', probeCount]);
  const port = Number(/:(\d+)/.exec(await p.ready)[1]);
  const r = await drive(port);
  r.bridge = p.module.directSockets.stats;
  return r;
}

async function wasmIwa() {
  const iwa = await launchIwa({ appDir: path.resolve(here, '../../iwa'), mounts: { '/wasm/': probeDir }, timeoutMs: 90000 });
  try {
    // Ceiling of the browser itself: a plain JavaScript echo on the same
    // Direct Sockets API in the same app (no wasm, no bridge).
    const jsPort = await iwa.evaluate(async () => {
      const s = new UDPSocket({ localAddress: '127.0.0.1' });
      const { readable, writable, localPort } = await s.opened;
      const r = readable.getReader();
      const w = writable.getWriter();
      (async () => {
        for (;;) {
          const { value, done } = await r.read();
          if (done) break;
          w.write({ data: value.data, remoteAddress: value.remoteAddress, remotePort: value.remotePort });
        }
      })();
      return localPort;
    });
    results['js-iwa'] = await drive(jsPort);
    console.log(JSON.stringify({ target: 'js-iwa', count, size, window: windowSize, ...results['js-iwa'] }));
    const id = await iwa.call('/loader.js', 'start', { module: '/wasm/ds-probe.js', args: [mode, '127.0.0.1:0', probeCount] });
    const port = Number(/:(\d+)/.exec(await iwa.call('/loader.js', 'ready', id, 20000))[1]);
    const r = await drive(port);
    r.bridge = await iwa.call('/loader.js', 'stats', id);
    return r;
  } finally { await iwa.close(); }
}

const results = {};
for (const [name, fn] of [['native', native], ['wasm-node', wasmNode], ['wasm-iwa', wasmIwa]]) {
  results[name] = await fn();
  console.log(JSON.stringify({ target: name, mode, count, size, window: windowSize, ...results[name] }));
}
const ratio = (k, base = 'native') => +(results[k].perSecond / results[base].perSecond).toFixed(3);
console.log(JSON.stringify({
  summary: `udp echo datagrams/s (${mode})`, native: results.native.perSecond, wasmNode: results['wasm-node'].perSecond,
  jsIwa: results['js-iwa'].perSecond, wasmIwa: results['wasm-iwa'].perSecond,
  wasmNodeRatio: ratio('wasm-node'), wasmIwaRatio: ratio('wasm-iwa'), jsIwaRatio: ratio('js-iwa'),
  wasmIwaVsJsIwa: ratio('wasm-iwa', 'js-iwa'),
}));
process.exit(0);

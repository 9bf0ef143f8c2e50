// Experiment (2026-12-06, docs/PERF_IWA.md "Where a write waits"): a Chromium trace (CDP Tracing, toplevel/mojom
// categories with CATS=toplevel,mojom) of the IWA page during an HTTP/3 GET from the wasm server (W=get), the plain
// sender (send) and the plain sender whose peer acknowledges every second datagram (acked); writes trace_<w>.json.
// stress-test/iwa/trace_waits.mjs trace_<w>.json: when each write completion reached the page thread and what it waited behind.
// Scratch: a Chromium trace of the IWA page during a GET from the wasm server, and the plain sender.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { launchIwa } from '../../tests/harness/iwa.js';
import { runJson } from '../lib/run_json.mjs';
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const here = path.join(root, 'stress-test/iwa');
const wasmDir = process.env.GLUE || path.join(root, 'target/wasm32-unknown-emscripten/release');
const bin = path.join(root, 'target/release');
const OUT = process.env.OUT || '.';
const MB = Number(process.env.MB || 4);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const run = (cmd, args) => runJson(spawn, cmd, args, 180000);
const iwa = await launchIwa({ appDir: path.join(root, 'iwa'), mounts: { '/wasm/': wasmDir, '/bench/': here }, timeoutMs: 120000 });
try {
  const id = await iwa.call('/loader.js', 'start', { module: '/wasm/socket-iwa-server.js', args: ['--listen', '127.0.0.1:0', '--json', ...(process.env.SARGS ? process.env.SARGS.split(' ') : [])] });
  let port, pin;
  for (let i = 0; i < 300 && !port; i++) {
    const line = iwa.consoleLines.find((l) => l.startsWith(`log: [${id}]`) && l.includes('"listening"'));
    if (line) { const j = JSON.parse(line.slice(line.indexOf('{'))); port = Number(j.addr.split(':').pop()); pin = j.cert_sha256; } else await sleep(100);
  }
  const cdp = await iwa.page.context().newCDPSession(iwa.page);
  const trace = async (name, fn) => {
    await fn(); // warm-up
    const events = [];
    cdp.on('Tracing.dataCollected', (e) => events.push(...e.value));
    const done = new Promise((r) => cdp.once('Tracing.tracingComplete', r));
    await cdp.send('Tracing.start', { transferMode: 'ReportEvents', traceConfig: { recordMode: 'recordContinuously', includedCategories: (process.env.CATS || 'toplevel,mojom,ipc,devtools.timeline,disabled-by-default-devtools.timeline,v8.execute,sequence_manager,disabled-by-default-toplevel.flow,blink,scheduler').split(',') } });
    const t0 = Date.now();
    const r = await fn();
    await cdp.send('Tracing.end');
    await done;
    fs.writeFileSync(path.join(OUT, `trace_${name}.json`), JSON.stringify({ traceEvents: events, result: r }));
    console.log(name, events.length, 'events', Date.now() - t0, 'ms', JSON.stringify(r));
  };
  const get = () => run(path.join(bin, 'socket-iwa-h3-client'), ['--connect', `127.0.0.1:${port}`, '--cert-hash', pin, '--json', '--timeout', '170', '--get', `/bytes/${MB * 1e6}`]).then((r) => ({ mbs: r.throughput_mb_s }));
  const send = async (ack = []) => {
    const sink = spawn(process.execPath, [path.join(here, 'udp_peer.mjs'), 'sink', '127.0.0.1', ...ack], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = (await import('node:readline')).createInterface({ input: sink.stdout });
    const next = () => new Promise((r) => lines.once('line', (l) => r(JSON.parse(l))));
    const { ready } = await next();
    const r = await iwa.call('/bench/ceiling.js', 'sendBound', { host: '127.0.0.1', port: ready, count: Math.round(MB * 1e6 / 1200), size: 1200, sockets: 1, localAddress: '127.0.0.1', read: ack.length > 0 });
    await sleep(200); sink.stdin.write('q\n'); await next();
    return { perSecond: r.perSecond };
  };
  for (const w of (process.env.W || 'get,send').split(',')) await trace(w, w === 'get' ? get : w === 'acked' ? () => send(['2', '46']) : () => send());
} finally { await iwa.close(); }

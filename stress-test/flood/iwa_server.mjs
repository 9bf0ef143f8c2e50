// The wasm server inside a real installed Isolated Web App (headless Chromium, Direct
// Sockets), for the flood benchmark (run.py): starts it with --stats-interval 200 through
// iwa/loader.js and forwards the server's JSON lines, read from the page's console, to
// stdout, so run.py reads the IWA's counters exactly as it reads a native server's.
//
//   node stress-test/flood/iwa_server.mjs --port N [--dev] [--no-stats]
//
// --dev: the app from iwa/ with the wasm build mounted at /wasm/ (dev-mode install, as
// stress-test/iwa/bench_iwa.mjs does) instead of the signed bundle (whose build runs cargo);
// --no-stats: without --stats-interval (netbench.py's 0-RTT row needs only the listening line).
//
// Prints {"event":"listening",...} (the server's own line), then
// {"event":"pids","pids":[renderer, network service],"names":[...]}: the Chromium processes
// whose CPU and RSS run.py samples: the renderer that runs the app (found by making the app
// page spin for 1 s and taking the renderer whose CPU time grew most) and the network
// service, which owns the UDP socket. Commands on stdin, one per line:
//   profile start          CDP Profiler.start on the app page (the server runs on its main thread)
//   profile stop PATH      Profiler.stop, writes the .cpuprofile to PATH, prints profile_saved
//   quit                   closes Chromium and exits
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { launchIwa } from '../../tests/harness/iwa.js';
import { signedBundle } from '../../tests/iwa/signed_bundle.mjs';
import { chromiumProcs, appRenderer } from '../iwa/chromium_procs.mjs';

const i = process.argv.indexOf('--port');
const port = i > 0 ? Number(process.argv[i + 1]) : NaN;
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('iwa_server.mjs: --port N (1-65535) is required');
  process.exit(2);
}
const DEV = process.argv.includes('--dev');
const STATS = !process.argv.includes('--no-stats');
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

/** The app's renderer and the network service process. */
async function chromiumPids(page) {
  const network = chromiumProcs().find((p) => p.cmd.includes('--type=utility') && p.cmd.includes('network.mojom.NetworkService'));
  return { renderer: await appRenderer(page), network: network ? network.pid : null };
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const iwa = await launchIwa(DEV
  ? { appDir: path.join(root, 'iwa'), mounts: { '/wasm/': path.join(root, 'target/wasm32-unknown-emscripten/release') }, timeoutMs: 180000 }
  : { bundle: await signedBundle(), timeoutMs: 180000 });
let cdp = null;
iwa.page.on('console', (m) => {
  const t = m.text();
  const a = t.indexOf('{');
  const b = t.lastIndexOf('}');
  if (a < 0 || b < a) return;
  try { out(JSON.parse(t.slice(a, b + 1))); } catch {}
});
await iwa.call('/loader.js', 'start', { module: '/wasm/socket-iwa-server.js', args: ['--listen', `127.0.0.1:${port}`, '--json', ...(STATS ? ['--stats-interval', '200'] : [])] });
// Wait for the listening line to have been forwarded (it comes through the console).
const deadline = Date.now() + 60000;
while (!iwa.consoleLines.some((l) => l.includes('"listening"')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
const { renderer, network } = await chromiumPids(iwa.page);
out({ event: 'pids', pids: [renderer, network].filter(Boolean), names: ['renderer', 'network service'] });
out({ event: 'ready' });

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  const [cmd, arg, file] = line.trim().split(/\s+/);
  try {
    if (cmd === 'profile' && arg === 'start') {
      cdp = await iwa.context.newCDPSession(iwa.page);
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
      await cdp.send('Profiler.start');
      out({ event: 'profile_started' });
    } else if (cmd === 'profile' && arg === 'stop') {
      const { profile } = await cdp.send('Profiler.stop');
      fs.writeFileSync(file, JSON.stringify(profile));
      out({ event: 'profile_saved', path: file });
    } else if (cmd === 'quit') {
      break;
    }
  } catch (e) {
    out({ event: 'error', message: String(e && e.message || e) });
  }
}
await iwa.close();
process.exit(0);

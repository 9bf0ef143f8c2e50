#!/usr/bin/env node
// Probes how this machine's Chromium installs a signed web bundle (.swbn) and
// prints what each install route did, with the log lines that show it.
//
//   node scripts/swbn-install-probe.mjs [--bundle FILE.swbn] [--timeout-ms 20000] [--json]
//
// Without --bundle it signs a three-file test app with a throw-away Ed25519 key
// (scripts/build-swbn.mjs) in a temporary folder. Routes tried:
//   file          --install-isolated-web-app-from-file, IsolatedWebApps only (no developer mode)
//   file+devmode  the same with IsolatedWebAppDevMode; with strace (when installed) it also
//                 reports whether Chromium ever opened the bundle file
//   policy        IsolatedWebAppInstallForceList + a local update manifest, no developer mode.
//                 Chromium reads that policy only from /etc/chromium/policies/managed, so this
//                 route runs Chromium in a private mount namespace (unshare -m, root only) with
//                 a temporary folder bound over /etc/chromium: nothing on the machine changes.
//   policy+allowlist  the same with an IWA key-distribution component (normally downloaded by
//                 Chromium's component updater) written into the temporary profile, listing the
//                 bundle's ID in its managed allowlist.
// docs/IWA_APP.md records the results on Chromium 156 and the Chromium source that decides them.
// Every Chromium run is bounded by --timeout-ms and killed afterwards.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const chromium = process.env.SOCKET_IWA_CHROMIUM || '/usr/bin/chromium';
const BASE_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-sync', '--enable-logging=stderr'];

function usage(msg) {
  process.stderr.write(`swbn-install-probe: ${msg}\nusage: node scripts/swbn-install-probe.mjs [--bundle FILE.swbn] [--timeout-ms N] [--json]\n`);
  process.exit(2);
}

const has = (cmd) => { try { execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }); return true; } catch { return false; } };

/** A three-file app signed with a throw-away key. */
export async function testBundle(dir) {
  const { buildSwbn } = await import('./build-swbn.mjs');
  const { makeManifest, makePng } = await import('../tests/harness/iwa.js');
  const app = path.join(dir, 'app');
  fs.mkdirSync(path.join(app, '.well-known'), { recursive: true });
  fs.writeFileSync(path.join(app, '.well-known/manifest.webmanifest'), JSON.stringify(makeManifest()));
  fs.writeFileSync(path.join(app, 'icon-192.png'), makePng(192));
  fs.writeFileSync(path.join(app, 'index.html'), '<!doctype html><title>probe</title><p>probe</p>');
  return (await buildSwbn({ app, key: path.join(dir, 'key.pem'), out: path.join(dir, 'probe.swbn') })).out;
}

/**
 * Runs Chromium with a command-line install and watches its log until it reports a result,
 * drops the install (the kIsolatedWebAppInstall keep-alive goes without a result line), or times out.
 */
export function commandLineRoute({ bundle, features, timeoutMs, tmp, traceOpens }) {
  return new Promise((resolve) => {
    const userDataDir = fs.mkdtempSync(path.join(tmp, 'ud-'));
    const trace = path.join(userDataDir, '..', `strace-${path.basename(userDataDir)}.txt`);
    const args = [...BASE_FLAGS, `--user-data-dir=${userDataDir}`, `--enable-features=${features}`,
      '--vmodule=profile_manager=1', `--install-isolated-web-app-from-file=${bundle}`, 'about:blank'];
    const [cmd, argv] = traceOpens
      ? ['strace', ['-f', '-qq', '-e', 'trace=openat', '-e', 'signal=none', '-o', trace, chromium, ...args]]
      : [chromium, args];
    const child = spawn(cmd, argv, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    const t0 = Date.now();
    let buf = '';
    let added = null;
    let done = false;
    const finish = (outcome, line) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try { process.kill(-child.pid, 'SIGKILL'); } catch {}
      setTimeout(() => {
        let opened = null;
        if (traceOpens && fs.existsSync(trace)) {
          opened = fs.readFileSync(trace, 'utf8').split('\n').some((l) => l.includes(`"${bundle}"`));
        }
        resolve({ outcome, line, ms: Date.now() - t0, bundleOpened: opened });
      }, 300);
    };
    const timer = setTimeout(() => finish('timeout', `no result within ${timeoutMs} ms`), timeoutMs);
    child.stderr.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const l = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = l.match(/Isolated Web App command line installation (successful|failed)[.:]? ?(.*)$/);
        if (m) finish(m[1] === 'successful' ? 'installed' : 'failed', m[0]);
        else if (/AddKeepAlive\(Default, kIsolatedWebAppInstall\)/.test(l)) added = Date.now();
        else if (added && /RemoveKeepAlive\(Default, kIsolatedWebAppInstall\)/.test(l)) {
          // Let a result line that follows in the same burst win.
          setTimeout(() => finish('dropped', `install keep-alive released after ${Date.now() - added} ms with no result logged`), 500);
        }
      }
    });
    child.on('exit', () => finish('exited', 'Chromium exited'));
  });
}

/** Protobuf bytes of an IwaKeyDistribution message whose managed allowlist holds `id`. */
function keyDistributionPb(id) {
  const varint = (n) => { const b = []; while (n > 127) { b.push((n & 127) | 128); n >>>= 7; } b.push(n); return Buffer.from(b); };
  const field = (num, bytes) => Buffer.concat([varint((num << 3) | 2), varint(bytes.length), bytes]);
  // IwaKeyDistribution.iwa_access_control (3) -> IwaAccessControl.managed_allowlist (1, map<string, Empty>)
  return field(3, field(1, Buffer.concat([field(1, Buffer.from(id)), field(2, Buffer.alloc(0))])));
}

/** Reads chrome://web-app-internals as JSON. */
async function webAppInternals(page) {
  await page.goto('chrome://web-app-internals', { waitUntil: 'load' }).catch(() => {});
  const text = await page.evaluate(() => {
    const el = document.querySelector('web-app-internals-app');
    return el && el.shadowRoot ? el.shadowRoot.textContent : document.body.innerText;
  }).catch(() => '');
  const start = text.indexOf('{');
  try { return JSON.parse(text.slice(start, text.lastIndexOf('}') + 1)); } catch { return null; }
}

export async function policyRoute({ bundle, webBundleId, allowlist, timeoutMs, tmp, traceOpens }) {
  if (process.getuid?.() !== 0 || !has('unshare')) return { outcome: 'skipped', line: 'needs root and unshare (private mount namespace)' };
  if (!fs.existsSync('/etc/chromium')) return { outcome: 'skipped', line: '/etc/chromium does not exist to bind over' };
  const work = fs.mkdtempSync(path.join(tmp, 'policy-'));
  const served = [];
  const server = http.createServer((req, res) => {
    const { port } = server.address();
    served.push(req.url);
    if (req.url === '/update.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ versions: [{ version: '1.0.0', src: `http://127.0.0.1:${port}/app.swbn` }] }));
    } else if (req.url === '/app.swbn') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(fs.readFileSync(bundle));
    } else { res.writeHead(404); res.end(); }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const etc = path.join(work, 'etc-chromium');
  fs.mkdirSync(path.join(etc, 'policies', 'managed'), { recursive: true });
  for (const f of fs.readdirSync('/etc/chromium')) {
    if (f !== 'policies') fs.cpSync(path.join('/etc/chromium', f), path.join(etc, f), { recursive: true });
  }
  fs.writeFileSync(path.join(etc, 'policies', 'managed', 'socket-iwa-probe.json'), JSON.stringify({
    IsolatedWebAppInstallForceList: [{ update_manifest_url: `http://127.0.0.1:${server.address().port}/update.json`, web_bundle_id: webBundleId }],
  }));
  const userDataDir = path.join(work, 'profile');
  const features = ['IsolatedWebApps'];
  if (allowlist) {
    features.push('IwaKeyDistributionComponent');
    const version = '9999.0.0.1';
    const dir = path.join(userDataDir, 'IwaKeyDistribution', version);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'iwa-key-distribution.pb'), keyDistributionPb(webBundleId));
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ manifest_version: 2, name: 'Iwa Key Distribution', version }));
  }
  // Chromium is started directly (not through Playwright, whose default flags include
  // --disable-component-update) in the private mount namespace; the probe reads
  // chrome://web-app-internals over a loopback DevTools port.
  const args = [...BASE_FLAGS, `--user-data-dir=${userDataDir}`, `--enable-features=${features.join(',')}`,
    // The component updater must run to load the key-distribution component from the
    // profile; its update checks go to a closed loopback port, never off the machine.
    '--component-updater=url-source=http://127.0.0.1:9/', '--remote-debugging-port=0', 'about:blank'];
  const trace = path.join(work, 'strace.txt');
  const inNamespace = ['unshare', '-m', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /etc/chromium && exec "$@"', etc, chromium, ...args];
  const [cmd, ...argv] = traceOpens ? ['strace', '-f', '-qq', '-e', 'trace=openat', '-e', 'signal=none', '-o', trace, ...inNamespace] : inNamespace;
  const child = spawn(cmd, argv, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  const t0 = Date.now();
  let browser;
  try {
    // Attaching DevTools while Chromium starts up kept the key-distribution component from
    // loading and the policy install from starting (seen here), so the probe only watches the
    // log until an installer result line appears or the time is up, and then attaches once to
    // read chrome://web-app-internals.
    let err = '';
    const wsUrl = await new Promise((resolve, reject) => {
      let url = null;
      const timer = setTimeout(() => (url ? resolve(url) : reject(new Error(`no DevTools URL within ${timeoutMs} ms`))), timeoutMs);
      child.stderr.on('data', (d) => {
        err += d;
        url = url || (err.match(/DevTools listening on (ws:\/\/\S+)/) || [])[1];
        if (url && /installation (failed|succeeded|successful)/i.test(err)) { clearTimeout(timer); resolve(url); }
      });
      child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`Chromium exited (${code}): ${err.slice(-300)}`)); });
    });
    const { chromium: pw } = require('playwright-core');
    browser = await pw.connectOverCDP(wsUrl, { timeout: timeoutMs });
    const page = await browser.contexts()[0].newPage();
    const j = await webAppInternals(page);
    const installed = (j?.InstalledWebApps?.Details || []).some((a) => JSON.stringify(a).includes(webBundleId));
    const found = (key) => {
      const hits = [];
      const walk = (v) => {
        if (!v || typeof v !== 'object') return;
        if (v[key] && v[key][webBundleId]) hits.push(v[key][webBundleId]);
        Object.values(v).forEach(walk);
      };
      walk(j?.IsolatedWebAppPolicyManager);
      return hits;
    };
    const result = found('install_results')[0];
    const progress = found('install_progress').find((p) => p.length);
    const iwaDir = path.join(userDataDir, 'Default', 'iwa');
    const moved = fs.existsSync(iwaDir) ? fs.readdirSync(iwaDir).map((d) => `Default/iwa/${d}/`).join(' ') : '';
    const ms = Date.now() - t0;
    const bundleOpened = traceOpens && moved ? /openat\([^"]*"[^"]*\/Default\/iwa\/[^"]*\/main\.swbn"/.test(fs.readFileSync(trace, 'utf8')) : null;
    if (installed) return { outcome: 'installed', line: `installed as isolated-app://${webBundleId}`, ms, bundleOpened };
    if (result) return { outcome: 'failed', line: `${result.type}: ${result.message}`, ms, bundleOpened };
    return { outcome: 'timeout', ms, bundleOpened, line: `no result within ${timeoutMs} ms; fetched ${served.join(', ') || 'nothing'}; last step: ${progress ? progress[progress.length - 1] : 'none'}${moved ? `; bundle moved into ${moved}` : ''}` };
  } catch (e) {
    return { outcome: 'error', line: String(e.message).split('\n')[0], ms: Date.now() - t0 };
  } finally {
    if (browser) await browser.close().catch(() => {});
    try { process.kill(-child.pid, 'SIGKILL'); } catch {}
    server.close();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const opts = { timeoutMs: 20000, json: false, bundle: null };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--bundle') { opts.bundle = argv[++i]; if (!opts.bundle) usage('--bundle needs a file'); }
    else if (a === '--timeout-ms') { opts.timeoutMs = Number(argv[++i]); if (!(opts.timeoutMs >= 1000)) usage('--timeout-ms needs a number >= 1000'); }
    else if (a === '--json') opts.json = true;
    else usage(`unknown flag ${a}`);
  }
  if (!fs.existsSync(chromium)) usage(`Chromium not found at ${chromium} (set SOCKET_IWA_CHROMIUM)`);
  if (opts.bundle && !fs.existsSync(opts.bundle)) usage(`--bundle ${opts.bundle} does not exist`);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'socket-iwa-swbn-probe-'));
  try {
    const bundle = path.resolve(opts.bundle || await testBundle(tmp));
    const { readSignedBundle } = await import('../tests/harness/iwa.js');
    const { webBundleId } = await readSignedBundle(bundle);
    const version = execFileSync(chromium, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const traceOpens = has('strace');
    const results = {
      file: await commandLineRoute({ bundle, features: 'IsolatedWebApps', timeoutMs: opts.timeoutMs, tmp, traceOpens: false }),
      'file+devmode': await commandLineRoute({ bundle, features: 'IsolatedWebApps,IsolatedWebAppDevMode', timeoutMs: opts.timeoutMs, tmp, traceOpens }),
      policy: await policyRoute({ bundle, webBundleId, allowlist: false, timeoutMs: opts.timeoutMs, tmp, traceOpens: false }),
      'policy+allowlist': await policyRoute({ bundle, webBundleId, allowlist: true, timeoutMs: opts.timeoutMs, tmp, traceOpens }),
    };
    if (opts.json) {
      console.log(JSON.stringify({ chromium: version, bundle, webBundleId, results }, null, 2));
    } else {
      console.log(`${version}; bundle ${bundle} (isolated-app://${webBundleId})`);
      for (const [route, r] of Object.entries(results)) {
        const opened = r.bundleOpened === undefined || r.bundleOpened === null ? '' : `; bundle file opened: ${r.bundleOpened ? 'yes' : 'no'}`;
        console.log(`${route.padEnd(17)} ${r.outcome.padEnd(9)} ${r.line}${r.ms !== undefined ? ` (${r.ms} ms)` : ''}${opened}`);
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

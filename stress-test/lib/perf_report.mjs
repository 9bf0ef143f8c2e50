// Linux perf samples of one process, by category (stress-test/perf_wasm_node.mjs,
// stress-test/iwa/perf_iwa.mjs). The process runs V8 with --perf-basic-prof, so
// JIT code is named in /tmp/perf-PID.map: "JS:<wasm function>-<index>-<tier>"
// for wasm, "JS:*'name <url>:<line>:<col>" / "JS:~name ..." for JavaScript.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';

// siwa_chacha20_*: our ChaCha20 in wasm SIMD (sys/ngtcp2-sys/crypto/chacha20_simd.c); chacha20_poly1305_*: our backend's AEAD around it.
const CRYPTO = /^(wc_|siwa_chacha20|blocks4|chacha20_poly1305|poly1305|chacha|Chacha|sp_256|sp_\d|fe_|ge_|Sha|sha|Transform_Sha|AES|Aes|aes|GHASH|GMULT|curve25519)/;
const QUIC = /^(ngtcp2|nghttp3|conn_|rtb_|ksl_|ppe_|pkt_|frame_|strm_|acktr|bbr|cc_|pmtud|qpack|sfparse)/;

/** The category of one sample from perf's dso and symbol. */
export function category(dso, sym) {
  if (dso.startsWith('[kernel')) return 'kernel (syscalls, loopback delivery, wake-ups)';
  if (dso.startsWith('[JIT]') || /^perf-\d+\.map$/.test(dso)) {
    const name = sym.replace(/^JS:/, '');
    if (/^[*~]?'/.test(name) || /[a-z-]+:\/\/|\bnode:[\w/]+:\d/.test(name)) return 'JavaScript (bridge, glue, sockets layer)';
    if (name.startsWith('wasm-to-js') || name.startsWith('js-to-wasm')) return 'V8 builtins and runtime (promises, typed arrays, GC, wasm/JS calls, JSPI)';
    const fn = name.replace(/-\d+-(turbofan|liftoff|none)$/, '');
    if (CRYPTO.test(fn)) return 'wasm: TLS record crypto (ChaCha20-Poly1305 / AES-GCM)';
    if (QUIC.test(fn)) return 'wasm: ngtcp2 / nghttp3';
    if (/^Builtins?_|^Builtin:/.test(fn)) return 'V8 builtins and runtime (promises, typed arrays, GC, wasm/JS calls, JSPI)';
    return 'wasm: Rust (socket-iwa) and libc';
  }
  // TurboFan/Turboshaft compiling hot code on V8's background threads (tiering up): a warm-up cost, named apart.
  if ((dso === 'node' || dso.includes('libnode')) && /v8::internal::(compiler|maglev)::|turboshaft|v8::internal::wasm::.*(Compil|Liftoff)/.test(sym)) return 'V8 compiler (tiering code up)';
  if (dso === 'node' || dso.includes('libnode')) return 'V8 builtins and runtime (promises, typed arrays, GC, wasm/JS calls, JSPI)';
  if (dso === 'chromium' || dso.startsWith('libchromium') || dso.startsWith('libv8') || dso.startsWith('libblink')) return 'Chromium native (Blink, V8 runtime, Mojo IPC, streams)';
  if (dso.startsWith('libc') || dso.startsWith('libstdc++') || dso.startsWith('libm') || dso.startsWith('ld-linux')) return 'libc (malloc, memcpy)';
  return `other (${dso})`;
}

/** Starts `perf record` on `pid` (all its threads, or only `tid`; call stacks with callGraph); stop() resolves once the data file is written. */
export async function perfRecord(pid, dataFile, { tid = null, freq = 2999, callGraph = false } = {}) {
  const target = tid ? ['-t', String(tid)] : ['-p', String(pid)];
  const rec = spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', String(freq), ...(callGraph ? ['-g'] : []), ...target, '-o', dataFile], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 400));
  return { stop: async () => { rec.kill('SIGINT'); await new Promise((r) => rec.once('exit', r)); } };
}

/** Shares (%) by category and the top symbols, from a perf data file (flat: no call stacks needed). */
export function perfCategories(dataFile, { topN = 12 } = {}) {
  const report = execFileSync('perf', ['report', '-i', dataFile, '--no-children', '--sort', 'dso,sym', '-q', '-g', 'none', '-t', '\t'],
    { maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  const categories = {};
  const top = [];
  for (const line of report.split('\n')) {
    const [pct, dso, sym] = line.split('\t').map((x) => x && x.trim());
    if (!sym) continue;
    const share = parseFloat(pct);
    const name = sym.replace(/^\[[.k]\] /, '');
    const cat = category(dso, name);
    categories[cat] = (categories[cat] || 0) + share;
    if (top.length < topN) top.push({ share, symbol: name.replace(/^JS:/, '').slice(0, 90), category: cat });
  }
  return { categories, top };
}

/** Markdown tables for one profile. */
export function perfMarkdown(title, { categories, top }) {
  return [`**${title}**: perf samples by category`, '', '| category | share |', '|---|---:|',
    ...Object.entries(categories).sort((a, b) => b[1] - a[1]).filter(([, v]) => v >= 0.5).map(([k, v]) => `| ${k} | ${v.toFixed(1)}% |`),
    '', 'Top symbols:', '', '| symbol | share | category |', '|---|---:|---|',
    ...top.map((t) => `| \`${t.symbol}\` | ${t.share.toFixed(1)}% | ${t.category} |`), ''];
}

/** Fails with a one-line message when perf cannot run here. */
export function requirePerf(who) {
  try { execFileSync('perf', ['--version'], { stdio: 'ignore' }); } catch { console.error(`${who}: perf is missing (apt-get install linux-perf)`); process.exit(2); }
  const paranoid = Number(fs.readFileSync('/proc/sys/kernel/perf_event_paranoid', 'utf8'));
  if (paranoid > 2 && process.getuid && process.getuid() !== 0) { console.error(`${who}: kernel.perf_event_paranoid is ${paranoid}; perf needs <= 2 (or root)`); process.exit(2); }
}

/**
 * Call stacks from a `perf record -g` file (only thread `tid` if given): an array of
 * samples, each an array of {sym, dso}, innermost frame first.
 */
export function perfStacks(dataFile, { tid = null } = {}) {
  const only = tid ? ['--tid', String(tid)] : [];
  const text = execFileSync('perf', ['script', '-i', dataFile, '-F', 'ip,sym,dso', ...only],
    { maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  const samples = [];
  for (const block of text.split('\n\n')) {
    const frames = [];
    for (const line of block.split('\n')) {
      const m = /^\s*\S+ (.*) \((.*)\)$/.exec(line);
      if (m) frames.push({ sym: m[1], dso: m[2].split('/').pop() });
    }
    if (frames.length) samples.push(frames);
  }
  return samples;
}

/** Categories (%) of the innermost frames, and kernel time by the user-space function that entered the kernel. */
export function stackCategories(samples, topN = 8) {
  const categories = {}, viaKernel = {};
  for (const s of samples) {
    const c = category(s[0].dso, s[0].sym);
    categories[c] = (categories[c] || 0) + 1;
    if (c.startsWith('kernel')) {
      const user = s.find((f) => !f.dso.startsWith('[kernel'));
      const k = user ? user.sym.replace(/@@.*$/, '') : '(kernel thread)';
      viaKernel[k] = (viaKernel[k] || 0) + 1;
    }
  }
  const pct = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, (100 * v) / samples.length]));
  const via = Object.entries(pct(viaKernel)).sort((a, b) => b[1] - a[1]).slice(0, topN);
  return { samples: samples.length, categories: pct(categories), kernel_via: Object.fromEntries(via) };
}

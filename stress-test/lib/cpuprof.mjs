// Summarises a V8 .cpuprofile (node --cpu-prof): self time per function and
// per category (wasm code, JavaScript by file, GC, idle), biggest first.
//
//   node stress-test/lib/cpuprof.mjs FILE.cpuprofile [--top 25]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function category(cf) {
  const { functionName: fn, url } = cf;
  if (fn === '(idle)' || fn === '(program)' || fn === '(garbage collector)' || fn === '(root)') return fn;
  if (url.startsWith('wasm://')) return 'wasm';
  if (!url) return '(native / builtins)';
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0];
  return path.basename(url.replace(/^file:\/\//, ''));
}

/** Self time (microseconds) of every sampled node of a .cpuprofile: [[callFrame, us], ...]. */
export function selfTimes(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    // timeDeltas[i] is the time before sample i; it belongs to the previous sample's node.
    const dt = i + 1 < timeDeltas.length ? timeDeltas[i + 1] : 0;
    self.set(samples[i], (self.get(samples[i]) || 0) + Math.max(0, dt));
  }
  return [...self].map(([id, us]) => [byId.get(id).callFrame, us]);
}

/** {totalMs, functions: [{name, where, ms, pct}], categories: [{name, ms, pct}]} */
export function summarize(profile, top = 25) {
  let total = 0;
  const fns = new Map();
  const cats = new Map();
  for (const [cf, us] of selfTimes(profile)) {
    total += us;
    const where = cf.url ? `${path.basename(cf.url.replace(/^file:\/\//, ''))}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName || '(anonymous)'}\t${where}`;
    fns.set(key, (fns.get(key) || 0) + us);
    const c = category(cf);
    cats.set(c, (cats.get(c) || 0) + us);
  }
  const pct = (us) => Math.round((us / total) * 1000) / 10;
  const list = (m, n) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n);
  return {
    totalMs: Math.round(total / 1000),
    functions: list(fns, top).map(([k, us]) => { const [name, where] = k.split('\t'); return { name, where, ms: Math.round(us / 100) / 10, pct: pct(us) }; }),
    categories: list(cats, 20).map(([name, us]) => ({ name, ms: Math.round(us / 100) / 10, pct: pct(us) })),
  };
}

export function markdown(s) {
  const lines = [`Profile: ${s.totalMs} ms sampled.`, '', '| category | self ms | % |', '|---|---:|---:|'];
  for (const c of s.categories) lines.push(`| ${c.name} | ${c.ms} | ${c.pct} |`);
  lines.push('', '| function | where | self ms | % |', '|---|---|---:|---:|');
  for (const f of s.functions) lines.push(`| ${f.name.replace(/\|/g, '\\|')} | ${f.where} | ${f.ms} | ${f.pct} |`);
  return lines.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) { console.error('usage: node stress-test/lib/cpuprof.mjs FILE.cpuprofile [--top N]'); process.exit(2); }
  const i = process.argv.indexOf('--top');
  const top = i > 0 ? Number(process.argv[i + 1]) : 25;
  let prof;
  try { prof = JSON.parse(fs.readFileSync(file, 'utf8')); } catch (e) { console.error(`cpuprof: cannot read ${file}: ${e.message}`); process.exit(2); }
  console.log(markdown(summarize(prof, top)));
}

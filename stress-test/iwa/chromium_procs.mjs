// Chromium's processes under this one (/proc), their CPU ticks, and the IWA
// app's renderer (stress-test/iwa/profile_iwa.mjs, perf_iwa.mjs, stress-test/flood/iwa_server.mjs).
import fs from 'node:fs';

export function chromiumProcs() {
  const kids = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
      (kids.get(ppid) || kids.set(ppid, []).get(ppid)).push(Number(d));
    } catch {}
  }
  const all = [], todo = [process.pid];
  while (todo.length) for (const k of kids.get(todo.pop()) || []) { all.push(k); todo.push(k); }
  return all.map((pid) => { try { return { pid, cmd: fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8') }; } catch { return null; } }).filter((x) => x && x.cmd.includes('chromium'));
}
export function ticks(pid) { try { const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8'); const f = st.slice(st.lastIndexOf(')') + 2).split(' '); return Number(f[11]) + Number(f[12]); } catch { return 0; } }
/** The app's renderer: the one whose CPU time grows most while the app page spins for 1 s. */
export async function appRenderer(page) {
  const rs = chromiumProcs().filter((p) => p.cmd.includes('--type=renderer'));
  const before = new Map(rs.map((p) => [p.pid, ticks(p.pid)]));
  await page.evaluate(() => { const end = Date.now() + 1000; while (Date.now() < end); });
  let best = null, d = -1;
  for (const p of rs) { const x = ticks(p.pid) - before.get(p.pid); if (x > d) { d = x; best = p.pid; } }
  return best;
}

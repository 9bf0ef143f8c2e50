import fs from 'node:fs';
const { traceEvents: ev } = JSON.parse(fs.readFileSync(process.argv[2]));
const threads = new Map();
for (const e of ev) if (e.ph === 'M' && e.name === 'thread_name') threads.set(`${e.pid}:${e.tid}`, e.args.name);
const main = ev.filter((e) => threads.get(`${e.pid}:${e.tid}`) === 'CrRendererMain' && e.ph === 'X');
const byPid = new Map(); for (const e of main) byPid.set(`${e.pid}:${e.tid}`, (byPid.get(`${e.pid}:${e.tid}`) || 0) + 1);
const key = [...byPid].sort((a, b) => b[1] - a[1])[0][0];
const pid = Number(key.split(':')[0]);
const m = main.filter((e) => `${e.pid}:${e.tid}` === key).sort((a, b) => a.ts - b.ts);
const io = ev.filter((e) => e.pid === pid && threads.get(`${e.pid}:${e.tid}`) === 'Chrome_ChildIOThread' && e.name === 'EpollEvent').sort((a, b) => a.ts - b.ts);
const tasks = m.filter((e) => e.name === 'ThreadControllerImpl::RunTask');
const marks = m.filter((e) => ['Receive mojo reply', 'Receive mojo message', 'RunPostTaskCallback', 'TimerFire'].includes(e.name));
let j = 0; const rows = [];
for (const t of tasks) { while (j < marks.length && marks[j].ts < t.ts) j++; rows.push({ ts: t.ts, dur: t.dur, k: j < marks.length && marks[j].ts <= t.ts + t.dur ? marks[j].name : 'other' }); }
// for each reply/msg task: the last IO EpollEvent that ended before it started
let k = 0; const d = { 'Receive mojo reply': [], 'Receive mojo message': [] };
let prevEnd = 0; const blocked = { 'Receive mojo reply': 0, 'Receive mojo message': 0 };
for (const r of rows) {
  while (k + 1 < io.length && io[k + 1].ts + io[k + 1].dur <= r.ts) k++;
  if (d[r.k] && io[k]) { const arr = io[k].ts + io[k].dur; d[r.k].push(r.ts - arr); if (prevEnd > arr) blocked[r.k]++; }
  prevEnd = r.ts + r.dur;
}
for (const [n, a] of Object.entries(d)) { a.sort((x, y) => x - y); const q = (p) => a[Math.floor(p * (a.length - 1))]; console.log(n.padEnd(22), 'n', a.length, 'delay after IO thread: p50', q(0.5), 'p90', q(0.9), 'mean', (a.reduce((x, y) => x + y, 0) / a.length).toFixed(1), 'main busy when it arrived:', blocked[n]); }
// which task kind was running when a reply arrived, and the wait it caused
{
  let k2 = 0; const by = {};
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]; if (r.k !== 'Receive mojo reply') continue;
    while (k2 + 1 < io.length && io[k2 + 1].ts + io[k2 + 1].dur <= r.ts) k2++;
    if (!io[k2]) continue;
    const arr = io[k2].ts + io[k2].dur;
    // tasks running between arrival and r.ts
    let lab = 'idle';
    for (let q = i - 1; q >= 0 && rows[q].ts + rows[q].dur > arr; q--) lab = rows[q].k;
    (by[lab] ||= []).push(r.ts - arr);
  }
  for (const [l, a] of Object.entries(by)) console.log('  reply arrived during', l.padEnd(22), a.length, 'mean wait', (a.reduce((x, y) => x + y, 0) / a.length).toFixed(0), 'total ms', (a.reduce((x, y) => x + y, 0) / 1000).toFixed(1));
}

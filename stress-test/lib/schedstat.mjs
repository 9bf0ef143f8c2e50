// On-CPU time of a process: the sum over its threads of /proc/PID/task/*/schedstat's
// first field (ns). CPU per unit of work is far less sensitive to a loaded machine
// than throughput (stress-test/bench_wasm.mjs, stress-test/ab_wasm_node.mjs).
import fs from 'node:fs';

/** Nanoseconds of CPU all threads of `pid` have used; throws without /proc/PID. */
export function cpuNs(pid) {
  let ns = 0;
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    try { ns += Number(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]); } catch { /* thread gone */ }
  }
  return ns;
}

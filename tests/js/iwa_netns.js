// Shared setup of the IWA multicast tests (iwa_multicast.test.js, iwa_ssm.test.js):
// a network namespace with lo up, multicast on and 224.0.0.0/4 routed to lo, an
// inner script run in it (Node + headless Chromium with the IWA) that prints
// one JSON result line, and the cleanup. Needs root (ip netns); fails, never skips.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';

export const ip = (...args) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

/** Adds namespace `ns` with multicast on lo (224.0.0.0/4 routed to it). */
export function addMulticastNetns(ns) {
  ip('netns', 'add', ns);
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  ip('-n', ns, 'link', 'set', 'lo', 'multicast', 'on');
  ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', 'lo');
}

/** Runs `node script` in `ns`, killed after `timeoutMs`; asserts it exited 0 and returns its last JSON line, parsed. */
export async function runInner(ns, script, timeoutMs = 80000) {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise((r) => child.on('close', r));
  clearTimeout(timer);
  assert.equal(code, 0, `inner script failed: ${stderr.slice(-2000)}`);
  const line = stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  assert.ok(line, `no result line; stdout: ${stdout.slice(-1000)} stderr: ${stderr.slice(-1000)}`);
  return JSON.parse(line);
}

/** Ends what still runs in `ns` (the inner script and its Chromium, started by the test), then deletes it. */
export function removeNetns(ns) {
  try {
    for (const pid of ip('netns', 'pids', ns).split('\n').map(Number).filter(Boolean)) {
      try { process.kill(pid, 'SIGKILL'); } catch {}
    }
  } catch {}
  try { ip('netns', 'del', ns); } catch {}
}

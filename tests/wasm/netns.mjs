// A private network namespace for multicast tests: only `lo`, brought up with
// multicast on and 224.0.0.0/4 routed to it. The host's interfaces are never
// touched. Needs root (CAP_SYS_ADMIN + CAP_NET_ADMIN); failures throw.
import { execFileSync, spawn } from 'node:child_process';

function ip(args) {
  return execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

export function createNetns(prefix = 'dsb') {
  const name = `${prefix}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  try {
    ip(['netns', 'add', name]);
    ip(['-n', name, 'link', 'set', 'lo', 'up']);
    ip(['-n', name, 'link', 'set', 'lo', 'multicast', 'on']);
    ip(['-n', name, 'route', 'add', '224.0.0.0/4', 'dev', 'lo']);
  } catch (e) {
    try { ip(['netns', 'del', name]); } catch {}
    throw new Error(`cannot create network namespace ${name} (root with CAP_SYS_ADMIN needed): ${e.stderr || e.message}`);
  }
  return {
    name,
    /** spawn(cmd, args) inside the namespace. */
    spawn(cmd, args, opts = {}) {
      return spawn('ip', ['netns', 'exec', name, cmd, ...args], opts);
    },
    destroy() {
      try { ip(['netns', 'del', name]); } catch {}
    },
  };
}

/** Runs cmd in the namespace; resolves { code, stdout, stderr }; kills it after timeoutMs. */
export function runIn(ns, cmd, args, { timeoutMs = 60000, env = process.env } = {}) {
  return new Promise((resolve, reject) => {
    const child = ns.spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${cmd} in ${ns.name} timed out after ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`)); }, timeoutMs);
    child.on('error', (e) => { clearTimeout(t); reject(e); });
    child.on('close', (code) => { clearTimeout(t); resolve({ code, stdout, stderr }); });
  });
}

/**
 * Runs `node script ...args` in a fresh namespace (prefix), which is removed
 * afterwards; returns the JSON the child printed after `CHILD ` (throws with its
 * output when there is none).
 */
export async function childInNetns(prefix, script, args = [], timeoutMs = 60000) {
  const ns = createNetns(prefix);
  try {
    const res = await runIn(ns, process.execPath, [script, ...args], { timeoutMs });
    const line = res.stdout.split('\n').find((l) => l.startsWith('CHILD '));
    if (!line) throw new Error(`child exit ${res.code}\nstdout: ${res.stdout}\nstderr: ${res.stderr.slice(-3000)}`);
    return JSON.parse(line.slice(6));
  } finally {
    ns.destroy();
  }
}

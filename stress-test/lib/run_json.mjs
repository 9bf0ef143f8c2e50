// Runs a client program and resolves with the JSON object on its last stdout line
// (the native clients' --json report); rejects with its output's tail on a bad exit,
// a non-JSON last line or the time limit (the process is killed then).
// `spawnFn` starts it (child_process.spawn, or one that enters a network namespace).
import path from 'node:path';

export function runJson(spawnFn, cmd, args, timeoutMs) {
  return new Promise((resolve, reject) => {
    const c = spawnFn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    c.stdout.on('data', (d) => { out += d; });
    c.stderr.on('data', (d) => { err += d; });
    const t = setTimeout(() => { c.kill('SIGKILL'); reject(new Error(`${path.basename(cmd)} timed out: ${err.slice(-500)}`)); }, timeoutMs);
    c.on('close', (code) => {
      clearTimeout(t);
      const last = out.trim().split('\n').pop();
      try { resolve(JSON.parse(last)); } catch { reject(new Error(`${path.basename(cmd)} ${args.join(' ')} exited ${code}: ${out.slice(-300)} ${err.slice(-500)}`)); }
    });
  });
}

// The "listening" JSON line a server prints (socket-iwa-server --json, the JS echo server):
// resolves with its port and certificate hash, or rejects after 30 s.
import { spawn } from 'node:child_process';
import readline from 'node:readline';

export function listeningFrom(stream) {
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: stream });
    const t = setTimeout(() => reject(new Error('server did not start')), 30000);
    rl.on('line', (l) => {
      if (l.includes('"listening"')) { clearTimeout(t); const j = JSON.parse(l); resolve({ port: Number(j.addr.split(':').pop()), pin: j.cert_sha256 }); }
    });
  });
}

/**
 * Spawns a server that prints that line: { port, pin, pid, stop() } (stop: SIGTERM, resolves on exit).
 * `env`: variables added to this process's environment for the server.
 */
export async function spawnListening(cmd, args, env = null) {
  const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], env: env ? { ...process.env, ...env } : process.env });
  const { port, pin } = await listeningFrom(p.stdout);
  const exited = new Promise((r) => p.once('exit', r));
  return { port, pin, pid: p.pid, stop: () => { p.kill('SIGTERM'); return exited; } };
}

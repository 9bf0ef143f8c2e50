// Helpers for the Redis cluster tests: a real redis-server (Debian package)
// on a loopback port the test picks, without persistence, and a stock Node
// socket.io server with @socket.io/redis-adapter (node-redis v4 clients).
import { spawn } from 'node:child_process';
import net from 'node:net';
import http from 'node:http';
import { Server as IOServer } from 'socket.io';
import { createAdapter as stockCreateAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';

export const REDIS_SERVER = process.env.SOCKET_IWA_REDIS_SERVER || '/usr/bin/redis-server';

/** A free loopback TCP port (bound then released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

/**
 * Start redis-server on 127.0.0.1:port (no RDB/AOF persistence, no disk
 * writes). Resolves once it accepts connections (<= 10 s), with a stop()
 * that SIGKILLs it (a crash, as in the restart test) and waits for the exit.
 */
export async function startRedis(port) {
  const proc = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--protected-mode', 'no', '--dir', '/tmp', '--loglevel', 'warning'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout.on('data', (d) => { log += d; });
  proc.stderr.on('data', (d) => { log += d; });
  const exited = new Promise((r) => proc.once('exit', r));
  const deadline = Date.now() + 10000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`redis-server exited (${proc.exitCode}): ${log}`);
    const ok = await new Promise((r) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => { c.write('PING\r\n'); });
      c.once('data', (d) => { c.destroy(); r(String(d).startsWith('+PONG')); });
      c.once('error', () => r(false));
    });
    if (ok) break;
    if (Date.now() > deadline) { proc.kill('SIGKILL'); throw new Error(`redis-server did not start on port ${port}: ${log}`); }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { port, proc, stop: async () => { if (proc.exitCode === null) proc.kill('SIGKILL'); await exited; }, log: () => log };
}

/** A stock socket.io 4.8 server with @socket.io/redis-adapter 8.3 on a loopback port. */
export async function startStockServer(redisPort, wire) {
  const pub = createClient({ url: `redis://127.0.0.1:${redisPort}`, socket: { reconnectStrategy: (n) => Math.min(50 * (n + 1), 500) } });
  const sub = pub.duplicate();
  const errors = [];
  pub.on('error', (e) => errors.push(e)); sub.on('error', (e) => errors.push(e));
  await Promise.all([pub.connect(), sub.connect()]);
  const httpServer = http.createServer();
  const io = new IOServer(httpServer, { adapter: stockCreateAdapter(pub, sub, { requestsTimeout: 3000 }) });
  if (wire) wire(io);
  await new Promise((r) => httpServer.listen(0, '127.0.0.1', r));
  return {
    io, pub, sub, errors, port: httpServer.address().port,
    close: async () => { io.close(); await Promise.allSettled([pub.quit(), sub.quit()]); },
  };
}

/** Standard handlers on a server's connections: join(room, ack), data, whoami. */
export function wireSockets(server, name) {
  server.on('connection', (s) => {
    s.data.server = name;
    s.on('join', (room, ack) => { s.join(room); ack?.(name); });
    s.on('rooms', (ack) => ack([...s.rooms]));
  });
}

/** Collect events of one name on a client: list + waitFor(predicate). */
export function collect(client, event) {
  const got = [];
  const waiters = [];
  client.on(event, (...args) => {
    got.push(args);
    for (const w of [...waiters]) if (w.pred(args)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(args); }
  });
  return {
    got,
    waitFor(pred = () => true, ms = 10000) {
      const hit = got.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve: (v) => { clearTimeout(timer); resolve(v); } };
        waiters.push(w);
        const timer = setTimeout(() => { const i = waiters.indexOf(w); if (i >= 0) { waiters.splice(i, 1); reject(new Error(`"${event}" not received within ${ms} ms (got ${JSON.stringify(got).slice(0, 300)})`)); } }, ms);
      });
    },
  };
}

/** Poll `fn` every `everyMs` until it returns truthy, at most `ms`. */
export async function until(fn, ms, what, everyMs = 100) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${ms} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

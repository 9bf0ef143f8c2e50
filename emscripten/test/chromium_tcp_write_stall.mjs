// Diagnostic (not part of the suite): how many bytes written to a Direct
// Sockets TCPSocket from plain page JavaScript inside the installed IWA reach
// a node:net server. No wasm and no bridge are involved. On the project's
// machine (Chromium 156, headless) every write() promise resolves within a
// few ms, yet the server receives only 64-256 KiB per socket and never the
// FIN of writer.close() (see docs/BRIDGE.md, "Known limits and findings").
// Run: node emscripten/test/chromium_tcp_write_stall.mjs
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchIwa } from '../../test/harness/iwa.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const iwa = await launchIwa({ appDir: path.resolve(here, '../../iwa') });
const counts = [];
const server = net.createServer((s) => {
  const c = { bytes: 0, fin: false };
  counts.push(c);
  s.on('data', (d) => { c.bytes += d.length; });
  s.on('end', () => { c.fin = true; s.end(); });
  s.on('error', () => {});
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const port = server.address().port;
const variants = [
  { chunk: 32768, n: 16, close: true },
  { chunk: 8192, n: 64, close: false },
  { chunk: 1024, n: 512, close: false },
  { chunk: 32768, n: 16, close: false, opts: { sendBufferSize: 1048576 } },
];
try {
  for (const [i, v] of variants.entries()) {
    const ms = await iwa.evaluate(async ({ port, v }) => {
      const s = new TCPSocket('127.0.0.1', port, v.opts || {});
      const { writable, readable } = await s.opened;
      readable.pipeTo(new WritableStream({})).catch(() => {});
      const w = writable.getWriter();
      const t0 = performance.now();
      for (let k = 0; k < v.n; k++) await w.write(new Uint8Array(v.chunk).fill(k));
      if (v.close) await w.close();
      (self.__keep ||= []).push(s);
      return Math.round(performance.now() - t0);
    }, { port, v });
    await new Promise((r) => setTimeout(r, 3000));
    const c = counts[i] || { bytes: 0, fin: false };
    console.log(JSON.stringify({ ...v, writesResolvedInMs: ms, written: v.chunk * v.n, received: c.bytes, fin: c.fin }));
  }
} finally {
  server.close();
  await iwa.close();
}

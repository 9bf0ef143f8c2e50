// A test app for createHttp3Server's certificate/ticket-key storage under Node 26
// (tests/interop/test_js_h3_storage.py). One JSON object as argv[2] picks the options:
//   { storage?: false | string, renewBefore?: number, cert?: path, key?: path, port?: number }
// (cert/key: PEM files passed as `certificate`). Prints JSON lines: listening
// (port, certificateHashes as hex), certificate (after a renewal), error, closed,
// start_failed (code, message). "close" on stdin closes the server.
// GET /replay-size answers the size of the stored anti-replay register as the handler sees it.
import fs from 'node:fs';
import SocketIWA from '../../api/direct_sockets_api.js';
import { hex as hexOf } from './app_common.js';
import { certificateArg, commands, out } from './node_app.mjs';

const hex = (hashes) => hashes.map((h) => hexOf(h.value));
const cfg = JSON.parse(process.argv[2] || '{}');

const options = {
  port: cfg.port ?? 0,
  fetch(request) {
    const url = new URL(request.url);
    // What the storage holds while the handler runs: the anti-replay register's size.
    if (url.pathname === '/replay-size') {
      try { return new Response(String(fs.statSync(`${cfg.storage}/ticket.key.replay`).size)); } catch { return new Response('-1'); }
    }
    return new Response(`hello ${url.searchParams.get('name')}`);
  },
};
if ('storage' in cfg) options.storage = cfg.storage;
if ('renewBefore' in cfg) options.renewBefore = cfg.renewBefore;
if (cfg.cert) options.certificate = certificateArg(cfg.cert, cfg.key);

let server;
try {
  server = await SocketIWA.createHttp3Server('127.0.0.1', options);
} catch (e) {
  out({ event: 'start_failed', code: e.code, message: e.message, type: e.constructor.name });
  process.exit(0);
}
server.on('error', (e) => out({ event: 'error', code: e.code, message: e.message }));
server.on('certificate', (hashes) => out({ event: 'certificate', hashes: hex(hashes), current: hex(server.certificateHashes) }));
out({ event: 'listening', port: server.port, hashes: hex(server.certificateHashes) });

commands({}, { server });

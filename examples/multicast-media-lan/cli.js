#!/usr/bin/env node
// Run the sender or a receiver under Node.js (Node's Direct Sockets as globals).
//   node examples/multicast-media-lan/cli.js send    [--group 239.10.10.10] [--port 5004] [--seconds 10] [--loss 0.02]
//   node examples/multicast-media-lan/cli.js receive [--group 239.10.10.10] [--port 5004] [--seconds 10]
import { install } from '../../node/direct-sockets.js';
import SocketIWA from '../../api/direct_sockets_api.js';
import { runSender } from './sender.js';
import { startReceiver } from './receiver.js';

install(globalThis);
const [mode] = process.argv.slice(2);
const opt = (n, d) => { const i = process.argv.indexOf(`--${n}`); return i > 0 ? process.argv[i + 1] : d; };
const group = opt('group', '239.10.10.10');
const port = Number(opt('port', 5004));
const seconds = Number(opt('seconds', 10));

if (mode === 'send') {
  const r = await runSender(SocketIWA, { group, port, durationMs: seconds * 1000, loss: Number(opt('loss', 0)), ttl: Number(opt('ttl', 1)) });
  console.log(JSON.stringify(r));
} else if (mode === 'receive') {
  const rx = await startReceiver(SocketIWA, { group, port });
  const timer = setInterval(() => console.log(JSON.stringify(rx.stats())), 1000);
  setTimeout(async () => { clearInterval(timer); console.log(JSON.stringify(rx.stats())); await rx.close(); process.exit(0); }, seconds * 1000);
} else {
  console.error('usage: cli.js send|receive [--group G] [--port P] [--seconds S] [--loss F]');
  process.exit(2);
}

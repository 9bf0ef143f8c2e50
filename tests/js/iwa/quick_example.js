// The README / seeds quick example, verbatim inside run(); served at the app
// root so './api/direct_sockets_api.js' resolves as in the README.
import SocketIWA from './api/direct_sockets_api.js';

export async function run() {
  const udp = await SocketIWA.createMulticastSocket({
    localAddress: '0.0.0.0',
    localPort: 5000,
    multicastTimeToLive: 8,
  });

  udp.on('message', (data, rinfo) => {
    console.log('datagram', rinfo.address, rinfo.port, data);
  });

  await udp.addMembership('239.10.10.10');
  await udp.send('hello lan', 5000, '239.10.10.10');
  return udp;
}

/** Run the example, capture what it logs, report it (and close the socket). */
export async function runAndCollect(waitMs = 1500) {
  const lines = [];
  const orig = console.log;
  console.log = (...args) => { lines.push(args.map((a) => (a instanceof ArrayBuffer ? new TextDecoder().decode(a) : String(a))).join(' ')); orig(...args); };
  try {
    const udp = await run();
    const t0 = Date.now();
    while (!lines.length && Date.now() - t0 < waitMs) await new Promise((r) => setTimeout(r, 20));
    await udp.close();
  } finally { console.log = orig; }
  return lines;
}

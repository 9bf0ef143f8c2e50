// Runs inside a test network namespace: the wasm probe's `multicast` mode
// under Node 26 (node/direct-sockets.js) and a node:dgram peer on the same
// group. Prints `CHILD <json>`.
import { install } from '../../node/direct-sockets.js';
import { startProbe, within } from './probe_runner.mjs';
import { multicastPeer } from './multicast_peer.mjs';

install(globalThis);
const [group, port, count] = [process.argv[2] || '239.10.10.10', Number(process.argv[3] || 5353), Number(process.argv[4] || 3)];
let probe;
const peer = await multicastPeer({
  group, port, count,
  onListening: async () => {
    probe = await startProbe(['multicast', group, String(port), String(count)]);
    await within(10000, probe.ready, 'probe READY');
  },
});
const r = await within(15000, probe.done, 'probe exit');
console.log('CHILD ' + JSON.stringify({ peer, probe: r.result, status: r.status }));

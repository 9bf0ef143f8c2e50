// The far end of the IWA ceiling measurements (stress-test/iwa/bench_iwa.mjs),
// a separate process so that it can run in another network namespace.
//   udp_peer.mjs sink <bindAddr>                 READY <port>; on stdin "q": one JSON line {got, bytes}
//   udp_peer.mjs blast <host> <port> <count> <size>          one JSON line {sent, seconds}
//   udp_peer.mjs echo-client <host> <port> <count> <size> <window>   one JSON line {echoed, seconds, perSecond}
// Every mode is bounded: blast sends <count>; echo-client stops after 60 s.
import dgram from 'node:dgram';

const [mode, ...a] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const fail = (m) => { process.stderr.write(`udp_peer: ${m}\n`); process.exit(2); };

if (mode === 'sink') {
  const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  let got = 0, bytes = 0;
  s.on('message', (m) => { got++; bytes += m.length; });
  s.bind(0, a[0] || '127.0.0.1', () => out({ ready: s.address().port }));
  process.stdin.on('data', () => { out({ got, bytes }); process.exit(0); });
} else if (mode === 'blast') {
  const [host, port, count, size] = [a[0], Number(a[1]), Number(a[2]), Number(a[3])];
  if (!port || !count || !size) fail('blast <host> <port> <count> <size>');
  const s = dgram.createSocket({ type: 'udp4', sendBufferSize: 4 << 20 });
  const payload = Buffer.alloc(size, 0x63);
  let sent = 0, done = 0;
  const t0 = process.hrtime.bigint();
  const batch = () => {
    for (let i = 0; i < 64 && sent < count; i++, sent++) {
      s.send(payload, port, host, () => {
        if (++done === count) { out({ sent, seconds: Number(process.hrtime.bigint() - t0) / 1e9 }); s.close(); }
      });
    }
    if (sent < count) setImmediate(batch);
  };
  batch();
} else if (mode === 'echo-client') {
  const [host, port, count, size, win] = [a[0], Number(a[1]), Number(a[2]), Number(a[3]), Number(a[4] || 32)];
  if (!port || !count || !size) fail('echo-client <host> <port> <count> <size> [window]');
  const s = dgram.createSocket('udp4');
  const payload = Buffer.alloc(size, 0x61);
  let sent = 0, got = 0;
  const t0 = process.hrtime.bigint();
  const send = () => { if (sent < count + 4 * win) { sent++; s.send(payload, port, host); } };
  const finish = (why) => {
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    out({ echoed: got, sent, seconds, perSecond: got / seconds, ...(why ? { stopped: why } : {}) });
    process.exit(0);
  };
  const stall = setTimeout(() => finish('60 s limit'), 60000);
  // Loss is possible (Chromium drops past its receive credits): top the window up when idle.
  let last = 0;
  setInterval(() => { if (got === last) for (let i = 0; i < win; i++) send(); last = got; }, 200).unref();
  s.on('message', () => { if (++got >= count) { clearTimeout(stall); finish(); } else send(); });
  s.bind(0, () => { for (let i = 0; i < win; i++) send(); });
} else {
  fail(`unknown mode ${JSON.stringify(mode)} (sink | blast | echo-client)`);
}

// The "listening" JSON line a server prints (socket-iwa-server --json, the JS echo server):
// resolves with its port and certificate hash, or rejects after 30 s.
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

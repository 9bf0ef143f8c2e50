// A dedicated module worker inside the IWA running the relay app (tests/js_servers/relay_app.js):
// Direct Sockets and JSPI work in a worker too. Messages: {start: {port, cert, key}} ->
// {port, certificateHashes, worker}; {stats: true} -> the app's counts; {stop: true} -> {closed: true};
// any failure -> {error}.
import { isWorker, serveWorker } from './app_common.js';
import { startRelay } from './relay_app.js';

let relay;
serveWorker(async (data) => {
  if (data.start) {
    const { port, cert, key } = data.start;
    relay = await startRelay({ host: '127.0.0.1', port, certificate: { cert, key } });
    return { port: relay.port, certificateHashes: relay.certificateHashes, worker: isWorker() };
  }
  if (data.stats) return structuredClone(relay.counts);
  if (data.stop) {
    await relay.close();
    return { closed: true };
  }
  return undefined;
});

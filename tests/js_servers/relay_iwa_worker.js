// A dedicated module worker inside the IWA running the relay app (tests/js_servers/relay_app.js):
// Direct Sockets and JSPI work in a worker too. Messages: {start: {port, cert, key}} ->
// {port, certificateHashes, worker}; {stats: true} -> the app's counts; {stop: true} -> {closed: true};
// any failure -> {error}.
import { startRelay } from './relay_app.js';

let relay;
self.onmessage = async ({ data }) => {
  try {
    if (data.start) {
      const { port, cert, key } = data.start;
      relay = await startRelay({ host: '127.0.0.1', port, certificate: { cert, key } });
      self.postMessage({ port: relay.port, certificateHashes: relay.certificateHashes,
        worker: typeof WorkerGlobalScope === 'function' && self instanceof WorkerGlobalScope });
    } else if (data.stats) {
      self.postMessage(structuredClone(relay.counts));
    } else if (data.stop) {
      await relay.close();
      self.postMessage({ closed: true });
    }
  } catch (e) {
    self.postMessage({ error: `${e && e.code}: ${e && e.message}` });
  }
};

// A dedicated (module) worker inside the IWA running quic_iwa_app.js's createQuicServer
// (default storage: the same OPFS as the page). Messages: { call: 'start' | 'stats' |
// 'stop' } -> { result } or { error }.
import { start, stats, stop } from './quic_iwa_app.js';

const calls = { start, stats, stop };
self.onmessage = async ({ data }) => {
  try {
    self.postMessage({ result: await calls[data.call]() });
  } catch (e) {
    self.postMessage({ error: `${e && e.code}: ${e && e.message}` });
  }
};

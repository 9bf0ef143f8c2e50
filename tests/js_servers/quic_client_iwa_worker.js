// A dedicated (module) worker inside the IWA running quic_client_iwa_app.js's echo():
// SocketIWA.createQuic from a worker. Message: the echo config -> { result } or { error }.
import { echo } from './quic_client_iwa_app.js';

self.onmessage = async ({ data }) => {
  try {
    self.postMessage({ result: await echo(data) });
  } catch (e) {
    self.postMessage({ error: `${e && e.code}: ${e && e.message}` });
  }
};

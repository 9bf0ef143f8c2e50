// A dedicated (module) worker inside the IWA running quic_client_iwa_app.js's echo():
// SocketIWA.createQuic from a worker. Message: the echo config -> { result } or { error }.
import { serveWorker } from './app_common.js';
import { echo } from './quic_client_iwa_app.js';

serveWorker(async (data) => ({ result: await echo(data) }));

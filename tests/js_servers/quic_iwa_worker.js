// A dedicated (module) worker inside the IWA running quic_iwa_app.js's createQuicServer
// (default storage: the same OPFS as the page). Messages: { call: 'start' | 'stats' |
// 'stop' } -> { result } or { error }.
import { serveWorker } from './app_common.js';
import { start, stats, stop } from './quic_iwa_app.js';

const calls = { start, stats, stop };
serveWorker(async (data) => ({ result: await calls[data.call]() }));

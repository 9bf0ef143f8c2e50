#!/usr/bin/env node
// Serve this example as a dev-mode IWA (manifest with direct-sockets and
// direct-sockets-multicast). Then install it in Chromium (see README).
//   node examples/multicast-media-lan/serve.js [--port 8421]
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAppServer, makeManifest } from '../../tests/harness/iwa.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const i = process.argv.indexOf('--port');
const app = await startAppServer({
  appDir: here,
  mounts: { '/api/': path.resolve(here, '../../api') },
  manifest: makeManifest({ name: 'Socket.IWA multicast media' }),
  port: i > 0 ? Number(process.argv[i + 1]) : 0,
});
console.log(`serving the IWA at ${app.url}`);
console.log(`chromium --enable-features=IsolatedWebApps,IsolatedWebAppDevMode --install-isolated-web-app-from-url=${app.url}`);

// The Node side the test apps in tests/js_servers share as programs driven by the Python tests
// (tests/interop/js_app.py): one JSON event per stdout line, command lines on stdin, options
// from the command line.
import fs from 'node:fs';
import { createInterface } from 'node:readline';

/** Prints one event: a JSON object on one stdout line. */
export const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

/** The command-line value after `name` (`--port 4433`), or undefined. */
export function arg(name) {
  const i = process.argv.indexOf(name);
  return i > 1 ? process.argv[i + 1] : undefined;
}

/** `{ cert, key }` from the PEM files named by --cert and --key (or the paths given), or undefined. */
export function certificateArg(certPath = arg('--cert'), keyPath = arg('--key')) {
  return certPath ? { cert: fs.readFileSync(certPath, 'utf8'), key: fs.readFileSync(keyPath, 'utf8') } : undefined;
}

/**
 * Reads command lines from stdin: `handlers[line]()` for each (others are ignored), `onEnd()` when
 * stdin closes. `close` defaults to closeAndExit(server) when a server is given.
 */
export function commands(handlers, { server, onEnd } = {}) {
  const all = server ? { close: () => closeAndExit(server), ...handlers } : handlers;
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => { all[line.trim()]?.(); });
  if (onEnd) rl.on('close', onEnd);
}

/** Closes the server, prints {"event":"closed"} and exits 0. */
export async function closeAndExit(server) {
  await server.close();
  out({ event: 'closed' });
  process.exit(0);
}

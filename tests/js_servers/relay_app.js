// The issue-10 relay test app (not the demo): one HTTP/3 server with its own logic,
// written only against SocketIWA, and the SAME file runs in an Isolated Web App page
// (tests/js_servers/relay_iwa_page.js), in a dedicated module worker of the IWA
// (tests/js_servers/relay_iwa_worker.js) and under Node 26 (`node relay_app.js`, below).
//
//   fetch         GET /hello?name=x -> "hello x"; POST /sum -> {"bytes": <request body length>}
//   WebTransport  any path: every line ("\n"-terminated; a last unterminated line at FIN
//                 counts too) a session writes on a bidi stream is answered upper-cased on
//                 that stream and broadcast as a datagram to every OTHER open session
//   WebSocket     over HTTP/3 (RFC 9220): each text message answered reversed
//
// The import is relative, so it resolves to the repository's api/ under Node and to the
// IWA's /api/ mount in the browser (tests/js_servers/ is served at /t/ there).
import SocketIWA from '../../api/direct_sockets_api.js';
import { hex } from './app_common.js';

const enc = new TextEncoder();
/** Responses are read cross-origin (Chromium pages, the isolated-app:// page). */
const CORS = { 'access-control-allow-origin': '*', 'timing-allow-origin': '*' };

/**
 * Starts the relay server. `certificate: { cert, key }` (PEM) and `storage` are passed to
 * createHttp3Server as given (omitted: its defaults).
 * @returns {Promise<{ server, port: number, certificateHashes: string[], counts: object, close: () => Promise<void> }>}
 */
export async function startRelay({ host = '127.0.0.1', port = 0, certificate, storage } = {}) {
  const sessions = new Map(); // WebTransportSession -> its datagram writer
  const counts = {
    requests: 0, sessions: 0, openSessions: 0, messages: 0, broadcasts: 0, broadcastErrors: 0,
    wsMessages: 0, errors: [],
  };

  async function fetch(request) {
    counts.requests++;
    const url = new URL(request.url);
    if (request.method === 'OPTIONS') {
      return new Response(null, { status: 204, headers: { ...CORS, 'access-control-allow-methods': 'GET, POST', 'access-control-allow-headers': '*' } });
    }
    if (request.method === 'GET' && url.pathname === '/hello') {
      return new Response(`hello ${url.searchParams.get('name')}`, { headers: { ...CORS, 'content-type': 'text/plain; charset=utf-8' } });
    }
    if (request.method === 'POST' && url.pathname === '/sum') {
      // Counted as it streams in: a large body is never held whole.
      let bytes = 0;
      if (request.body) for await (const chunk of request.body) bytes += chunk.byteLength;
      return Response.json({ bytes }, { headers: CORS });
    }
    return new Response('not found', { status: 404, headers: CORS });
  }

  function broadcast(from, line) {
    const d = enc.encode(line);
    for (const [session, writer] of sessions) {
      if (session === from) continue;
      counts.broadcasts++;
      // A full outgoing queue makes the write wait; one slow session must not hold up the others.
      writer.write(d).catch(() => { counts.broadcastErrors++; });
    }
  }

  /** One bidi stream: lines in, upper-cased lines out (and broadcast), FIN after the last. */
  async function relayStream(session, { readable, writable }) {
    const writer = writable.getWriter();
    const dec = new TextDecoder();
    let pending = '';
    const answer = async (line) => {
      counts.messages++;
      broadcast(session, line);
      await writer.write(enc.encode(`${line.toUpperCase()}\n`));
    };
    try {
      for await (const chunk of readable) {
        pending += dec.decode(chunk, { stream: true });
        let nl;
        while ((nl = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          await answer(line);
        }
      }
      pending += dec.decode();
      if (pending) await answer(pending);
      await writer.close();
    } catch (e) {
      // The peer reset the stream or the session went away: nothing to answer any more.
      writer.abort(e).catch(() => {});
    }
  }

  const server = await SocketIWA.createHttp3Server(host, { port, certificate, storage, fetch });
  server.on('error', (e) => counts.errors.push(e.code));

  server.on('webtransport', (session) => {
    counts.sessions++;
    counts.openSessions++;
    sessions.set(session, session.datagrams.writable.getWriter());
    const gone = () => {
      if (sessions.delete(session)) counts.openSessions--;
    };
    session.closed.then(gone, gone);
    // Datagrams a client sends are not part of the relay: read and dropped so they do not queue.
    (async () => { for await (const d of session.datagrams.readable) void d; })().catch(() => {});
    (async () => {
      const reader = session.incomingBidirectionalStreams.getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        relayStream(session, value);
      }
    })().catch(gone);
  });

  server.on('websocket', (ws) => {
    ws.on('message', (data, isBinary) => {
      counts.wsMessages++;
      ws.send(isBinary ? data : [...String(data)].reverse().join(''));
    });
  });

  return {
    server,
    port: server.port,
    certificateHashes: server.certificateHashes.map((h) => hex(h.value)),
    counts,
    close: () => server.close(),
  };
}

// Under Node as a program: `node tests/js_servers/relay_app.js [--port N] [--cert cert.pem --key key.pem]`.
// Prints one JSON line per event ({"event":"listening",port,certificateHashes} first); reads
// commands from stdin (nothing is stored: storage false): "stats" -> {"event":"stats",...counts}, "close" -> {"event":"closed"}, exit 0.
if (typeof process === 'object' && process?.versions?.node && process.argv[1]) {
  const { pathToFileURL } = await import('node:url');
  const { realpathSync } = await import('node:fs');
  if (pathToFileURL(realpathSync(process.argv[1])).href === import.meta.url) {
    const { arg, certificateArg, commands, out } = await import('./node_app.mjs');
    const relay = await startRelay({ host: arg('--host') || '127.0.0.1', port: Number(arg('--port') || 0), certificate: certificateArg(), storage: false });
    out({ event: 'listening', port: relay.port, certificateHashes: relay.certificateHashes });
    commands({ stats: () => out({ event: 'stats', ...relay.counts }) }, {
      server: relay,
      // stdin closed: the test runner went away
      onEnd: () => relay.close().then(() => process.exit(0)),
    });
  }
}

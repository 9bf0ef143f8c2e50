// The JavaScript echo handlers of stress-test/bench_js_servers.mjs, written with
// SocketIWA.createHttp3Server: POST /echo streams the request body back, and
// WebTransport /wt/echo echoes bidi streams onto themselves, uni streams onto a new
// server uni stream and datagrams back, like the Rust demo's routes of the same names.
// Plain ES module (given SocketIWA): the same code under Node (js_echo_server.mjs) and
// in the IWA page (js_echo_iwa.js).

/** Starts the echo server on 127.0.0.1 (ephemeral port); resolves with the Http3Server. */
export async function startJsEcho(SocketIWA) {
  const server = await SocketIWA.createHttp3Server('127.0.0.1', {
    port: 0,
    storage: false,
    fetch(request) {
      if (new URL(request.url).pathname === '/echo' && request.method === 'POST') return new Response(request.body);
      return new Response('not found\n', { status: 404 });
    },
  });
  server.on('error', (e) => console.error(e.code, e.message));
  server.on('webtransport', async (session) => {
    await session.ready;
    const each = async (readable, fn) => { for await (const x of readable) fn(x); };
    each(session.incomingBidirectionalStreams, ({ readable, writable }) => readable.pipeTo(writable).catch(() => {})).catch(() => {});
    each(session.incomingUnidirectionalStreams, async (readable) => {
      readable.pipeTo(await session.createUnidirectionalStream()).catch(() => {});
    }).catch(() => {});
    const w = session.datagrams.writable.getWriter();
    each(session.datagrams.readable, (d) => { w.write(d).catch(() => {}); }).catch(() => {});
  });
  return server;
}

/** The server's SHA-256 certificate hash, hex (what the native client pins). */
export function pinOf(server) {
  return [...server.certificateHashes[0].value].map((b) => b.toString(16).padStart(2, '0')).join('');
}

// The README's WebTransport chat server (README.md "JavaScript servers: a WebTransport chat"),
// run by tests/interop/test_js_wt_server.py::test_readme_chat_example, which also checks that
// the lines between the markers are the README's code block, except the import line.
//   node tests/js_servers/chat_app.mjs [port]
import SocketIWA from '../../api/direct_sockets_api.js';
// --- README begin
const server = await SocketIWA.createHttp3Server('127.0.0.1', {
  port: Number(process.argv[2] || 4433),
  fetch: () => new Response('a WebTransport chat: connect to https://127.0.0.1:' + server.port + '/\n'),
});
const sessions = new Set();
// Each message is one unidirectional stream; the server sends it to every open session.
async function broadcast(message) {
  for (const s of sessions) {
    const w = await s.createUnidirectionalStream().then((st) => st.getWriter(), () => null);
    w?.write(message).then(() => w.close()).catch(() => {}); // null, or failing: that session is closing
  }
}
server.on('webtransport', async (session) => {
  await session.ready;
  sessions.add(session);
  session.closed.catch(() => {}).finally(() => sessions.delete(session));
  for await (const stream of session.incomingUnidirectionalStreams)
    new Response(stream).bytes().then(broadcast, () => {});
});
const hash = Buffer.from(server.certificateHashes[0].value).toString('hex');
console.log(JSON.stringify({ event: 'listening', port: server.port, sha256: hash }));
// --- README end

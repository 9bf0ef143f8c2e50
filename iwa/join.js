// The "join from another browser" client: WebTransport to the server in the
// Socket.IWA app, pinned by certificate hash. Served by that server itself over
// HTTP/3 (https://HOST:PORT/join.html#hash=<SHA-256>: the URL defaults to this
// origin's /wt/echo and, with a hash in the fragment, it connects at once); also
// runs as a saved standalone page (the app inlines this script when it saves the page)
// or from any page with ?url=...&hash=....
const $ = (id) => document.getElementById(id);
const hexToBytes = (hex) => Uint8Array.from(hex.replace(/[^0-9a-f]/gi, '').match(/../g) || [], (h) => parseInt(h, 16));

function show(text) { $('out').textContent = text; }

async function join(url, hash) {
  const wt = new WebTransport(url, { serverCertificateHashes: [{ algorithm: 'sha-256', value: hexToBytes(hash) }] });
  const t0 = performance.now();
  await wt.ready;
  const connectMs = performance.now() - t0;
  const stream = await wt.createBidirectionalStream();
  const w = stream.writable.getWriter();
  const msg = new TextEncoder().encode('hello from the join page');
  await w.write(msg); await w.close();
  let echoed = 0;
  for (const r = stream.readable.getReader(); ;) { const { value, done } = await r.read(); if (done) break; echoed += value.length; }
  const dw = wt.datagrams.writable.getWriter();
  const dr = wt.datagrams.readable.getReader();
  let sent = 0; let back = 0;
  (async () => { for (;;) { const { done } = await dr.read(); if (done) break; back++; } })().catch(() => {});
  const timer = setInterval(() => { dw.write(new TextEncoder().encode(`ping ${sent++}`)).catch(() => {}); }, 1000);
  const status = () => show(`connected in ${connectMs.toFixed(1)} ms; stream echoed ${echoed}/${msg.length} bytes; datagrams ${back}/${sent} echoed.`);
  const shown = setInterval(status, 1000); status();
  wt.closed.then(() => { clearInterval(timer); clearInterval(shown); show(`session closed (${back}/${sent} datagrams echoed).`); },
    (e) => { clearInterval(timer); clearInterval(shown); show(`session failed: ${e.message}`); });
  return wt;
}

const params = new URLSearchParams(location.search);
const fragment = new URLSearchParams(location.hash.slice(1));
const given = (k) => fragment.get(k) || params.get(k);
// Served by the server we connect to: its own origin is the WebTransport endpoint.
const servedByServer = location.protocol === 'https:';
if (given('url')) $('url').value = given('url');
else if (servedByServer && !$('url').value) $('url').value = `https://${location.host}/wt/echo`;
if (given('hash')) $('hash').value = given('hash');
function connect() {
  show('connecting…');
  join($('url').value.trim(), $('hash').value.trim()).catch((err) => show(`could not connect: ${err.message}`));
}
$('join').addEventListener('submit', (e) => {
  e.preventDefault();
  connect();
});
// The app's link carries the hash in the fragment: connect without a click.
if (servedByServer && fragment.get('hash') && $('url').value) connect();

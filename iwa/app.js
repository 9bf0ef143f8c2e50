// The Socket.IWA demo app: start and stop servers from the page, watch them live.
//
// QUIC echo + HTTP/3 + WebTransport + WebSocket over HTTP/3: the Rust server
// compiled to wasm (/wasm/socket-iwa-server.js, started through loader.js with
// --json --connections-interval 1000; its JSON lines feed the table and the charts).
// Socket.IO, WebSocket, raw TCP/UDP echo and the multicast listener: the
// JavaScript API in /api/. Everything runs on this browser's Direct Sockets;
// the page fetches nothing from the network (only its own bundled files).
//
// The QUIC server also serves the "join from another browser" page (join.html +
// join.js, copied from this app into the module's memory file system and served
// with --static) over HTTP/3, so a second machine's Chromium opens
// https://HOST:PORT/join.html#hash=<certificate SHA-256> and connects back with
// WebTransport (docs/IWA_APP.md, "The join page").
//
// Exported for tests and scripts (the IWA harness calls them in the page):
//   startServer({ kind, address, port, group }) -> id
//   stopServer(id), snapshot() -> [{ id, kind, state, address, port, certSha256, spkiSha256, joinUrl,
//     connections, totals, rates }]

import { start as startWasm, subscribe, stop as stopWasm } from './loader.js';
import { RateChart, formatRate } from './chart.js';

const KINDS = {
  quic: { title: 'QUIC + HTTP/3 + WebTransport', protos: 'QUIC (ALPN echo), HTTP/3 (h3): WebTransport at /wt/echo, WebSocket over HTTP/3 (RFC 9220), the join page at /join.html', port: 4433 },
  socketio: { title: 'Socket.IO', protos: 'Socket.IO v5 over WebSocket and long-polling (TCP); echoes "echo" (with ack) and "message"', port: 3000 },
  websocket: { title: 'WebSocket echo', protos: 'WebSocket (RFC 6455) over TCP', port: 8080 },
  tcp: { title: 'TCP echo', protos: 'raw TCP', port: 7007 },
  udp: { title: 'UDP echo', protos: 'raw UDP', port: 7008 },
  multicast: { title: 'Multicast listener', protos: 'UDP multicast (counts datagrams per source)', port: 5004 },
};

const servers = new Map();
let nextId = 1;
let api = null;

async function loadApi() {
  if (!api) api = await import('/api/direct_sockets_api.js');
  return api;
}

function appError(message, code) {
  const e = new Error(message);
  e.code = code;
  return e;
}

function validate({ kind, address, port, group }) {
  if (!KINDS[kind]) throw appError(`unknown server kind ${JSON.stringify(kind)}`, 'ERR_INVALID_ARG_VALUE');
  if (typeof address !== 'string' || !/^[0-9a-fA-F.:]+$/.test(address)) throw appError(`address must be an IPv4 or IPv6 literal, got ${JSON.stringify(address)}`, 'ERR_INVALID_ARG_VALUE');
  const p = Number(port);
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw appError(`port must be 1-65535, got ${JSON.stringify(port)}`, 'ERR_SOCKET_BAD_PORT');
  if (kind === 'multicast' && !/^(22[4-9]|23\d)\.\d+\.\d+\.\d+$/.test(group || '')) throw appError(`multicast group must be an IPv4 address in 224.0.0.0/4, got ${JSON.stringify(group)}`, 'ERR_INVALID_ARG_VALUE');
  return { kind, address, port: p, group };
}

const hostInUrl = (a) => (a.includes(':') ? `[${a}]` : a);

function log(s, text) {
  const stamp = new Date().toISOString().slice(11, 19);
  s.logLines.push(`${stamp} ${text}`);
  if (s.logLines.length > 500) s.logLines.shift();
  if (s.el) {
    const pre = s.el.querySelector('.log');
    pre.textContent = s.logLines.join('\n');
    pre.scrollTop = pre.scrollHeight;
  }
}

function setState(s, state, detail = '') {
  s.state = state;
  s.stateDetail = detail;
  if (s.el) {
    const el = s.el.querySelector('.state');
    el.textContent = detail ? `${state}: ${detail}` : state;
    el.dataset.state = state;
    s.el.querySelector('.stop').disabled = state !== 'listening';
  }
}

// --- connection bookkeeping for the JS-API servers ---------------------------

function track(s, key, proto) {
  let c = s.conns.get(key);
  if (!c) {
    c = { peer: key, proto, since: Date.now(), bytesIn: 0, bytesOut: 0, rttMs: null };
    s.conns.set(key, c);
    log(s, `connection from ${key}`);
  }
  return c;
}

function byteLength(d) {
  if (typeof d === 'string') return new TextEncoder().encode(d).length;
  if (d && typeof d.byteLength === 'number') return d.byteLength;
  try { return new TextEncoder().encode(JSON.stringify(d)).length; } catch { return 0; }
}

function countIn(s, c, n) { c.bytesIn += n; s.totals.bytesIn += n; s.totals.packetsIn++; }
function countOut(s, c, n) { c.bytesOut += n; s.totals.bytesOut += n; s.totals.packetsOut++; }

function untrack(s, key, why) {
  if (s.conns.delete(key)) log(s, `${key} closed${why ? ` (${why})` : ''}`);
}

// --- starting and stopping ---------------------------------------------------

// Where the join page lives in the wasm module's memory file system (served at /).
const JOIN_DIR = '/srv/join';
const JOIN_FILES = ['join.html', 'join.js'];

/** The join page's files from this app's own bundle, for the server's --static directory. */
async function joinPageFiles() {
  const files = {};
  for (const name of JOIN_FILES) {
    const r = await fetch(`/${name}`);
    if (!r.ok) throw appError(`cannot read /${name} from the app: HTTP ${r.status}`, 'ERR_JOIN_PAGE');
    files[`${JOIN_DIR}/${name}`] = new Uint8Array(await r.arrayBuffer());
  }
  return files;
}

async function startQuic(s) {
  const stopFile = '/tmp/socket-iwa-stop';
  const args = ['--listen', `${hostInUrl(s.address)}:${s.port}`, '--json', '--stats-interval', '1000', '--connections-interval', '1000', '--stop-file', stopFile,
    '--static', JOIN_DIR];
  log(s, `socket-iwa-server ${args.join(' ')}`);
  let failure = null;
  const listening = new Promise((resolve) => { s.onListening = resolve; });
  s.runId = await startWasm({ module: '/wasm/socket-iwa-server.js', args, stopFile, files: await joinPageFiles() });
  subscribe(s.runId, (line) => {
    if (line.startsWith('{')) {
      let j;
      try { j = JSON.parse(line); } catch { log(s, line); return; }
      if (j.event === 'listening') {
        s.certSha256 = j.cert_sha256;
        s.spkiSha256 = j.spki_sha256_base64 || null;
        s.boundAddr = j.addr;
        s.alpn = j.alpn;
        log(s, `listening on udp ${j.addr}, ALPN ${(j.alpn || []).join(', ')}, certificate SHA-256 ${j.cert_sha256}`);
        s.onListening(true);
      } else if (j.event === 'connections') {
        const now = Date.now();
        s.conns = new Map(j.connections.map((c) => [c.peer, {
          peer: c.peer, proto: `${c.alpn || '(handshake)'}${c.resumed ? ', resumed' : ''}`, since: now - c.age_ms,
          bytesIn: c.bytes_in, bytesOut: c.bytes_out, rttMs: c.rtt_ms,
        }]));
        s.totals = { packetsIn: j.totals.packets_in, packetsOut: j.totals.packets_out, bytesIn: j.totals.bytes_in, bytesOut: j.totals.bytes_out };
      } else if (j.event === 'connection_closed') {
        log(s, `${j.peer} closed (${j.alpn || 'no ALPN'}${j.resumed ? ', resumed' : ''}${j.early_data_bytes ? `, ${j.early_data_bytes} bytes 0-RTT` : ''})`);
      } else if (j.event === 'stats') {
        s.serverStats = j.stats;
      } else if (j.event === 'stopped') {
        log(s, `stopped after ${j.stats.accepted} connections (${j.stats.handshakes_completed} handshakes)`);
      } else {
        log(s, line);
      }
    } else {
      if (/cannot listen|error/i.test(line)) failure = line.replace(/^stderr: /, '');
      log(s, line.replace(/^stderr: /, ''));
    }
  });
  // The run ends (main returned) if the bind failed; otherwise the listening line arrives.
  const { done } = await import('./loader.js');
  const ended = done(s.runId, 24 * 3600 * 1000).then(() => false, () => false);
  const ok = await Promise.race([listening, ended]);
  if (!ok) throw appError(failure || 'the wasm server exited before listening', 'ERR_SERVER_START');
  ended.then(() => { if (s.state === 'listening') setState(s, 'stopped', 'the server exited'); });
  s.stopImpl = () => stopWasm(s.runId);
}

async function startTcpServer(s, protocol) {
  const { createTCPServer } = await loadApi();
  const server = await createTCPServer(s.address, { port: s.port, protocol });
  s.boundAddr = `${hostInUrl(server.address)}:${server.port}`;
  server.on('connection', (conn) => {
    const ws = conn.conn && conn.conn.ws;
    const key = `${(ws || conn).remoteAddress}:${(ws || conn).remotePort}` + (protocol === 'socket.io' ? ` (${conn.id})` : '');
    const c = track(s, key, protocol);
    if (protocol === 'socket.io') {
      conn.on('echo', (...args) => {
        const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
        const n = byteLength(args);
        countIn(s, c, n);
        if (ack) { ack(...args); countOut(s, c, n); }
      });
      conn.on('message', (...args) => { const n = byteLength(args); countIn(s, c, n); conn.send(...args); countOut(s, c, n); });
      conn.on('disconnect', (reason) => untrack(s, key, reason));
    } else {
      conn.on('message', (data, isBinary) => {
        const n = byteLength(data);
        countIn(s, c, n);
        if (protocol === 'websocket') conn.send(data, { binary: !!isBinary }); else conn.send(data);
        countOut(s, c, n);
      });
      conn.on('close', () => untrack(s, key));
      conn.on('error', (e) => log(s, `${key}: ${e.code || ''} ${e.message}`));
    }
  });
  server.on('error', (e) => log(s, `server error: ${e.code || ''} ${e.message}`));
  server.on('clientError', (e) => log(s, `client error: ${e.code || ''} ${e.message}`));
  log(s, `listening on tcp ${s.boundAddr} (${protocol})`);
  s.stopImpl = () => server.close();
}

async function startUdp(s, multicast) {
  const { createUDP, createMulticastSocket } = await loadApi();
  const sock = multicast
    ? await createMulticastSocket({ localAddress: s.address, localPort: s.port, multicastLoopback: true, multicastAllowAddressSharing: true })
    : await createUDP({ localAddress: s.address, localPort: s.port });
  if (multicast) await sock.multicast.join(s.group);
  s.boundAddr = `${hostInUrl(sock.localAddress)}:${sock.localPort}${multicast ? `, group ${s.group}` : ''}`;
  sock.on('message', (data, rinfo) => {
    const key = `${hostInUrl(rinfo.address)}:${rinfo.port}`;
    const c = track(s, key, multicast ? `multicast ${s.group}` : 'udp');
    c.lastSeen = Date.now();
    countIn(s, c, rinfo.size ?? byteLength(data));
    if (!multicast) { sock.send(data, rinfo.port, rinfo.address).catch((e) => log(s, `send to ${key}: ${e.code || ''} ${e.message}`)); countOut(s, c, byteLength(data)); }
  });
  sock.on('error', (e) => log(s, `socket error: ${e.code || ''} ${e.message}`));
  // UDP has no connections: a peer silent for 30 s leaves the list.
  s.sweep = setInterval(() => {
    for (const [k, c] of s.conns) if (Date.now() - (c.lastSeen || c.since) > 30000) untrack(s, k, 'silent for 30 s');
  }, 5000);
  log(s, `listening on udp ${s.boundAddr}`);
  s.stopImpl = async () => { clearInterval(s.sweep); await sock.close(); };
}

/** Starts a server; resolves with its id once it listens (rejects with a coded error otherwise). */
export async function startServer(opts) {
  const o = validate(opts);
  const s = {
    id: nextId++, ...o, state: 'starting', stateDetail: '', certSha256: null, spkiSha256: null, boundAddr: null,
    conns: new Map(), totals: { packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0 }, prevTotals: null,
    rates: { packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0 }, logLines: [], el: null, charts: null,
  };
  servers.set(s.id, s);
  render(s);
  setState(s, 'starting');
  try {
    if (o.kind === 'quic') await startQuic(s);
    else if (o.kind === 'socketio') await startTcpServer(s, 'socket.io');
    else if (o.kind === 'websocket') await startTcpServer(s, 'websocket');
    else if (o.kind === 'tcp') await startTcpServer(s, 'raw');
    else await startUdp(s, o.kind === 'multicast');
  } catch (e) {
    const busy = /EADDRINUSE|in use|cannot listen|NetworkError|Failed/i.test(String(e.message));
    setState(s, 'failed', e.message + (busy ? ` (is port ${o.port} in use? choose another port)` : ''));
    log(s, `failed: ${e.code || ''} ${e.message}`);
    const err = appError(`${KINDS[o.kind].title} on ${o.address}:${o.port}: ${e.message}`, e.code || 'ERR_SERVER_START');
    throw err;
  }
  setState(s, 'listening');
  fill(s);
  return s.id;
}

/** Stops a server (closes its sockets). */
export async function stopServer(id) {
  const s = servers.get(id);
  if (!s) throw appError(`no server ${id}`, 'ERR_INVALID_ARG_VALUE');
  if (s.state !== 'listening') return;
  setState(s, 'stopping');
  try { await s.stopImpl(); } catch (e) { log(s, `stop: ${e.message}`); }
  s.conns.clear();
  setState(s, 'stopped');
  log(s, 'stopped');
}

/** Plain data for tests: every server with its table rows and totals. */
export function snapshot() {
  return [...servers.values()].map((s) => ({
    id: s.id, kind: s.kind, state: s.state, detail: s.stateDetail, address: s.boundAddr, port: s.port, certSha256: s.certSha256,
    spkiSha256: s.spkiSha256, joinUrl: s.kind === 'quic' && s.certSha256 ? joinUrl(s) : null,
    connections: [...s.conns.values()].map((c) => ({ ...c })), totals: { ...s.totals }, rates: { ...s.rates },
    rows: s.el ? s.el.querySelectorAll('.conns tbody tr[data-peer]').length : 0,
  }));
}

// --- rendering ---------------------------------------------------------------

const hostForOthers = (s) => (s.address === '0.0.0.0' || s.address === '::' ? 'THIS-MACHINE-IP' : hostInUrl(s.address));

/** The join page as the server serves it; the certificate hash rides in the fragment (never sent to the server). */
function joinUrl(s) {
  return `https://${hostForOthers(s)}:${s.port}/join.html#hash=${s.certSha256}`;
}

/**
 * How another machine's Chromium opens the join page: the IWA's server speaks HTTP/3 only (no TCP
 * for Alt-Svc discovery), so QUIC is forced for the origin, and its self-signed certificate is
 * accepted by its public key's hash (Chromium honours that flag only with its own --user-data-dir).
 */
function joinCommand(s) {
  const origin = `${hostForOthers(s)}:${s.port}`;
  return `chromium --user-data-dir=/tmp/socket-iwa-join --origin-to-force-quic-on=${origin} `
    + `--ignore-certificate-errors-spki-list=${s.spkiSha256} '${joinUrl(s)}'`;
}

function webTransportSnippet(s) {
  const host = s.address === '0.0.0.0' || s.address === '::' ? 'THIS-MACHINE-IP' : hostInUrl(s.address);
  return `const wt = new WebTransport('https://${host}:${s.port}/wt/echo', {\n`
    + `  serverCertificateHashes: [{ algorithm: 'sha-256', value: Uint8Array.from('${s.certSha256}'.match(/../g), (h) => parseInt(h, 16)) }],\n`
    + `});\nawait wt.ready; console.log('WebTransport session to the IWA is up');`;
}

function clientSnippet(s) {
  const host = s.address === '0.0.0.0' || s.address === '::' ? 'THIS-MACHINE-IP' : hostInUrl(s.address);
  switch (s.kind) {
    case 'quic': return webTransportSnippet(s);
    case 'socketio': return `// npm socket.io-client\nconst socket = io('http://${host}:${s.port}');\nsocket.emit('echo', 'hello', (reply) => console.log(reply));`;
    case 'websocket': return `const ws = new WebSocket('ws://${host}:${s.port}/');\nws.onmessage = (e) => console.log(e.data);\nws.onopen = () => ws.send('hello');`;
    case 'tcp': return `# from a shell\nprintf hello | nc ${host.replace(/[[\]]/g, '')} ${s.port}`;
    case 'udp': return `# from a shell\nprintf hello | nc -u -w1 ${host.replace(/[[\]]/g, '')} ${s.port}`;
    default: return `# from a shell on the same network\nprintf hello | nc -u -w1 ${s.group} ${s.port}`;
  }
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const ta = document.createElement('textarea');
    ta.value = text; document.body.append(ta); ta.select();
    document.execCommand('copy'); ta.remove();
  }
  const was = button.textContent;
  button.textContent = 'Copied';
  setTimeout(() => { button.textContent = was; }, 1500);
}

async function saveJoinPage(s) {
  const [html, js] = await Promise.all(['/join.html', '/join.js'].map((u) => fetch(u).then((r) => r.text())));
  const host = s.address === '0.0.0.0' || s.address === '::' ? location.hostname : hostInUrl(s.address);
  const page = html
    .replace('<script type="module" src="/join.js"></script>', `<script type="module">\n${js}\n</script>`)
    .replace('value="" id="url"', `value="https://${host}:${s.port}/wt/echo" id="url"`)
    .replace('value="" id="hash"', `value="${s.certSha256}" id="hash"`);
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([page], { type: 'text/html' }));
  a.download = `socket-iwa-join-${s.port}.html`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

function render(s) {
  const tpl = document.getElementById('server-tpl');
  if (!tpl) return;
  const el = tpl.content.firstElementChild.cloneNode(true);
  el.id = `server-${s.id}`;
  el.setAttribute('aria-labelledby', `server-${s.id}-title`);
  el.dataset.kind = s.kind;
  const title = el.querySelector('.server-title');
  title.id = `server-${s.id}-title`;
  title.textContent = `${KINDS[s.kind].title} · ${s.address}:${s.port}`;
  el.querySelector('.protos').textContent = KINDS[s.kind].protos;
  el.querySelector('.addr').textContent = `${s.address}:${s.port}`;
  const snippet = el.querySelector('.snippet');
  snippet.id = `snippet-${s.id}`;
  el.querySelector('.snippet-label').htmlFor = snippet.id;
  el.querySelector('.stop').addEventListener('click', () => stopServer(s.id));
  el.querySelector('.copy-cert').addEventListener('click', (e) => copyText(s.certSha256 || '', e.currentTarget));
  el.querySelector('.copy-snippet').addEventListener('click', (e) => copyText(snippet.value, e.currentTarget));
  el.querySelector('.save-join').addEventListener('click', () => saveJoinPage(s));
  el.querySelector('.copy-join').addEventListener('click', (e) => copyText(s.certSha256 ? joinUrl(s) : '', e.currentTarget));
  const cmd = el.querySelector('.join-cmd');
  cmd.id = `join-cmd-${s.id}`;
  el.querySelector('.join-cmd-label').htmlFor = cmd.id;
  el.querySelector('.copy-join-cmd').addEventListener('click', (e) => copyText(cmd.value, e.currentTarget));
  for (const q of ['.cert-dt', '.cert-dd', '.join-dt', '.join-dd', '.save-join', '.join-box']) el.querySelector(q).hidden = s.kind !== 'quic';
  document.getElementById('servers').prepend(el);
  s.el = el;
  s.charts = {
    pkts: new RateChart(el.querySelector('.chart-pkts'), { title: s.kind === 'quic' ? 'Packets' : 'Messages', unit: s.kind === 'quic' ? 'packets' : 'msgs' }),
    bytes: new RateChart(el.querySelector('.chart-bytes'), { title: 'Bytes', unit: 'B' }),
  };
  updateCount();
}

function fill(s) {
  if (!s.el) return;
  s.el.querySelector('.addr').textContent = s.boundAddr || `${s.address}:${s.port}`;
  s.el.querySelector('.cert').textContent = s.certSha256 || '';
  s.el.querySelector('.snippet').value = clientSnippet(s);
  if (s.kind === 'quic' && s.certSha256) {
    const a = s.el.querySelector('.join-link');
    a.textContent = joinUrl(s);
    a.href = joinUrl(s).replace('THIS-MACHINE-IP', '127.0.0.1');
    s.el.querySelector('.join-cmd').value = joinCommand(s);
  }
  s.el.querySelector('.snippet-label').textContent = s.kind === 'quic'
    ? 'Connect from another Chromium: paste into its DevTools console, or save the join page and open it there'
    : s.kind === 'socketio' || s.kind === 'websocket' ? 'Connect from a client (browser console or Node)' : 'Send a test datagram or line from another machine';
}

const ageText = (ms) => (ms < 60000 ? `${Math.floor(ms / 1000)} s` : `${Math.floor(ms / 60000)} min ${Math.floor((ms % 60000) / 1000)} s`);

// IWAs enforce Trusted Types: no innerHTML anywhere, elements only.
function emptyRow() {
  const tr = document.createElement('tr');
  const td = document.createElement('td');
  td.colSpan = 6;
  td.className = 'muted';
  td.textContent = 'no connections';
  tr.append(td);
  return tr;
}

function renderTable(s) {
  const tbody = s.el.querySelector('.conns tbody');
  const rows = [...s.conns.values()];
  tbody.replaceChildren(...(rows.length ? rows.map((c) => {
    const tr = document.createElement('tr');
    tr.dataset.peer = c.peer;
    for (const v of [c.peer, c.proto, ageText(Date.now() - c.since), formatRate(c.bytesIn) + 'B', formatRate(c.bytesOut) + 'B',
      c.rttMs == null ? '—' : `${c.rttMs.toFixed(2)} ms`]) {
      const td = document.createElement('td'); td.textContent = v; tr.append(td);
    }
    return tr;
  }) : [emptyRow()]));
  const t = s.totals;
  s.el.querySelector('.totals').textContent = `Totals: ${formatRate(t.packetsIn)} ${s.kind === 'quic' ? 'packets' : 'messages'} / ${formatRate(t.bytesIn)}B in, `
    + `${formatRate(t.packetsOut)} / ${formatRate(t.bytesOut)}B out; now ${formatRate(s.rates.bytesIn)}B/s in, ${formatRate(s.rates.bytesOut)}B/s out`;
}

function tick() {
  for (const s of servers.values()) {
    try { tickOne(s); } catch (e) { console.error(`server ${s.id}: ${e.stack || e}`); }
  }
}

function tickOne(s) {
  {
    if (s.state === 'listening') {
      const t = s.totals;
      const p = s.prevTotals || t;
      const dt = s.prevAt ? (performance.now() - s.prevAt) / 1000 : 1;
      s.rates = {
        packetsIn: (t.packetsIn - p.packetsIn) / dt, packetsOut: (t.packetsOut - p.packetsOut) / dt,
        bytesIn: (t.bytesIn - p.bytesIn) / dt, bytesOut: (t.bytesOut - p.bytesOut) / dt,
      };
      s.prevTotals = { ...t };
      s.prevAt = performance.now();
      s.charts.pkts.push(s.rates.packetsIn, s.rates.packetsOut);
      s.charts.bytes.push(s.rates.bytesIn, s.rates.bytesOut);
    }
    if (s.el && s.state !== 'starting') renderTable(s);
  }
}

function updateCount() {
  const n = servers.size;
  document.getElementById('server-count').textContent = n ? `(${n})` : '(none yet)';
}

function initForm() {
  const form = document.getElementById('start-form');
  const kind = document.getElementById('kind');
  const port = document.getElementById('port');
  const address = document.getElementById('address');
  const groupRow = document.getElementById('group-row');
  const err = document.getElementById('start-error');
  kind.addEventListener('change', () => {
    port.value = KINDS[kind.value].port;
    groupRow.hidden = kind.value !== 'multicast';
    if (kind.value === 'multicast' && address.value === '127.0.0.1') address.value = '0.0.0.0';
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    const button = document.getElementById('start');
    button.disabled = true;
    try {
      const id = await startServer({ kind: kind.value, address: address.value.trim(), port: Number(port.value), group: document.getElementById('group').value.trim() });
      document.getElementById(`server-${id}`)?.focus();
    } catch (ex) {
      err.textContent = ex.message;
    } finally {
      button.disabled = false;
    }
  });
}

function initEnv() {
  const env = document.getElementById('env');
  const ok = typeof UDPSocket === 'function' && typeof TCPServerSocket === 'function';
  const jspi = typeof WebAssembly.Suspending === 'function';
  env.textContent = ok
    ? `Direct Sockets available${self.crossOriginIsolated ? ', cross-origin isolated' : ''}${jspi ? ', JSPI on' : ', no JSPI: the wasm server cannot run'}.`
    : 'Direct Sockets are not available: install this app as an Isolated Web App (see README).';
  env.dataset.ok = String(ok);
}

if (typeof document !== 'undefined') {
  initEnv();
  initForm();
  setInterval(tick, 1000);
}

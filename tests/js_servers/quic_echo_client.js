// The echo client of the createQuic tests (ALPN 'echo': every client bidi stream and
// every datagram comes back), shared by the Node app (quic_client_app.mjs) and the
// IWA app (quic_client_iwa_app.js). Plain ES module: it is given SocketIWA.

export const hexBytes = (h) => Uint8Array.from(h.match(/../g).map((x) => parseInt(x, 16)));

/** Byte `i` of stream `k`'s pattern (the same on every run: the echo is compared with it). */
const pattern = (k, n) => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (k * 31 + i * 7) & 0xff;
  return b;
};

async function readAll(readable) {
  const chunks = [];
  let n = 0;
  for await (const c of readable) { chunks.push(c); n += c.length; }
  const all = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) { all.set(c, o); o += c.length; }
  return all;
}

async function echoStream(conn, k, bytes) {
  const { readable, writable } = await conn.createBidirectionalStream();
  const w = writable.getWriter();
  const want = pattern(k, bytes);
  const wrote = (async () => { await w.write(want); await w.close(); })();
  // Both awaited together: when the stream fails (0-RTT refused, say), whichever side
  // fails first is the error and the other's rejection is handled too.
  const [got] = await Promise.all([readAll(readable), wrote]);
  return got.length === want.length && got.every((b, i) => b === want[i]);
}

function options(cfg) {
  const o = { alpn: cfg.alpn || ['echo'] };
  if (cfg.hashes) o.serverCertificateHashes = cfg.hashes.map((h) => ({ algorithm: 'sha-256', value: hexBytes(h) }));
  if (cfg.caPem) o.ca = cfg.caPem;
  if (cfg.insecure) o.rejectUnauthorized = false;
  if (cfg.serverName) o.serverName = cfg.serverName;
  if (cfg.sessionObj) o.session = cfg.sessionObj;
  return o;
}

/**
 * Connects with `cfg` ({ host, port, hashes, caPem, insecure, serverName, sessionObj, alpn, streams, bytes,
 * datagrams, wantSession, migrate, migrateTo, migrateChecks }) and echoes; returns what the tests check, with
 * `sessionObj` the new `conn.session`.
 */
export async function echoRun(SocketIWA, cfg) {
  const t0 = performance.now();
  let conn;
  try {
    conn = await SocketIWA.createQuic(cfg.host || '127.0.0.1', cfg.port, options(cfg));
  } catch (e) {
    return { event: 'failed', code: e.code, message: e.message, name: e.name };
  }
  const resolvedMs = performance.now() - t0;
  const atResolve = conn.earlyData;
  // Everything is opened at once: streams beyond the server's limit wait for its MAX_STREAMS.
  let streamsDone = 0;
  const streams = Array.from({ length: cfg.streams ?? 1 }, (_, k) => echoStream(conn, k, cfg.bytes ?? 1024)
    .catch((e) => e.code || String(e)).finally(() => { streamsDone++; }));
  const readyErr = await conn.ready.then(() => null, (e) => e.code || String(e));
  // cfg.migrate: move to a new local socket that many times, the first while the streams are in flight;
  // cfg.migrateTo[i]: the localAddress of move i (none: the current address).
  const migrations = [];
  let migrateError = null;
  let streamsDoneAtFirstMove = null;
  const migrating = (async () => {
    for (let i = 0; i < (cfg.migrate || 0); i++) {
      const to = cfg.migrateTo && cfg.migrateTo[i];
      try { migrations.push(await conn.migrate(to ? { localAddress: to } : undefined)); } catch (e) { migrateError = e.code || String(e); migrations.push(e.message); break; }
      streamsDoneAtFirstMove ??= streamsDone;
    }
  })();
  const results = await Promise.all(streams);
  await migrating;
  // cfg.migrateChecks: what migrate() says to a bad argument (thrown) and to an address of the
  // other family (a refused move; the connection stays where it is), after the moves.
  let migrateChecks = null;
  if (cfg.migrateChecks) {
    const thrown = (f) => { try { f(); return null; } catch (e) { return e.code || String(e); } };
    migrateChecks = {
      notAnAddress: thrown(() => conn.migrate({ localAddress: 'not-an-address' })),
      notAString: thrown(() => conn.migrate({ localAddress: 7 })),
      notAnObject: thrown(() => conn.migrate('127.0.0.2')),
      otherFamily: await conn.migrate({ localAddress: '::1' }).then((v) => ({ moved: v }), (e) => ({ code: e.code, message: e.message })),
    };
  }
  // After the moves: more streams on the path the connection now uses.
  const after = cfg.migrate ? await Promise.all(Array.from({ length: 5 }, (_, k) => echoStream(conn, 1000 + k, 10000).catch((e) => e.code || String(e)))) : [];
  let datagrams = 0;
  if (cfg.datagrams) {
    const reader = conn.datagrams.readable.getReader();
    const w = conn.datagrams.writable.getWriter();
    for (let i = 0; i < cfg.datagrams; i++) await w.write(new Uint8Array(64).fill(i & 0xff));
    const until = Date.now() + 3000;
    while (datagrams < cfg.datagrams) {
      const r = await Promise.race([reader.read(), new Promise((res) => setTimeout(() => res(null), Math.max(0, until - Date.now())))]);
      if (!r || r.done) break;
      if (r.value.length === 64) datagrams++;
    }
    reader.releaseLock();
  }
  // Wait (bounded) for the ticket the server sends after the handshake.
  for (let i = 0; i < 50 && !conn.session && cfg.wantSession; i++) await new Promise((r) => setTimeout(r, 100));
  conn.close({ closeCode: 0, reason: 'done' });
  const closed = await conn.closed.then((c) => c, (e) => ({ error: e.code }));
  return {
    event: 'done', alpn: conn.alpn, cipherSuite: conn.cipherSuite, earlyDataAtResolve: atResolve, earlyData: conn.earlyData, readyError: readyErr,
    resolvedMs, streamsOk: results.filter((r) => r === true).length, streamsFailed: results.filter((r) => r !== true).length, streamErrors: [...new Set(results.filter((r) => r !== true))],
    datagrams, session: !!conn.session, sessionAlpn: conn.session && conn.session.alpn, closed,
    remote: [conn.remoteAddress, conn.remotePort], sessionObj: conn.session,
    migrations, migrateError, migrateChecks, streamsDoneAtFirstMove, afterMigrationOk: after.filter((r) => r === true).length,
  };
}


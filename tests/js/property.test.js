// Property-based tests (fast-check) for the codecs we own: RFC 6455 frames,
// Engine.IO / Socket.IO packets (binary attachments included), the Engine.IO
// polling payload, the wasm bridge's sockaddr codec and errno mapping, and
// the API's DOMException -> code mapping. Two kinds of property: encode /
// decode round trips, and "arbitrary input never throws anything but a coded
// error". Runs are bounded (numRuns below; ~2-4 s in total on the 2-core CI
// machine) and the seed is printed by fast-check on failure for replay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import vm from 'node:vm';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { OPCODE, encodeFrame, FrameParser, WsProtocolError } from '../../api/ws_frame.js';
import { EIO, SIO, ProtocolError, decodeEngine, encodeSocket, SocketDecoder } from '../../api/socketio_codec.js';
import { encodePayload, decodePayload } from '../../api/polling_client.js';
import { fromDirectSocketsError, SocketIWAError } from '../../api/errors.js';
import { DS_CODES } from '../../api/codes.js';
import { parseExtensions } from '../../api/ws_deflate.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const RUNS = { numRuns: 300 };

/** Split `bytes` at the given cut points (any order, any count). */
function chunks(bytes, cuts) {
  const pts = [...new Set(cuts.map((c) => c % (bytes.byteLength + 1)))].sort((a, b) => a - b);
  const out = []; let prev = 0;
  for (const p of [...pts, bytes.byteLength]) { if (p > prev) out.push(bytes.subarray(prev, p)); prev = Math.max(prev, p); }
  return out;
}
const concatBytes = (arr) => { const n = arr.reduce((a, b) => a + b.byteLength, 0); const o = new Uint8Array(n); let i = 0; for (const b of arr) { o.set(b, i); i += b.byteLength; } return o; };

// ---------------------------------------------------------------------------
// RFC 6455 frames
// ---------------------------------------------------------------------------

const payloadArb = fc.oneof(
  { weight: 6, arbitrary: fc.uint8Array({ maxLength: 300 }) },
  { weight: 1, arbitrary: fc.integer({ min: 65530, max: 66000 }).map((n) => new Uint8Array(n).map((_, i) => i * 31)) },
);
const frameArb = fc.oneof(
  fc.record({ opcode: fc.constantFrom(OPCODE.TEXT, OPCODE.BINARY, OPCODE.CONTINUATION), payload: payloadArb, fin: fc.boolean(), rsv1: fc.boolean() }),
  fc.record({ opcode: fc.constantFrom(OPCODE.CLOSE, OPCODE.PING, OPCODE.PONG), payload: fc.uint8Array({ maxLength: 125 }), fin: fc.constant(true), rsv1: fc.constant(false) }),
).map((f) => ({ ...f, rsv1: f.rsv1 && f.opcode !== OPCODE.CONTINUATION && f.opcode < 8 }));

test('RFC 6455: any frame sequence, masked or not, split anywhere, parses back to the same frames', () => {
  fc.assert(fc.property(fc.array(frameArb, { minLength: 1, maxLength: 6 }), fc.boolean(), fc.array(fc.nat(), { maxLength: 8 }), (frames, mask, cuts) => {
    const wire = concatBytes(frames.map((f) => encodeFrame(f.opcode, f.payload, { fin: f.fin, mask, rsv1: f.rsv1 })));
    const got = [];
    const p = new FrameParser({ expectMasked: mask, maxPayload: 1 << 20, allowRsv1: true, onFrame: (f) => got.push(f) });
    for (const c of chunks(wire, cuts)) p.push(c);
    assert.equal(got.length, frames.length);
    got.forEach((g, i) => {
      assert.equal(g.opcode, frames[i].opcode); assert.equal(g.fin, frames[i].fin); assert.equal(g.rsv1, frames[i].rsv1);
      assert.deepEqual(g.payload, frames[i].payload);
    });
  }), RUNS);
});

test('RFC 6455: arbitrary bytes never make the parser throw anything but WsProtocolError with a close code', () => {
  const valid = fc.array(frameArb, { maxLength: 3 }).map((fs_) => concatBytes(fs_.map((f) => encodeFrame(f.opcode, f.payload, { fin: f.fin, mask: true, rsv1: f.rsv1 }))));
  const mutated = fc.tuple(valid, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }))
    .map(([b, flips]) => { const c = b.slice(); for (const [i, v] of flips) if (c.length) c[i % c.length] = v; return c; });
  fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 400 }), mutated), fc.boolean(), fc.boolean(), fc.array(fc.nat(), { maxLength: 5 }), (bytes, expectMasked, allowRsv1, cuts) => {
    const p = new FrameParser({ expectMasked, maxPayload: 1000, allowRsv1, onFrame: () => {} });
    try {
      for (const c of chunks(bytes, cuts)) p.push(c);
    } catch (err) {
      assert.ok(err instanceof WsProtocolError, `unexpected ${err && err.name}: ${err && err.message}`);
      assert.ok([1002, 1007, 1009].includes(err.closeCode));
      assert.match(err.code, /^ERR_WS_/);
    }
  }), { numRuns: 1000 });
});

// ---------------------------------------------------------------------------
// Engine.IO / Socket.IO packets
// ---------------------------------------------------------------------------

// JSON values as they survive JSON (no -0, no undefined), optionally holding binary.
const jsonArb = fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.parse(JSON.stringify(v)));
const withBinary = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true },
    jsonArb,
    fc.uint8Array({ maxLength: 64 }),
    fc.array(tie('node'), { maxLength: 4 }),
    // '__proto__' as a key: JSON.parse makes it an own property and it must stay one (not become the prototype).
    fc.dictionary(fc.oneof(fc.string({ maxLength: 8 }), fc.constant('__proto__')).filter((k) => k !== '_placeholder'), tie('node'), { maxKeys: 4 })
      .map((o) => JSON.parse(JSON.stringify(Object.keys(o))).reduce((acc, k) => Object.defineProperty(acc, k, { value: o[k], enumerable: true, writable: true, configurable: true }), {}))),
})).node;
const nspArb = fc.oneof(fc.constant('/'), fc.stringMatching(/^\/[a-z0-9_-]{1,10}$/));
const packetArb = fc.oneof(
  fc.record({ type: fc.constant(SIO.EVENT), nsp: nspArb, event: fc.string({ maxLength: 12 }), args: fc.array(withBinary, { maxLength: 4 }), id: fc.option(fc.nat(1e9), { nil: undefined }) })
    .map(({ event, args, ...p }) => ({ ...p, data: [event, ...args] })),
  fc.record({ type: fc.constant(SIO.ACK), nsp: nspArb, data: fc.array(withBinary, { maxLength: 4 }), id: fc.nat(1e9) }),
  fc.record({ type: fc.constant(SIO.CONNECT), nsp: nspArb, data: fc.option(fc.dictionary(fc.string({ maxLength: 8 }), jsonArb, { maxKeys: 4 }), { nil: undefined }) }),
  fc.record({ type: fc.constant(SIO.DISCONNECT), nsp: nspArb }),
  fc.record({ type: fc.constant(SIO.CONNECT_ERROR), nsp: nspArb, data: fc.record({ message: fc.string({ maxLength: 20 }) }) }),
);

/** Binary as plain byte arrays so deepEqual compares content, not the view type. */
function norm(v) {
  if (v instanceof Uint8Array || v instanceof ArrayBuffer) return { bytes: [...new Uint8Array(v)] };
  if (Array.isArray(v)) return v.map(norm);
  if (v && typeof v === 'object') { const o = {}; for (const k of Object.keys(v)) Object.defineProperty(o, k, { value: norm(v[k]), enumerable: true, configurable: true, writable: true }); return o; }
  return v;
}

test('Socket.IO: any packet (binary attachments anywhere) encodes and decodes back to itself', () => {
  fc.assert(fc.property(packetArb, (packet) => {
    const parts = encodeSocket(packet);
    const got = [];
    const d = new SocketDecoder((p) => got.push(p), { maxAttachments: 1000 });
    // Over the wire: Engine.IO MESSAGE for the text part, raw binary for attachments.
    const engine = decodeEngine(EIO.MESSAGE + parts[0]);
    assert.equal(engine.type, EIO.MESSAGE);
    d.add(engine.data);
    for (const b of parts.slice(1)) d.add(b);
    assert.equal(got.length, 1);
    const p = got[0];
    const wantType = packet.type === SIO.EVENT && parts.length > 1 ? SIO.BINARY_EVENT : packet.type === SIO.ACK && parts.length > 1 ? SIO.BINARY_ACK : packet.type;
    assert.equal(p.type, wantType);
    assert.equal(p.nsp, packet.nsp);
    assert.equal(p.id, packet.id);
    assert.deepEqual(norm(p.data), norm(packet.data));
  }), RUNS);
});

test('Socket.IO / Engine.IO: arbitrary payloads never throw anything but ProtocolError (ERR_SOCKETIO_PARSE)', () => {
  const texty = fc.oneof(
    fc.string({ maxLength: 60 }),
    fc.tuple(fc.constantFrom('0', '1', '2', '3', '4', '5', '6', '51-', '52-/a,', '6'), fc.string({ maxLength: 40 })).map(([a, b]) => a + b),
    packetArb.map((p) => encodeSocket(p)[0]).chain((s) => fc.nat(s.length).map((i) => s.slice(0, i))),
  );
  const item = fc.oneof({ weight: 4, arbitrary: texty }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 8 }) });
  fc.assert(fc.property(fc.array(item, { maxLength: 6 }), (items) => {
    const d = new SocketDecoder(() => {}, { maxAttachments: 4 });
    for (const it of items) {
      try {
        if (typeof it === 'string') decodeEngine(it);
        d.add(it);
      } catch (err) {
        assert.ok(err instanceof ProtocolError, `unexpected ${err && err.name}: ${err && err.message}`);
        assert.equal(err.code, 'ERR_SOCKETIO_PARSE');
        d.reset();
      }
    }
  }), { numRuns: 1000 });
});

test('Engine.IO polling payload: packets (text and binary) round-trip; arbitrary bodies throw only coded errors', () => {
  const pkt = fc.oneof(fc.stringMatching(/^[0-6][^\x1e]{0,30}$/), fc.uint8Array({ maxLength: 40 }));
  fc.assert(fc.property(fc.array(pkt, { minLength: 1, maxLength: 6 }), (packets) => {
    const back = decodePayload(encodePayload(packets));
    assert.deepEqual(norm(back), norm(packets));
  }), RUNS);
  fc.assert(fc.property(fc.string({ maxLength: 80 }), (body) => {
    try { decodePayload(body); } catch (err) { assert.ok(err instanceof SocketIWAError && err.code === 'ERR_SOCKETIO_PARSE', String(err)); }
  }), RUNS);
});

test('Sec-WebSocket-Extensions parser: arbitrary header values give a list or ERR_WS_HANDSHAKE', () => {
  fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 60 }), fc.array(fc.constantFrom('permessage-deflate', ';', ',', '=', '"', ' ', 'x', '15', 'client_max_window_bits')).map((a) => a.join(''))), (v) => {
    try { const r = parseExtensions(v); assert.ok(Array.isArray(r)); } catch (err) { assert.equal(err.code, 'ERR_WS_HANDSHAKE'); }
  }), { numRuns: 500 });
});

// ---------------------------------------------------------------------------
// The wasm bridge's sockaddr codec and errno table (emscripten/src/lib/
// libdirectsockets.js), loaded as Emscripten would: the library object with
// cDefine() replaced. Each constant gets a distinct stand-in number, so the
// properties check the mapping by name, independent of Emscripten's values.
// ---------------------------------------------------------------------------

function loadBridgeLibrary() {
  const names = new Map();
  const value = (name) => { if (!names.has(name)) names.set(name, 1000 + names.size); return names.get(name); };
  const known = { AF_UNSPEC: 0, AF_INET: 2, AF_INET6: 10 };
  const lib = {};
  const ctx = vm.createContext({ LibraryManager: { library: {} }, mergeInto: (_, o) => Object.assign(lib, o), console });
  // libds_addr.js holds DS_CONST and DS_ADDR, libdirectsockets.js DS_ERRNO.
  for (const file of ['libds_addr.js', 'libdirectsockets.js']) {
    const src = fs.readFileSync(path.join(here, '..', '..', 'emscripten', 'src', 'lib', file), 'utf8');
    const text = src
      .replace(/\{\{\{\s*cDefine\('([A-Z0-9_]+)'\)\s*\}\}\}/g, (_, n) => String(known[n] ?? value(n)))
      .replace(/\{\{\{\s*C_STRUCTS\.[\w.]+\s*\}\}\}/g, () => '0');
    vm.runInContext(text, ctx, { filename: file });
  }
  const heap = new ArrayBuffer(4096);
  Object.assign(ctx, {
    // The bridge's $DS_CODES is api/codes.js's object (build_support.rs drops only `export`).
    DS_CONST: lib.$DS_CONST, DS_ADDR: lib.$DS_ADDR, DS_ERRNO: lib.$DS_ERRNO, DS_CODES,
    HEAPU8: new Uint8Array(heap), HEAPU16: new Uint16Array(heap), HEAP32: new Int32Array(heap), HEAPU32: new Uint32Array(heap),
  });
  return ctx;
}

test('sockaddr codec: IPv4/IPv6 text <-> bytes round trips, RFC 5952 text, sockaddr write/read round trips; arbitrary text never throws', () => {
  const b = loadBridgeLibrary();
  const A = b.DS_ADDR, C = b.DS_CONST;
  fc.assert(fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
    const text = A.formatV6(bytes, 0);
    assert.ok(net.isIPv6(text), text);
    assert.deepEqual([...A.parseV6(text)], [...bytes]);
    const mapped = bytes.subarray(0, 12).every((x, i) => x === (i >= 10 ? 0xff : 0));
    if (!mapped) assert.equal(text, new URL(`http://[${text}]/`).hostname.slice(1, -1), 'RFC 5952 form (as WHATWG URL serializes)');
  }), RUNS);
  // Sparse addresses exercise the zero-run compression.
  fc.assert(fc.property(fc.array(fc.constantFrom(0, 0, 0, 1, 0xffff, 0xab), { minLength: 8, maxLength: 8 }), (words) => {
    const bytes = new Uint8Array(16); words.forEach((w, i) => { bytes[2 * i] = w >> 8; bytes[2 * i + 1] = w & 0xff; });
    const text = A.formatV6(bytes, 0);
    assert.deepEqual([...A.parseV6(text)], [...bytes]);
    assert.ok(net.isIPv6(text));
  }), RUNS);
  fc.assert(fc.property(fc.ipV4(), (ip) => {
    const v = A.parseV4(ip); assert.equal(A.formatV4(v, 0), ip);
    assert.deepEqual([...v], ip.split('.').map(Number));
  }), RUNS);
  fc.assert(fc.property(fc.ipV6(), (ip) => {
    const v = A.parseV6(ip); assert.ok(v, ip);
    const again = A.formatV6(Uint8Array.from(v), 0);
    assert.deepEqual([...A.parseV6(again)], [...v]);
    assert.ok(net.isIPv6(again));
  }), RUNS);
  fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 50 }), fc.array(fc.constantFrom(':', '::', '.', '1', 'ff', '255', '256', '%', '[', ']', 'g')).map((a) => a.join(''))), (s) => {
    const v4 = A.parseV4(s); const v6 = A.parseV6(s);
    if (v4) assert.ok(net.isIPv4(s) && v4.length === 4);
    if (v6) assert.equal(v6.length, 16);
  }), { numRuns: 1000 });
  fc.assert(fc.property(fc.oneof(fc.ipV4().map((a) => [C.AF_INET, a]), fc.ipV6().map((a) => [C.AF_INET6, a])), fc.integer({ min: 0, max: 65535 }), ([family, addr], port) => {
    b.HEAPU8.fill(0);
    const lenPtr = 2048; b.HEAP32[lenPtr >> 2] = 64;
    assert.equal(A.write(64, lenPtr, family, addr, port), 0);
    const r = A.read(64, b.HEAP32[lenPtr >> 2]);
    assert.equal(r.family, family); assert.equal(r.port, port);
    if (family === C.AF_INET) assert.equal(r.addr, addr);
    else assert.deepEqual([...A.parseV6(r.addr)], [...A.parseV6(addr)]);
  }), RUNS);
});

test('errno mapping (bridge DS_ERRNO.from and API fromDirectSocketsError): any error maps to a known errno / a coded error, never throws', () => {
  const b = loadBridgeLibrary();
  const E = b.DS_CONST.E;
  const errnos = new Set(Object.values(E));
  // Names and codes include Object.prototype's members ('constructor',
  // 'toString', '__proto__', ...): the tables must not find those.
  const protoKeys = Object.getOwnPropertyNames(Object.prototype);
  const codeArb = fc.oneof(fc.constantFrom(...Object.keys(DS_CODES.byNodeCode), 'ENOTFOUND'), fc.constantFrom(...protoKeys), fc.string({ maxLength: 12 }));
  const nameArb = fc.oneof(fc.constantFrom('NetworkError', 'NotAllowedError', 'InvalidStateError', 'TypeError', 'AbortError', 'TimeoutError', 'NotSupportedError', 'InvalidAccessError', 'SecurityError'), fc.constantFrom(...protoKeys), fc.string({ maxLength: 12 }));
  const msgArb = fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom(...DS_CODES.byNetError.map(([re]) => `net::${re.split('|')[0]}`)), fc.constant('Access to local network is blocked.'), fc.constant('net::ERR_NAME_NOT_RESOLVED'));
  const errArb = fc.oneof(
    fc.record({ name: nameArb, message: msgArb, code: fc.option(codeArb, { nil: undefined }) }, { requiredKeys: [] }).map((o) => Object.assign(new Error(o.message ?? ''), o)),
    fc.record({ name: nameArb, message: msgArb }).map((o) => { try { return new DOMException(o.message, o.name); } catch { return new Error(o.message); } }),
    fc.record({ message: msgArb, cause: fc.record({ code: codeArb }) }).map((o) => Object.assign(new DOMException(o.message, 'NetworkError'), { cause: o.cause })),
    fc.anything(),
  );
  const fallbackArb = fc.option(fc.constantFrom('ECONNREFUSED', 'EADDRINUSE', 'ENETUNREACH', 'ECONNRESET', 'EIO'), { nil: undefined });
  fc.assert(fc.property(errArb, fallbackArb, (err, fallback) => {
    const n = b.DS_ERRNO.from(err, fallback);
    assert.ok(errnos.has(n) || typeof err === 'number', `errno ${n} for ${String(err && err.message)}`);
    if (err && typeof err === 'object' && typeof err.code === 'string' && Object.hasOwn(DS_CODES.byNodeCode, err.code) && !err.dsErrno) {
      assert.equal(n, E[DS_CODES.byNodeCode[err.code]], `code ${err.code}`);
    }
    let mapped;
    try { mapped = fromDirectSocketsError(err, 'op', fallback || 'ECONNRESET'); } catch (e) { assert.fail(`fromDirectSocketsError threw ${e}`); }
    assert.ok(mapped instanceof Error);
    assert.equal(typeof mapped.code, 'string');
    assert.match(mapped.code, /^(E[A-Z]+|ERR_[A-Z_]+)$/);
  }), { numRuns: 1000 });
  assert.equal(b.DS_ERRNO.from(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })), E.ECONNREFUSED);
  assert.equal(b.DS_ERRNO.from(new DOMException('net::ERR_ADDRESS_IN_USE', 'NetworkError'), 'ECONNREFUSED'), E.EADDRINUSE);
  assert.equal(b.DS_ERRNO.from(new DOMException('x', 'NetworkError'), 'ENETUNREACH'), E.ENETUNREACH);
  // Object.prototype's members are no table rows (they once mapped to a function / undefined).
  for (const key of protoKeys) {
    const byCode = Object.assign(new Error('x'), { code: key });
    assert.equal(b.DS_ERRNO.from(byCode, 'ECONNRESET'), E.ECONNRESET, `code ${key}`);
    assert.equal(b.DS_ERRNO.from(Object.assign(new DOMException('x', 'NetworkError'), { cause: { code: key } }), 'EIO'), E.EIO, `cause.code ${key}`);
    const named = Object.assign(new Error('x'), { name: key });
    assert.equal(b.DS_ERRNO.from(named, 'ETIMEDOUT'), E.ETIMEDOUT, `name ${key}`);
    assert.equal(DS_CODES.errnoName(byCode), 'EIO', `errnoName(code ${key})`);
    assert.equal(DS_CODES.apiCode(key), null, `apiCode(${key})`);
    assert.equal(DS_CODES.domName(key), 'NetworkError', `domName(${key})`);
    const api = fromDirectSocketsError(Object.assign(new Error('x'), { name: key }), 'op');
    assert.equal(api.code, 'ENETWORK', `API code for name ${key}`);
  }
  // A name that does not resolve: one test (DS_CODES.nameNotResolved) for the bridge and the API.
  const nodeNotFound = Object.assign(new DOMException('Name resolution failed for x.invalid: getaddrinfo ENOTFOUND x.invalid', 'NetworkError'), { cause: { code: 'ENOTFOUND' } });
  const chromiumNotFound = new DOMException('Failed to open: net::ERR_NAME_NOT_RESOLVED', 'NetworkError');
  for (const e of [nodeNotFound, chromiumNotFound]) {
    assert.equal(b.DS_ERRNO.from(e, 'ECONNREFUSED'), E[DS_CODES.notFound.errno]);
    assert.equal(b.DS_ERRNO.code(e, E.EHOSTUNREACH), 'ENOTFOUND');
    assert.equal(fromDirectSocketsError(e, 'connect', 'ECONNREFUSED').code, 'ENOTFOUND');
  }
  assert.equal(b.DS_ERRNO.code(new DOMException('x', 'NetworkError'), E.ECONNREFUSED), 'ECONNREFUSED');
});

// The byte queues of api/quic_streams.js that WebTransport / QUIC streams and HTTP/3
// response bodies share: pullBody hands the server loop one record from as many queued
// chunks as fit (one pull per up to 64 KiB instead of one per written chunk), stops at
// an entry that is not bytes (a FIN, an end of response), keeps within `max` and the
// view, and wakes a write waiting at OUT_HIGH_WATER once the queue falls under it.
import test from 'node:test';
import assert from 'node:assert/strict';
import { OUT_HIGH_WATER, ST_DATA, pullBody } from '../../api/quic_streams.js';

const bytes = (s) => new TextEncoder().encode(s);
const text = (v, n) => new TextDecoder().decode(v.subarray(1, n));
const queue = (...entries) => ({ out: entries, outBytes: entries.reduce((n, e) => n + (e.bytes ? e.bytes.length - e.off : 0), 0), drained: null });

test('pullBody: one record from consecutive chunks, up to an entry without bytes', () => {
  const q = queue({ bytes: bytes('abc'), off: 0 }, { bytes: bytes('defg'), off: 0 }, { fin: true }, { bytes: bytes('h'), off: 0 });
  const view = new Uint8Array(64);
  const n = pullBody(q, view, ST_DATA, 1000);
  assert.equal(view[0], ST_DATA);
  assert.equal(text(view, n), 'abcdefg');
  assert.deepEqual(q.out[0], { fin: true }, 'the FIN is left for the caller');
  assert.equal(q.outBytes, 1);
  // Nothing before the FIN: no record.
  assert.equal(pullBody(q, view, ST_DATA, 1000), 0);
});

test('pullBody: at most `max` body bytes and what the view holds, the rest where it was', () => {
  const q = queue({ bytes: bytes('abc'), off: 0 }, { bytes: bytes('defg'), off: 0 });
  const view = new Uint8Array(64);
  let n = pullBody(q, view, ST_DATA, 5);
  assert.equal(text(view, n), 'abcde');
  assert.equal(q.out.length, 1);
  assert.equal(q.out[0].off, 2);
  const small = new Uint8Array(2);           // one kind byte + one body byte
  n = pullBody(q, small, ST_DATA, 1000);
  assert.equal(text(small, n), 'f');
  n = pullBody(q, view, ST_DATA, 1000);
  assert.equal(text(view, n), 'g');
  assert.equal(q.out.length, 0);
  assert.equal(q.outBytes, 0);
  assert.equal(pullBody(q, view, ST_DATA, 0), 0);
});

test('pullBody: a write waiting at OUT_HIGH_WATER is woken once the queue falls under it', async () => {
  const big = new Uint8Array(OUT_HIGH_WATER);
  const q = queue({ bytes: big, off: 0 }, { bytes: bytes('x'), off: 0 });
  let woken = false;
  q.drained = () => { woken = true; };
  const view = new Uint8Array(64 * 1024 + 1);
  pullBody(q, view, ST_DATA, 1);
  await Promise.resolve();
  assert.equal(woken, false, 'still at the mark');
  pullBody(q, view, ST_DATA, 64 * 1024);
  await new Promise((r) => queueMicrotask(r));
  assert.equal(woken, true);
  assert.equal(q.drained, null);
});

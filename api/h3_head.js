/**
 * The request head record src/app/js_handler.rs `encode_request` hands to
 * JavaScript (docs/JS_SERVERS.md "Wire formats"), shared by the HTTP/3 request
 * path (api/h3_server.js) and WebTransport sessions (api/wt_session.js).
 */

const utf8 = new TextDecoder();

/** Bytes as a ByteString (one code unit per byte; TextDecoder('latin1') is windows-1252). */
export function byteString(b) {
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode.apply(null, b.subarray(i, i + 8192));
  return s;
}

/** u16 peer length, peer (`addr:port`, UTF-8), then fields (u16 name length, name, u32 value length, value) as ByteStrings. */
export function decodeHead(b) {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const pl = dv.getUint16(0, true);
  const peer = utf8.decode(b.subarray(2, 2 + pl));
  const fields = [];
  let o = 2 + pl;
  while (o + 2 <= b.length) {
    const nl = dv.getUint16(o, true);
    const name = byteString(b.subarray(o + 2, o + 2 + nl));
    o += 2 + nl;
    const vl = dv.getUint32(o, true);
    const value = byteString(b.subarray(o + 4, o + 4 + vl));
    o += 4 + vl;
    fields.push([name, value]);
  }
  return { peer, fields };
}

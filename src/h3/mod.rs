//! HTTP/3 over nghttp3 (RFC 9114), Extended CONNECT (RFC 9220), HTTP datagrams
//! (RFC 9297) and WebTransport over HTTP/3 (draft-ietf-webtrans-http3).
//!
//! - [`conn`]: the safe wrapper of `nghttp3_conn` fed by QUIC connection events.
//! - [`session`]: the one HTTP/3 session layer both roles use: stream classification,
//!   the WebTransport registry, capsules, datagram routing, the 431 guard.
//! - [`handler`]: the server application trait ([`handler::Handler`]) with its context.
//! - [`wt`]: WebTransport wire formats, the session handler trait and the echo handler.
//! - [`error`]: [`H3Error`] and friends, each carrying its RFC 9114 code.
//! - [`ws`]: RFC 6455 framing for WebSocket over HTTP/3.
//! - [`varint`]: QUIC variable-length integers.

pub mod conn;
pub mod error;
pub mod handler;
pub mod session;
pub mod varint;
pub mod ws;
pub mod wt;

pub use conn::{H3Config, H3Conn, H3Event};
pub use error::{CapsuleError, H3Code, H3Error};
pub use session::{Role, Session, SessionEvent, WtCloseCause};

pub const ALPN: &str = "h3";

pub const FRAME_DATA: u64 = 0x00;
pub const FRAME_HEADERS: u64 = 0x01;
pub const FRAME_SETTINGS: u64 = 0x04;
/// draft-ietf-webtrans-http3: SETTINGS_ENABLE_WEBTRANSPORT (what Chromium and aioquic check).
pub const SETTINGS_ENABLE_WEBTRANSPORT: u64 = 0x2b60_3742;
/// draft-ietf-webtrans-http3-07+: SETTINGS_WEBTRANSPORT_MAX_SESSIONS.
pub const SETTINGS_WEBTRANSPORT_MAX_SESSIONS: u64 = 0xc671_706a;
/// Unidirectional stream type of a WebTransport stream.
pub const STREAM_TYPE_WEBTRANSPORT: u64 = 0x54;
/// Signal value opening a WebTransport bidirectional stream.
pub const FRAME_WEBTRANSPORT_STREAM: u64 = 0x41;
/// Capsule closing a WebTransport session (code u32 + reason).
pub const CAPSULE_CLOSE_WEBTRANSPORT_SESSION: u64 = 0x2843;
/// WT_SESSION_GONE: streams of a closed session are reset with it.
pub const WT_SESSION_GONE: u64 = 0x170d_7b68;
/// WT_BUFFERED_STREAM_REJECTED: a stream for a session we do not have.
pub const WT_BUFFERED_STREAM_REJECTED: u64 = 0x3994_bd84;
pub const H3_NO_ERROR: u64 = 0x100;
pub const H3_REQUEST_CANCELLED: u64 = 0x10c;
pub const H3_MESSAGE_ERROR: u64 = 0x10e;

/// QPACK prefixed integer (RFC 9204 section 4.1.1 / RFC 7541 section 5.1): `flags` fill
/// the bits above the `prefix`-bit field of the first byte.
fn qpack_int(flags: u8, prefix: u32, v: u64, out: &mut Vec<u8>) {
    let max = (1u64 << prefix) - 1;
    if v < max {
        out.push(flags | v as u8);
        return;
    }
    out.push(flags | max as u8);
    let mut rest = v - max;
    while rest >= 128 {
        out.push((rest as u8 & 0x7f) | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// Decodes a QPACK prefixed integer at the start of `b` (`prefix` low bits of the
/// first byte): `(value, length)`, or `None` if truncated or absurdly large.
fn qpack_int_decode(b: &[u8], prefix: u32) -> Option<(u64, usize)> {
    let max = (1u64 << prefix) - 1;
    let mut v = (*b.first()? as u64) & max;
    if v < max {
        return Some((v, 1));
    }
    let mut shift = 0;
    for (i, &x) in b.iter().enumerate().skip(1) {
        if shift > 56 {
            return None;
        }
        v += ((x & 0x7f) as u64) << shift;
        shift += 7;
        if x & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// nghttp3's hard QPACK limits (nghttp3_qpack.h): a literal name or value longer than
/// these, or a Huffman-coded one whose estimated decoded length (encoded * 8 / 5) is,
/// fails the whole connection with QPACK_HEADER_TOO_LARGE.
const NGHTTP3_MAX_NAMELEN: u64 = 256;
const NGHTTP3_MAX_VALUELEN: u64 = 65536;

/// Scans an encoded field section (a HEADERS frame payload) without decoding it and
/// tells whether a literal in it is longer than nghttp3 accepts. `None`: malformed
/// (left to nghttp3 to report).
pub fn field_section_has_oversized_literal(p: &[u8]) -> Option<bool> {
    let too_long = |len: u64, huffman: bool, max: u64| if huffman { len.saturating_mul(8) / 5 > max } else { len > max };
    // A string literal: H flag and length with a `prefix`-bit prefix, then the bytes.
    let string = |b: &[u8], prefix: u32| -> Option<(bool, u64, usize)> {
        let h = b.first()? & (1 << prefix) != 0;
        let (len, n) = qpack_int_decode(b, prefix)?;
        let end = (n as u64).checked_add(len)?;
        (end <= b.len() as u64).then_some((h, len, end as usize))
    };
    let (_, a) = qpack_int_decode(p, 8)?; // Required Insert Count
    let (_, b) = qpack_int_decode(p.get(a..)?, 7)?; // Delta Base
    let mut i = a + b;
    while i < p.len() {
        let f = p[i];
        let rest = &p[i..];
        if f & 0x80 != 0 {
            i += qpack_int_decode(rest, 6)?.1; // indexed field line
        } else if f & 0x40 != 0 {
            let n = qpack_int_decode(rest, 4)?.1; // literal, name reference
            let (h, len, m) = string(&rest[n..], 7)?;
            if too_long(len, h, NGHTTP3_MAX_VALUELEN) {
                return Some(true);
            }
            i += n + m;
        } else if f & 0x20 != 0 {
            // Literal with a literal name: H at 0x08, 3-bit prefix length.
            let (h, len, n) = string(rest, 3)?;
            if too_long(len, h, NGHTTP3_MAX_NAMELEN) {
                return Some(true);
            }
            let (h, len, m) = string(&rest[n..], 7)?;
            if too_long(len, h, NGHTTP3_MAX_VALUELEN) {
                return Some(true);
            }
            i += n + m;
        } else if f & 0x10 != 0 {
            i += qpack_int_decode(rest, 4)?.1; // indexed, post-base
        } else {
            let n = qpack_int_decode(rest, 3)?.1; // literal, post-base name reference
            let (h, len, m) = string(&rest[n..], 7)?;
            if too_long(len, h, NGHTTP3_MAX_VALUELEN) {
                return Some(true);
            }
            i += n + m;
        }
    }
    Some(false)
}

/// A complete response (HEADERS then DATA frames) encoded without nghttp3, for a
/// request stream nghttp3 never saw. QPACK uses the static table only (Required
/// Insert Count 0), so no encoder or decoder state is touched.
pub fn static_response(status: &[u8], body: &[u8]) -> Vec<u8> {
    let mut fields = vec![0x00, 0x00]; // Required Insert Count 0, Base 0
    let literal = |index: u64, value: &[u8], out: &mut Vec<u8>| {
        // Literal field line with a static name reference: 01 N=0 T=1, 4-bit index.
        qpack_int(0x50, 4, index, out);
        qpack_int(0x00, 7, value.len() as u64, out); // H=0: not Huffman-coded
        out.extend_from_slice(value);
    };
    literal(24, status, &mut fields); // :status
    literal(44, b"text/plain", &mut fields); // content-type
    literal(4, body.len().to_string().as_bytes(), &mut fields); // content-length
    let mut out = Vec::with_capacity(fields.len() + body.len() + 16);
    varint::encode(FRAME_HEADERS, &mut out);
    varint::encode(fields.len() as u64, &mut out);
    out.extend_from_slice(&fields);
    if !body.is_empty() {
        varint::encode(FRAME_DATA, &mut out);
        varint::encode(body.len() as u64, &mut out);
        out.extend_from_slice(body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_response_encoding() {
        let r = static_response(b"431", b"x");
        // HEADERS, length, RIC 0, Base 0, :status (index 24 = 15 + 9) "431" ...
        assert_eq!(&r[..10], &[0x01, r[1], 0x00, 0x00, 0x5f, 0x09, 0x03, b'4', b'3', b'1']);
        assert_eq!(&r[r.len() - 3..], &[0x00, 0x01, b'x']);
        let mut v = Vec::new();
        qpack_int(0x00, 7, 200, &mut v);
        assert_eq!(v, [0x7f, 0x49]);
        assert_eq!(qpack_int_decode(&v, 7), Some((200, 2)));
    }

    #[test]
    fn oversized_literals_are_found() {
        let section = |name_len: usize, value_len: usize| {
            let mut p = vec![0x00, 0x00, 0xd1]; // RIC 0, Base 0, :method GET (indexed)
            qpack_int(0x20, 3, name_len as u64, &mut p);
            p.extend(std::iter::repeat_n(b'n', name_len));
            qpack_int(0x00, 7, value_len as u64, &mut p);
            p.extend(std::iter::repeat_n(b'v', value_len));
            p
        };
        assert_eq!(field_section_has_oversized_literal(&section(5, 1000)), Some(false));
        assert_eq!(field_section_has_oversized_literal(&section(256, 10)), Some(false));
        assert_eq!(field_section_has_oversized_literal(&section(257, 10)), Some(true));
        assert_eq!(field_section_has_oversized_literal(&section(5, 65537)), Some(true));
        // Huffman-coded name of 161 bytes: estimated 257 decoded.
        let mut p = vec![0x00, 0x00];
        qpack_int(0x28, 3, 161, &mut p);
        p.extend(std::iter::repeat_n(0xffu8, 161));
        p.push(0x00);
        assert_eq!(field_section_has_oversized_literal(&p), Some(true));
        assert_eq!(field_section_has_oversized_literal(&section(5, 10)[..6]), None);
    }
}

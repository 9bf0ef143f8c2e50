//! WebTransport over HTTP/3 (draft-ietf-webtrans-http3): sessions opened by
//! Extended CONNECT with `:protocol = webtransport`, their streams (uni type
//! 0x54, bidi signal 0x41, each followed by the session ID) and their HTTP
//! datagrams (quarter stream ID + payload). Streams are classified here before
//! nghttp3 sees a byte: only non-WebTransport streams reach it.
//!
//! Applications implement [`WebTransportHandler`]; the server calls it with a
//! [`WtSession`] through which it sends datagrams, opens streams, writes,
//! resets and closes the session.

use super::error::CapsuleError;
use super::session::Session;
use super::varint;
use crate::quic::Connection;
use std::collections::{HashMap, HashSet};

/// Application logic of one WebTransport session.
pub trait WebTransportHandler {
    fn on_open(&mut self, _s: &mut WtSession) {}
    fn on_datagram(&mut self, _s: &mut WtSession, _data: &[u8]) {}
    /// Bytes on a peer-opened or own stream of the session. The bytes are
    /// credited back to the peer once this returns, unless [`credits_data`](Self::credits_data).
    fn on_stream_data(&mut self, _s: &mut WtSession, _stream: i64, _data: &[u8], _fin: bool) {}
    /// True: the handler gives stream credit back itself ([`WtSession::credit`]) as its
    /// application reads, so a session that never reads holds the peer at the flow-control
    /// windows. It must credit every byte it was given, also of streams it is done with.
    fn credits_data(&self) -> bool {
        false
    }
    /// After each batch of events, and when [`timeout`](Self::timeout) is due.
    fn on_tick(&mut self, _s: &mut WtSession) {}
    /// When `on_tick` must run even if nothing arrives (0: now).
    fn timeout(&self) -> Option<u64> {
        None
    }
    /// Bytes the handler holds (counted against the buffer budgets).
    fn buffered(&self) -> u64 {
        0
    }
    /// The peer reset its sending side of `stream` (the WebTransport-mapped HTTP/3 code).
    fn on_stream_reset(&mut self, _s: &mut WtSession, _stream: i64, _code: u64) {}
    /// The peer asked us to stop sending on `stream`.
    fn on_stop_sending(&mut self, _s: &mut WtSession, _stream: i64, _code: u64) {}
    /// The session ended: the peer's CLOSE_WEBTRANSPORT_SESSION (code, reason) or a FIN/reset of the CONNECT stream (0, "").
    fn on_close(&mut self, _s: &mut WtSession, _code: u32, _reason: &str) {}
}

/// One entry of the WebTransport session registry ([`super::session::Session`]).
#[derive(Default)]
pub struct SessionState {
    /// The session's open streams (ours and the peer's).
    pub streams: HashSet<i64>,
    /// Set by a close request: the capsule to send before finishing the CONNECT stream.
    pub close_requested: Option<(u32, String)>,
    pub closed: bool,
    capsules: Vec<u8>,
}

/// The view of a session a handler acts through.
pub struct WtSession<'a> {
    pub id: i64,
    pub conn: &'a mut Connection,
    session: &'a mut Session,
}

impl WtSession<'_> {
    pub fn new<'a>(id: i64, conn: &'a mut Connection, session: &'a mut Session) -> WtSession<'a> {
        WtSession { id, conn, session }
    }

    /// Largest payload [`send_datagram`](Self::send_datagram) accepts.
    pub fn max_datagram_payload(&self) -> usize {
        self.session.max_wt_datagram(self.conn, self.id)
    }

    pub fn send_datagram(&mut self, data: &[u8]) -> crate::error::Result<()> {
        self.session.send_wt_datagram(self.conn, self.id, data)
    }

    /// Opens a unidirectional stream of this session.
    pub fn open_uni(&mut self) -> crate::error::Result<i64> {
        self.session.open_wt_stream(self.conn, self.id, true)
    }

    /// Opens a bidirectional stream of this session.
    pub fn open_bidi(&mut self) -> crate::error::Result<i64> {
        self.session.open_wt_stream(self.conn, self.id, false)
    }

    pub fn send(&mut self, stream: i64, data: &[u8], fin: bool) -> crate::error::Result<()> {
        self.conn.stream_send(stream, data, fin)
    }

    /// Bytes sent on `stream` and not yet acknowledged (for backpressure).
    pub fn unacked(&self, stream: i64) -> u64 {
        self.conn.stream_unacked(stream)
    }

    /// Gives `n` bytes of flow-control credit on `stream` back to the peer
    /// (for handlers whose [`WebTransportHandler::credits_data`] is true).
    pub fn credit(&mut self, stream: i64, n: u64) {
        if n > 0 {
            self.conn.consume(stream, n);
        }
    }

    /// The session is open and no close was requested.
    pub fn is_open(&self) -> bool {
        self.session.wt_is_open(self.id)
    }

    /// Bytes the connection may still buffer within its budget, given what the handler holds.
    pub fn budget_room(&self, handler_buffered: u64) -> u64 {
        let used = self.conn.buffer_exposure() + self.session.buffered() + handler_buffered;
        self.conn.buffer_limit().map_or(u64::MAX, |l| l.saturating_sub(used))
    }

    /// Resets our sending side of `stream`.
    pub fn reset(&mut self, stream: i64, code: u64) {
        self.conn.stream_reset_write(stream, code);
    }

    pub fn stop_sending(&mut self, stream: i64, code: u64) {
        self.conn.stream_stop_sending(stream, code);
    }

    /// Closes the session: CLOSE_WEBTRANSPORT_SESSION(code, reason) then FIN on the CONNECT stream.
    pub fn close(&mut self, code: u32, reason: &str) {
        self.session.close_webtransport(self.id, code, reason);
    }
}

/// A capsule from the CONNECT stream's DATA.
#[derive(Debug, PartialEq)]
pub enum Capsule {
    Close { code: u32, reason: String },
    Other(u64),
}

impl SessionState {
    /// Parses capsules out of CONNECT-stream DATA. Err: malformed (H3_MESSAGE_ERROR).
    pub fn feed_capsules(&mut self, data: &[u8]) -> Result<Vec<Capsule>, CapsuleError> {
        self.capsules.extend_from_slice(data);
        let mut out = Vec::new();
        let mut pos = 0;
        loop {
            let b = &self.capsules[pos..];
            let Some((ty, a)) = varint::decode(b) else { break };
            let Some((len, c)) = varint::decode(&b[a..]) else { break };
            if len > 1 << 20 {
                return Err(CapsuleError::TooLong(len));
            }
            let end = a + c + len as usize;
            if b.len() < end {
                break;
            }
            let v = &b[a + c..end];
            if ty == super::CAPSULE_CLOSE_WEBTRANSPORT_SESSION {
                if v.len() < 4 {
                    return Err(CapsuleError::ShortClose(v.len()));
                }
                let code = u32::from_be_bytes(v[..4].try_into().unwrap());
                out.push(Capsule::Close { code, reason: String::from_utf8_lossy(&v[4..]).into_owned() });
            } else {
                out.push(Capsule::Other(ty));
            }
            pos += end;
        }
        self.capsules.drain(..pos);
        Ok(out)
    }
}

pub fn close_capsule(code: u32, reason: &str) -> Vec<u8> {
    let mut v = code.to_be_bytes().to_vec();
    v.extend_from_slice(&reason.as_bytes()[..reason.len().min(1024)]);
    let mut c = varint::encoded(super::CAPSULE_CLOSE_WEBTRANSPORT_SESSION);
    varint::encode(v.len() as u64, &mut c);
    c.extend_from_slice(&v);
    c
}

/// Splits an HTTP datagram (RFC 9297 section 2.1) into the CONNECT stream ID
/// it belongs to and its payload. `None`: no complete Quarter Stream ID, or
/// one that cannot name a client-initiated bidirectional stream (>= 2^60).
pub fn parse_datagram(d: &[u8]) -> Option<(i64, &[u8])> {
    let (q, n) = varint::decode(d)?;
    if q >= 1 << 60 {
        return None;
    }
    Some(((q * 4) as i64, &d[n..]))
}

/// How the first bytes of a peer-initiated stream classify it.
#[derive(Debug, PartialEq)]
pub enum Kind {
    /// Not enough bytes yet.
    Unknown,
    /// An HTTP/3 stream: hand every byte seen so far to nghttp3.
    Http3,
    /// A WebTransport stream of `session`; the payload starts at `header_len`.
    WebTransport { session: i64, header_len: usize },
}

/// Classifies a client-initiated stream from its first bytes.
pub fn classify(stream_id: i64, first: &[u8]) -> Kind {
    let Some((v, a)) = varint::decode(first) else { return Kind::Unknown };
    let uni = stream_id & 2 != 0;
    let wt = if uni { v == super::STREAM_TYPE_WEBTRANSPORT } else { v == super::FRAME_WEBTRANSPORT_STREAM };
    if !wt {
        return Kind::Http3;
    }
    match varint::decode(&first[a..]) {
        Some((session, b)) => Kind::WebTransport { session: session as i64, header_len: a + b },
        None => Kind::Unknown,
    }
}

/// Echo handler: datagrams back, bidi streams echoed on themselves, each uni
/// stream answered by a server uni stream carrying the same bytes.
#[derive(Default)]
pub struct EchoHandler {
    /// Peer uni stream -> our reply stream.
    replies: HashMap<i64, i64>,
}

impl WebTransportHandler for EchoHandler {
    fn on_datagram(&mut self, s: &mut WtSession, data: &[u8]) {
        if data.len() <= s.max_datagram_payload() {
            let _ = s.send_datagram(data);
        }
    }

    fn on_stream_data(&mut self, s: &mut WtSession, stream: i64, data: &[u8], fin: bool) {
        if stream & 1 != 0 {
            return; // our own streams: nothing comes back on uni, and we open no bidi
        }
        if stream & 2 == 0 {
            let _ = s.send(stream, data, fin);
            return;
        }
        let reply = match self.replies.get(&stream) {
            Some(&r) => r,
            None => match s.open_uni() {
                Ok(r) => {
                    self.replies.insert(stream, r);
                    r
                }
                Err(_) => {
                    s.stop_sending(stream, super::H3_REQUEST_CANCELLED);
                    return;
                }
            },
        };
        let _ = s.send(reply, data, fin);
        if fin {
            self.replies.remove(&stream);
        }
    }

    fn on_stream_reset(&mut self, s: &mut WtSession, stream: i64, code: u64) {
        // Propagate: the echo direction of a bidi stream, or the reply of a uni stream, is reset with the same code.
        if stream & 2 == 0 {
            s.reset(stream, code);
        } else if let Some(r) = self.replies.remove(&stream) {
            s.reset(r, code);
        }
    }

    fn on_stop_sending(&mut self, s: &mut WtSession, stream: i64, code: u64) {
        s.reset(stream, code);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_streams() {
        assert_eq!(classify(0, &[]), Kind::Unknown);
        assert_eq!(classify(0, &[0x01, 0x05]), Kind::Http3); // HEADERS frame
        assert_eq!(classify(0, &[0x40, 0x41]), Kind::Unknown);
        assert_eq!(classify(4, &[0x40, 0x41, 0x00, b'x']), Kind::WebTransport { session: 0, header_len: 3 });
        assert_eq!(classify(2, &[0x40, 0x54, 0x04]), Kind::WebTransport { session: 4, header_len: 3 });
        assert_eq!(classify(2, &[0x00]), Kind::Http3); // control stream
        assert_eq!(classify(2, &[0x40, 0x41, 0x00]), Kind::Http3); // 0x41 means nothing on uni
    }

    #[test]
    fn datagram_prefix() {
        assert_eq!(parse_datagram(&[0x01, b'x']), Some((4, &b"x"[..])));
        assert_eq!(parse_datagram(&[0x40]), None);
        let mut d = varint::encoded((1 << 60) - 1);
        d.push(1);
        assert_eq!(parse_datagram(&d), Some((((1u64 << 62) - 4) as i64, &[1u8][..])));
        // q = 2^60 would name stream 2^62 (and larger q a negative i64): dropped.
        let mut d = varint::encoded(1 << 60);
        d.push(1);
        assert_eq!(parse_datagram(&d), None);
    }

    #[test]
    fn capsules() {
        let mut st = SessionState::default();
        let c = close_capsule(7, "bye");
        assert_eq!(st.feed_capsules(&c[..3]).unwrap(), vec![]);
        assert_eq!(st.feed_capsules(&c[3..]).unwrap(), vec![Capsule::Close { code: 7, reason: "bye".into() }]);
        assert_eq!(st.feed_capsules(&[0x05, 0x00]).unwrap(), vec![Capsule::Other(5)]);
    }
}

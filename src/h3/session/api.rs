//! The session's application-facing calls: responses (server), requests and
//! Extended CONNECT (client), bodies, and WebTransport sessions (accept, streams,
//! datagrams, close) for both roles.

use super::{Session, Stream};
use crate::h3::error::H3Error;
use crate::h3::varint;
use crate::h3::wt::SessionState;
use crate::quic::Connection;

impl Session {
    // ---- requests and responses ----

    /// Server: submits response headers; the body follows with [`push_body`](Self::push_body)/[`end_body`](Self::end_body).
    pub fn respond(&mut self, id: i64, headers: &[(&[u8], &[u8])], has_body: bool) -> Result<(), H3Error> {
        match self.h3.as_mut() {
            Some(h3) => h3.respond(id, headers, has_body),
            None => Ok(()),
        }
    }

    /// Server: a complete `text/plain` response (HTML when a 200 body starts with `<`).
    pub fn respond_static(&mut self, id: i64, status: &[u8], body: &[u8]) {
        let len = body.len().to_string();
        let ct: &[u8] = if status == b"200" && body.first() == Some(&b'<') { b"text/html" } else { b"text/plain" };
        let hdrs: [(&[u8], &[u8]); 4] = [(b":status", status), (b"server", b"socket-iwa"), (b"content-type", ct), (b"content-length", len.as_bytes())];
        if self.respond(id, &hdrs, !body.is_empty()).is_ok() {
            self.push_body(id, body.to_vec());
            self.end_body(id);
        }
    }

    /// Client: opens a request stream and submits `headers` with an optional complete body.
    pub fn request(&mut self, conn: &mut Connection, headers: &[(&[u8], &[u8])], body: Option<Vec<u8>>) -> Result<i64, H3Error> {
        let id = conn.open_bidi().map_err(H3Error::OpenStream)?;
        if let Some(h3) = self.h3.as_mut() {
            h3.request(id, headers, body)?;
        }
        self.streams.insert(id, Stream::Http3);
        Ok(id)
    }

    /// Client: Extended CONNECT (RFC 9220) whose body stays open. For `:protocol = webtransport`
    /// the session is registered at once, so its streams and datagrams are accepted.
    pub fn connect(&mut self, conn: &mut Connection, headers: &[(&[u8], &[u8])]) -> Result<i64, H3Error> {
        let id = conn.open_bidi().map_err(H3Error::OpenStream)?;
        if let Some(h3) = self.h3.as_mut() {
            h3.request_streaming(id, headers)?;
        }
        self.streams.insert(id, Stream::Http3);
        if headers.iter().any(|(k, v)| *k == b":protocol" && *v == b"webtransport") {
            self.wt.insert(id, SessionState::default());
        }
        Ok(id)
    }

    pub fn push_body(&mut self, id: i64, data: Vec<u8>) {
        if let Some(h3) = self.h3.as_mut() {
            h3.push_body(id, data);
        }
    }

    pub fn end_body(&mut self, id: i64) {
        if let Some(h3) = self.h3.as_mut() {
            h3.end_body(id);
        }
    }

    /// Body bytes of `id` queued in this layer, not yet handed to QUIC.
    pub fn body_buffered(&self, id: i64) -> u64 {
        self.h3.as_ref().map_or(0, |h| h.body_buffered(id))
    }

    // ---- WebTransport ----

    /// Server: accepts the Extended CONNECT on `id` as a WebTransport session.
    pub fn accept_webtransport(&mut self, id: i64) -> Result<(), H3Error> {
        let hdrs: [(&[u8], &[u8]); 2] = [(b":status", b"200"), (b"sec-webtransport-http3-draft", b"draft02")];
        self.respond(id, &hdrs, true)?;
        self.wt.insert(id, SessionState::default());
        Ok(())
    }

    /// Client: the server refused the CONNECT; forget the session.
    pub fn forget_webtransport(&mut self, id: i64) {
        self.wt.remove(&id);
    }

    pub fn wt_is_open(&self, session: i64) -> bool {
        self.wt.get(&session).is_some_and(|s| !s.closed && s.close_requested.is_none())
    }

    /// Largest payload [`send_wt_datagram`](Self::send_wt_datagram) accepts for `session`.
    pub fn max_wt_datagram(&self, conn: &Connection, session: i64) -> usize {
        conn.max_datagram_payload().saturating_sub(varint::encoded(session as u64 / 4).len())
    }

    pub fn send_wt_datagram(&mut self, conn: &mut Connection, session: i64, data: &[u8]) -> crate::error::Result<()> {
        let mut d = varint::encoded(session as u64 / 4);
        d.extend_from_slice(data);
        conn.send_datagram_owned(d)
    }

    /// Opens a stream of `session` (uni: type 0x54, bidi: signal 0x41, then the session id).
    pub fn open_wt_stream(&mut self, conn: &mut Connection, session: i64, uni: bool) -> crate::error::Result<i64> {
        let sid = if uni { conn.open_uni()? } else { conn.open_bidi()? };
        let mut hdr = varint::encoded(if uni { crate::h3::STREAM_TYPE_WEBTRANSPORT } else { crate::h3::FRAME_WEBTRANSPORT_STREAM });
        varint::encode(session as u64, &mut hdr);
        conn.stream_send(sid, &hdr, false)?;
        self.adopt(session, sid);
        Ok(sid)
    }

    /// Closes `session` on the next flush: CLOSE_WEBTRANSPORT_SESSION(code, reason), FIN, streams reset.
    pub fn close_webtransport(&mut self, session: i64, code: u32, reason: &str) {
        if let Some(s) = self.wt.get_mut(&session) {
            if s.close_requested.is_none() && !s.closed {
                s.close_requested = Some((code, reason.to_string()));
            }
        }
    }
}

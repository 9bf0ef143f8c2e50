//! One HTTP/3 session layer for both roles: it owns the `nghttp3_conn`, classifies
//! every stream (request, control/QPACK, WebTransport bidi/uni with their stream
//! headers, unknown), keeps the WebTransport session registry, parses capsules,
//! routes HTTP datagrams by their quarter-stream-id prefix, and turns QUIC
//! [`Event`]s into [`SessionEvent`]s an application reads with [`Session::poll`].
//!
//! Protocol policy lives here, not in apps: the 431 guard for oversized header
//! sections (server), rejection of WebTransport streams for unknown sessions or a
//! busy server, session teardown (streams reset with WT_SESSION_GONE), H3 errors
//! closing the connection with their RFC 9114 code.

use super::error::{CapsuleError, H3Error};
use super::wt::{self, Capsule, Kind, SessionState};
use super::{varint, H3Config, H3Conn, H3Event};
use crate::quic::{Connection, Event};
use std::collections::{HashMap, VecDeque};

mod api;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}

/// What one stream is to the session.
enum Stream {
    /// Peer-initiated, not yet classified: its first bytes.
    Peek(Vec<u8>),
    /// Server: a request stream whose first frame is held back until it is known to fit (the 431 guard).
    Intake(Vec<u8>),
    /// nghttp3's: a request stream or the peer's control/QPACK stream.
    Http3,
    /// A WebTransport stream (ours or the peer's) of the session on this CONNECT stream.
    Wt(i64),
    /// Rejected, or of a closed session: bytes are credited and dropped.
    Dropped,
}

/// Why a WebTransport session ended on the peer's side.
#[derive(Clone, Debug, PartialEq)]
pub enum WtCloseCause {
    /// CLOSE_WEBTRANSPORT_SESSION.
    Capsule { code: u32, reason: String },
    /// FIN on the CONNECT stream without a capsule.
    Fin,
    /// The CONNECT stream was reset (or the request aborted) with this code.
    Reset(u64),
    /// A malformed capsule: the CONNECT stream was shut with H3_MESSAGE_ERROR.
    Malformed(CapsuleError),
}

impl WtCloseCause {
    /// The (code, reason) a handler sees: the capsule's, else (0, "").
    pub fn code_reason(&self) -> (u32, &str) {
        match self {
            WtCloseCause::Capsule { code, reason } => (*code, reason),
            WtCloseCause::Malformed(_) => (0, "malformed capsule"),
            _ => (0, ""),
        }
    }
}

/// What the session reports to its application.
#[derive(Debug)]
pub enum SessionEvent {
    /// A header section on a request stream: a request (server) or a response (client).
    Headers { id: i64, headers: Vec<(Vec<u8>, Vec<u8>)>, fin: bool },
    /// Body bytes of a request/response (already credited back to the peer).
    Data { id: i64, data: Vec<u8> },
    /// The peer finished its side of a request stream.
    End { id: i64 },
    /// The peer reset a request stream, or nghttp3 aborted it.
    Reset { id: i64, code: u64 },
    /// The peer asked us to stop sending on a request stream (our side is reset).
    StopSending { id: i64, code: u64 },
    /// A request stream is closed in both directions: forget it.
    Closed { id: i64 },
    /// The peer ended WebTransport session `session` (the session is already torn down).
    WtClosed { session: i64, cause: WtCloseCause },
    /// Bytes on a WebTransport stream (header stripped); credited back once read.
    WtData { session: i64, stream: i64, data: Vec<u8>, fin: bool },
    WtReset { session: i64, stream: i64, code: u64 },
    WtStopSending { session: i64, stream: i64, code: u64 },
    WtDatagram { session: i64, data: Vec<u8> },
}

pub struct Session {
    role: Role,
    cfg: H3Config,
    h3: Option<H3Conn>,
    /// Set once an H3 error closed the connection.
    error: Option<H3Error>,
    streams: HashMap<i64, Stream>,
    /// The WebTransport session registry, by CONNECT stream id.
    wt: HashMap<i64, SessionState>,
    events: VecDeque<SessionEvent>,
}

impl Session {
    pub fn new(role: Role, cfg: H3Config) -> Self {
        Session { role, cfg, h3: None, error: None, streams: HashMap::new(), wt: HashMap::new(), events: VecDeque::new() }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn config(&self) -> &H3Config {
        &self.cfg
    }

    /// The H3 error that closed the connection, if one did.
    pub fn error(&self) -> Option<&H3Error> {
        self.error.as_ref()
    }

    /// HTTP/3 is set up and no error closed it.
    pub fn is_ready(&self) -> bool {
        self.h3.is_some() && self.error.is_none()
    }

    pub fn poll(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// Creates the nghttp3 side (and our control/QPACK streams) once the handshake is done.
    pub fn start(&mut self, conn: &mut Connection, now: u64) -> bool {
        if self.h3.is_none() && self.error.is_none() {
            let r = match self.role {
                Role::Server => H3Conn::server(conn, &self.cfg),
                Role::Client => H3Conn::client(conn, &self.cfg),
            };
            match r {
                Ok(h) => self.h3 = Some(h),
                Err(e) => self.fail(conn, now, e),
            }
        }
        self.is_ready()
    }

    fn fail(&mut self, conn: &mut Connection, now: u64, e: H3Error) {
        if self.error.is_none() {
            log::info!("h3: closing connection with 0x{:x}: {e}", e.code());
            conn.close(now, e.code(), &e.to_string());
            self.error = Some(e);
        }
    }

    /// Our streams have odd ids on the server, even on the client.
    fn local(&self, id: i64) -> bool {
        (id & 1 == 1) == (self.role == Role::Server)
    }

    /// Feeds one QUIC event; the resulting [`SessionEvent`]s are queued for [`poll`](Self::poll).
    /// Events that are not the session's (handshake completion, stream credit, ...) come back.
    pub fn on_event(&mut self, conn: &mut Connection, now: u64, ev: Event) -> Option<Event> {
        match ev {
            Event::HandshakeCompleted => {
                self.start(conn, now);
                return Some(Event::HandshakeCompleted);
            }
            Event::StreamData { id, data, fin } => {
                if self.start(conn, now) {
                    self.stream_data(conn, now, id, data, fin);
                }
            }
            Event::StreamReset { id, code } => match self.streams.get(&id) {
                Some(Stream::Http3) => {
                    if let Some(h3) = self.h3.as_mut() {
                        h3.peer_reset(id);
                    }
                    self.events.push_back(SessionEvent::Reset { id, code });
                    self.end_session(conn, id, WtCloseCause::Reset(code));
                    self.drain_h3(conn);
                }
                Some(&Stream::Wt(session)) => self.events.push_back(SessionEvent::WtReset { session, stream: id, code }),
                _ => {}
            },
            Event::StopSending { id, code } => match self.streams.get(&id) {
                Some(&Stream::Wt(session)) => self.events.push_back(SessionEvent::WtStopSending { session, stream: id, code }),
                Some(Stream::Dropped) => {}
                _ => {
                    if let Some(h3) = self.h3.as_mut() {
                        h3.shutdown_write(id);
                        conn.stream_reset_write(id, super::H3_REQUEST_CANCELLED);
                        self.events.push_back(SessionEvent::StopSending { id, code });
                    }
                }
            },
            Event::StreamClosed { id, code } => {
                let route = self.streams.remove(&id);
                // nghttp3 knows request streams and both sides' control/QPACK streams
                // (ours were never routed: local uni streams without an entry).
                let h3_known = matches!(route, Some(Stream::Http3 | Stream::Intake(_)))
                    || (route.is_none() && id & 2 != 0 && self.local(id));
                if let Some(Stream::Wt(s)) = route {
                    if let Some(st) = self.wt.get_mut(&s) {
                        st.streams.remove(&id);
                    }
                }
                if h3_known {
                    self.end_session(conn, id, WtCloseCause::Fin);
                    self.wt.remove(&id);
                    if id & 2 == 0 {
                        self.events.push_back(SessionEvent::Closed { id });
                    }
                    if let Some(h3) = self.h3.as_mut() {
                        if let Err(e) = h3.stream_closed(id, code) {
                            self.fail(conn, now, e);
                        }
                    }
                }
            }
            Event::Datagram(d) => {
                // RFC 9297 section 5: datagrams for an unknown or closed session are dropped.
                if let Some((session, payload)) = wt::parse_datagram(&d) {
                    if self.wt.get(&session).is_some_and(|s| !s.closed) {
                        self.events.push_back(SessionEvent::WtDatagram { session, data: payload.to_vec() });
                    }
                }
            }
            other => return Some(other),
        }
        None
    }

    fn stream_data(&mut self, conn: &mut Connection, now: u64, id: i64, data: Vec<u8>, fin: bool) {
        let mut data = data;
        let local = self.local(id);
        match self.streams.get_mut(&id) {
            Some(Stream::Http3 | Stream::Intake(_)) => return self.request_input(conn, now, id, data, fin),
            Some(&mut Stream::Wt(session)) => return self.wt_data(session, id, data, fin),
            Some(Stream::Dropped) => return conn.consume(id, data.len() as u64),
            Some(Stream::Peek(buf)) => {
                buf.extend_from_slice(&data);
                data = std::mem::take(buf);
            }
            None if local => {
                // Our request streams are routed when submitted, our WebTransport ones when opened:
                // what is left is nghttp3's (our control/QPACK streams never carry peer data).
                return conn.consume(id, data.len() as u64);
            }
            None => {}
        }
        match wt::classify(id, &data) {
            Kind::Unknown if !fin => {
                self.streams.insert(id, Stream::Peek(data));
            }
            Kind::Unknown | Kind::Http3 => {
                let intake = self.role == Role::Server && id & 3 == 0;
                self.streams.insert(id, if intake { Stream::Intake(Vec::new()) } else { Stream::Http3 });
                self.request_input(conn, now, id, data, fin);
            }
            Kind::WebTransport { session, header_len } => {
                conn.consume(id, header_len as u64);
                let live = self.wt.get(&session).is_some_and(|s| !s.closed);
                if !live || conn.server_busy() {
                    // No such session (draft-ietf-webtrans-http3 section 4.6), or the server-wide
                    // buffer budget is used up (docs/LIMITS.md): reject the stream.
                    self.streams.insert(id, Stream::Dropped);
                    conn.consume(id, (data.len() - header_len) as u64);
                    conn.stream_stop_sending(id, super::WT_BUFFERED_STREAM_REJECTED);
                    if id & 2 == 0 {
                        conn.stream_reset_write(id, super::WT_BUFFERED_STREAM_REJECTED);
                    }
                    return;
                }
                self.adopt(session, id);
                data.drain(..header_len);
                self.wt_data(session, id, data, fin);
            }
        }
    }

    fn adopt(&mut self, session: i64, id: i64) {
        self.streams.insert(id, Stream::Wt(session));
        if let Some(s) = self.wt.get_mut(&session) {
            s.streams.insert(id);
        }
    }

    fn wt_data(&mut self, session: i64, stream: i64, data: Vec<u8>, fin: bool) {
        if !data.is_empty() || fin {
            self.events.push_back(SessionEvent::WtData { session, stream, data, fin });
        }
    }

    /// Bytes of a request stream. On the server, until the first frame is understood they
    /// are held back: a HEADERS frame longer than our SETTINGS_MAX_FIELD_SECTION_SIZE, or one
    /// with a literal longer than nghttp3 accepts, is answered 431 here without nghttp3
    /// ever decoding it (its QPACK decoder would fail the whole connection on a value
    /// over 64 KiB or a name over 256 bytes). See docs/LIMITS.md.
    fn request_input(&mut self, conn: &mut Connection, now: u64, id: i64, data: Vec<u8>, fin: bool) {
        let Some(Stream::Intake(head)) = self.streams.get_mut(&id) else { return self.read_h3(conn, now, id, &data, fin) };
        head.extend_from_slice(&data);
        let first = varint::decode(head).and_then(|(t, a)| varint::decode(&head[a..]).map(|(len, b)| (t, len, a + b)));
        let max = self.cfg.max_field_section_size;
        let reject = match first {
            None if !fin && head.len() < 16 => return,
            Some((super::FRAME_HEADERS, len, hl)) if len > max => Some(hl),
            // A HEADERS frame within the limit is held until complete (at most 16 KiB) and
            // scanned for literals nghttp3 would fail the connection on.
            Some((super::FRAME_HEADERS, len, hl)) if (head.len() as u64) < hl as u64 + len && !fin => return,
            Some((super::FRAME_HEADERS, len, hl))
                if super::field_section_has_oversized_literal(&head[hl..(hl + len as usize).min(head.len())]) == Some(true) =>
            {
                Some(hl)
            }
            _ => None,
        };
        let head = std::mem::take(head);
        self.streams.insert(id, Stream::Http3);
        match reject {
            // Required Insert Count 0 (first payload byte 0x00): no dynamic table reference to cancel.
            Some(hl) => self.reject_header_section(conn, id, head.len() as u64, head.get(hl) == Some(&0), fin),
            None => self.read_h3(conn, now, id, &head, fin),
        }
    }

    /// 431 for a request whose header section is too large to decode (RFC 9114 section 4.2.2).
    fn reject_header_section(&mut self, conn: &mut Connection, id: i64, seen: u64, ric_zero: bool, fin: bool) {
        log::debug!("h3: request on stream {id}: header section too large (limit {} bytes), 431", self.cfg.max_field_section_size);
        self.streams.insert(id, Stream::Dropped);
        conn.consume(id, seen);
        if let Some(h3) = self.h3.as_mut() {
            if !ric_zero {
                // QPACK Stream Cancellation (RFC 9204 section 4.4.2) for references we will never decode.
                h3.peer_reset(id);
            }
        }
        let _ = conn.stream_send(id, &super::static_response(b"431", b"header section too large\n"), true);
        if !fin {
            conn.stream_stop_sending(id, super::H3_NO_ERROR);
        }
    }

    fn read_h3(&mut self, conn: &mut Connection, now: u64, id: i64, data: &[u8], fin: bool) {
        let Some(h3) = self.h3.as_mut() else { return };
        if let Err(e) = h3.read(conn, id, data, fin, now) {
            return self.fail(conn, now, e);
        }
        self.drain_h3(conn);
    }

    fn drain_h3(&mut self, conn: &mut Connection) {
        // Bounded by what one read produced; the loop ends when nghttp3's queue is empty.
        while let Some(ev) = self.h3.as_mut().and_then(|h| h.poll_event()) {
            match ev {
                H3Event::Headers { id, too_large: true, .. } => {
                    // Over our limit once decoded: answered here, the app never sees it.
                    self.respond_static(id, b"431", b"header section too large\n");
                }
                H3Event::Headers { id, headers, fin, .. } => self.events.push_back(SessionEvent::Headers { id, headers, fin }),
                H3Event::Data { id, data } => match self.wt.get_mut(&id) {
                    Some(s) => match s.feed_capsules(&data) {
                        Ok(caps) => {
                            for c in caps {
                                if let Capsule::Close { code, reason } = c {
                                    self.end_session(conn, id, WtCloseCause::Capsule { code, reason });
                                }
                            }
                        }
                        Err(e) => {
                            conn.stream_shutdown(id, e.code().to_u64());
                            self.end_session(conn, id, WtCloseCause::Malformed(e));
                        }
                    },
                    None => self.events.push_back(SessionEvent::Data { id, data }),
                },
                H3Event::End { id } => {
                    if !self.end_session(conn, id, WtCloseCause::Fin) {
                        self.events.push_back(SessionEvent::End { id });
                    }
                }
                H3Event::Aborted { id, code } => {
                    self.events.push_back(SessionEvent::Reset { id, code });
                    self.end_session(conn, id, WtCloseCause::Reset(code));
                }
            }
        }
    }

    /// The peer ended session `sid` (capsule, FIN or reset): report it, finish our side, reset its streams.
    /// False if `sid` is no open session.
    fn end_session(&mut self, conn: &mut Connection, sid: i64, cause: WtCloseCause) -> bool {
        if self.wt.get(&sid).is_none_or(|s| s.closed) {
            return false;
        }
        self.finish_session(conn, sid, None);
        self.events.push_back(SessionEvent::WtClosed { session: sid, cause });
        true
    }

    fn finish_session(&mut self, conn: &mut Connection, sid: i64, capsule: Option<(u32, String)>) {
        let Some(s) = self.wt.get_mut(&sid) else { return };
        s.closed = true;
        s.close_requested = None;
        for st in s.streams.drain() {
            conn.stream_shutdown(st, super::WT_SESSION_GONE);
            self.streams.insert(st, Stream::Dropped);
        }
        if let Some(h3) = self.h3.as_mut() {
            if let Some((code, reason)) = capsule {
                h3.push_body(sid, wt::close_capsule(code, &reason));
            }
            h3.end_body(sid);
        }
    }

    /// Sends what is due: requested session closes, then everything nghttp3 has queued.
    pub fn flush(&mut self, conn: &mut Connection, now: u64) {
        if !self.is_ready() {
            return;
        }
        let closing: Vec<(i64, (u32, String))> = self.wt.iter_mut().filter_map(|(&id, s)| s.close_requested.take().map(|c| (id, c))).collect();
        for (id, c) in closing {
            self.finish_session(conn, id, Some(c));
        }
        if let Some(h3) = self.h3.as_mut() {
            if let Err(e) = h3.flush(conn) {
                self.fail(conn, now, e);
            }
        }
    }

    /// Graceful shutdown (RFC 9114 section 5.2): GOAWAY now; the caller closes with H3_NO_ERROR.
    pub fn shutdown(&mut self, conn: &mut Connection) {
        if self.error.is_some() {
            return;
        }
        if let Some(h3) = self.h3.as_mut() {
            h3.shutdown();
            if let Err(e) = h3.flush(conn) {
                log::debug!("h3: GOAWAY not sent: {e}");
            }
        }
    }

    /// Bytes this layer holds outside the QUIC send buffers (bodies for nghttp3, unclassified stream heads).
    pub fn buffered(&self) -> u64 {
        let h3 = self.h3.as_ref().map_or(0, |h| h.pending_bytes());
        let held: usize = self.streams.values().map(|s| if let Stream::Peek(b) | Stream::Intake(b) = s { b.len() } else { 0 }).sum();
        h3 + held as u64
    }
}

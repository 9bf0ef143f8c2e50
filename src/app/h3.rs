//! ALPN `h3`: the HTTP/3 server app. Routes:
//! - `GET /` a small info page, `GET /bytes/N` N deterministic bytes
//!   (byte i = i*31 mod 251), `POST /echo` the request body back, others 404;
//! - Extended CONNECT `:protocol = webtransport` to a path a [`WtRoute`]
//!   accepts (`/wt/echo` by default), `:protocol = websocket` to `/ws/echo`
//!   (RFC 9220 echo); other protocols 501, unknown paths 404.
//!
//! Stream bytes are classified before nghttp3 sees them: WebTransport streams
//! go to the session's handler, everything else to [`H3Conn`].

use super::ConnectionApp;
use crate::h3::wt::{self, Capsule, Kind, SessionState, WebTransportHandler, WtRoute, WtSession};
use crate::h3::ws::{self, WsEvent, WsParser};
use crate::h3::{varint, H3Config, H3Conn, H3Event};
use crate::quic::{Connection, Event};
use std::collections::HashMap;

pub const ALPN: &str = crate::h3::ALPN;

/// Largest WebSocket message (also at most half the connection's buffer budget).
const MAX_BODY: usize = 16 << 20;
/// Largest `/bytes/N`.
const MAX_BYTES: u64 = 1 << 34;
/// Response bytes kept queued (HTTP/3 layer + QUIC unacked) per download.
const DOWNLOAD_WINDOW: u64 = 2 << 20;

/// Byte `i` of every `/bytes/N` body.
pub fn bytes_pattern(i: u64) -> u8 {
    (i.wrapping_mul(31) % 251) as u8
}

enum Route {
    Http3,
    Wt(i64),
    Dropped,
}

enum Req {
    /// `POST /echo`: the body streams back as it arrives (the 200 went out with the request headers).
    Echo,
    Ws { parser: WsParser, closed: bool },
    Wt,
    Done,
}

struct Session {
    state: SessionState,
    handler: Box<dyn WebTransportHandler>,
}

pub struct H3Server {
    cfg: H3Config,
    wt_routes: Vec<WtRoute>,
    h3: Option<H3Conn>,
    closing: bool,
    routes: HashMap<i64, Route>,
    peek: HashMap<i64, Vec<u8>>,
    reqs: HashMap<i64, Req>,
    sessions: HashMap<i64, Session>,
    owner: HashMap<i64, i64>,
    /// Download stream -> (next offset, total).
    downloads: HashMap<i64, (u64, u64)>,
    /// Request streams whose first frame header has not been seen yet (bytes so far).
    intake: HashMap<i64, Vec<u8>>,
}

impl Default for H3Server {
    fn default() -> Self {
        H3Server::new(vec![wt::echo_route])
    }
}

impl H3Server {
    /// A server whose WebTransport CONNECTs are offered to `wt_routes` in order.
    pub fn new(wt_routes: Vec<WtRoute>) -> Self {
        H3Server {
            cfg: H3Config::default(),
            wt_routes,
            h3: None,
            closing: false,
            routes: HashMap::new(),
            peek: HashMap::new(),
            reqs: HashMap::new(),
            sessions: HashMap::new(),
            owner: HashMap::new(),
            downloads: HashMap::new(),
            intake: HashMap::new(),
        }
    }

    fn fail(&mut self, conn: &mut Connection, now: u64, code: u64, what: &str) {
        if !self.closing {
            self.closing = true;
            log::info!("h3: closing connection with 0x{code:x}: {what}");
            conn.close(now, code, what);
        }
    }

    fn ensure_h3(&mut self, conn: &mut Connection, now: u64) -> bool {
        if self.h3.is_none() && !self.closing {
            match H3Conn::server(conn, &self.cfg) {
                Ok(h) => self.h3 = Some(h),
                Err(e) => self.fail(conn, now, e.code, &e.what),
            }
        }
        self.h3.is_some() && !self.closing
    }

    fn read_h3(&mut self, conn: &mut Connection, now: u64, id: i64, data: &[u8], fin: bool) {
        let Some(h3) = self.h3.as_mut() else { return };
        if let Err(e) = h3.read(conn, id, data, fin, now) {
            self.fail(conn, now, e.code, &e.what);
            return;
        }
        self.drain_h3(conn, now);
    }

    fn stream_data(&mut self, conn: &mut Connection, now: u64, id: i64, data: Vec<u8>, fin: bool) {
        match self.routes.get(&id) {
            Some(Route::Http3) => return self.request_input(conn, now, id, &data, fin),
            Some(Route::Wt(s)) => {
                let s = *s;
                return self.wt_stream_data(conn, s, id, &data, fin);
            }
            Some(Route::Dropped) => return conn.consume(id, data.len() as u64),
            None => {}
        }
        if id & 1 == 1 {
            // Our own bidi streams (opened by a WebTransport handler).
            match self.owner.get(&id) {
                Some(&s) => self.wt_stream_data(conn, s, id, &data, fin),
                None => conn.consume(id, data.len() as u64),
            }
            return;
        }
        let buf = self.peek.entry(id).or_default();
        buf.extend_from_slice(&data);
        match wt::classify(id, buf) {
            Kind::Unknown if !fin => {}
            Kind::Unknown | Kind::Http3 => {
                let buf = self.peek.remove(&id).unwrap_or_default();
                self.routes.insert(id, Route::Http3);
                if id & 3 == 0 {
                    self.intake.insert(id, Vec::new());
                }
                self.request_input(conn, now, id, &buf, fin);
            }
            Kind::WebTransport { session, header_len } => {
                let buf = self.peek.remove(&id).unwrap_or_default();
                conn.consume(id, header_len as u64);
                let live = self.sessions.get(&session).is_some_and(|s| !s.state.closed);
                if !live || conn.server_busy() {
                    // No such session (draft-ietf-webtrans-http3 section 4.6), or the server-wide
                    // buffer budget is used up (docs/LIMITS.md): reject the stream.
                    self.routes.insert(id, Route::Dropped);
                    conn.consume(id, (buf.len() - header_len) as u64);
                    conn.stream_stop_sending(id, crate::h3::WT_BUFFERED_STREAM_REJECTED);
                    if id & 2 == 0 {
                        conn.stream_reset_write(id, crate::h3::WT_BUFFERED_STREAM_REJECTED);
                    }
                    return;
                }
                self.routes.insert(id, Route::Wt(session));
                self.owner.insert(id, session);
                if let Some(s) = self.sessions.get_mut(&session) {
                    s.state.streams.insert(id);
                }
                self.wt_stream_data(conn, session, id, &buf[header_len..], fin);
            }
        }
    }

    /// Bytes of a client request stream. Until the first frame is understood they are
    /// held back: a HEADERS frame longer than our SETTINGS_MAX_FIELD_SECTION_SIZE, or one
    /// with a literal longer than nghttp3 accepts, is answered 431 here without nghttp3
    /// ever decoding it (its QPACK decoder would fail the whole connection on a value
    /// over 64 KiB or a name over 256 bytes). See docs/LIMITS.md.
    fn request_input(&mut self, conn: &mut Connection, now: u64, id: i64, data: &[u8], fin: bool) {
        let Some(head) = self.intake.get_mut(&id) else { return self.read_h3(conn, now, id, data, fin) };
        head.extend_from_slice(data);
        let first = varint::decode(head).and_then(|(t, a)| varint::decode(&head[a..]).map(|(len, b)| (t, len, a + b)));
        match first {
            None if !fin && head.len() < 16 => {}
            Some((crate::h3::FRAME_HEADERS, len, hl)) if len > self.cfg.max_field_section_size => {
                let head = self.intake.remove(&id).unwrap_or_default();
                // Required Insert Count 0 (first payload byte 0x00): no dynamic table reference to cancel.
                let ric_zero = head.get(hl) == Some(&0);
                self.reject_header_section(conn, id, head.len() as u64, ric_zero, fin);
            }
            // A HEADERS frame within the limit is held until complete (at most 16 KiB) and
            // scanned for literals nghttp3 would fail the connection on.
            Some((crate::h3::FRAME_HEADERS, len, hl)) if (head.len() as u64) < hl as u64 + len && !fin => {}
            Some((crate::h3::FRAME_HEADERS, len, hl))
                if crate::h3::field_section_has_oversized_literal(&head[hl..(hl + len as usize).min(head.len())]) == Some(true) =>
            {
                let head = self.intake.remove(&id).unwrap_or_default();
                let ric_zero = head.get(hl) == Some(&0);
                self.reject_header_section(conn, id, head.len() as u64, ric_zero, fin);
            }
            _ => {
                let head = self.intake.remove(&id).unwrap_or_default();
                self.read_h3(conn, now, id, &head, fin);
            }
        }
    }

    /// 431 for a request whose header section is too large to decode (RFC 9114 section 4.2.2).
    fn reject_header_section(&mut self, conn: &mut Connection, id: i64, seen: u64, ric_zero: bool, fin: bool) {
        log::debug!("h3: request on stream {id}: header section too large (limit {} bytes), 431", self.cfg.max_field_section_size);
        self.routes.insert(id, Route::Dropped);
        conn.consume(id, seen);
        if let Some(h3) = self.h3.as_mut() {
            if !ric_zero {
                // QPACK Stream Cancellation (RFC 9204 section 4.4.2) for references we will never decode.
                h3.peer_reset(id);
            }
        }
        let body = b"header section too large\n";
        let _ = conn.stream_send(id, &crate::h3::static_response(b"431", body), true);
        if !fin {
            conn.stream_stop_sending(id, crate::h3::H3_NO_ERROR);
        }
    }

    fn with_session(&mut self, conn: &mut Connection, sid: i64, f: impl FnOnce(&mut dyn WebTransportHandler, &mut WtSession)) {
        let Some(mut s) = self.sessions.remove(&sid) else { return };
        {
            let mut ws = WtSession::new(sid, conn, &mut s.state, &mut self.owner);
            f(s.handler.as_mut(), &mut ws);
        }
        self.sessions.insert(sid, s);
    }

    fn wt_stream_data(&mut self, conn: &mut Connection, sid: i64, id: i64, data: &[u8], fin: bool) {
        if !data.is_empty() || fin {
            self.with_session(conn, sid, |h, s| h.on_stream_data(s, id, data, fin));
        }
        conn.consume(id, data.len() as u64);
    }

    fn drain_h3(&mut self, conn: &mut Connection, now: u64) {
        // Bounded by what one read produced; the loop ends when nghttp3's queue is empty.
        while let Some(ev) = self.h3.as_mut().and_then(|h| h.poll_event()) {
            match ev {
                H3Event::Headers { id, headers, fin, too_large } => {
                    if too_large {
                        self.reqs.insert(id, Req::Done);
                        self.respond(conn, id, b"431", b"header section too large\n".to_vec());
                    } else {
                        self.dispatch(conn, now, id, &headers, fin);
                    }
                }
                H3Event::Data { id, data } => self.request_data(conn, id, data),
                H3Event::End { id } => self.request_end(conn, id),
                H3Event::Aborted { id, .. } => {
                    self.reqs.remove(&id);
                    self.downloads.remove(&id);
                    self.end_session(conn, id, 0, "");
                }
            }
        }
    }

    fn respond(&mut self, _conn: &mut Connection, id: i64, status: &[u8], body: Vec<u8>) {
        let Some(h3) = self.h3.as_mut() else { return };
        let len = body.len().to_string();
        let hdrs: [(&[u8], &[u8]); 4] = [
            (b":status", status),
            (b"server", b"socket-iwa"),
            (b"content-type", if status == b"200" && body.first() == Some(&b'<') { b"text/html" } else { b"text/plain" }),
            (b"content-length", len.as_bytes()),
        ];
        if h3.respond(id, &hdrs, !body.is_empty()).is_ok() {
            h3.push_body(id, body);
            h3.end_body(id);
        }
    }

    fn dispatch(&mut self, conn: &mut Connection, now: u64, id: i64, headers: &[(Vec<u8>, Vec<u8>)], fin: bool) {
        let get = |n: &[u8]| headers.iter().find(|(k, _)| k.as_slice() == n).map(|(_, v)| String::from_utf8_lossy(v).into_owned());
        let method = get(b":method").unwrap_or_default();
        let path = get(b":path").unwrap_or_default();
        let path = path.split('?').next().unwrap_or("").to_string();
        self.reqs.insert(id, Req::Done);
        if conn.server_busy() {
            // The server-wide buffer budget is used up: refuse new work, finish what runs.
            if !fin {
                conn.stream_stop_sending(id, crate::h3::H3_NO_ERROR);
            }
            return self.respond(conn, id, b"503", b"server busy, retry later\n".to_vec());
        }
        if method == "CONNECT" {
            let protocol = get(b":protocol");
            match protocol.as_deref() {
                Some("webtransport") => {
                    let handler = self.wt_routes.iter().find_map(|r| r(&path));
                    let Some(handler) = handler else { return self.respond(conn, id, b"404", b"no such WebTransport endpoint\n".to_vec()) };
                    let h3 = self.h3.as_mut().unwrap();
                    let hdrs: [(&[u8], &[u8]); 2] = [(b":status", b"200"), (b"sec-webtransport-http3-draft", b"draft02")];
                    if h3.respond(id, &hdrs, true).is_err() {
                        return;
                    }
                    self.reqs.insert(id, Req::Wt);
                    self.sessions.insert(id, Session { state: SessionState::default(), handler });
                    self.with_session(conn, id, |h, s| h.on_open(s));
                }
                Some("websocket") if path == "/ws/echo" => {
                    let h3 = self.h3.as_mut().unwrap();
                    let hdrs: [(&[u8], &[u8]); 1] = [(b":status", b"200")];
                    if h3.respond(id, &hdrs, true).is_ok() {
                        let max = conn.buffer_limit().map_or(MAX_BODY, |l| MAX_BODY.min((l / 2) as usize));
                        self.reqs.insert(id, Req::Ws { parser: WsParser::new(max), closed: false });
                    }
                }
                Some("websocket") => self.respond(conn, id, b"404", b"no such WebSocket endpoint\n".to_vec()),
                // RFC 8441 section 4 / RFC 9220: a protocol we do not speak.
                _ => self.respond(conn, id, b"501", b"unsupported :protocol\n".to_vec()),
            }
            return;
        }
        let _ = now;
        match (method.as_str(), path.as_str()) {
            ("GET" | "HEAD", "/") => {
                let page = format!(
                    "<!doctype html><title>socket-iwa</title><h1>socket-iwa HTTP/3</h1>\
                     <p>Routes: GET /bytes/N, POST /echo, WebTransport /wt/echo, WebSocket over HTTP/3 /ws/echo.</p>\
                     <pre>{}</pre>\n",
                    crate::library_versions()
                );
                self.respond(conn, id, b"200", page.into_bytes());
            }
            ("GET", p) if p.starts_with("/bytes/") => match p["/bytes/".len()..].parse::<u64>() {
                Ok(n) if n <= MAX_BYTES => {
                    let len = n.to_string();
                    let h3 = self.h3.as_mut().unwrap();
                    let hdrs: [(&[u8], &[u8]); 3] =
                        [(b":status", b"200"), (b"content-type", b"application/octet-stream"), (b"content-length", len.as_bytes())];
                    if h3.respond(id, &hdrs, n > 0).is_ok() && n > 0 {
                        self.downloads.insert(id, (0, n));
                        let mut room = self.budget_room(conn);
                        self.top_up(conn, id, &mut room);
                    }
                }
                _ => self.respond(conn, id, b"400", b"bad length\n".to_vec()),
            },
            ("POST", "/echo") => {
                // Streamed back as it arrives, so memory is bounded by flow control
                // rather than by the body size (docs/LIMITS.md).
                let cl = get(b"content-length").filter(|v| !v.is_empty() && v.len() < 20 && v.bytes().all(|b| b.is_ascii_digit()));
                let h3 = self.h3.as_mut().unwrap();
                let mut hdrs: Vec<(&[u8], &[u8])> =
                    vec![(b":status", b"200"), (b"server", b"socket-iwa"), (b"content-type", b"application/octet-stream")];
                if let Some(cl) = cl.as_ref() {
                    hdrs.push((b"content-length", cl.as_bytes()));
                }
                if h3.respond(id, &hdrs, true).is_ok() {
                    self.reqs.insert(id, Req::Echo);
                    if fin {
                        self.request_end(conn, id);
                    }
                }
            }
            (_, "/" | "/echo") => self.respond(conn, id, b"405", b"method not allowed\n".to_vec()),
            (_, p) if p.starts_with("/bytes/") => self.respond(conn, id, b"405", b"method not allowed\n".to_vec()),
            _ => self.respond(conn, id, b"404", b"not found\n".to_vec()),
        }
    }

    /// Bytes the connection may still buffer within its budget.
    fn budget_room(&self, conn: &Connection) -> u64 {
        conn.buffer_limit().map_or(u64::MAX, |l| l.saturating_sub(conn.buffer_exposure() + ConnectionApp::buffered(self)))
    }

    fn top_up(&mut self, conn: &mut Connection, id: i64, room: &mut u64) {
        let Some(h3) = self.h3.as_mut() else { return };
        let Some((off, total)) = self.downloads.get_mut(&id) else { return };
        while *off < *total && h3.body_buffered(id) + conn.stream_unacked(id) < DOWNLOAD_WINDOW {
            let n = (64 * 1024).min(*total - *off);
            if *room < n {
                break; // over the connection's buffer budget: resume as the peer acknowledges
            }
            *room -= n;
            let chunk: Vec<u8> = (*off..*off + n).map(bytes_pattern).collect();
            *off += n;
            h3.push_body(id, chunk);
        }
        if *off >= *total {
            h3.end_body(id);
            self.downloads.remove(&id);
        }
    }

    fn request_data(&mut self, conn: &mut Connection, id: i64, data: Vec<u8>) {
        let Some(req) = self.reqs.get_mut(&id) else { return };
        match req {
            Req::Echo => {
                if let Some(h3) = self.h3.as_mut() {
                    h3.push_body(id, data);
                }
            }
            Req::Ws { parser, closed } => {
                let mut out = Vec::new();
                let mut end = false;
                for ev in parser.feed(&data) {
                    match ev {
                        WsEvent::Message { text, data } => out.extend(ws::frame(if text { ws::OP_TEXT } else { ws::OP_BINARY }, &data)),
                        WsEvent::Ping(p) => out.extend(ws::frame(ws::OP_PONG, &p)),
                        WsEvent::Pong(_) => {}
                        WsEvent::Close { code, reason } => {
                            out.extend(ws::close_frame(code, &reason));
                            end = true;
                        }
                        WsEvent::Fail { code, reason } => {
                            out.extend(ws::close_frame(code, reason));
                            end = true;
                        }
                    }
                }
                if end {
                    *closed = true;
                }
                if let Some(h3) = self.h3.as_mut() {
                    h3.push_body(id, out);
                    if end {
                        h3.end_body(id);
                    }
                }
            }
            Req::Wt => {
                let Some(s) = self.sessions.get_mut(&id) else { return };
                match s.state.feed_capsules(&data) {
                    Ok(caps) => {
                        for c in caps {
                            if let Capsule::Close { code, reason } = c {
                                self.end_session(conn, id, code, &reason);
                            }
                        }
                    }
                    Err(()) => {
                        conn.stream_shutdown(id, crate::h3::H3_MESSAGE_ERROR);
                        self.end_session(conn, id, 0, "malformed capsule");
                    }
                }
            }
            Req::Done => {}
        }
    }

    fn request_end(&mut self, conn: &mut Connection, id: i64) {
        match self.reqs.get_mut(&id) {
            Some(Req::Echo) => {
                self.reqs.insert(id, Req::Done);
                if let Some(h3) = self.h3.as_mut() {
                    h3.end_body(id);
                }
            }
            Some(Req::Ws { closed, .. }) => {
                if !*closed {
                    *closed = true;
                    if let Some(h3) = self.h3.as_mut() {
                        h3.end_body(id);
                    }
                }
            }
            Some(Req::Wt) => self.end_session(conn, id, 0, ""),
            _ => {}
        }
    }

    /// The peer ended session `sid` (capsule, FIN or reset): tell the handler, finish our side, reset its streams.
    fn end_session(&mut self, conn: &mut Connection, sid: i64, code: u32, reason: &str) {
        let Some(s) = self.sessions.get(&sid) else { return };
        if s.state.closed {
            return;
        }
        self.with_session(conn, sid, |h, s| h.on_close(s, code, reason));
        self.finish_session(conn, sid, None);
    }

    fn finish_session(&mut self, conn: &mut Connection, sid: i64, capsule: Option<(u32, String)>) {
        let Some(s) = self.sessions.get_mut(&sid) else { return };
        s.state.closed = true;
        s.state.close_requested = None;
        for &st in &s.state.streams {
            conn.stream_shutdown(st, crate::h3::WT_SESSION_GONE);
            self.owner.remove(&st);
            self.routes.insert(st, Route::Dropped);
        }
        s.state.streams.clear();
        if let Some(h3) = self.h3.as_mut() {
            if let Some((code, reason)) = capsule {
                h3.push_body(sid, wt::close_capsule(code, &reason));
            }
            h3.end_body(sid);
        }
    }

    fn datagram(&mut self, conn: &mut Connection, d: &[u8]) {
        let Some((sid, payload)) = wt::parse_datagram(d) else { return };
        // RFC 9297 section 5: datagrams for an unknown or closed session are dropped.
        if self.sessions.get(&sid).is_some_and(|s| !s.state.closed) {
            self.with_session(conn, sid, |h, s| h.on_datagram(s, payload));
        }
    }
}

impl ConnectionApp for H3Server {
    fn on_event(&mut self, conn: &mut Connection, now: u64, ev: Event) {
        match ev {
            Event::HandshakeCompleted => {
                self.ensure_h3(conn, now);
            }
            Event::StreamData { id, data, fin } => {
                if self.ensure_h3(conn, now) {
                    self.stream_data(conn, now, id, data, fin);
                }
            }
            Event::StreamReset { id, code } => match self.routes.get(&id) {
                Some(Route::Http3) => {
                    if let Some(h3) = self.h3.as_mut() {
                        h3.peer_reset(id);
                    }
                    self.downloads.remove(&id);
                    self.end_session(conn, id, 0, "");
                    self.drain_h3(conn, now);
                }
                Some(Route::Wt(s)) => {
                    let s = *s;
                    self.with_session(conn, s, |h, ws| h.on_stream_reset(ws, id, code));
                }
                _ => {}
            },
            Event::StopSending { id, code } => {
                if let Some(&s) = self.owner.get(&id) {
                    self.with_session(conn, s, |h, ws| h.on_stop_sending(ws, id, code));
                } else if let Some(h3) = self.h3.as_mut() {
                    h3.shutdown_write(id);
                    self.downloads.remove(&id);
                    conn.stream_reset_write(id, crate::h3::H3_REQUEST_CANCELLED);
                }
            }
            Event::StreamClosed { id, code } => {
                self.peek.remove(&id);
                self.intake.remove(&id);
                let route = self.routes.remove(&id);
                let mut was_wt = false;
                if let Some(s) = self.owner.remove(&id) {
                    was_wt = true;
                    if let Some(sess) = self.sessions.get_mut(&s) {
                        sess.state.streams.remove(&id);
                    }
                }
                // nghttp3 knows the client's HTTP/3 streams and our control/QPACK streams.
                let ours_uni = id & 3 == 3;
                let h3_known = matches!(route, Some(Route::Http3)) || (ours_uni && route.is_none() && !was_wt);
                if h3_known {
                    self.end_session(conn, id, 0, "");
                    self.sessions.remove(&id);
                    self.reqs.remove(&id);
                    self.downloads.remove(&id);
                    if let Some(h3) = self.h3.as_mut() {
                        if let Err(e) = h3.stream_closed(id, code) {
                            self.fail(conn, now, e.code, &e.what);
                        }
                    }
                }
            }
            Event::Datagram(d) => self.datagram(conn, &d),
            _ => {}
        }
    }

    fn buffered(&self) -> u64 {
        let h3 = self.h3.as_ref().map_or(0, |h| h.pending_bytes());
        let peek: usize = self.peek.values().chain(self.intake.values()).map(|b| b.len()).sum();
        let ws: usize = self.reqs.values().map(|r| if let Req::Ws { parser, .. } = r { parser.buffered() } else { 0 }).sum();
        h3 + (peek + ws) as u64
    }

    fn on_shutdown(&mut self, conn: &mut Connection, now: u64) -> u64 {
        // RFC 9114 section 5.2: GOAWAY, then close with H3_NO_ERROR.
        if let Some(h3) = self.h3.as_mut() {
            if !self.closing {
                h3.shutdown();
                if let Err(e) = h3.flush(conn) {
                    log::debug!("h3: GOAWAY not sent: {}", e.what);
                }
            }
        }
        let _ = now;
        crate::h3::H3_NO_ERROR
    }

    fn on_tick(&mut self, conn: &mut Connection, now: u64) {
        if self.h3.is_none() || self.closing {
            return;
        }
        let ids: Vec<i64> = self.downloads.keys().copied().collect();
        if !ids.is_empty() {
            let mut room = self.budget_room(conn);
            for id in ids {
                self.top_up(conn, id, &mut room);
            }
        }
        let closing: Vec<(i64, (u32, String))> =
            self.sessions.iter_mut().filter_map(|(&id, s)| s.state.close_requested.take().map(|c| (id, c))).collect();
        for (id, c) in closing {
            self.finish_session(conn, id, Some(c));
        }
        if let Some(h3) = self.h3.as_mut() {
            if let Err(e) = h3.flush(conn) {
                self.fail(conn, now, e.code, &e.what);
            }
        }
    }
}

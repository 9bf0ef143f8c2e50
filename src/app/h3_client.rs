//! The HTTP/3 client (ALPN `h3`) used by tests and benchmarks: sends a list of
//! GET/POST requests over one connection (up to `concurrency` at a time),
//! verifies `/bytes/N` bodies against [`bytes_pattern`] and POST echoes
//! against what was sent, and reports statuses, bytes and throughput.
//!
//! On the same connection it can also run, against an echo endpoint:
//! - a WebTransport session ([`WtOptions`]): Extended CONNECT with
//!   `:protocol = webtransport`, N datagrams (quarter stream ID + payload, at
//!   most [`DGRAM_WINDOW`] in flight), one bidirectional stream (signal 0x41 +
//!   session ID, payload, FIN) and one unidirectional stream (type 0x54 +
//!   session ID) whose answer comes on a server unidirectional stream, then
//!   CLOSE_WEBTRANSPORT_SESSION; every echo is checked byte for byte;
//! - a WebSocket over HTTP/3 session ([`WsOptions`], RFC 9220): Extended
//!   CONNECT with `:protocol = websocket`, masked RFC 6455 frames (a text, a
//!   binary and a fragmented message with a ping between its fragments, then a
//!   ping), echoes and pongs checked, then the close handshake.
//!
//! The stream and datagram formats are the server's: [`crate::h3::wt`],
//! [`crate::h3::ws`], [`crate::h3::varint`].

use super::echo::pattern;
use super::h3::bytes_pattern;
use super::ConnectionApp;
use crate::h3::ws::{self, WsEvent, WsParser};
use crate::h3::wt::{self, Capsule, Kind, SessionState};
use crate::h3::{varint, H3Config, H3Conn, H3Event};
use crate::quic::{Connection, Event};
use std::collections::{HashMap, HashSet, VecDeque};

/// WebTransport datagrams in flight at once (sent, not yet echoed).
pub const DGRAM_WINDOW: u64 = 32;
/// Datagrams not echoed after this long (ns) without any echo are counted lost.
const DGRAM_LOSS_NS: u64 = 300_000_000;
/// Close code and reason our sessions end with.
pub const WT_CLOSE_CODE: u32 = 0;
pub const WS_CLOSE_CODE: u16 = 1000;
const CLOSE_REASON: &str = "done";

#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub body: Option<Vec<u8>>,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ResponseReport {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub bytes: u64,
    /// `/bytes/N`: N bytes of the pattern; POST /echo: the body sent. Other paths: true when complete.
    pub verified: bool,
    pub ms: f64,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct H3Report {
    pub handshake_ms: Option<f64>,
    pub total_ms: f64,
    pub requests: usize,
    pub completed: usize,
    pub bytes_received: u64,
    /// Response body bytes / time from the first request to the last response (MB/s).
    pub throughput_mbps: f64,
    pub verified: bool,
    pub responses: Vec<ResponseReport>,
    pub webtransport: Option<WtReport>,
    pub websocket: Option<WsReport>,
    pub error: Option<String>,
}

#[derive(Clone, Debug)]
pub struct WtOptions {
    pub path: String,
    pub datagrams: u64,
    /// Datagram payload size (at least 8: an index; at most what the peer accepts).
    pub datagram_size: usize,
    /// Bytes sent on each of the two WebTransport streams.
    pub stream_bytes: u64,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct WtReport {
    pub path: String,
    pub status: u16,
    pub session_id: i64,
    /// From the CONNECT to the end of the session.
    pub ms: f64,
    pub datagrams_sent: u64,
    /// Echoes that matched a datagram we sent, byte for byte (each counted once).
    pub datagrams_echoed: u64,
    /// Echoes that did not match (wrong bytes or duplicates).
    pub datagrams_bad: u64,
    pub datagrams_lost: u64,
    pub datagram_size: usize,
    /// Echoed datagrams per second, first send to last echo.
    pub datagrams_per_sec: f64,
    pub bidi_bytes_sent: u64,
    pub bidi_bytes_echoed: u64,
    pub bidi_verified: bool,
    pub uni_bytes_sent: u64,
    pub uni_bytes_echoed: u64,
    pub uni_verified: bool,
    pub close_code: u32,
    /// We sent CLOSE_WEBTRANSPORT_SESSION and the server finished the CONNECT stream.
    pub closed: bool,
    pub verified: bool,
    pub error: Option<String>,
}

#[derive(Clone, Debug)]
pub struct WsOptions {
    pub path: String,
    /// Size of the binary message.
    pub message_bytes: usize,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct WsReport {
    pub path: String,
    pub status: u16,
    pub ms: f64,
    pub messages_sent: u64,
    /// Echoed messages equal to the one sent in the same position.
    pub messages_echoed: u64,
    pub fragmented_sent: u64,
    pub bytes_echoed: u64,
    pub pings_sent: u64,
    /// Pongs carrying the payload of the ping in the same position.
    pub pongs_received: u64,
    pub close_code_sent: u16,
    pub close_code_received: Option<u16>,
    /// Close frames exchanged and the server finished the stream.
    pub closed: bool,
    pub verified: bool,
    pub error: Option<String>,
}

struct InFlight {
    idx: usize,
    started: u64,
    received: u64,
    ok: bool,
    status: u16,
    done: bool,
}

pub struct H3Client {
    authority: String,
    queue: VecDeque<(usize, Request)>,
    reqs: Vec<Request>,
    concurrency: usize,
    h3: Option<H3Conn>,
    inflight: HashMap<i64, InFlight>,
    start: u64,
    first_req: Option<u64>,
    last_resp: u64,
    pub report: H3Report,
    closed: bool,
    wt: Option<Wt>,
    ws: Option<Ws>,
    /// Server-initiated streams not yet classified (first bytes).
    peek: HashMap<i64, Vec<u8>>,
    /// Streams nghttp3 must not see: our WebTransport streams and the server's replies.
    wt_streams: HashMap<i64, WtStream>,
    /// Server-initiated streams classified as HTTP/3 (control, QPACK): nghttp3's from then on.
    h3_streams: HashSet<i64>,
}

#[derive(Clone, Copy, PartialEq)]
enum WtStream {
    Bidi,
    UniReply,
    Ignored,
}

#[derive(PartialEq)]
enum Phase {
    Idle,
    Connecting,
    Open,
    Closing,
    Done,
}

struct Wt {
    opts: WtOptions,
    r: WtReport,
    phase: Phase,
    id: i64,
    started: u64,
    state: SessionState,
    dg_size: usize,
    dg_seen: Vec<bool>,
    dg_outstanding: u64,
    dg_progress: u64,
    dg_first: Option<u64>,
    dg_last: u64,
    bidi_fin: bool,
    bidi_ok: bool,
    uni_reply: Option<i64>,
    uni_fin: bool,
    uni_ok: bool,
}

struct Ws {
    opts: WsOptions,
    r: WsReport,
    phase: Phase,
    id: i64,
    started: u64,
    parser: WsParser,
    messages: Vec<(bool, Vec<u8>)>,
    pings: Vec<Vec<u8>>,
    close_sent: bool,
    ok: bool,
}

fn wt_fail(w: &mut WtReport, e: String) {
    w.error.get_or_insert(e);
}

/// Datagram `idx` of a session: the index (8 bytes, big endian) then pattern bytes.
fn datagram(idx: u64, size: usize) -> Vec<u8> {
    let mut d = idx.to_be_bytes().to_vec();
    d.extend((8..size as u64).map(|j| pattern(11 + idx, j)));
    d
}

impl H3Client {
    pub fn new(authority: &str, reqs: Vec<Request>, concurrency: usize, now: u64) -> Self {
        H3Client {
            authority: authority.to_string(),
            queue: reqs.iter().cloned().enumerate().collect(),
            report: H3Report { requests: reqs.len(), responses: vec![ResponseReport::default(); reqs.len()], ..Default::default() },
            reqs,
            concurrency: concurrency.max(1),
            h3: None,
            inflight: HashMap::new(),
            start: now,
            first_req: None,
            last_resp: now,
            closed: false,
            wt: None,
            ws: None,
            peek: HashMap::new(),
            wt_streams: HashMap::new(),
            h3_streams: HashSet::new(),
        }
    }

    /// Also run a WebTransport session on the connection.
    pub fn with_webtransport(mut self, opts: WtOptions) -> Self {
        let r = WtReport { path: opts.path.clone(), session_id: -1, close_code: WT_CLOSE_CODE, ..Default::default() };
        self.wt = Some(Wt {
            opts,
            r,
            phase: Phase::Idle,
            id: -1,
            started: 0,
            state: SessionState::default(),
            dg_size: 0,
            dg_seen: Vec::new(),
            dg_outstanding: 0,
            dg_progress: 0,
            dg_first: None,
            dg_last: 0,
            bidi_fin: false,
            bidi_ok: true,
            uni_reply: None,
            uni_fin: false,
            uni_ok: true,
        });
        self
    }

    /// Also run a WebSocket over HTTP/3 session on the connection.
    pub fn with_websocket(mut self, opts: WsOptions) -> Self {
        let r = WsReport { path: opts.path.clone(), close_code_sent: WS_CLOSE_CODE, ..Default::default() };
        self.ws = Some(Ws {
            opts,
            r,
            phase: Phase::Idle,
            id: -1,
            started: 0,
            parser: WsParser::client(64 << 20),
            messages: Vec::new(),
            pings: Vec::new(),
            close_sent: false,
            ok: true,
        });
        self
    }

    /// A masking key (RFC 6455 section 5.3 asks for a strong, unpredictable
    /// source): four bytes from wolfSSL's DRBG.
    fn mask_key(&mut self) -> [u8; 4] {
        let mut key = [0u8; 4];
        crate::tls::random_bytes(&mut key);
        key
    }

    fn sessions_done(&self) -> bool {
        self.wt.as_ref().is_none_or(|w| w.phase == Phase::Done) && self.ws.as_ref().is_none_or(|w| w.phase == Phase::Done)
    }

    fn open_sessions(&mut self, conn: &mut Connection, now: u64) {
        let Some(h3) = self.h3.as_mut() else { return };
        for (proto, path, is_wt) in [
            ("webtransport", self.wt.as_ref().filter(|w| w.phase == Phase::Idle).map(|w| w.opts.path.clone()), true),
            ("websocket", self.ws.as_ref().filter(|w| w.phase == Phase::Idle).map(|w| w.opts.path.clone()), false),
        ] {
            let Some(path) = path else { continue };
            let id = match conn.open_bidi() {
                Ok(id) => id,
                Err(e) => {
                    self.report.error = Some(format!("cannot open the {proto} CONNECT stream: {e}"));
                    return;
                }
            };
            let mut hdrs: Vec<(&[u8], &[u8])> = vec![
                (b":method", b"CONNECT"),
                (b":protocol", proto.as_bytes()),
                (b":scheme", b"https"),
                (b":authority", self.authority.as_bytes()),
                (b":path", path.as_bytes()),
                (b"user-agent", b"socket-iwa"),
            ];
            if is_wt {
                hdrs.push((b"sec-webtransport-http3-draft02", b"1"));
            } else {
                hdrs.push((b"sec-websocket-version", b"13"));
            }
            if let Err(e) = h3.request_streaming(id, &hdrs) {
                self.report.error = Some(e.what);
                return;
            }
            if is_wt {
                let w = self.wt.as_mut().unwrap();
                (w.id, w.started, w.phase) = (id, now, Phase::Connecting);
            } else {
                let w = self.ws.as_mut().unwrap();
                (w.id, w.started, w.phase) = (id, now, Phase::Connecting);
            }
        }
    }

    /// The server answered a CONNECT.
    fn session_headers(&mut self, conn: &mut Connection, id: i64, status: u16, now: u64) -> bool {
        if let Some(w) = self.wt.as_mut().filter(|w| w.id == id && w.phase == Phase::Connecting) {
            w.r.status = status;
            if status != 200 {
                wt_fail(&mut w.r, format!("CONNECT {} answered {status}", w.opts.path));
                w.phase = Phase::Done;
                return true;
            }
            w.phase = Phase::Open;
            w.r.session_id = id;
            let max = conn.max_datagram_payload().saturating_sub(varint::encoded(id as u64 / 4).len());
            w.dg_size = w.opts.datagram_size.clamp(8, max.max(8));
            w.r.datagram_size = w.dg_size;
            if w.opts.datagrams > 0 && max < 8 {
                wt_fail(&mut w.r, "the server accepts no datagrams".into());
            }
            w.dg_seen = vec![false; w.opts.datagrams as usize];
            w.dg_progress = now;
            // One bidirectional and one unidirectional stream, each carrying stream_bytes.
            let n = w.opts.stream_bytes;
            for uni in [false, true] {
                let opened = if uni { conn.open_uni() } else { conn.open_bidi() };
                let sid = match opened {
                    Ok(s) => s,
                    Err(e) => {
                        wt_fail(&mut w.r, format!("cannot open a WebTransport stream: {e}"));
                        continue;
                    }
                };
                let mut buf = varint::encoded(if uni { crate::h3::STREAM_TYPE_WEBTRANSPORT } else { crate::h3::FRAME_WEBTRANSPORT_STREAM });
                varint::encode(id as u64, &mut buf);
                buf.extend((0..n).map(|i| pattern(if uni { 2 } else { 1 }, i)));
                if let Err(e) = conn.stream_send(sid, &buf, true) {
                    wt_fail(&mut w.r, e.to_string());
                }
                if uni {
                    w.r.uni_bytes_sent = n;
                } else {
                    w.r.bidi_bytes_sent = n;
                    self.wt_streams.insert(sid, WtStream::Bidi);
                }
            }
            return true;
        }
        if self.ws.as_ref().is_some_and(|w| w.id == id && w.phase == Phase::Connecting) {
            let mut keys = Vec::new();
            for _ in 0..8 {
                keys.push(self.mask_key());
            }
            let w = self.ws.as_mut().unwrap();
            w.r.status = status;
            if status != 200 {
                w.r.error = Some(format!("CONNECT {} answered {status}", w.opts.path));
                w.phase = Phase::Done;
                return true;
            }
            w.phase = Phase::Open;
            let text = b"hello over HTTP/3".to_vec();
            let binary: Vec<u8> = (0..w.opts.message_bytes as u64).map(|i| pattern(4, i)).collect();
            let frag: Vec<u8> = "fragmented text message, ".repeat(8).into_bytes();
            let (p1, p2) = (b"ping between fragments".to_vec(), b"ping".to_vec());
            let third = frag.len() / 3;
            let mut out = ws::masked_frame(true, ws::OP_TEXT, &text, keys[0]);
            out.extend(ws::masked_frame(true, ws::OP_BINARY, &binary, keys[1]));
            out.extend(ws::masked_frame(false, ws::OP_TEXT, &frag[..third], keys[2]));
            out.extend(ws::masked_frame(true, ws::OP_PING, &p1, keys[3]));
            out.extend(ws::masked_frame(false, ws::OP_CONT, &frag[third..2 * third], keys[4]));
            out.extend(ws::masked_frame(true, ws::OP_CONT, &frag[2 * third..], keys[5]));
            out.extend(ws::masked_frame(true, ws::OP_PING, &p2, keys[6]));
            w.messages = vec![(true, text), (false, binary), (true, frag)];
            w.pings = vec![p1, p2];
            w.r.messages_sent = 3;
            w.r.fragmented_sent = 1;
            w.r.pings_sent = 2;
            if let Some(h3) = self.h3.as_mut() {
                h3.push_body(id, out);
            }
            return true;
        }
        false
    }

    /// DATA on a CONNECT stream.
    fn session_data(&mut self, id: i64, data: &[u8]) -> bool {
        if let Some(w) = self.wt.as_mut().filter(|w| w.id == id) {
            match w.state.feed_capsules(data) {
                Ok(caps) => {
                    for c in caps {
                        if let Capsule::Close { code, reason } = c {
                            if w.phase != Phase::Closing {
                                wt_fail(&mut w.r, format!("the server closed the session: {code} {reason}"));
                            }
                        }
                    }
                }
                Err(()) => wt_fail(&mut w.r, "malformed capsule".into()),
            }
            return true;
        }
        if self.ws.as_ref().is_some_and(|w| w.id == id) {
            let key = self.mask_key();
            let w = self.ws.as_mut().unwrap();
            for ev in w.parser.feed(data) {
                match ev {
                    WsEvent::Message { text, data } => {
                        let i = w.r.messages_echoed as usize;
                        if w.messages.get(i).is_some_and(|(t, d)| *t == text && *d == data) {
                            w.r.messages_echoed += 1;
                            w.r.bytes_echoed += data.len() as u64;
                        } else {
                            w.ok = false;
                            w.r.error.get_or_insert_with(|| format!("echo {i} differs from the message sent"));
                        }
                    }
                    WsEvent::Pong(p) => {
                        let i = w.r.pongs_received as usize;
                        if w.pings.get(i) == Some(&p) {
                            w.r.pongs_received += 1;
                        } else {
                            w.ok = false;
                            w.r.error.get_or_insert_with(|| format!("pong {i} differs from the ping sent"));
                        }
                    }
                    WsEvent::Ping(p) => {
                        if let Some(h3) = self.h3.as_mut() {
                            h3.push_body(id, ws::masked_frame(true, ws::OP_PONG, &p, key));
                        }
                    }
                    WsEvent::Close { code, .. } => w.r.close_code_received = Some(code),
                    WsEvent::Fail { code, reason } => {
                        w.ok = false;
                        w.r.error.get_or_insert_with(|| format!("server frames break RFC 6455 ({code}): {reason}"));
                    }
                }
            }
            return true;
        }
        false
    }

    /// The server finished a CONNECT stream.
    fn session_end(&mut self, id: i64, now: u64, reset: Option<u64>) -> bool {
        if let Some(w) = self.wt.as_mut().filter(|w| w.id == id && w.phase != Phase::Done) {
            if let Some(code) = reset {
                wt_fail(&mut w.r, format!("CONNECT stream reset with 0x{code:x}"));
            } else if w.phase != Phase::Closing {
                wt_fail(&mut w.r, "the server ended the session early".into());
            }
            w.r.closed = reset.is_none() && w.phase == Phase::Closing;
            w.phase = Phase::Done;
            w.r.ms = (now - w.started) as f64 / 1e6;
            return true;
        }
        if let Some(w) = self.ws.as_mut().filter(|w| w.id == id && w.phase != Phase::Done) {
            if let Some(code) = reset {
                w.r.error.get_or_insert_with(|| format!("CONNECT stream reset with 0x{code:x}"));
            }
            w.r.closed = reset.is_none() && w.close_sent && w.r.close_code_received.is_some();
            w.phase = Phase::Done;
            w.r.ms = (now - w.started) as f64 / 1e6;
            return true;
        }
        false
    }

    /// Sends datagrams up to the window, finishes sessions whose echoes are all in.
    fn pump_sessions(&mut self, conn: &mut Connection, now: u64) {
        if let Some(w) = self.wt.as_mut().filter(|w| w.phase == Phase::Open) {
            let n = w.opts.datagrams;
            if w.dg_outstanding > 0 && now.saturating_sub(w.dg_progress) > DGRAM_LOSS_NS {
                w.r.datagrams_lost += w.dg_outstanding;
                w.dg_outstanding = 0;
            }
            if w.r.error.is_none() {
                while w.r.datagrams_sent < n && w.dg_outstanding < DGRAM_WINDOW {
                    let mut d = varint::encoded(w.id as u64 / 4);
                    d.extend(datagram(w.r.datagrams_sent, w.dg_size));
                    if let Err(e) = conn.send_datagram(&d) {
                        wt_fail(&mut w.r, e.to_string());
                        break;
                    }
                    if w.dg_outstanding == 0 {
                        w.dg_progress = now;
                    }
                    w.dg_first.get_or_insert(now);
                    w.r.datagrams_sent += 1;
                    w.dg_outstanding += 1;
                }
            }
            let dg_done = w.r.datagrams_sent == n && w.dg_outstanding == 0;
            if (dg_done && w.bidi_fin && w.uni_fin) || w.r.error.is_some() {
                w.phase = Phase::Closing;
                if let Some(h3) = self.h3.as_mut() {
                    h3.push_body(w.id, wt::close_capsule(WT_CLOSE_CODE, CLOSE_REASON));
                    h3.end_body(w.id);
                }
            }
        }
        if self.ws.as_ref().is_some_and(|w| w.phase == Phase::Open && !w.close_sent) {
            let key = self.mask_key();
            let w = self.ws.as_mut().unwrap();
            let all_in = w.r.messages_echoed == w.r.messages_sent && w.r.pongs_received == w.r.pings_sent;
            if all_in || !w.ok {
                w.close_sent = true;
                w.phase = Phase::Closing;
                if let Some(h3) = self.h3.as_mut() {
                    h3.push_body(w.id, ws::masked_close_frame(WS_CLOSE_CODE, CLOSE_REASON, key));
                    h3.end_body(w.id);
                }
            }
        }
    }

    fn on_datagram(&mut self, d: &[u8], now: u64) {
        let Some(w) = self.wt.as_mut() else { return };
        let Some((q, n)) = varint::decode(d) else { return };
        if w.id < 0 || q != w.id as u64 / 4 {
            return;
        }
        let p = &d[n..];
        let idx = p.get(..8).map(|b| u64::from_be_bytes(b.try_into().unwrap()));
        match idx {
            Some(i) if i < w.r.datagrams_sent && !w.dg_seen[i as usize] && p == datagram(i, w.dg_size) => {
                w.dg_seen[i as usize] = true;
                w.r.datagrams_echoed += 1;
                if w.dg_outstanding > 0 {
                    w.dg_outstanding -= 1;
                } else {
                    // Counted lost earlier, arrived late.
                    w.r.datagrams_lost = w.r.datagrams_lost.saturating_sub(1);
                }
                w.dg_progress = now;
                w.dg_last = now;
            }
            _ => w.r.datagrams_bad += 1,
        }
    }

    /// Bytes on one of our WebTransport streams or the server's reply stream.
    fn wt_stream_data(&mut self, id: i64, kind: WtStream, data: &[u8], fin: bool) {
        let Some(w) = self.wt.as_mut() else { return };
        let (k, rx, ok, done) = match kind {
            WtStream::Bidi => (1, &mut w.r.bidi_bytes_echoed, &mut w.bidi_ok, &mut w.bidi_fin),
            WtStream::UniReply => (2, &mut w.r.uni_bytes_echoed, &mut w.uni_ok, &mut w.uni_fin),
            WtStream::Ignored => return,
        };
        *ok &= data.iter().enumerate().all(|(i, &b)| b == pattern(k, *rx + i as u64));
        *rx += data.len() as u64;
        if fin {
            *done = true;
        }
        let _ = id;
    }

    pub fn finished(&self) -> bool {
        self.closed
    }

    fn send_more(&mut self, conn: &mut Connection, now: u64) {
        let Some(h3) = self.h3.as_mut() else { return };
        while self.inflight.values().filter(|f| !f.done).count() < self.concurrency && conn.bidi_streams_left() > 0 {
            let Some((idx, r)) = self.queue.pop_front() else { break };
            let Ok(id) = conn.open_bidi() else {
                self.queue.push_front((idx, r));
                break;
            };
            let hdrs: [(&[u8], &[u8]); 5] = [
                (b":method", r.method.as_bytes()),
                (b":scheme", b"https"),
                (b":authority", self.authority.as_bytes()),
                (b":path", r.path.as_bytes()),
                (b"user-agent", b"socket-iwa"),
            ];
            if let Err(e) = h3.request(id, &hdrs, r.body.clone()) {
                self.report.error = Some(e.what);
                return;
            }
            self.first_req.get_or_insert(now);
            self.inflight.insert(id, InFlight { idx, started: now, received: 0, ok: true, status: 0, done: false });
        }
    }

    fn on_h3(&mut self, conn: &mut Connection, now: u64) {
        while let Some(ev) = self.h3.as_mut().and_then(|h| h.poll_event()) {
            match ev {
                H3Event::Headers { id, headers, fin, .. } => {
                    let st = headers.iter().find(|(k, _)| k == b":status").and_then(|(_, v)| std::str::from_utf8(v).ok()?.parse().ok());
                    if self.session_headers(conn, id, st.unwrap_or(0), now) {
                        if fin {
                            self.session_end(id, now, None);
                        }
                        continue;
                    }
                    if let Some(f) = self.inflight.get_mut(&id) {
                        f.status = st.unwrap_or(0);
                        if fin {
                            self.complete(id, now);
                        }
                    }
                }
                H3Event::Data { id, data } => {
                    if self.session_data(id, &data) {
                        continue;
                    }
                    if let Some(f) = self.inflight.get_mut(&id) {
                        let r = &self.reqs[f.idx];
                        if r.path.starts_with("/bytes/") {
                            f.ok &= data.iter().enumerate().all(|(i, &b)| b == bytes_pattern(f.received + i as u64));
                        } else if let Some(body) = &r.body {
                            let off = f.received as usize;
                            f.ok &= body.get(off..off + data.len()) == Some(&data[..]);
                        }
                        f.received += data.len() as u64;
                    }
                }
                H3Event::End { id } => {
                    if !self.session_end(id, now, None) {
                        self.complete(id, now)
                    }
                }
                H3Event::Aborted { id, code } => {
                    if self.session_end(id, now, Some(code)) {
                        continue;
                    }
                    self.report.error = Some(format!("stream {id} aborted with 0x{code:x}"));
                    self.complete(id, now);
                }
            }
        }
    }

    fn complete(&mut self, id: i64, now: u64) {
        let Some(f) = self.inflight.get_mut(&id) else { return };
        if f.done {
            return;
        }
        f.done = true;
        let r = &self.reqs[f.idx];
        let expect = if let Some(n) = r.path.strip_prefix("/bytes/").and_then(|n| n.parse::<u64>().ok()) {
            Some(n)
        } else {
            r.body.as_ref().map(|b| b.len() as u64)
        };
        let verified = f.status == 200 && f.ok && expect.is_none_or(|n| n == f.received);
        self.report.responses[f.idx] =
            ResponseReport { method: r.method.clone(), path: r.path.clone(), status: f.status, bytes: f.received, verified, ms: (now - f.started) as f64 / 1e6 };
        self.report.completed += 1;
        self.report.bytes_received += f.received;
        self.last_resp = now;
    }

    fn finish(&mut self, conn: &mut Connection, now: u64) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.fill_report(now);
        if let Some(h3) = self.h3.as_mut() {
            h3.shutdown();
            let _ = h3.flush(conn);
        }
        conn.close(now, crate::h3::H3_NO_ERROR, "done");
    }

    /// Completes the report (also for a run cut short by a timeout: sessions then show how far they got).
    pub fn fill_report(&mut self, now: u64) {
        self.report.total_ms = (now - self.start) as f64 / 1e6;
        self.report.verified = self.report.completed == self.report.requests && self.report.responses.iter().all(|r| r.verified);
        if let Some(w) = self.wt.as_mut() {
            if w.phase != Phase::Done {
                wt_fail(&mut w.r, "session did not finish".into());
            }
            if w.bidi_fin && !w.bidi_ok {
                wt_fail(&mut w.r, "bidirectional stream echo differs".into());
            }
            if w.uni_fin && !w.uni_ok {
                wt_fail(&mut w.r, "unidirectional stream echo differs".into());
            }
            w.r.bidi_verified = w.bidi_fin && w.bidi_ok && w.r.bidi_bytes_echoed == w.r.bidi_bytes_sent;
            w.r.uni_verified = w.uni_fin && w.uni_ok && w.r.uni_bytes_echoed == w.r.uni_bytes_sent;
            if let Some(t0) = w.dg_first {
                let secs = w.dg_last.saturating_sub(t0) as f64 / 1e9;
                if secs > 0.0 {
                    w.r.datagrams_per_sec = w.r.datagrams_echoed as f64 / secs;
                }
            }
            // Datagrams are unreliable: losses are reported, not failures; wrong bytes are.
            w.r.verified = w.r.error.is_none()
                && w.r.status == 200
                && w.r.closed
                && w.r.bidi_verified
                && w.r.uni_verified
                && w.r.datagrams_bad == 0
                && (w.opts.datagrams == 0 || w.r.datagrams_echoed > 0);
            self.report.verified &= w.r.verified;
            self.report.webtransport = Some(w.r.clone());
        }
        if let Some(w) = self.ws.as_mut() {
            if w.phase != Phase::Done {
                w.r.error.get_or_insert_with(|| "session did not finish".into());
            }
            w.r.verified = w.r.error.is_none()
                && w.ok
                && w.r.status == 200
                && w.r.closed
                && w.r.messages_echoed == w.r.messages_sent
                && w.r.pongs_received == w.r.pings_sent
                && w.r.close_code_received == Some(WS_CLOSE_CODE);
            self.report.verified &= w.r.verified;
            self.report.websocket = Some(w.r.clone());
        }
        if let Some(t0) = self.first_req {
            let secs = (self.last_resp.saturating_sub(t0)) as f64 / 1e9;
            if secs > 0.0 {
                self.report.throughput_mbps = self.report.bytes_received as f64 / 1e6 / secs;
            }
        }
    }
}

impl ConnectionApp for H3Client {
    fn on_event(&mut self, conn: &mut Connection, now: u64, ev: Event) {
        match ev {
            Event::HandshakeCompleted => {
                self.report.handshake_ms = Some((now - self.start) as f64 / 1e6);
                // WebTransport needs SETTINGS_ENABLE_WEBTRANSPORT and
                // SETTINGS_WEBTRANSPORT_MAX_SESSIONS (the server's defaults);
                // SETTINGS_ENABLE_CONNECT_PROTOCOL and SETTINGS_H3_DATAGRAM are always on.
                let extra = if self.wt.is_some() { H3Config::default().extra_settings } else { vec![] };
                match H3Conn::client(conn, &H3Config { extra_settings: extra, ..Default::default() }) {
                    Ok(h) => self.h3 = Some(h),
                    Err(e) => self.report.error = Some(e.what),
                }
                self.open_sessions(conn, now);
                self.send_more(conn, now);
            }
            Event::BidiStreamsAvailable => self.send_more(conn, now),
            Event::Datagram(d) => self.on_datagram(&d, now),
            Event::StreamData { id, data, fin } => {
                if self.h3.is_none() {
                    return;
                }
                if let Some(&kind) = self.wt_streams.get(&id) {
                    conn.consume(id, data.len() as u64);
                    self.wt_stream_data(id, kind, &data, fin);
                    return;
                }
                let mut data = data;
                if id & 1 == 1 && !self.h3_streams.contains(&id) {
                    // Server-initiated: a WebTransport stream or an HTTP/3 one (control, QPACK).
                    let buf = self.peek.entry(id).or_default();
                    buf.extend_from_slice(&data);
                    match wt::classify(id, buf) {
                        Kind::Unknown if !fin => return,
                        Kind::Unknown | Kind::Http3 => {
                            data = self.peek.remove(&id).unwrap_or_default();
                            self.h3_streams.insert(id);
                        }
                        Kind::WebTransport { session, header_len } => {
                            let buf = self.peek.remove(&id).unwrap_or_default();
                            conn.consume(id, buf.len() as u64);
                            let ours = self.wt.as_ref().is_some_and(|w| w.id == session && w.uni_reply.is_none());
                            let kind = if ours && id & 2 != 0 { WtStream::UniReply } else { WtStream::Ignored };
                            if kind == WtStream::UniReply {
                                self.wt.as_mut().unwrap().uni_reply = Some(id);
                            } else {
                                conn.stream_stop_sending(id, crate::h3::WT_BUFFERED_STREAM_REJECTED);
                            }
                            self.wt_streams.insert(id, kind);
                            self.wt_stream_data(id, kind, &buf[header_len..], fin);
                            return;
                        }
                    }
                }
                let Some(h3) = self.h3.as_mut() else { return };
                if let Err(e) = h3.read(conn, id, &data, fin, now) {
                    self.report.error = Some(e.what);
                    conn.close(now, e.code, "h3 error");
                    return;
                }
                self.on_h3(conn, now);
            }
            Event::StreamReset { id, code } => {
                if let Some(&kind) = self.wt_streams.get(&id) {
                    if let Some(w) = self.wt.as_mut().filter(|w| kind != WtStream::Ignored && w.phase == Phase::Open) {
                        wt_fail(&mut w.r, format!("WebTransport stream {id} reset with 0x{code:x}"));
                    }
                    return;
                }
                if let Some(h3) = self.h3.as_mut() {
                    h3.peer_reset(id);
                }
                if self.session_end(id, now, Some(code)) {
                    return;
                }
                if self.inflight.contains_key(&id) {
                    self.report.error = Some(format!("stream {id} reset with 0x{code:x}"));
                    self.complete(id, now);
                }
            }
            Event::StreamClosed { id, code } => {
                self.peek.remove(&id);
                self.h3_streams.remove(&id);
                if self.wt_streams.remove(&id).is_some() {
                    return;
                }
                if let Some(h3) = self.h3.as_mut() {
                    let _ = h3.stream_closed(id, code);
                }
            }
            _ => {}
        }
    }

    /// Wakes the client to count unanswered datagrams as lost.
    fn timeout(&self) -> Option<u64> {
        self.wt.as_ref().filter(|w| w.phase == Phase::Open && w.dg_outstanding > 0).map(|w| w.dg_progress + DGRAM_LOSS_NS + 1)
    }

    fn on_tick(&mut self, conn: &mut Connection, now: u64) {
        if self.closed {
            return;
        }
        if !conn.is_open() {
            self.report.error.get_or_insert_with(|| conn.close_description());
            self.finish(conn, now);
            return;
        }
        self.send_more(conn, now);
        self.pump_sessions(conn, now);
        if let Some(h3) = self.h3.as_mut() {
            if let Err(e) = h3.flush(conn) {
                self.report.error = Some(e.what);
            }
        }
        if (self.report.completed == self.report.requests && self.sessions_done()) || self.report.error.is_some() {
            self.finish(conn, now);
        }
    }
}

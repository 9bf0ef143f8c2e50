//! The scripted HTTP/3 client (ALPN `h3`) used by tests and benchmarks: sends a list of
//! GET/POST requests over one connection (up to `concurrency` at a time),
//! verifies `/bytes/N` bodies against [`bytes_pattern`] and POST echoes
//! against what was sent, and reports statuses, bytes and throughput.
//!
//! On the same connection it can also run a WebTransport session ([`wt`]) and
//! a WebSocket over HTTP/3 session ([`ws`]) against echo endpoints.
//!
//! It is a [`ClientHandler`] on the library's client-role [`H3ClientApp`], so the
//! wire formats (stream classification, stream headers, datagram prefix, capsules)
//! are the library's [`socket_iwa::h3::Session`], the same code the server runs.

mod ws;
mod wt;

pub use ws::{WsOptions, WsReport, WS_CLOSE_CODE};
pub use wt::{WtOptions, WtReport, DGRAM_WINDOW, WT_CLOSE_CODE};

use socket_iwa::app::h3::bytes_pattern;
use socket_iwa::app::h3_client::{ClientCtx, ClientHandler, H3ClientApp};
use socket_iwa::app::ConnectionApp;
use socket_iwa::h3::{H3Config, SessionEvent};
use socket_iwa::quic::{Connection, Event};
use std::collections::{HashMap, VecDeque};

/// Close reason our sessions end with.
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
    /// The negotiated TLS 1.3 suite's IANA name (docs/TLS.md "Cipher suites").
    pub cipher_suite: Option<String>,
    pub total_ms: f64,
    pub requests: usize,
    pub completed: usize,
    pub bytes_received: u64,
    /// Response body bytes / time from the first request to the last response (MB/s).
    pub throughput_mb_s: f64,
    pub verified: bool,
    pub responses: Vec<ResponseReport>,
    pub webtransport: Option<WtReport>,
    pub websocket: Option<WsReport>,
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

/// Where a scripted session is.
#[derive(PartialEq)]
enum Phase {
    Idle,
    Connecting,
    Open,
    Closing,
    Done,
}

/// The script: requests, and optionally a WebTransport and a WebSocket session.
pub struct Script {
    authority: String,
    queue: VecDeque<(usize, Request)>,
    reqs: Vec<Request>,
    concurrency: usize,
    inflight: HashMap<i64, InFlight>,
    start: u64,
    first_req: Option<u64>,
    last_resp: u64,
    pub report: H3Report,
    closed: bool,
    wt: Option<wt::Wt>,
    ws: Option<ws::Ws>,
}

/// The scripted client as a connection app: [`Script`] on the library's client driver.
pub struct H3Client(H3ClientApp<Script>);

impl H3Client {
    pub fn new(authority: &str, reqs: Vec<Request>, concurrency: usize, now: u64) -> Self {
        H3Client(H3ClientApp::new(Script {
            authority: authority.to_string(),
            queue: reqs.iter().cloned().enumerate().collect(),
            report: H3Report { requests: reqs.len(), responses: vec![ResponseReport::default(); reqs.len()], ..Default::default() },
            reqs,
            concurrency: concurrency.max(1),
            inflight: HashMap::new(),
            start: now,
            first_req: None,
            last_resp: now,
            closed: false,
            wt: None,
            ws: None,
        }))
    }

    /// Also run a WebTransport session on the connection.
    pub fn with_webtransport(mut self, opts: WtOptions) -> Self {
        self.0.handler.wt = Some(wt::Wt::new(opts));
        self
    }

    /// Also run a WebSocket over HTTP/3 session on the connection.
    pub fn with_websocket(mut self, opts: WsOptions) -> Self {
        self.0.handler.ws = Some(ws::Ws::new(opts));
        self
    }
}

impl std::ops::Deref for H3Client {
    type Target = Script;
    fn deref(&self) -> &Script {
        &self.0.handler
    }
}

impl std::ops::DerefMut for H3Client {
    fn deref_mut(&mut self) -> &mut Script {
        &mut self.0.handler
    }
}

impl ConnectionApp for H3Client {
    fn on_event(&mut self, conn: &mut Connection, now: u64, ev: Event) {
        self.0.on_event(conn, now, ev)
    }
    fn on_tick(&mut self, conn: &mut Connection, now: u64) {
        self.0.on_tick(conn, now)
    }
    fn timeout(&self) -> Option<u64> {
        self.0.timeout()
    }
    fn buffered(&self) -> u64 {
        self.0.buffered()
    }
}

impl Script {
    pub fn finished(&self) -> bool {
        self.closed
    }

    fn sessions_done(&self) -> bool {
        self.wt.as_ref().is_none_or(|w| w.phase == Phase::Done) && self.ws.as_ref().is_none_or(|w| w.phase == Phase::Done)
    }

    /// Extended CONNECT for each session still idle.
    fn open_sessions(&mut self, cx: &mut ClientCtx) {
        for is_wt in [true, false] {
            let (proto, path) = match is_wt {
                true => ("webtransport", self.wt.as_ref().filter(|w| w.phase == Phase::Idle).map(|w| w.opts.path.clone())),
                false => ("websocket", self.ws.as_ref().filter(|w| w.phase == Phase::Idle).map(|w| w.opts.path.clone())),
            };
            let Some(path) = path else { continue };
            let mut hdrs: Vec<(&[u8], &[u8])> = vec![
                (b":method", b"CONNECT"),
                (b":protocol", proto.as_bytes()),
                (b":scheme", b"https"),
                (b":authority", self.authority.as_bytes()),
                (b":path", path.as_bytes()),
                (b"user-agent", b"socket-iwa"),
            ];
            hdrs.push(if is_wt { (b"sec-webtransport-http3-draft02", b"1") } else { (b"sec-websocket-version", b"13") });
            let id = match cx.session.connect(cx.conn, &hdrs) {
                Ok(id) => id,
                Err(e) => {
                    self.report.error = Some(format!("cannot send the {proto} CONNECT: {e}"));
                    return;
                }
            };
            if is_wt {
                self.wt.as_mut().unwrap().connecting(id, cx.now);
            } else {
                self.ws.as_mut().unwrap().connecting(id, cx.now);
            }
        }
    }

    fn send_more(&mut self, cx: &mut ClientCtx) {
        while self.inflight.values().filter(|f| !f.done).count() < self.concurrency && cx.conn.bidi_streams_left() > 0 {
            let Some((idx, r)) = self.queue.pop_front() else { break };
            let hdrs: [(&[u8], &[u8]); 5] = [
                (b":method", r.method.as_bytes()),
                (b":scheme", b"https"),
                (b":authority", self.authority.as_bytes()),
                (b":path", r.path.as_bytes()),
                (b"user-agent", b"socket-iwa"),
            ];
            let id = match cx.session.request(cx.conn, &hdrs, r.body.clone()) {
                Ok(id) => id,
                Err(socket_iwa::h3::H3Error::OpenStream(_)) => {
                    self.queue.push_front((idx, r));
                    break;
                }
                Err(e) => {
                    self.report.error = Some(e.to_string());
                    return;
                }
            };
            self.first_req.get_or_insert(cx.now);
            self.inflight.insert(id, InFlight { idx, started: cx.now, received: 0, ok: true, status: 0, done: false });
        }
    }

    /// The server finished or reset a CONNECT stream: true if it was one of ours.
    fn session_end(&mut self, id: i64, now: u64, reset: Option<u64>) -> bool {
        self.wt.as_mut().is_some_and(|w| w.end(id, now, reset)) || self.ws.as_mut().is_some_and(|w| w.end(id, now, reset))
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

    /// Completes the report (also for a run cut short by a timeout: sessions then show how far they got).
    pub fn fill_report(&mut self, now: u64) {
        self.report.total_ms = (now - self.start) as f64 / 1e6;
        self.report.verified = self.report.completed == self.report.requests && self.report.responses.iter().all(|r| r.verified);
        if let Some(w) = self.wt.as_mut() {
            let r = w.report();
            self.report.verified &= r.verified;
            self.report.webtransport = Some(r);
        }
        if let Some(w) = self.ws.as_mut() {
            let r = w.report();
            self.report.verified &= r.verified;
            self.report.websocket = Some(r);
        }
        if let Some(t0) = self.first_req {
            let secs = (self.last_resp.saturating_sub(t0)) as f64 / 1e9;
            if secs > 0.0 {
                self.report.throughput_mb_s = self.report.bytes_received as f64 / 1e6 / secs;
            }
        }
    }
}

impl ClientHandler for Script {
    fn config(&self) -> H3Config {
        // WebTransport needs SETTINGS_ENABLE_WEBTRANSPORT and SETTINGS_WEBTRANSPORT_MAX_SESSIONS
        // (the server's defaults); SETTINGS_ENABLE_CONNECT_PROTOCOL and SETTINGS_H3_DATAGRAM are always on.
        let extra = if self.wt.is_some() { H3Config::default().extra_settings } else { vec![] };
        H3Config { extra_settings: extra, ..Default::default() }
    }

    fn on_ready(&mut self, cx: &mut ClientCtx) {
        self.report.handshake_ms = Some((cx.now - self.start) as f64 / 1e6);
        self.report.cipher_suite = cx.conn.cipher_suite();
        self.open_sessions(cx);
        self.send_more(cx);
    }

    fn on_streams_available(&mut self, cx: &mut ClientCtx) {
        self.send_more(cx);
    }

    fn on_event(&mut self, cx: &mut ClientCtx, ev: SessionEvent) {
        let now = cx.now;
        match ev {
            SessionEvent::Headers { id, headers, fin } => {
                let st = headers.iter().find(|(k, _)| k == b":status").and_then(|(_, v)| std::str::from_utf8(v).ok()?.parse().ok());
                let status = st.unwrap_or(0);
                let ours = self.wt.as_mut().is_some_and(|w| w.headers(cx, id, status))
                    || self.ws.as_mut().is_some_and(|w| w.headers(cx, id, status));
                if ours {
                    if fin {
                        self.session_end(id, now, None);
                    }
                } else if let Some(f) = self.inflight.get_mut(&id) {
                    f.status = status;
                    if fin {
                        self.complete(id, now);
                    }
                }
            }
            SessionEvent::Data { id, data } => {
                if self.ws.as_mut().is_some_and(|w| w.data(cx, id, &data)) {
                    return;
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
            SessionEvent::End { id } => {
                if !self.session_end(id, now, None) {
                    self.complete(id, now)
                }
            }
            SessionEvent::Reset { id, code } => {
                if !self.session_end(id, now, Some(code)) && self.inflight.contains_key(&id) {
                    self.report.error = Some(format!("stream {id} reset with 0x{code:x}"));
                    self.complete(id, now);
                }
            }
            SessionEvent::WtClosed { session, cause } => {
                if let Some(w) = self.wt.as_mut() {
                    w.closed_by_peer(session, now, cause);
                }
            }
            SessionEvent::WtData { session, stream, data, fin } => {
                cx.conn.consume(stream, data.len() as u64);
                if let Some(w) = self.wt.as_mut() {
                    w.stream_data(cx, session, stream, &data, fin);
                }
            }
            SessionEvent::WtReset { stream, code, .. } => {
                if let Some(w) = self.wt.as_mut() {
                    w.stream_reset(stream, code);
                }
            }
            SessionEvent::WtDatagram { session, data } => {
                if let Some(w) = self.wt.as_mut() {
                    w.datagram(session, &data, now);
                }
            }
            SessionEvent::StopSending { .. } | SessionEvent::Closed { .. } | SessionEvent::WtStopSending { .. } => {}
        }
    }

    /// Wakes the client to count unanswered datagrams as lost.
    fn timeout(&self) -> Option<u64> {
        self.wt.as_ref().and_then(|w| w.timeout())
    }

    fn on_tick(&mut self, cx: &mut ClientCtx) -> bool {
        if self.closed {
            return false;
        }
        if let Some(e) = cx.session.error() {
            self.report.error.get_or_insert_with(|| e.to_string());
        }
        let done = if !cx.conn.is_open() {
            self.report.error.get_or_insert_with(|| cx.conn.close_description());
            true
        } else {
            self.send_more(cx);
            if let Some(w) = self.wt.as_mut() {
                w.pump(cx);
            }
            if let Some(w) = self.ws.as_mut() {
                w.pump(cx);
            }
            (self.report.completed == self.report.requests && self.sessions_done()) || self.report.error.is_some()
        };
        if done {
            self.closed = true;
            self.fill_report(cx.now);
        }
        done
    }
}

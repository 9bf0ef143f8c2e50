//! WebTransport sessions whose logic is JavaScript's (`server.on('webtransport')`,
//! issue 10; docs/JS_SERVERS.md "WebTransport sessions").
//!
//! Same shape as [`super::js_handler`]: Rust pushes each session event to
//! JavaScript through one non-suspending import (`sjs_wt_event`), and pulls
//! JavaScript's actions on its ticks (`sjs_wt_pull`): control records (open a
//! stream, a datagram, flow-control credit for bytes JavaScript read, reset,
//! STOP_SENDING, close) and stream bytes, never more than the stream's window
//! and the connection's buffer budget allow. Stream bytes are credited back to
//! the peer only when JavaScript reports them read ([`WebTransportHandler::credits_data`]),
//! so a session that never reads holds its peer at the flow-control windows.

use crate::h3::wt::{WebTransportHandler, WtSession};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

/// Bytes of one stream kept queued in QUIC (unacknowledged) before pulling more from JavaScript.
pub const STREAM_WINDOW: u64 = 1 << 20;
/// Largest record one pull may write.
pub const PULL_BUFFER: usize = 64 * 1024;
/// Stream ids JavaScript may name as ready per call (the rest: next tick, at once).
pub const READY_BATCH: usize = 256;

/// Events (Rust -> JavaScript), the `kind` of `sjs_wt_event`.
pub const EV_DATA: i32 = 1;
pub const EV_FIN: i32 = 2;
pub const EV_RESET: i32 = 3;
pub const EV_STOP_SENDING: i32 = 4;
pub const EV_DATAGRAM: i32 = 5;
/// The peer closed the session: `code` = close code, bytes = reason, `stream` = 1 when it was abrupt (no capsule).
pub const EV_CLOSED: i32 = 6;
/// A stream JavaScript asked for: `stream` = its id, `code` = JavaScript's token.
pub const EV_OPENED: i32 = 7;
pub const EV_OPEN_FAILED: i32 = 8;
/// The handler is gone (connection closed or session torn down).
pub const EV_GONE: i32 = 9;
/// A raw QUIC connection's handshake completed (createQuicServer's 'connection' fires then; `super::js_quic`):
/// bytes = the negotiated ALPN, `code` = the fate of a client's 0-RTT (0 none, 1 accepted, 2 rejected).
pub const EV_ESTABLISHED: i32 = 10;
/// A client connection (createQuic) may send 0-RTT data now.
pub const EV_ZERO_RTT: i32 = 11;
/// A client's session ticket arrived: bytes = the resumption session, JSON (`conn.session`).
pub const EV_SESSION: i32 = 12;
/// The server refused the client's 0-RTT: the streams opened in it are gone.
pub const EV_EARLY_REJECTED: i32 = 13;
/// A client's migration (createQuic's `conn.migrate()`) was tried: bytes = the report (JSON:
/// migrated, from, to, error), `code` = 1 if the connection moved to the new socket.
pub const EV_MIGRATED: i32 = 14;
/// The peer's address changed (it migrated, or its NAT rebound, and ngtcp2 moved to the new
/// path): bytes = the new `addr:port`; JavaScript's `remoteAddress`/`remotePort` follow it.
pub const EV_PATH: i32 = 15;

/// Control records (JavaScript -> Rust, pulled with stream -1), first byte.
pub const CT_OPEN: u8 = 1;
pub const CT_DATAGRAM: u8 = 2;
pub const CT_CREDIT: u8 = 3;
pub const CT_RESET: u8 = 4;
pub const CT_STOP: u8 = 5;
pub const CT_CLOSE: u8 = 6;
/// A raw QUIC connection's close: u64 application error code, reason (createQuicServer, `super::js_quic`).
pub const CT_CLOSE_QUIC: u8 = 7;
/// A client connection's move to a new local UDP socket (createQuic's `conn.migrate()`, `super::js_quic`).
pub const CT_MIGRATE: u8 = 8;
/// Stream records (pulled with the stream id), first byte.
pub const ST_DATA: u8 = 1;
pub const ST_FIN: u8 = 2;

/// What the session handler needs from JavaScript; none of it may suspend.
pub trait JsWtBridge {
    fn event(&mut self, key: u32, kind: i32, stream: i64, bytes: &[u8], code: u64);
    /// JavaScript has new actions since the last tick; `clear` resets the mark.
    fn pending(&self, key: u32, clear: bool) -> bool;
    /// Streams with queued output, at most `out.len()`; returns how many were written.
    fn ready(&mut self, key: u32, out: &mut [f64]) -> usize;
    /// The next record for `stream` (-1: control) into `buf`; body bytes at most `max` (for -1: the largest datagram).
    fn pull(&mut self, key: u32, stream: i64, buf: &mut [u8], max: u64) -> usize;
    /// Stream bytes JavaScript holds unread (counted against the buffer budgets).
    fn buffered(&self, key: u32) -> u64;
}

/// What the stream/datagram logic needs of the thing it runs on: a WebTransport session
/// ([`WtSession`]) or a whole raw QUIC connection (`super::js_quic`). Same meaning as
/// [`WtSession`]'s methods of the same names; `close` takes the wire code (u32 for a session's
/// capsule, a 62-bit application error code for a QUIC connection).
pub trait StreamSurface {
    fn max_datagram_payload(&self) -> usize;
    fn send_datagram(&mut self, data: &[u8]) -> crate::error::Result<()>;
    fn open_uni(&mut self) -> crate::error::Result<i64>;
    fn open_bidi(&mut self) -> crate::error::Result<i64>;
    fn send(&mut self, stream: i64, data: &[u8], fin: bool) -> crate::error::Result<()>;
    fn unacked(&self, stream: i64) -> u64;
    fn credit(&mut self, stream: i64, n: u64);
    fn is_open(&self) -> bool;
    fn budget_room(&self, handler_buffered: u64) -> u64;
    fn reset(&mut self, stream: i64, code: u64);
    fn stop_sending(&mut self, stream: i64, code: u64);
    fn close(&mut self, code: u64, reason: &str);
    /// The peer's address on the connection's current path.
    fn peer(&self) -> std::net::SocketAddr;
}

impl StreamSurface for WtSession<'_> {
    fn max_datagram_payload(&self) -> usize {
        WtSession::max_datagram_payload(self)
    }
    fn send_datagram(&mut self, data: &[u8]) -> crate::error::Result<()> {
        WtSession::send_datagram(self, data)
    }
    fn open_uni(&mut self) -> crate::error::Result<i64> {
        WtSession::open_uni(self)
    }
    fn open_bidi(&mut self) -> crate::error::Result<i64> {
        WtSession::open_bidi(self)
    }
    fn send(&mut self, stream: i64, data: &[u8], fin: bool) -> crate::error::Result<()> {
        WtSession::send(self, stream, data, fin)
    }
    fn unacked(&self, stream: i64) -> u64 {
        WtSession::unacked(self, stream)
    }
    fn credit(&mut self, stream: i64, n: u64) {
        WtSession::credit(self, stream, n)
    }
    fn is_open(&self) -> bool {
        WtSession::is_open(self)
    }
    fn budget_room(&self, handler_buffered: u64) -> u64 {
        WtSession::budget_room(self, handler_buffered)
    }
    fn reset(&mut self, stream: i64, code: u64) {
        WtSession::reset(self, stream, code)
    }
    fn stop_sending(&mut self, stream: i64, code: u64) {
        WtSession::stop_sending(self, stream, code)
    }
    fn close(&mut self, code: u64, reason: &str) {
        WtSession::close(self, code.min(u32::MAX as u64) as u32, reason)
    }
    fn peer(&self) -> std::net::SocketAddr {
        self.conn.remote_addr()
    }
}

/// The peer address JavaScript was last told of, for one connection: [`moved`](Self::moved)
/// says when the connection's path changed (the peer migrated or its NAT rebound). Used by the
/// session handler (EV_PATH) and the HTTP/3 request handler (`conn_path`, WebSockets).
#[derive(Default)]
pub struct PeerWatch(Option<std::net::SocketAddr>);

impl PeerWatch {
    /// `now` if it differs from the peer seen before (never on the first look).
    pub fn moved(&mut self, now: std::net::SocketAddr) -> Option<std::net::SocketAddr> {
        let before = self.0.replace(now);
        before.filter(|p| *p != now).map(|_| now)
    }
}

/// Stream bytes received since JavaScript last heard from us, one entry per stream in arrival
/// order. A receive batch brings dozens of STREAM (or HTTP/3 DATA) frames of one stream; they
/// cross into JavaScript as one chunk, before the next other event or at the tick. Used by the
/// session handler (EV_DATA) and the HTTP/3 request handler (`data`).
#[derive(Default)]
pub struct Inbound(Vec<(i64, Vec<u8>)>);

impl Inbound {
    /// Appends `data` to what `stream` has gathered (a stream's first chunk, if owned, is kept
    /// as it is).
    pub fn add<D: AsRef<[u8]> + Into<Vec<u8>>>(&mut self, stream: i64, data: D) {
        match self.0.iter_mut().find(|(id, _)| *id == stream) {
            Some((_, b)) => b.extend_from_slice(data.as_ref()),
            None => self.0.push((stream, data.into())),
        }
    }

    /// Everything gathered, per stream in arrival order; empty afterwards.
    pub fn take(&mut self) -> Vec<(i64, Vec<u8>)> {
        std::mem::take(&mut self.0)
    }
}

static NEXT_KEY: AtomicU32 = AtomicU32::new(1);

/// A fresh session key (JavaScript's name for the session).
pub fn next_key() -> u32 {
    NEXT_KEY.fetch_add(1, Ordering::Relaxed)
}

/// Received and credited bytes of one peer-sending stream.
#[derive(Default)]
struct Recv {
    received: u64,
    credited: u64,
}

/// The [`WebTransportHandler`] of one JavaScript session.
pub struct JsWtHandler<B: JsWtBridge> {
    bridge: B,
    key: u32,
    recv: HashMap<i64, Recv>,
    buf: Vec<u8>,
    ready: Vec<f64>,
    /// More streams were ready than one call names: tick again at once.
    more: bool,
    /// A stream waited for its window or the budget: try again on the next tick (ACKs bring one).
    blocked: bool,
    closed: bool,
    /// EV_GONE was sent (`on_gone`); the drop does not send it again.
    gone: bool,
    /// Opens JavaScript asked for that wait for the peer's stream limit (uni, token), in order:
    /// retried on every tick (MAX_STREAMS arrives in a packet, and packets tick), failed on close.
    waiting: std::collections::VecDeque<(bool, u64)>,
    /// JavaScript asked to migrate (CT_MIGRATE), not yet taken by the connection's app:
    /// the local address it named (UTF-8, empty: the current one).
    migrate: Option<Vec<u8>>,
    /// The peer's address JavaScript knows (EV_PATH when the connection's path moves).
    peer: PeerWatch,
    /// Stream bytes not yet handed to JavaScript: one EV_DATA per stream and receive batch.
    inbound: Inbound,
}

impl<B: JsWtBridge> JsWtHandler<B> {
    pub fn new(bridge: B, key: u32) -> Self {
        JsWtHandler {
            bridge,
            key,
            recv: HashMap::new(),
            buf: vec![0; PULL_BUFFER + 32],
            ready: vec![0.0; READY_BATCH],
            more: false,
            blocked: false,
            closed: false,
            gone: false,
            waiting: Default::default(),
            migrate: None,
            peer: PeerWatch::default(),
            inbound: Inbound::default(),
        }
    }

    /// Takes JavaScript's migration request (CT_MIGRATE), once per request: the local
    /// address it named, as JavaScript wrote it (empty: keep the current one).
    pub fn take_migrate(&mut self) -> Option<Vec<u8>> {
        self.migrate.take()
    }

    /// Hands JavaScript the stream bytes gathered since its last event, one EV_DATA per stream.
    fn flush_inbound(&mut self) {
        for (id, data) in self.inbound.take() {
            self.bridge.event(self.key, EV_DATA, id, &data, 0);
        }
    }

    /// An event for JavaScript, after the stream bytes that arrived before it.
    fn emit(&mut self, kind: i32, stream: i64, bytes: &[u8], code: u64) {
        self.flush_inbound();
        self.bridge.event(self.key, kind, stream, bytes, code);
    }

    /// Credits what JavaScript will never read of every stream (the connection window must not shrink for good).
    fn credit_all<S: StreamSurface>(&mut self, s: &mut S) {
        for (id, r) in self.recv.drain() {
            if r.received > r.credited {
                s.credit(id, r.received - r.credited);
            }
        }
    }

    fn control<S: StreamSurface>(&mut self, s: &mut S, n: usize) {
        let rec = &self.buf[..n];
        let u64at = |o: usize| rec.get(o..o + 8).map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
        match rec[0] {
            CT_OPEN if n >= 6 => {
                let uni = rec[1] != 0;
                let token = u32::from_le_bytes(rec[2..6].try_into().unwrap_or([0; 4])) as u64;
                // Behind earlier waiting opens of the same direction: keep JavaScript's order.
                if self.waiting.iter().any(|&(u, _)| u == uni) || !self.open(s, uni, token) {
                    self.waiting.push_back((uni, token));
                }
            }
            CT_DATAGRAM => {
                // Too large ones were dropped by JavaScript (it knows the limit); a failure here is a race with it.
                let _ = s.send_datagram(&rec[1..]);
            }
            CT_CREDIT if n >= 17 => {
                let (id, k) = (u64at(1) as i64, u64at(9));
                if let Some(r) = self.recv.get_mut(&id) {
                    let k = k.min(r.received - r.credited);
                    r.credited += k;
                    s.credit(id, k);
                }
            }
            CT_RESET if n >= 17 => s.reset(u64at(1) as i64, u64at(9)),
            CT_STOP if n >= 17 => s.stop_sending(u64at(1) as i64, u64at(9)),
            CT_CLOSE if n >= 5 => {
                let code = u32::from_le_bytes(rec[1..5].try_into().unwrap_or([0; 4]));
                let reason = String::from_utf8_lossy(&rec[5..]).into_owned();
                s.close(code as u64, &reason);
            }
            CT_CLOSE_QUIC if n >= 9 => {
                let reason = String::from_utf8_lossy(&rec[9..]).into_owned();
                s.close(u64at(1), &reason);
            }
            CT_MIGRATE => self.migrate = Some(rec[1..].to_vec()),
            k => log::warn!("js wt: unknown control record {k} ({n} bytes)"),
        }
    }
}

impl<B: JsWtBridge> Drop for JsWtHandler<B> {
    fn drop(&mut self) {
        if !self.gone {
            self.bridge.event(self.key, EV_GONE, -1, &[], 0);
        }
    }
}

/// The event and tick logic, on any [`StreamSurface`] (a WebTransport session or a QUIC connection).
impl<B: JsWtBridge> JsWtHandler<B> {
    /// Opens a stream JavaScript asked for; false when the peer's stream limit holds it back
    /// (the caller queues it). Other failures (the connection is closing) are reported.
    fn open<S: StreamSurface>(&mut self, s: &mut S, uni: bool, token: u64) -> bool {
        match if uni { s.open_uni() } else { s.open_bidi() } {
            Ok(id) => self.emit(EV_OPENED, id, &[], token),
            Err(e) if e.is_stream_limit() && s.is_open() && !self.closed => return false,
            Err(e) => {
                log::debug!("js wt: cannot open a stream: {e}");
                self.emit(EV_OPEN_FAILED, -1, &[], token)
            }
        }
        true
    }

    /// Retries the waiting opens, oldest first, per direction, until one is still held back.
    fn open_waiting<S: StreamSurface>(&mut self, s: &mut S) {
        let mut held = [false, false];
        let mut rest = std::collections::VecDeque::new();
        while let Some((uni, token)) = self.waiting.pop_front() {
            if held[uni as usize] || !self.open(s, uni, token) {
                held[uni as usize] = true;
                rest.push_back((uni, token));
            }
        }
        self.waiting = rest;
    }

    /// The session or connection is gone: the waiting opens fail.
    fn fail_waiting(&mut self) {
        for (_, token) in std::mem::take(&mut self.waiting) {
            self.emit(EV_OPEN_FAILED, -1, &[], token);
        }
    }

    /// An event that carries no stream or bytes (EV_ZERO_RTT).
    pub fn notify(&mut self, kind: i32) {
        self.emit(kind, -1, &[], 0);
    }

    /// An event of the connection (no stream) with bytes and a code (EV_ESTABLISHED, EV_SESSION).
    pub fn event(&mut self, kind: i32, bytes: &[u8], code: u64) {
        self.emit(kind, -1, bytes, code);
    }

    /// 0-RTT was refused: our streams opened in it are gone (the peer's stay); JavaScript fails them.
    pub fn early_data_rejected(&mut self, server: bool) {
        let peer_bit = if server { 0 } else { 1 };
        self.recv.retain(|id, _| id & 1 == peer_bit);
        self.notify(EV_EARLY_REJECTED);
    }

    pub fn on_datagram(&mut self, data: &[u8]) {
        self.bridge.event(self.key, EV_DATAGRAM, -1, data, 0);
    }

    pub fn on_stream_data<S: StreamSurface>(&mut self, s: &mut S, stream: i64, data: &[u8], fin: bool) {
        if self.closed {
            return s.credit(stream, data.len() as u64);
        }
        if !data.is_empty() {
            // Credited when JavaScript reports the bytes read (CT_CREDIT).
            self.recv.entry(stream).or_default().received += data.len() as u64;
            self.inbound.add(stream, data);
        }
        if fin {
            self.emit(EV_FIN, stream, &[], 0);
        }
    }

    pub fn on_stream_reset(&mut self, stream: i64, code: u64) {
        // JavaScript discards what it holds of the stream and credits it (CT_CREDIT).
        self.emit(EV_RESET, stream, &[], code);
    }

    pub fn on_stop_sending<S: StreamSurface>(&mut self, s: &mut S, stream: i64, code: u64) {
        // RFC 9000 section 3.5: answer STOP_SENDING with RESET_STREAM (the same code).
        s.reset(stream, code);
        self.emit(EV_STOP_SENDING, stream, &[], code);
    }

    /// The connection went away without a close (a Stateless Reset): JavaScript's `closed`
    /// rejects (ECONNRESET) with `why`, as for an idle timeout.
    pub fn on_gone<S: StreamSurface>(&mut self, s: &mut S, why: &str) {
        self.closed = true;
        self.fail_waiting();
        self.credit_all(s);
        self.gone = true;
        self.emit(EV_GONE, -1, why.as_bytes(), 0);
    }

    pub fn on_close<S: StreamSurface>(&mut self, s: &mut S, code: u64, reason: &str) {
        self.closed = true;
        self.fail_waiting();
        self.credit_all(s);
        self.emit(EV_CLOSED, 0, reason.as_bytes(), code);
    }

    pub fn on_tick<S: StreamSurface>(&mut self, s: &mut S) {
        self.flush_inbound();
        // JavaScript was told the peer's address at accept (or dialled it): a moved path is news.
        if let Some(peer) = self.peer.moved(s.peer()).filter(|_| !self.closed) {
            self.emit(EV_PATH, -1, peer.to_string().as_bytes(), 0);
        }
        let pending = self.bridge.pending(self.key, true);
        if !(pending || self.more || self.blocked || !self.waiting.is_empty()) {
            return;
        }
        self.more = false;
        self.blocked = false;
        if !self.waiting.is_empty() && !self.closed && s.is_open() {
            self.open_waiting(s);
        }
        // Control records first: opens, datagrams, credit, resets, close.
        let max_dgram = s.max_datagram_payload() as u64;
        loop {
            let mut buf = std::mem::take(&mut self.buf);
            let n = self.bridge.pull(self.key, -1, &mut buf, max_dgram).min(buf.len());
            self.buf = buf;
            if n == 0 {
                break;
            }
            self.control(s, n);
        }
        if self.closed || !s.is_open() {
            self.closed = true;
            self.fail_waiting();
            return self.credit_all(s);
        }
        // Entries JavaScript has credited in full are dropped (a later byte recreates one): the map stays small.
        self.recv.retain(|_, r| r.received > r.credited);
        let mut ready = std::mem::take(&mut self.ready);
        let count = self.bridge.ready(self.key, &mut ready).min(ready.len());
        self.more = count == ready.len();
        let mut room = s.budget_room(self.bridge.buffered(self.key));
        for &id in &ready[..count] {
            let id = id as i64;
            loop {
                let max = STREAM_WINDOW.saturating_sub(s.unacked(id)).min(room).min(PULL_BUFFER as u64);
                let mut buf = std::mem::take(&mut self.buf);
                let n = self.bridge.pull(self.key, id, &mut buf, max).min(buf.len());
                self.buf = buf;
                if n == 0 {
                    if max == 0 {
                        self.blocked = true;
                    }
                    break;
                }
                match self.buf[0] {
                    ST_DATA => {
                        let _ = s.send(id, &self.buf[1..n], false);
                        room = room.saturating_sub((n - 1) as u64);
                    }
                    ST_FIN => {
                        let _ = s.send(id, &[], true);
                        break;
                    }
                    k => {
                        log::warn!("js wt: unknown stream record {k} on stream {id}");
                        break;
                    }
                }
            }
        }
        self.ready = ready;
    }

    pub fn timeout(&self) -> Option<u64> {
        (self.more || self.bridge.pending(self.key, false)).then_some(0)
    }

    pub fn buffered(&self) -> u64 {
        self.bridge.buffered(self.key)
    }
}

impl<B: JsWtBridge> WebTransportHandler for JsWtHandler<B> {
    fn credits_data(&self) -> bool {
        true
    }
    fn on_datagram(&mut self, _s: &mut WtSession, data: &[u8]) {
        JsWtHandler::on_datagram(self, data)
    }
    fn on_stream_data(&mut self, s: &mut WtSession, stream: i64, data: &[u8], fin: bool) {
        JsWtHandler::on_stream_data(self, s, stream, data, fin)
    }
    fn on_stream_reset(&mut self, _s: &mut WtSession, stream: i64, code: u64) {
        JsWtHandler::on_stream_reset(self, stream, code)
    }
    fn on_stop_sending(&mut self, s: &mut WtSession, stream: i64, code: u64) {
        JsWtHandler::on_stop_sending(self, s, stream, code)
    }
    fn on_close(&mut self, s: &mut WtSession, code: u32, reason: &str) {
        JsWtHandler::on_close(self, s, code as u64, reason)
    }
    fn on_tick(&mut self, s: &mut WtSession) {
        JsWtHandler::on_tick(self, s)
    }
    fn timeout(&self) -> Option<u64> {
        JsWtHandler::timeout(self)
    }
    fn buffered(&self) -> u64 {
        JsWtHandler::buffered(self)
    }
}

/// The wasm build's bridge: the imports of emscripten/src/lib/libjs_wt.js. None suspends.
#[cfg(target_os = "emscripten")]
pub mod imports {
    use super::JsWtHandler;
    use crate::h3::wt::WebTransportHandler;

    extern "C" {
        fn sjs_wt_accept(conn: u32, key: u32, head: *const u8, len: usize) -> i32;
        fn sjs_wt_event(key: u32, kind: i32, stream: f64, data: *const u8, len: usize, code: f64);
        fn sjs_wt_pending(key: u32, clear: i32) -> i32;
        fn sjs_wt_ready(key: u32, out: *mut f64, cap: usize) -> usize;
        fn sjs_wt_pull(key: u32, stream: f64, buf: *mut u8, cap: usize, max: f64) -> usize;
        fn sjs_wt_buffered(key: u32) -> f64;
        fn sjs_quic_accept(key: u32, head: *const u8, len: usize) -> i32;
    }

    #[derive(Default)]
    pub struct WtImports;

    // SAFETY (all calls below): the imports read exactly `len` bytes at the pointer, or write
    // at most `cap` items into the buffer, and keep no pointer after returning.
    impl super::JsWtBridge for WtImports {
        fn event(&mut self, key: u32, kind: i32, stream: i64, bytes: &[u8], code: u64) {
            unsafe { sjs_wt_event(key, kind, stream as f64, bytes.as_ptr(), bytes.len(), code as f64) }
        }
        fn pending(&self, key: u32, clear: bool) -> bool {
            unsafe { sjs_wt_pending(key, clear as i32) != 0 }
        }
        fn ready(&mut self, key: u32, out: &mut [f64]) -> usize {
            unsafe { sjs_wt_ready(key, out.as_mut_ptr(), out.len()) }
        }
        fn pull(&mut self, key: u32, stream: i64, buf: &mut [u8], max: u64) -> usize {
            unsafe { sjs_wt_pull(key, stream as f64, buf.as_mut_ptr(), buf.len(), max as f64) }
        }
        fn buffered(&self, key: u32) -> u64 {
            unsafe { sjs_wt_buffered(key) as u64 }
        }
    }

    /// Extended CONNECT webtransport on connection `conn` (`head` as js_handler's encode_request):
    /// JavaScript's session, or None when it has no 'webtransport' listener (404).
    pub fn accept(conn: u32, head: &[u8]) -> Option<Box<dyn WebTransportHandler>> {
        let key = super::next_key();
        // SAFETY: as above.
        let ok = unsafe { sjs_wt_accept(conn, key, head.as_ptr(), head.len()) } != 0;
        ok.then(|| Box::new(JsWtHandler::new(WtImports, key)) as Box<dyn WebTransportHandler>)
    }

    /// A raw QUIC connection for createQuicServer (`super::super::js_quic`); `head` as
    /// `js_quic::encode_head`. JavaScript names it by `key` from then on.
    pub fn accept_quic(head: &[u8]) -> JsWtHandler<WtImports> {
        let key = super::next_key();
        // SAFETY: as above.
        unsafe { sjs_quic_accept(key, head.as_ptr(), head.len()) };
        JsWtHandler::new(WtImports, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The events JavaScript would see, and nothing for it to pull.
    #[derive(Default)]
    struct Events(Vec<(i32, i64, Vec<u8>)>);
    impl JsWtBridge for Events {
        fn event(&mut self, _key: u32, kind: i32, stream: i64, bytes: &[u8], _code: u64) {
            self.0.push((kind, stream, bytes.to_vec()));
        }
        fn pending(&self, _key: u32, _clear: bool) -> bool {
            false
        }
        fn ready(&mut self, _key: u32, _out: &mut [f64]) -> usize {
            0
        }
        fn pull(&mut self, _key: u32, _stream: i64, _buf: &mut [u8], _max: u64) -> usize {
            0
        }
        fn buffered(&self, _key: u32) -> u64 {
            0
        }
    }

    /// An open connection that takes everything and records the credit it is given.
    #[derive(Default)]
    struct Surface {
        credited: u64,
    }
    impl StreamSurface for Surface {
        fn max_datagram_payload(&self) -> usize {
            1200
        }
        fn send_datagram(&mut self, _data: &[u8]) -> crate::error::Result<()> {
            Ok(())
        }
        fn open_uni(&mut self) -> crate::error::Result<i64> {
            Ok(3)
        }
        fn open_bidi(&mut self) -> crate::error::Result<i64> {
            Ok(1)
        }
        fn send(&mut self, _stream: i64, _data: &[u8], _fin: bool) -> crate::error::Result<()> {
            Ok(())
        }
        fn unacked(&self, _stream: i64) -> u64 {
            0
        }
        fn credit(&mut self, _stream: i64, n: u64) {
            self.credited += n;
        }
        fn is_open(&self) -> bool {
            true
        }
        fn budget_room(&self, _handler_buffered: u64) -> u64 {
            u64::MAX
        }
        fn reset(&mut self, _stream: i64, _code: u64) {}
        fn stop_sending(&mut self, _stream: i64, _code: u64) {}
        fn close(&mut self, _code: u64, _reason: &str) {}
        fn peer(&self) -> std::net::SocketAddr {
            "10.0.0.1:5000".parse().unwrap()
        }
    }

    /// The STREAM frames of one receive batch cross into JavaScript as one EV_DATA per stream, in
    /// order, before any other event (a FIN, a reset) and at the tick: one chunk for the reader
    /// instead of one per frame.
    #[test]
    fn a_batch_of_stream_frames_reaches_javascript_as_one_chunk_per_stream() {
        let mut h = JsWtHandler::new(Events::default(), 1);
        let mut s = Surface::default();
        h.on_stream_data(&mut s, 0, b"ab", false);
        h.on_stream_data(&mut s, 4, b"xy", false);
        h.on_stream_data(&mut s, 0, b"cd", false);
        h.on_stream_data(&mut s, 0, b"ef", true);
        h.on_stream_data(&mut s, 4, b"z", false);
        h.on_tick(&mut s);
        h.on_stream_data(&mut s, 8, b"12", false);
        h.on_stream_reset(8, 7);
        let seen: Vec<_> = h.bridge.0.iter().map(|(k, id, b)| (*k, *id, String::from_utf8_lossy(b).into_owned())).collect();
        let want = [(EV_DATA, 0, "abcdef"), (EV_DATA, 4, "xy"), (EV_FIN, 0, ""), (EV_DATA, 4, "z"), (EV_DATA, 8, "12"), (EV_RESET, 8, "")];
        let want: Vec<_> = want.iter().map(|&(k, id, b)| (k, id, b.to_string())).collect();
        assert_eq!(seen, want);
        // Nothing was credited on arrival: JavaScript credits what it reads.
        assert_eq!(s.credited, 0);
    }

    #[test]
    fn peer_watch_reports_a_move_once_and_never_the_first_look() {
        let (a, b) = ("10.0.0.1:5000".parse().unwrap(), "10.0.0.1:5001".parse().unwrap());
        let mut w = PeerWatch::default();
        assert_eq!(w.moved(a), None);
        assert_eq!(w.moved(a), None);
        assert_eq!(w.moved(b), Some(b));
        assert_eq!(w.moved(b), None);
    }
}

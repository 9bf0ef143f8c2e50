//! The server's application interface: a [`Handler`] with its own state answers
//! requests (at once or later, streaming its body as room appears) and accepts
//! WebTransport sessions with a [`WebTransportHandler`]. The demo routes
//! (`crate::app::h3::demo`) are one implementation; the JavaScript bridge of
//! issue 10 is meant to be another.

use super::error::H3Error;
use super::session::Session;
use super::wt::WebTransportHandler;
use crate::quic::Connection;

/// A request as its header section arrived.
#[derive(Clone, Debug)]
pub struct Request {
    /// The request stream: every answer names it.
    pub id: i64,
    pub method: String,
    /// `:path` as sent (query included).
    pub path: String,
    /// Extended CONNECT's `:protocol` (RFC 9220), if any.
    pub protocol: Option<String>,
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// The request had no body (FIN with the headers).
    pub fin: bool,
}

impl Request {
    pub fn from_headers(id: i64, headers: Vec<(Vec<u8>, Vec<u8>)>, fin: bool) -> Request {
        let get = |n: &[u8]| headers.iter().find(|(k, _)| k.as_slice() == n).map(|(_, v)| String::from_utf8_lossy(v).into_owned());
        Request { id, method: get(b":method").unwrap_or_default(), path: get(b":path").unwrap_or_default(), protocol: get(b":protocol"), fin, headers }
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.headers.iter().find(|(k, _)| k.as_slice() == name).map(|(_, v)| v.as_slice())
    }

    /// The path without its query.
    pub fn route(&self) -> &str {
        self.path.split('?').next().unwrap_or("")
    }
}

/// What a handler acts through: the HTTP/3 session and its QUIC connection.
pub struct Ctx<'a> {
    pub conn: &'a mut Connection,
    pub session: &'a mut Session,
    pub now: u64,
    /// What the handler itself buffers (counted against the connection's budget).
    pub(crate) handler_buffered: u64,
}

impl Ctx<'_> {
    /// Response headers; with `has_body` the body follows via [`push_body`](Self::push_body).
    pub fn respond(&mut self, id: i64, headers: &[(&[u8], &[u8])], has_body: bool) -> Result<(), H3Error> {
        self.session.respond(id, headers, has_body)
    }

    /// A complete small response (`text/plain`, or `text/html` for a 200 starting with `<`).
    pub fn respond_static(&mut self, id: i64, status: &[u8], body: &[u8]) {
        self.session.respond_static(id, status, body);
    }

    pub fn push_body(&mut self, id: i64, data: Vec<u8>) {
        self.session.push_body(id, data);
    }

    pub fn end_body(&mut self, id: i64) {
        self.session.end_body(id);
    }

    /// Response bytes of `id` queued in the HTTP/3 layer plus sent and not yet acknowledged.
    pub fn queued(&self, id: i64) -> u64 {
        self.session.body_buffered(id) + self.conn.stream_unacked(id)
    }

    /// Bytes the connection may still buffer within its budget (docs/LIMITS.md).
    pub fn budget_room(&self) -> u64 {
        let used = self.conn.buffer_exposure() + self.session.buffered() + self.handler_buffered;
        self.conn.buffer_limit().map_or(u64::MAX, |l| l.saturating_sub(used))
    }

    /// Gives `n` bytes of flow-control credit on request stream `id` back to the peer
    /// (only for handlers whose [`Handler::credits_body`] is true).
    pub fn credit(&mut self, id: i64, n: u64) {
        self.conn.consume(id, n);
    }

    /// The stream-level half of [`credit`](Self::credit) (MAX_STREAM_DATA only).
    pub fn credit_stream(&mut self, id: i64, n: u64) {
        self.conn.consume_stream(id, n);
    }

    /// The connection-level half of [`credit`](Self::credit) (MAX_DATA, as the budget allows).
    pub fn credit_connection(&mut self, n: u64) {
        self.conn.consume_connection(n);
    }

    /// Asks the peer to stop sending the request body.
    pub fn stop_sending(&mut self, id: i64, code: u64) {
        self.conn.stream_stop_sending(id, code);
    }
}

/// A server application. One instance per connection, so it keeps per-connection state.
pub trait Handler {
    /// A request's header section. Answer now or later (e.g. from [`on_tick`](Self::on_tick)).
    /// Extended CONNECT with `:protocol = websocket` arrives here too.
    fn on_request(&mut self, cx: &mut Ctx, req: Request);
    /// Request body bytes (already credited back to the peer, unless [`credits_body`](Self::credits_body)).
    fn on_data(&mut self, _cx: &mut Ctx, _id: i64, _data: Vec<u8>) {}
    /// True: the handler credits request body bytes itself ([`Ctx::credit`]) as it consumes
    /// them, so a slow consumer slows the peer (flow control) instead of buffering. It must
    /// credit every byte `on_data` delivered, also for streams it is done with, or the
    /// connection's window shrinks for good. Asked once, when the connection starts.
    fn credits_body(&self) -> bool {
        false
    }
    /// The peer finished the request body.
    fn on_end(&mut self, _cx: &mut Ctx, _id: i64) {}
    /// The request stream was reset, stopped or closed: forget it.
    fn on_gone(&mut self, _cx: &mut Ctx, _id: i64) {}
    /// Extended CONNECT with `:protocol = webtransport`: a handler accepts it (200), `None` refuses (404).
    fn on_webtransport(&mut self, _cx: &mut Ctx, _req: &Request) -> Option<Box<dyn WebTransportHandler>> {
        None
    }
    /// After each batch of events and on timer expiry: continue streamed bodies.
    fn on_tick(&mut self, _cx: &mut Ctx) {}
    /// When (ns, the clock `Ctx::now` uses) `on_tick` must run even if nothing
    /// arrives: a handler that answers later (a timer, a deadline) asks here.
    /// The host wakes the connection at that time (io::Host's application timers).
    fn timeout(&self) -> Option<u64> {
        None
    }
    /// Bytes the handler holds (partial messages...), counted against the buffer budgets.
    fn buffered(&self) -> u64 {
        0
    }
}

//! Raw QUIC connections whose logic is JavaScript's (`SocketIWA.createQuicServer`,
//! issue 10; docs/JS_SERVERS.md "Raw QUIC servers").
//!
//! The stream and datagram logic is [`super::js_wt::JsWtHandler`]'s, unchanged:
//! the same non-suspending imports, the same records, credit only as JavaScript
//! reads. What differs from a WebTransport session is the surface it runs on
//! ([`QuicSurface`]: the whole connection, every stream, QUIC DATAGRAM frames,
//! the connection's CONNECTION_CLOSE as the close) and how the connection starts
//! (`sjs_quic_accept` with the negotiated ALPN and the peer's address).

use super::js_wt::{JsWtBridge, JsWtHandler, StreamSurface, EV_ESTABLISHED, EV_MIGRATED, EV_SESSION, EV_ZERO_RTT};
use super::ConnectionApp;
use crate::io::{MigrationReport, Rebind};
use crate::quic::{Connection, Event};
use crate::tls::{EarlyData, SavedSession};
use std::net::IpAddr;

/// Application error code of a connection closed by `server.close()` (and of an idle close).
pub const CLOSE_NO_ERROR: u64 = 0;

/// Two byte strings, each after its u16 little-endian length (JavaScript's
/// `decodePair` in api/quic_server.js): the head `sjs_quic_accept` gets, and
/// EV_ESTABLISHED's bytes.
pub fn encode_pair(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + a.len() + b.len());
    v.extend_from_slice(&(a.len() as u16).to_le_bytes());
    v.extend_from_slice(a);
    v.extend_from_slice(&(b.len() as u16).to_le_bytes());
    v.extend_from_slice(b);
    v
}

/// The head `sjs_quic_accept` gets: the ALPN and the peer (`addr:port`).
pub fn encode_head(alpn: &[u8], peer: &str) -> Vec<u8> {
    encode_pair(alpn, peer.as_bytes())
}

/// One connection seen as a [`StreamSurface`].
pub struct QuicSurface<'a> {
    pub conn: &'a mut Connection,
    pub now: u64,
}

impl StreamSurface for QuicSurface<'_> {
    fn max_datagram_payload(&self) -> usize {
        self.conn.max_datagram_payload()
    }
    fn send_datagram(&mut self, data: &[u8]) -> crate::error::Result<()> {
        self.conn.send_datagram(data)
    }
    fn open_uni(&mut self) -> crate::error::Result<i64> {
        self.conn.open_uni()
    }
    fn open_bidi(&mut self) -> crate::error::Result<i64> {
        self.conn.open_bidi()
    }
    fn send(&mut self, stream: i64, data: &[u8], fin: bool) -> crate::error::Result<()> {
        self.conn.stream_send(stream, data, fin)
    }
    fn unacked(&self, stream: i64) -> u64 {
        self.conn.stream_unacked(stream)
    }
    fn credit(&mut self, stream: i64, n: u64) {
        if n > 0 {
            self.conn.consume(stream, n);
        }
    }
    fn is_open(&self) -> bool {
        self.conn.is_open()
    }
    fn budget_room(&self, handler_buffered: u64) -> u64 {
        let used = self.conn.buffer_exposure() + handler_buffered;
        self.conn.buffer_limit().map_or(u64::MAX, |l| l.saturating_sub(used))
    }
    fn reset(&mut self, stream: i64, code: u64) {
        self.conn.stream_reset_write(stream, code);
    }
    fn stop_sending(&mut self, stream: i64, code: u64) {
        self.conn.stream_stop_sending(stream, code);
    }
    fn close(&mut self, code: u64, reason: &str) {
        self.conn.close(self.now, code, reason);
    }
    fn peer(&self) -> std::net::SocketAddr {
        self.conn.remote_addr()
    }
}

/// Tells JavaScript of a connection (its first event, whose bytes it gets) and returns its handler.
type AcceptFn<B> = Box<dyn FnOnce(&[u8]) -> JsWtHandler<B>>;

/// The [`ConnectionApp`] of one createQuicServer connection. JavaScript learns of it
/// on its first event (the app factory does not see the connection).
pub struct JsQuicApp<B: JsWtBridge> {
    make: Option<AcceptFn<B>>,
    h: Option<JsWtHandler<B>>,
    /// The end of the connection was reported to JavaScript.
    reported: bool,
    /// The handshake's completion was reported (JavaScript dispatches 'connection' then).
    established: bool,
    /// A client's (`createQuic`): what its resumption sessions record about the server's verification.
    client: Option<ClientSide>,
}

/// What only a client connection reports: 0-RTT, the server's answer to it, resumption sessions.
struct ClientSide {
    /// [`crate::tls::Verification::binding`] of the client's verification, stored in every session.
    binding: String,
}

/// `code` of EV_ESTABLISHED: the fate of the client's 0-RTT data (JavaScript's `conn.earlyData`).
pub fn early_data_code(e: EarlyData) -> u64 {
    match e {
        EarlyData::None => 0,
        EarlyData::Accepted => 1,
        EarlyData::Rejected => 2,
    }
}

impl<B: JsWtBridge> JsQuicApp<B> {
    /// `accept(head)` tells JavaScript of the connection and returns its handler.
    pub fn new(accept: AcceptFn<B>) -> Self {
        JsQuicApp { make: Some(accept), h: None, reported: false, established: false, client: None }
    }

    /// A client's connection (`createQuic`): JavaScript learns of it at once ([`ConnectionApp::on_start`]),
    /// of 0-RTT, of the handshake's outcome and of every session ticket (as the JSON of a [`SavedSession`]
    /// that records `binding`).
    pub fn client(accept: AcceptFn<B>, binding: String) -> Self {
        JsQuicApp { client: Some(ClientSide { binding }), ..Self::new(accept) }
    }

    /// A client: the newest session ticket, as JSON, to JavaScript (`conn.session`).
    fn report_session(&mut self, conn: &mut Connection) {
        let Some(c) = &self.client else { return };
        let alpn = String::from_utf8_lossy(&conn.alpn().unwrap_or_default()).into_owned();
        let Some(mut s) = conn.take_session(&alpn) else { return };
        s.verification = c.binding.clone();
        if let Some(t) = conn.new_token() {
            s.token = Some(SavedSession::token_hex(&t));
        }
        let json = serde_json::to_vec(&s).expect("serialisable");
        if let Some(h) = self.h.as_mut() {
            h.event(EV_SESSION, &json, 0);
        }
    }

    fn handler(&mut self, conn: &Connection) -> &mut JsWtHandler<B> {
        if let Some(make) = self.make.take() {
            let alpn = conn.alpn().unwrap_or_default();
            self.h = Some(make(&encode_head(&alpn, &conn.remote_addr().to_string())));
        }
        self.h.as_mut().expect("made above")
    }

    /// The connection ended (either side): JavaScript's `closed` resolves with its code and reason.
    fn report_close(&mut self, conn: &mut Connection, now: u64) {
        if self.reported {
            return;
        }
        self.reported = true;
        let (code, reason) = match conn.close_reason() {
            Some(r) => (r.code, r.reason.clone()),
            None => (CLOSE_NO_ERROR, String::new()),
        };
        let reset = conn.was_reset();
        let h = self.handler(conn);
        if reset {
            h.on_gone(&mut QuicSurface { conn, now }, &reason);
        } else {
            h.on_close(&mut QuicSurface { conn, now }, code, &reason);
        }
    }
}

impl<B: JsWtBridge> ConnectionApp for JsQuicApp<B> {
    fn on_start(&mut self, conn: &mut Connection, _now: u64) {
        // Only clients start: JavaScript's connection exists from here; with 0-RTT keys it may send at once.
        self.handler(conn);
        if conn.early_data_attempted() {
            self.h.as_mut().expect("made above").notify(EV_ZERO_RTT);
        }
    }

    fn on_event(&mut self, conn: &mut Connection, now: u64, ev: Event) {
        if self.reported {
            if let Event::StreamData { id, data, .. } = ev {
                conn.consume(id, data.len() as u64);
            }
            return;
        }
        self.handler(conn);
        let server = self.client.is_none();
        let h = self.h.as_mut().expect("made above");
        let mut s = QuicSurface { conn, now };
        match ev {
            Event::StreamData { id, data, fin } => h.on_stream_data(&mut s, id, &data, fin),
            Event::StreamReset { id, code } => h.on_stream_reset(id, code),
            Event::StopSending { id, code } => h.on_stop_sending(&mut s, id, code),
            Event::Datagram(d) => h.on_datagram(&d),
            // The server refused 0-RTT: ngtcp2 dropped every stream opened in it (JavaScript's fail).
            Event::EarlyDataRejected => h.early_data_rejected(server),
            _ => {}
        }
    }

    fn on_tick(&mut self, conn: &mut Connection, now: u64) {
        if self.reported {
            return;
        }
        self.handler(conn);
        let h = self.h.as_mut().expect("made above");
        if !self.established && conn.handshake_completed() {
            // Before this, a close would travel as a transport APPLICATION_ERROR without code or reason.
            self.established = true;
            // Bytes: the ALPN and the negotiated cipher suite (conn.alpn, conn.cipherSuite).
            let alpn = conn.alpn().unwrap_or_default();
            let suite = conn.cipher_suite().unwrap_or_default();
            h.event(EV_ESTABLISHED, &encode_pair(&alpn, suite.as_bytes()), early_data_code(conn.early_data()));
        }
        h.on_tick(&mut QuicSurface { conn, now });
        if self.established && self.client.is_some() {
            self.report_session(conn);
        }
        if !conn.is_open() {
            self.report_close(conn, now);
        }
    }

    fn on_shutdown(&mut self, conn: &mut Connection, now: u64) -> u64 {
        // server.close(): the connection closes with NO_ERROR; JavaScript's `closed` says so.
        if !self.reported {
            if let Some(h) = self.h.as_mut() {
                self.reported = true;
                h.on_close(&mut QuicSurface { conn, now }, CLOSE_NO_ERROR, "server closing");
            }
        }
        CLOSE_NO_ERROR
    }

    fn timeout(&self) -> Option<u64> {
        if self.reported {
            return None;
        }
        self.h.as_ref().and_then(|h| h.timeout())
    }

    fn buffered(&self) -> u64 {
        self.h.as_ref().map_or(0, |h| h.buffered())
    }

    fn wants_migration(&mut self, conn: &mut Connection) -> Option<Rebind> {
        // ngtcp2 migrates a client only once the handshake is confirmed (HANDSHAKE_DONE):
        // a request made just after `ready` waits for that here instead of failing.
        if self.client.is_none() || self.reported || !conn.handshake_confirmed() {
            return None;
        }
        let named = self.h.as_mut()?.take_migrate()?;
        if named.is_empty() {
            return Some(Rebind { after_bytes: 0, addr: None });
        }
        // JavaScript checked it is an IP literal; anything else fails the request, never moves elsewhere.
        match std::str::from_utf8(&named).ok().and_then(|s| s.parse::<IpAddr>().ok()) {
            Some(ip) => Some(Rebind { after_bytes: 0, addr: Some(ip) }),
            None => {
                let error = format!("{:?} is not an IP address", String::from_utf8_lossy(&named));
                let report = MigrationReport { from: conn.local_addr().to_string(), error: Some(error), ..Default::default() };
                self.migrated(conn, &report);
                None
            }
        }
    }

    fn migrated(&mut self, _conn: &mut Connection, report: &MigrationReport) {
        if let Some(h) = self.h.as_mut() {
            let json = serde_json::to_vec(report).expect("serialisable");
            h.event(EV_MIGRATED, &json, report.migrated as u64);
        }
    }
}

/// The factory of `socket-iwa-server --js-quic ALPN[,ALPN]` (wasm only): every listed
/// ALPN gets a JavaScript connection; TLS refuses the others (no_application_protocol).
#[cfg(target_os = "emscripten")]
pub fn factory(alpns: Vec<String>) -> super::AppFactory {
    Box::new(move |alpn: &[u8]| {
        alpns.iter().any(|a| a.as_bytes() == alpn).then(|| {
            Box::new(JsQuicApp::new(Box::new(super::js_wt::imports::accept_quic))) as Box<dyn ConnectionApp>
        })
    })
}

/// The application of `socket-iwa-client --js-quic` (wasm only; `SocketIWA.createQuic`).
#[cfg(target_os = "emscripten")]
pub fn client_app(binding: String) -> JsQuicApp<super::js_wt::imports::WtImports> {
    JsQuicApp::client(Box::new(super::js_wt::imports::accept_quic), binding)
}

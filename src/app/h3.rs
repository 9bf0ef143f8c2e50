//! ALPN `h3`: the HTTP/3 server app. It drives one [`Session`] (server role) and
//! hands requests to a [`Handler`] and WebTransport sessions to the
//! [`WebTransportHandler`] the handler chose. Server-wide policy stays here:
//! 503 while the server's buffer budget is used up, 501 for an unknown
//! `:protocol`, 404 for a refused WebTransport CONNECT, GOAWAY on shutdown.
//! The default handler is the demo ([`demo::DemoRoutes`]).

pub mod demo;
pub mod static_files;

use super::ConnectionApp;
use crate::h3::handler::{Ctx, Handler, Request};
use crate::h3::wt::{WebTransportHandler, WtSession};
use crate::h3::{H3Config, Role, Session, SessionEvent};
use crate::quic::{Connection, Event};
use std::collections::HashMap;

pub use demo::bytes_pattern;

pub const ALPN: &str = crate::h3::ALPN;

pub struct H3Server {
    session: Session,
    handler: Box<dyn Handler>,
    /// The handler of each open WebTransport session, by CONNECT stream id.
    wt: HashMap<i64, Box<dyn WebTransportHandler>>,
}

impl Default for H3Server {
    fn default() -> Self {
        H3Server::new(Box::new(demo::DemoRoutes::default()))
    }
}

impl H3Server {
    pub fn new(handler: Box<dyn Handler>) -> Self {
        let cfg = H3Config { app_credits_data: handler.credits_body(), ..H3Config::default() };
        H3Server { session: Session::new(Role::Server, cfg), handler, wt: HashMap::new() }
    }

    fn with_wt(&mut self, conn: &mut Connection, sid: i64, f: impl FnOnce(&mut dyn WebTransportHandler, &mut WtSession)) {
        if let Some(h) = self.wt.get_mut(&sid) {
            f(h.as_mut(), &mut WtSession::new(sid, conn, &mut self.session));
        }
    }

    fn dispatch(&mut self, conn: &mut Connection, now: u64) {
        while let Some(ev) = self.session.poll() {
            let buffered = self.handler.buffered();
            let cx = &mut Ctx { conn, session: &mut self.session, now, handler_buffered: buffered };
            match ev {
                SessionEvent::Headers { id, headers, fin } => {
                    let req = Request::from_headers(id, headers, fin);
                    if cx.conn.server_busy() {
                        // The server-wide buffer budget is used up: refuse new work, finish what runs.
                        if !fin {
                            cx.stop_sending(id, crate::h3::H3_NO_ERROR);
                        }
                        cx.respond_static(id, b"503", b"server busy, retry later\n");
                        continue;
                    }
                    match (req.method.as_str(), req.protocol.as_deref()) {
                        ("CONNECT", Some("webtransport")) => match self.handler.on_webtransport(cx, &req) {
                            Some(h) => {
                                if cx.session.accept_webtransport(id).is_ok() {
                                    self.wt.insert(id, h);
                                    self.with_wt(conn, id, |h, s| h.on_open(s));
                                }
                            }
                            None => cx.respond_static(id, b"404", b"no such WebTransport endpoint\n"),
                        },
                        ("CONNECT", Some("websocket")) | (_, None) => self.handler.on_request(cx, req),
                        // RFC 8441 section 4 / RFC 9220: a protocol we do not speak.
                        _ => cx.respond_static(id, b"501", b"unsupported :protocol\n"),
                    }
                }
                SessionEvent::Data { id, data } => self.handler.on_data(cx, id, data),
                SessionEvent::End { id } => self.handler.on_end(cx, id),
                SessionEvent::Reset { id, .. } | SessionEvent::StopSending { id, .. } => self.handler.on_gone(cx, id),
                SessionEvent::Closed { id } => {
                    self.handler.on_gone(cx, id);
                    self.wt.remove(&id);
                }
                SessionEvent::WtClosed { session, cause } => {
                    let (code, reason) = cause.code_reason();
                    self.with_wt(conn, session, |h, s| h.on_close(s, code, reason));
                }
                SessionEvent::WtData { session, stream, data, fin } => {
                    // A handler that credits as its application reads does it itself (js_wt.rs).
                    let credits = self.wt.get(&session).is_some_and(|h| h.credits_data());
                    self.with_wt(conn, session, |h, s| h.on_stream_data(s, stream, &data, fin));
                    if !credits {
                        conn.consume(stream, data.len() as u64);
                    }
                }
                SessionEvent::WtReset { session, stream, code } => self.with_wt(conn, session, |h, s| h.on_stream_reset(s, stream, code)),
                SessionEvent::WtStopSending { session, stream, code } => {
                    self.with_wt(conn, session, |h, s| h.on_stop_sending(s, stream, code))
                }
                SessionEvent::WtDatagram { session, data } => self.with_wt(conn, session, |h, s| h.on_datagram(s, &data)),
            }
        }
    }
}

impl ConnectionApp for H3Server {
    fn on_event(&mut self, conn: &mut Connection, now: u64, ev: Event) {
        let _ = self.session.on_event(conn, now, ev);
        self.dispatch(conn, now);
    }

    fn buffered(&self) -> u64 {
        self.session.buffered() + self.handler.buffered() + self.wt.values().map(|h| h.buffered()).sum::<u64>()
    }

    fn timeout(&self) -> Option<u64> {
        self.wt.values().filter_map(|h| h.timeout()).chain(self.handler.timeout()).min()
    }

    fn on_shutdown(&mut self, conn: &mut Connection, _now: u64) -> u64 {
        // RFC 9114 section 5.2: GOAWAY, then close with H3_NO_ERROR.
        self.session.shutdown(conn);
        crate::h3::H3_NO_ERROR
    }

    fn on_tick(&mut self, conn: &mut Connection, now: u64) {
        if !self.session.is_ready() {
            return;
        }
        let buffered = self.handler.buffered();
        self.handler.on_tick(&mut Ctx { conn, session: &mut self.session, now, handler_buffered: buffered });
        for (&sid, h) in self.wt.iter_mut() {
            h.on_tick(&mut WtSession::new(sid, conn, &mut self.session));
        }
        self.session.flush(conn, now);
    }
}

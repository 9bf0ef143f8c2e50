//! ALPN `h3`, client role: [`H3ClientApp`] drives one [`Session`] (client role)
//! for a [`ClientHandler`], which submits requests and Extended CONNECTs and
//! reads what the session reports. The scripted test clients (GET/POST,
//! WebTransport and WebSocket sessions) are handlers in the `testkit` crate.

use super::ConnectionApp;
use crate::h3::{H3Config, Role, Session, SessionEvent};
use crate::quic::{Connection, Event};

/// What a client handler acts through.
pub struct ClientCtx<'a> {
    pub conn: &'a mut Connection,
    pub session: &'a mut Session,
    pub now: u64,
}

/// A client application on an HTTP/3 connection.
pub trait ClientHandler {
    /// The HTTP/3 settings to offer.
    fn config(&self) -> H3Config {
        H3Config::default()
    }
    /// The handshake completed and HTTP/3 is set up: submit requests.
    fn on_ready(&mut self, cx: &mut ClientCtx);
    /// The peer allows more bidirectional streams.
    fn on_streams_available(&mut self, _cx: &mut ClientCtx) {}
    fn on_event(&mut self, cx: &mut ClientCtx, ev: SessionEvent);
    /// After each batch of events and on timer expiry. `true`: done, close the
    /// connection (GOAWAY, then H3_NO_ERROR).
    fn on_tick(&mut self, cx: &mut ClientCtx) -> bool;
    /// The handler's own next deadline.
    fn timeout(&self) -> Option<u64> {
        None
    }
}

pub struct H3ClientApp<H> {
    session: Session,
    pub handler: H,
    done: bool,
}

impl<H: ClientHandler> H3ClientApp<H> {
    pub fn new(handler: H) -> Self {
        H3ClientApp { session: Session::new(Role::Client, handler.config()), handler, done: false }
    }

    /// The handler said it was done and the connection close was queued.
    pub fn done(&self) -> bool {
        self.done
    }
}

impl<H> std::ops::Deref for H3ClientApp<H> {
    type Target = H;
    fn deref(&self) -> &H {
        &self.handler
    }
}

impl<H> std::ops::DerefMut for H3ClientApp<H> {
    fn deref_mut(&mut self) -> &mut H {
        &mut self.handler
    }
}

impl<H: ClientHandler> ConnectionApp for H3ClientApp<H> {
    fn on_event(&mut self, conn: &mut Connection, now: u64, ev: Event) {
        let cx = &mut ClientCtx { conn, session: &mut self.session, now };
        match cx.session.on_event(cx.conn, now, ev) {
            Some(Event::HandshakeCompleted) if cx.session.is_ready() => self.handler.on_ready(cx),
            Some(Event::BidiStreamsAvailable) if cx.session.is_ready() => self.handler.on_streams_available(cx),
            _ => {}
        }
        while let Some(ev) = cx.session.poll() {
            self.handler.on_event(cx, ev);
        }
    }

    fn timeout(&self) -> Option<u64> {
        self.handler.timeout()
    }

    fn buffered(&self) -> u64 {
        self.session.buffered()
    }

    fn on_tick(&mut self, conn: &mut Connection, now: u64) {
        if self.done {
            return;
        }
        let done = self.handler.on_tick(&mut ClientCtx { conn, session: &mut self.session, now });
        self.session.flush(conn, now);
        if done {
            self.done = true;
            self.session.shutdown(conn);
            conn.close(now, crate::h3::H3_NO_ERROR, "done");
        }
    }
}

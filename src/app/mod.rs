//! Application protocols, chosen per connection by the negotiated ALPN.

pub mod echo;
pub mod h3;
pub mod h3_client;
pub mod memory;

use crate::quic::{Connection, Event};

/// Per-connection application logic driven by connection events.
pub trait ConnectionApp {
    /// Client side: called once before the first packet is written, so data
    /// queued here can travel as 0-RTT.
    fn on_start(&mut self, _conn: &mut Connection, _now: u64) {}
    fn on_event(&mut self, conn: &mut Connection, now: u64, ev: Event);
    /// Called after each batch of events and on timer expiry.
    fn on_tick(&mut self, _conn: &mut Connection, _now: u64) {}
    /// The server is stopping: queue any goodbye (HTTP/3 GOAWAY) on `conn` and
    /// return the application error code to close the connection with.
    fn on_shutdown(&mut self, _conn: &mut Connection, _now: u64) -> u64 {
        0
    }
    /// The app's own next deadline, if it has one.
    fn timeout(&self) -> Option<u64> {
        None
    }
    /// Bytes the app itself holds for this connection outside the QUIC send
    /// buffers (bodies waiting for the HTTP/3 layer, partial WebSocket messages...).
    /// Counted against the connection's and the server's buffer budgets.
    fn buffered(&self) -> u64 {
        0
    }
}

/// Creates the application for a negotiated ALPN, or `None` if unsupported.
pub type AppFactory = Box<dyn Fn(&[u8]) -> Option<Box<dyn ConnectionApp>>>;

/// The ALPN protocols the server binary offers, in preference order.
pub const SERVER_ALPNS: &[&str] = &[echo::ALPN, h3::ALPN];

/// The server's factory: `echo` and `h3`.
pub fn server_factory() -> AppFactory {
    Box::new(|alpn: &[u8]| match alpn {
        a if a == echo::ALPN.as_bytes() => Some(Box::new(echo::EchoServer::default()) as Box<dyn ConnectionApp>),
        a if a == h3::ALPN.as_bytes() => Some(Box::new(h3::H3Server::default()) as Box<dyn ConnectionApp>),
        _ => None,
    })
}

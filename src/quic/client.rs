//! A dialing endpoint: one client connection, no application (the host runs it).

use super::connection::Connection;
use super::{ConnKey, Endpoint, EndpointEvent};
use std::net::SocketAddr;

/// The key of a client endpoint's one connection.
pub const CLIENT_KEY: ConnKey = 0;

pub struct ClientEndpoint {
    pub conn: Connection,
    /// The connection's events are waiting for the application.
    ready: bool,
    close_flushed: bool,
}

impl ClientEndpoint {
    pub fn new(conn: Connection) -> Self {
        ClientEndpoint { conn, ready: false, close_flushed: false }
    }
}

impl Endpoint for ClientEndpoint {
    fn handle_datagram(&mut self, now: u64, local: SocketAddr, remote: SocketAddr, data: &[u8]) {
        self.conn.recv(now, local, remote, data);
        self.ready = true;
    }

    fn timeout(&self) -> Option<u64> {
        self.conn.timeout()
    }

    fn on_timeout(&mut self, now: u64) {
        if self.conn.timeout().is_some_and(|t| t <= now) {
            self.conn.on_timeout(now);
        }
        self.ready = true;
    }

    fn poll_event(&mut self) -> Option<EndpointEvent> {
        std::mem::take(&mut self.ready).then_some(EndpointEvent::Ready(CLIENT_KEY))
    }

    fn connection(&self, key: ConnKey) -> Option<&Connection> {
        (key == CLIENT_KEY).then_some(&self.conn)
    }

    fn connection_mut(&mut self, key: ConnKey) -> Option<&mut Connection> {
        (key == CLIENT_KEY).then_some(&mut self.conn)
    }

    fn processed(&mut self, _key: ConnKey, _now: u64, _app_buffered: u64) {}

    fn touch(&mut self, _key: ConnKey) {}

    fn keys(&self) -> Vec<ConnKey> {
        vec![CLIENT_KEY]
    }

    fn poll_stateless(&mut self) -> Option<(Vec<u8>, SocketAddr)> {
        None
    }

    fn unsent_stateless(&mut self, _pkt: Vec<u8>, _to: SocketAddr) {}

    fn take_sendable(&mut self) -> Vec<ConnKey> {
        vec![CLIENT_KEY]
    }

    fn flushed(&mut self, _key: ConnKey, _drained: bool, blocked: bool) {
        if !blocked && !self.conn.is_open() {
            self.close_flushed = true;
        }
    }

    fn not_flushed(&mut self, _keys: &[ConnKey]) {}

    fn is_done(&self) -> bool {
        // A client need not linger in the closing period once CONNECTION_CLOSE is out.
        self.conn.is_closed() || (!self.conn.is_open() && self.close_flushed)
    }
}

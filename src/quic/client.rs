//! A dialing endpoint: one client connection and the application driving it.

use super::connection::Connection;
use super::Endpoint;
use crate::app::ConnectionApp;
use crate::error::{Error, Result};
use crate::io::{run, UdpSocket};
use crate::quic::{ConnectionConfig, Versions};
use crate::time::now_ns;
use crate::tls::{SavedSession, TlsContext};
use std::net::SocketAddr;

/// Where and how a client connects.
pub struct Dial<'a> {
    pub remote: SocketAddr,
    pub alpns: &'a [&'a str],
    pub server_name: &'a str,
    pub session: Option<&'a SavedSession>,
    /// Give up after this many seconds.
    pub timeout_secs: u64,
    /// QUIC versions to offer (default: v1 first, v2 preferred).
    pub versions: Versions,
}

/// Binds a wildcard UDP socket of the remote's family, connects, and drives the
/// app built by `make_app(now)` on the socket loop until it is done or the
/// timeout passes. Returns the endpoint so the caller can read the app's report.
pub fn dial_and_run<A: ConnectionApp>(tls: &TlsContext, d: &Dial, make_app: impl FnOnce(u64) -> A) -> Result<ClientEndpoint<A>> {
    let bind: SocketAddr = if d.remote.is_ipv4() { "0.0.0.0:0".parse().unwrap() } else { "[::]:0".parse().unwrap() };
    let sock = UdpSocket::bind(bind).map_err(|e| Error::Other(format!("cannot bind a UDP socket: {e}")))?;
    let now = now_ns();
    let conn = Connection::connect(tls, sock.local_addr(), d.remote, d.alpns, d.server_name, d.session, &ConnectionConfig { versions: d.versions, ..Default::default() }, now)?;
    let mut ep = ClientEndpoint::new(conn, make_app(now), now);
    let deadline = now + d.timeout_secs * 1_000_000_000;
    run(&sock, &mut ep, &|| now_ns() > deadline)?;
    Ok(ep)
}

pub struct ClientEndpoint<A: ConnectionApp> {
    pub conn: Connection,
    pub app: A,
    buf: Vec<u8>,
    blocked: Option<(Vec<u8>, SocketAddr)>,
    close_flushed: bool,
}

impl<A: ConnectionApp> ClientEndpoint<A> {
    /// Wraps a fresh connection; the app may queue data at once (sent as 0-RTT when resuming).
    pub fn new(mut conn: Connection, mut app: A, now: u64) -> Self {
        app.on_start(&mut conn, now);
        ClientEndpoint { conn, app, buf: vec![0u8; 1500], blocked: None, close_flushed: false }
    }

    fn process(&mut self, now: u64) {
        while let Some(ev) = self.conn.poll_event() {
            self.app.on_event(&mut self.conn, now, ev);
        }
        self.app.on_tick(&mut self.conn, now);
    }
}

impl<A: ConnectionApp> Endpoint for ClientEndpoint<A> {
    fn handle_datagram(&mut self, now: u64, local: SocketAddr, remote: SocketAddr, data: &[u8]) {
        self.conn.recv(now, local, remote, data);
        self.process(now);
    }

    fn timeout(&self) -> Option<u64> {
        [self.conn.timeout(), self.app.timeout()].into_iter().flatten().min()
    }

    fn on_timeout(&mut self, now: u64) {
        if self.conn.timeout().is_some_and(|t| t <= now) {
            self.conn.on_timeout(now);
        }
        self.process(now);
    }

    fn flush(&mut self, now: u64, send: &mut dyn FnMut(&[u8], SocketAddr) -> bool) -> bool {
        if let Some((pkt, to)) = self.blocked.take() {
            if !send(&pkt, to) {
                self.blocked = Some((pkt, to));
                return false;
            }
        }
        let limit = self.conn.burst_limit();
        for _ in 0..limit {
            match self.conn.poll_transmit(now, &mut self.buf) {
                Some((len, to)) => {
                    if !send(&self.buf[..len], to) {
                        self.blocked = Some((self.buf[..len].to_vec(), to));
                        return false;
                    }
                }
                None => break,
            }
        }
        self.conn.burst_done(now);
        if !self.conn.is_open() {
            self.close_flushed = true;
        }
        true
    }

    fn is_done(&self) -> bool {
        // A client need not linger in the closing period once CONNECTION_CLOSE is out.
        self.conn.is_closed() || (!self.conn.is_open() && self.close_flushed)
    }
}

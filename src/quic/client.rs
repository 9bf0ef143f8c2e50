//! A dialing endpoint: one client connection and the application driving it.

use super::connection::Connection;
use super::Endpoint;
use crate::app::ConnectionApp;
use crate::error::{Error, Result};
use crate::io::{run, UdpSocket};
use crate::quic::{ConnectionConfig, Versions};
use crate::time::now_ns;
use crate::tls::{SavedSession, TlsContext};
use std::net::{IpAddr, SocketAddr};

/// Where and how a client connects.
pub struct Dial<'a> {
    pub remote: SocketAddr,
    pub alpns: &'a [&'a str],
    pub server_name: &'a str,
    pub session: Option<&'a SavedSession>,
    /// Give up after this many seconds.
    pub timeout_secs: u64,
    /// Migrate to a new socket part-way through (see [`Rebind`]).
    pub rebind: Option<Rebind>,
    /// QUIC versions to offer (default: v1 first, v2 preferred).
    pub versions: Versions,
}

/// A deliberate client migration: once `after_bytes` bytes of stream data have
/// arrived, the client binds a new UDP socket (new port; on `addr` if given,
/// else the current local IP) and moves the connection onto it.
#[derive(Clone, Copy, Debug)]
pub struct Rebind {
    pub after_bytes: u64,
    pub addr: Option<IpAddr>,
}

/// What became of a requested migration, for the client's report.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct MigrationReport {
    pub migrated: bool,
    /// Local address before and after the migration.
    pub from: String,
    pub to: Option<String>,
    /// Stream bytes received when the client moved.
    pub at_bytes: Option<u64>,
    pub error: Option<String>,
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
    ep.rebind = d.rebind;
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
    /// A requested migration not yet attempted.
    pub rebind: Option<Rebind>,
    /// Stream bytes received so far (the migration trigger).
    received: u64,
    pub migration: Option<MigrationReport>,
}

impl<A: ConnectionApp> ClientEndpoint<A> {
    /// Wraps a fresh connection; the app may queue data at once (sent as 0-RTT when resuming).
    pub fn new(mut conn: Connection, mut app: A, now: u64) -> Self {
        app.on_start(&mut conn, now);
        ClientEndpoint { conn, app, buf: vec![0u8; 1500], blocked: None, close_flushed: false, rebind: None, received: 0, migration: None }
    }

    fn process(&mut self, now: u64) {
        while let Some(ev) = self.conn.poll_event() {
            if let super::Event::StreamData { data, .. } = &ev {
                self.received += data.len() as u64;
            }
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

    fn wants_new_socket(&mut self) -> Option<SocketAddr> {
        let r = self.rebind?;
        if self.received < r.after_bytes || !self.conn.is_open() {
            return None;
        }
        let local = self.conn.local_addr();
        Some(SocketAddr::new(r.addr.unwrap_or(local.ip()), 0))
    }

    fn rebound(&mut self, now: u64, bound: std::io::Result<SocketAddr>) -> bool {
        // One attempt: whatever happens, the report says so.
        self.rebind = None;
        let mut m = MigrationReport { from: self.conn.local_addr().to_string(), at_bytes: Some(self.received), ..Default::default() };
        let moved = match bound {
            Ok(addr) => match self.conn.migrate(addr, now) {
                Ok(()) => {
                    log::info!("migrated from {} to {addr}", m.from);
                    m.to = Some(addr.to_string());
                    true
                }
                Err(e) => {
                    m.error = Some(e.to_string());
                    false
                }
            },
            Err(e) => {
                m.error = Some(format!("cannot bind the new socket: {e}"));
                false
            }
        };
        m.migrated = moved;
        self.migration = Some(m);
        moved
    }
}

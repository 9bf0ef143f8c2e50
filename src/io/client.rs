//! Dialing: bind a socket, connect, run a client application on the socket
//! loop until it is done or the time is up.

use super::host::{ClientHost, ConnectionApp, MigrationReport, Rebind};
use super::{run_woken, UdpSocket};
use crate::error::{Error, Result};
use crate::quic::{Connection, ConnectionConfig};
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
    /// Migrate to a new socket part-way through (see [`Rebind`]).
    pub rebind: Option<Rebind>,
    /// The connection's settings: QUIC versions offered, qlog, ACK threshold
    /// (`ClientConnArgs::config` builds them from the clients' flags).
    pub conn: ConnectionConfig,
}

/// What is left after a client run: the connection, its application and the
/// outcome of a requested migration.
pub struct ClientRun<A> {
    pub conn: Connection,
    pub app: A,
    pub migration: Option<MigrationReport>,
}

/// Binds a wildcard UDP socket of the remote's family, connects, and drives the
/// app built by `make_app(now)` on the socket loop until it is done or the
/// timeout passes.
pub fn dial_and_run<A: ConnectionApp>(tls: &TlsContext, d: &Dial, make_app: impl FnOnce(u64) -> A) -> Result<ClientRun<A>> {
    let deadline = now_ns() + d.timeout_secs.saturating_mul(1_000_000_000);
    dial_and_run_woken(tls, d, make_app, &|| now_ns() > deadline, &|| false, std::time::Duration::from_millis(100))
}

/// [`dial_and_run`] on [`run_woken`]: the run ends when the connection is done or
/// `stop()` says so (not at `d.timeout_secs`); `woken` and `max_wait` as there. For
/// a client whose application is driven from outside (JavaScript's `createQuic`).
pub fn dial_and_run_woken<A: ConnectionApp>(
    tls: &TlsContext,
    d: &Dial,
    make_app: impl FnOnce(u64) -> A,
    stop: &dyn Fn() -> bool,
    woken: &dyn Fn() -> bool,
    max_wait: std::time::Duration,
) -> Result<ClientRun<A>> {
    let bind: SocketAddr = if d.remote.is_ipv4() { "0.0.0.0:0".parse().unwrap() } else { "[::]:0".parse().unwrap() };
    let sock = UdpSocket::bind(bind).map_err(|e| Error::Bind { addr: bind, source: e })?;
    let now = now_ns();
    let conn = Connection::connect(tls, sock.local_addr(), d.remote, d.alpns, d.server_name, d.session, &d.conn, now)?;
    let mut host = ClientHost::client(conn, make_app(now), now);
    host.rebind = d.rebind;
    run_woken(&sock, &mut host, stop, woken, max_wait)?;
    let (conn, app, migration) = host.into_parts();
    Ok(ClientRun { conn, app, migration })
}

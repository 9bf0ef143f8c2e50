//! A dialing endpoint: one client connection, no application (the host runs it).

use super::connection::Connection;
use super::{ConnKey, ConnectionConfig, Endpoint, EndpointEvent, Versions};
use std::net::SocketAddr;

/// The connection flags both client binaries take (`#[command(flatten)]`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ClientConnArgs {
    /// Write the connection's qlog (JSON-SEQ) to DIR/<odcid>.client.sqlog, mode 0600.
    /// Native builds only. docs/ARCHITECTURE.md "qlog".
    #[arg(long, value_name = "DIR", value_parser = super::parse_qlog_dir)]
    pub qlog_dir: Option<std::path::PathBuf>,
    /// With --qlog-dir: bytes the qlog file may reach (K/M/G suffixes); the rest of the
    /// connection is not logged (one warning).
    #[arg(long, value_name = "BYTES", requires = "qlog_dir", value_parser = super::parse_qlog_max_bytes,
          default_value_t = super::DEFAULT_QLOG_MAX_BYTES)]
    pub qlog_max_bytes: u64,
    /// Received ack-eliciting packets that make the client ACK at once (ngtcp2's ack_thresh;
    /// 0: its default, 2). Fewer ACK-only packets for the server to receive on downloads
    /// and uploads; out-of-order packets are still acknowledged at once. docs/PERF_IWA.md.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub ack_thresh: u32,
    /// Initiate one key update (RFC 9001 6) once this many stream bytes were received
    /// (0: only ngtcp2's own, before an AEAD's confidentiality limit). For exercising peers.
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    pub key_update_after: u64,
}

impl ClientConnArgs {
    /// The connection settings these flags ask for, offering `versions`.
    pub fn config(&self, versions: Versions) -> ConnectionConfig {
        ConnectionConfig {
            versions,
            qlog_dir: self.qlog_dir.clone(),
            qlog_max_bytes: self.qlog_max_bytes,
            ack_thresh: self.ack_thresh as usize,
            key_update_after: self.key_update_after,
            ..Default::default()
        }
    }
}

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
    fn handle_datagram(&mut self, now: u64, local: SocketAddr, remote: SocketAddr, ecn: u8, data: &[u8]) {
        self.conn.recv(now, local, remote, ecn, data);
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

    fn poll_stateless(&mut self) -> Option<(Vec<u8>, SocketAddr, SocketAddr)> {
        None
    }

    fn unsent_stateless(&mut self, _pkt: Vec<u8>, _to: SocketAddr, _from: SocketAddr) {}

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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        conn: ClientConnArgs,
    }

    #[test]
    fn client_flags_reach_the_connection_config() {
        let c = Cli::try_parse_from(["x", "--ack-thresh", "8"]).unwrap().conn.config(Versions::Only(super::super::QUIC_V1));
        assert_eq!((c.ack_thresh, c.qlog_dir.is_none()), (8, true));
        assert_eq!(c.versions, Versions::Only(super::super::QUIC_V1));
        let d = Cli::try_parse_from(["x"]).unwrap().conn.config(Versions::default());
        assert_eq!(d.ack_thresh, 0, "0 keeps ngtcp2's default");
        let e = Cli::try_parse_from(["x", "--ack-thresh", "1001"]).err().unwrap().to_string();
        assert!(e.contains("--ack-thresh"), "{e}");
        let dir = std::env::temp_dir().to_string_lossy().into_owned();
        let q = Cli::try_parse_from(["x", "--qlog-dir", &dir, "--qlog-max-bytes", "2M"]).unwrap().conn.config(Versions::default());
        assert_eq!(q.qlog_max_bytes, 2 << 20);
        assert_eq!(d.qlog_max_bytes, super::super::DEFAULT_QLOG_MAX_BYTES);
        let e = Cli::try_parse_from(["x", "--qlog-max-bytes", "2M"]).err().unwrap().to_string();
        assert!(e.contains("--qlog-dir"), "needs --qlog-dir: {e}");
        let e = Cli::try_parse_from(["x", "--qlog-dir", &dir, "--qlog-max-bytes", "100"]).err().unwrap().to_string();
        assert!(e.contains("--qlog-max-bytes") && e.contains("minimum"), "{e}");
    }
}

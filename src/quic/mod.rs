//! The sans-IO QUIC core over ngtcp2. See [`connection`] for one connection,
//! [`server`] for the accepting endpoint and [`client`] for a dialing one.
//! Nothing here owns a socket, reads a clock or knows an application: the
//! [`Endpoint`] trait is what [`crate::io::Host`] drives.

pub mod client;
pub mod connection;
pub mod error;
pub mod server;
pub mod units;

pub use client::{ClientConnArgs, ClientEndpoint};
pub use connection::{parse_qlog_dir, parse_qlog_max_bytes, CloseReason, Connection, Event, DEFAULT_QLOG_MAX_BYTES};
pub use error::{DatagramError, MigrateError, Ngtcp2Error, StreamError};
pub use server::{ServerConfig, ServerEndpoint};
pub use units::parse_byte_size;

use crate::sockaddr::RawAddr;
use ngtcp2_sys as n;
use std::net::SocketAddr;

/// QUIC version 1 (RFC 9000). ngtcp2's macro for it is a cast bindgen cannot evaluate.
pub const QUIC_V1: u32 = 0x0000_0001;
/// QUIC version 2 (RFC 9369).
pub const QUIC_V2: u32 = 0x6b33_43cf;
/// Our versions, most preferred first: what a server lists in Version
/// Negotiation and upgrades a compatible client to (RFC 9368), and what a
/// client lists in its version_information. See docs/INTEROP.md, "QUIC versions".
pub const PREFERRED_VERSIONS: [u32; 2] = [QUIC_V2, QUIC_V1];

/// Which QUIC versions a connection uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Versions {
    /// Client: first Initial in v1, v2 offered and preferred (compatible version
    /// negotiation). Server: v1 and v2 accepted, a client that offers v2 is upgraded.
    #[default]
    Compatible,
    /// Client: exactly this version (its first Initial uses it, nothing else is
    /// offered). Server: only this one is preferred and listed in Version Negotiation.
    Only(u32),
}

impl Versions {
    /// Parses "v1" / "v2" (a fixed version) or "auto" (compatible negotiation).
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Versions::Compatible),
            "v1" | "1" => Ok(Versions::Only(QUIC_V1)),
            "v2" | "2" => Ok(Versions::Only(QUIC_V2)),
            _ => Err(format!("unknown QUIC version {s:?} (expected v1, v2 or auto)")),
        }
    }

    /// The version of the client's first Initial.
    pub fn initial(&self) -> u32 {
        match self {
            Versions::Compatible => QUIC_V1,
            Versions::Only(v) => *v,
        }
    }

    /// Our versions, most preferred first (ngtcp2's preferred and available versions).
    pub fn list(&self) -> &[u32] {
        match self {
            Versions::Compatible => &PREFERRED_VERSIONS,
            Versions::Only(v) => std::slice::from_ref(v),
        }
    }
}

/// "v1", "v2", or the version number in hex.
pub fn version_name(v: u32) -> String {
    match v {
        QUIC_V1 => "v1".into(),
        QUIC_V2 => "v2".into(),
        _ => format!("{v:#x}"),
    }
}

/// Transport limits for one connection. Defaults suit bulk echo and 100+
/// concurrent streams; both sides use the same values.
#[derive(Clone, Debug)]
pub struct ConnectionConfig {
    pub initial_max_data: u64,
    pub initial_max_stream_data: u64,
    pub max_window: u64,
    pub max_stream_window: u64,
    pub max_streams_bidi: u64,
    pub max_streams_uni: u64,
    pub idle_timeout_ms: u64,
    pub handshake_timeout_ms: u64,
    /// 0 disables QUIC DATAGRAM (RFC 9221).
    pub max_datagram_frame_size: u64,
    pub versions: Versions,
    /// Received ack-eliciting packets that trigger an immediate ACK (ngtcp2's
    /// `ack_thresh`); 0 keeps ngtcp2's default (2). docs/PERF_IWA.md, "ACK threshold".
    pub ack_thresh: usize,
    /// Largest UDP payload we send once Path MTU Discovery confirmed it
    /// (1200..=1472); 0 keeps ngtcp2's default (1452, probing 1406/1444).
    /// docs/PERF_IWA.md, "Datagram size".
    pub max_udp_payload: usize,
    /// Write each connection's qlog into this directory (`--qlog-dir`; native
    /// builds; src/quic/connection/qlog.rs). None: no qlog.
    pub qlog_dir: Option<std::path::PathBuf>,
    /// With `qlog_dir`: bytes one connection's qlog file may reach (`--qlog-max-bytes`);
    /// the rest of that connection is not logged.
    pub qlog_max_bytes: u64,
    /// Initiate one key update (RFC 9001 6) once this many stream bytes were received
    /// and the handshake is confirmed (`--key-update-after`); 0: only the ones ngtcp2
    /// starts itself, before an AEAD's confidentiality limit. For exercising peers.
    pub key_update_after: u64,
    /// Server: the addresses offered in the `preferred_address` transport parameter
    /// (RFC 9000 9.6; at most one IPv4 and one IPv6, `--preferred-address`), to which
    /// clients move once the handshake is confirmed. The server must receive what is
    /// sent to them on the same socket (one bound to a wildcard address,
    /// docs/ARCHITECTURE.md "Local addresses"). Clients ignore it: they always move to
    /// a server's preferred address of their own address family.
    pub preferred_addresses: Vec<SocketAddr>,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            initial_max_data: 16 << 20,
            initial_max_stream_data: 1 << 20,
            max_window: 64 << 20,
            max_stream_window: 16 << 20,
            max_streams_bidi: 128,
            max_streams_uni: 16,
            idle_timeout_ms: 30_000,
            handshake_timeout_ms: 10_000,
            max_datagram_frame_size: 65535,
            versions: Versions::default(),
            ack_thresh: 0,
            max_udp_payload: 0,
            qlog_dir: None,
            qlog_max_bytes: connection::DEFAULT_QLOG_MAX_BYTES,
            key_update_after: 0,
            preferred_addresses: Vec::new(),
        }
    }
}

/// A connection's handle inside an endpoint.
pub type ConnKey = u64;

/// What an endpoint asks of the host that drives it ([`crate::io::Host`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointEvent {
    /// The connection has news (events queued, a timer fired, it closed): the
    /// host runs its application and then calls [`Endpoint::processed`].
    Ready(ConnKey),
    /// The connection is gone (closed, timed out, reclaimed, evicted): the host
    /// drops its application.
    Closed(ConnKey),
}

/// A packet [`Connection::poll_transmit`] wrote: its length in the caller's buffer,
/// its destination, the local address of its path (the source it must leave from:
/// on a socket bound to a wildcard address the io layer sets it per datagram,
/// docs/ARCHITECTURE.md "Local addresses"), and the ECN codepoint ngtcp2 chose for
/// it (RFC 9000 13.4: ECT(0) while ECN is being validated on the path and after it
/// succeeded, Not-ECT otherwise; docs/ARCHITECTURE.md "ECN").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    pub len: usize,
    pub to: SocketAddr,
    pub from: SocketAddr,
    pub ecn: u8,
}

/// A set of connections without applications, sockets or clocks: datagrams in,
/// typed events and packets out, time always an argument. The server endpoint
/// routes by connection ID and admits new connections; the client endpoint
/// holds one connection. [`crate::io::Host`] drives either one together with
/// the connections' applications, natively and in wasm.
pub trait Endpoint {
    /// One received datagram: `local` is the address it was sent to (the socket's,
    /// or where the socket is bound to a wildcard address, the one it arrived at),
    /// `ecn` the codepoint it arrived with (0, Not-ECT, where the socket cannot tell).
    fn handle_datagram(&mut self, now: u64, local: SocketAddr, remote: SocketAddr, ecn: u8, data: &[u8]);
    /// Next timestamp (ns) at which [`on_timeout`](Self::on_timeout) is due.
    fn timeout(&self) -> Option<u64>;
    /// Fires the connection timers that are due (their connections become `Ready`).
    fn on_timeout(&mut self, now: u64);
    /// Endpoint-wide timer work (reclaiming, statistics), run by the host after
    /// the connections made ready by [`on_timeout`](Self::on_timeout) were processed.
    fn maintain(&mut self, _now: u64) {}
    fn poll_event(&mut self) -> Option<EndpointEvent>;
    fn connection(&self, key: ConnKey) -> Option<&Connection>;
    fn connection_mut(&mut self, key: ConnKey) -> Option<&mut Connection>;
    /// The connection `key`, about to be handed to its application (the server
    /// first tells it whether new work must be refused).
    fn connection_for_app(&mut self, key: ConnKey) -> Option<&mut Connection> {
        self.connection_mut(key)
    }
    /// The application of `key` ran; it holds `app_buffered` bytes of its own.
    /// The endpoint updates routes, budgets and timers (and forgets a closed connection).
    fn processed(&mut self, key: ConnKey, now: u64, app_buffered: u64);
    /// `key` was changed from outside processing (a goodbye queued, a close):
    /// schedule its output and its timer.
    fn touch(&mut self, key: ConnKey);
    /// Every connection, for shutdown.
    fn keys(&self) -> Vec<ConnKey>;
    /// A stateless packet to send (Version Negotiation, Retry, a refusal, a Stateless
    /// Reset), its destination and its source: the local address of the datagram it answers.
    fn poll_stateless(&mut self) -> Option<(Vec<u8>, SocketAddr, SocketAddr)>;
    /// A stateless packet the socket refused, to be sent first next time.
    fn unsent_stateless(&mut self, pkt: Vec<u8>, to: SocketAddr, from: SocketAddr);
    /// Connections that may have packets to write, in order. Each one taken is
    /// reported back with [`flushed`](Self::flushed) or [`not_flushed`](Self::not_flushed).
    fn take_sendable(&mut self) -> Vec<ConnKey>;
    /// `key` wrote one burst: `drained` if it had nothing more, `blocked` if the socket refused a packet.
    fn flushed(&mut self, key: ConnKey, drained: bool, blocked: bool);
    /// The socket filled up before these were visited: they stay sendable.
    fn not_flushed(&mut self, keys: &[ConnKey]);
    /// Called once after every flush.
    fn flush_done(&mut self) {}
    /// True when the endpoint has nothing left to do (a client whose connection ended).
    fn is_done(&self) -> bool;
}

/// ngtcp2's description of a library error code.
pub fn ngtcp2_strerror(code: i32) -> String {
    // SAFETY: ngtcp2_strerror returns a static NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(n::ngtcp2_strerror(code)) }.to_string_lossy().into_owned()
}

/// An `ngtcp2_path` with the address storage it points into (named apart from `std::path::PathBuf`).
/// Boxed so the inner pointers stay valid when the value moves.
pub(crate) struct NgPath(Box<(n::ngtcp2_path, RawAddr, RawAddr)>);

impl NgPath {
    pub(crate) fn new(local: SocketAddr, remote: SocketAddr) -> Self {
        // SAFETY: ngtcp2_path is plain data; the pointers are set right below.
        let mut b = Box::new((unsafe { std::mem::zeroed::<n::ngtcp2_path>() }, RawAddr::from_std(&local), RawAddr::from_std(&remote)));
        b.0.local.addr = b.1.as_mut_ptr().cast();
        b.0.local.addrlen = b.1.len as _;
        b.0.remote.addr = b.2.as_mut_ptr().cast();
        b.0.remote.addrlen = b.2.len as _;
        NgPath(b)
    }

    pub(crate) fn path(&mut self) -> &n::ngtcp2_path {
        &self.0 .0
    }

    pub(crate) fn path_mut(&mut self) -> *mut n::ngtcp2_path {
        &mut self.0 .0
    }

    /// The remote address now in the path: after a write, the destination
    /// ngtcp2 chose for that packet (it copies the packet's path in here).
    pub(crate) fn remote(&self) -> Option<SocketAddr> {
        path_remote(&self.0 .0)
    }

    /// The local address now in the path (after a write: the source of that packet).
    pub(crate) fn local(&self) -> Option<SocketAddr> {
        path_local(&self.0 .0)
    }
}

/// The local and remote addresses of an ngtcp2 path.
pub(crate) fn path_local(p: &n::ngtcp2_path) -> Option<SocketAddr> {
    // SAFETY: ngtcp2 paths point at addresses valid for their addrlen.
    unsafe { crate::sockaddr::from_sockaddr(p.local.addr as *const libc::sockaddr, p.local.addrlen as _) }
}

pub(crate) fn path_remote(p: &n::ngtcp2_path) -> Option<SocketAddr> {
    // SAFETY: as in `path_local`.
    unsafe { crate::sockaddr::from_sockaddr(p.remote.addr as *const libc::sockaddr, p.remote.addrlen as _) }
}

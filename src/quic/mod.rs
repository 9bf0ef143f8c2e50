//! The sans-IO QUIC core over ngtcp2. See [`connection`] for one connection,
//! [`server`] for the accepting endpoint and [`client`] for a dialing one.

pub mod client;
pub mod connection;
pub mod server;

pub use client::ClientEndpoint;
pub use connection::{CloseReason, Connection, Event};
pub use server::{ServerConfig, ServerEndpoint};

use crate::io::addr::RawAddr;
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
        }
    }
}

/// What the socket driver needs from an endpoint: datagrams in, a timer,
/// datagrams out. Server and client endpoints implement it; the driver in
/// [`crate::io::driver`] is the same for both, natively and in wasm.
pub trait Endpoint {
    fn handle_datagram(&mut self, now: u64, local: SocketAddr, remote: SocketAddr, data: &[u8]);
    /// Next timestamp (ns) at which [`on_timeout`](Self::on_timeout) is due.
    fn timeout(&self) -> Option<u64>;
    fn on_timeout(&mut self, now: u64);
    /// Writes pending packets through `send`, which returns false when the socket
    /// would block; returns false if it stopped for that reason.
    fn flush(&mut self, now: u64, send: &mut dyn FnMut(&[u8], SocketAddr) -> bool) -> bool;
    fn is_done(&self) -> bool;
    /// The process is stopping, step 1: let every connection's app queue its
    /// goodbye (HTTP/3's GOAWAY). The driver keeps running the loop after this
    /// so the goodbyes are sent and acknowledged. Default: nothing.
    fn begin_shutdown(&mut self, _now: u64) {}
    /// True once every goodbye queued by `begin_shutdown` has been sent and
    /// acknowledged (nothing left unsent or in flight). Default: true.
    fn goodbyes_delivered(&self) -> bool {
        true
    }
    /// Step 2: close every connection (CONNECTION_CLOSE with the app's code).
    /// The driver flushes once more afterwards. Default: nothing.
    fn finish_shutdown(&mut self, _now: u64) {}
    /// The endpoint wants a new UDP socket (a client migrating): the local
    /// address to bind (port 0: any). The driver binds it and calls
    /// [`rebound`](Self::rebound). Default: never.
    fn wants_new_socket(&mut self) -> Option<SocketAddr> {
        None
    }
    /// The driver's answer to `wants_new_socket`: the new socket's local
    /// address, or why binding failed. Returns true if the endpoint moved to
    /// the new socket; the driver then reads and writes only the new one.
    /// Otherwise it drops the new one and carries on as before.
    fn rebound(&mut self, _now: u64, _bound: std::io::Result<SocketAddr>) -> bool {
        false
    }
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
}

/// The local and remote addresses of an ngtcp2 path.
pub(crate) fn path_local(p: &n::ngtcp2_path) -> Option<SocketAddr> {
    // SAFETY: ngtcp2 paths point at addresses valid for their addrlen.
    unsafe { crate::io::addr::from_sockaddr(p.local.addr as *const libc::sockaddr, p.local.addrlen as _) }
}

pub(crate) fn path_remote(p: &n::ngtcp2_path) -> Option<SocketAddr> {
    // SAFETY: as in `path_local`.
    unsafe { crate::io::addr::from_sockaddr(p.remote.addr as *const libc::sockaddr, p.remote.addrlen as _) }
}

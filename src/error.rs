//! The crate's error type, and the QUIC layer's precise errors (re-exported
//! as `quic::StreamError` etc., defined here so this module imports no layer).
//! Callers match on variants; `?` works across layers.
use std::net::SocketAddr;
use std::path::PathBuf;

/// Errors surfaced by Socket.IWA's library layers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file the user named could not be used. The message names the file.
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    /// A value the user supplied (a flag, a server name, an ALPN name) is
    /// unusable. The message names it.
    #[error("{0}")]
    BadInput(String),
    /// A session file's content is unusable (see [`crate::tls::SavedSession`]).
    #[error("session file: {0}")]
    Session(&'static str),
    /// wolfSSL refused an operation.
    #[error("TLS: {0}")]
    Tls(String),
    /// ngtcp2 returned an error code.
    #[error(transparent)]
    Quic(#[from] Ngtcp2Error),
    #[error(transparent)]
    Stream(#[from] StreamError),
    #[error(transparent)]
    Datagram(#[from] DatagramError),
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    /// No UDP socket could be bound on the address.
    #[error("cannot bind a UDP socket on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    /// A socket operation failed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    pub(crate) fn file(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Self {
        Error::File { path: path.into(), reason: reason.to_string() }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

// ---- the QUIC layer's errors (see `crate::quic::error`) -----------------------
/// ngtcp2 refused an operation: what we tried and its error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("QUIC: {what}: {msg} ({code})")]
pub struct Ngtcp2Error {
    pub what: &'static str,
    /// ngtcp2's (negative) library error code, e.g. `NGTCP2_ERR_STREAM_ID_BLOCKED`.
    pub code: i32,
    /// ngtcp2's description of `code`.
    pub msg: String,
}

/// Why a stream operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// Data after FIN: the stream was already finished.
    #[error("stream {0} already finished")]
    Finished(i64),
    /// No stream could be opened (typically the peer's stream limit: `code` is
    /// `NGTCP2_ERR_STREAM_ID_BLOCKED`).
    #[error(transparent)]
    Open(Ngtcp2Error),
}

/// Why a DATAGRAM frame was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatagramError {
    /// Larger than the peer accepts (`max` is 0 when it did not negotiate datagrams).
    #[error("datagram of {len} bytes exceeds the peer's limit of {max}")]
    TooLarge { len: usize, max: usize },
}

/// Why a client migration did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MigrateError {
    #[error("cannot migrate a closing connection")]
    NotOpen,
    /// RFC 9000 18.2: the server's transport parameters forbid active migration.
    #[error("the server does not allow migration (disable_active_migration)")]
    DisabledByPeer,
    /// Every connection ID the server issued is in use; it sends more with NEW_CONNECTION_ID.
    #[error("no spare connection ID from the server yet (it issues more as old ones are retired); try again shortly")]
    NoConnectionId,
    #[error(transparent)]
    Refused(Ngtcp2Error),
}


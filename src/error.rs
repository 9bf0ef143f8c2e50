//! The crate's error type. Each layer's precise errors are enums callers can
//! match on (the QUIC ones are defined in [`crate::quic::error`]); this type
//! gathers them so `?` works across layers.

use crate::quic::error::{DatagramError, MigrateError, Ngtcp2Error, StreamError};
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

    pub(crate) fn ngtcp2(what: &'static str, code: i32) -> Self {
        Error::Quic(Ngtcp2Error::new(what, code))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

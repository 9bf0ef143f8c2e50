//! The crate's error type.

use std::path::PathBuf;

/// Errors surfaced by Socket.IWA's library layers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file the user named could not be used. The message names the file.
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    /// wolfSSL refused an operation.
    #[error("TLS: {0}")]
    Tls(String),
    /// ngtcp2 returned an error code.
    #[error("QUIC: {what}: {msg} ({code})")]
    Quic { what: &'static str, code: i32, msg: String },
    /// A socket operation failed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// Anything else with a message.
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub(crate) fn file(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Self {
        Error::File { path: path.into(), reason: reason.to_string() }
    }

    pub(crate) fn ngtcp2(what: &'static str, code: i32) -> Self {
        Error::Quic { what, code, msg: crate::quic::ngtcp2_strerror(code) }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

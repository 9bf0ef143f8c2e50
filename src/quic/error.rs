//! The QUIC layer's errors, precise enough to match on.

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

impl Ngtcp2Error {
    pub fn new(what: &'static str, code: i32) -> Self {
        Ngtcp2Error { what, code, msg: super::ngtcp2_strerror(code) }
    }
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
    #[error(transparent)]
    Refused(Ngtcp2Error),
}

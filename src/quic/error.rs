//! The QUIC layer's errors, precise enough to match on. The types are defined
//! in `crate::error` (so the crate's `Error` can wrap them without importing
//! this layer) and re-exported here, where they are produced.

pub use crate::error::{DatagramError, MigrateError, Ngtcp2Error, StreamError};

impl Ngtcp2Error {
    pub fn new(what: &'static str, code: i32) -> Self {
        Ngtcp2Error { what, code, msg: super::ngtcp2_strerror(code) }
    }
}

/// An ngtcp2 error code as the crate's error.
pub(crate) fn ngtcp2(what: &'static str, code: i32) -> crate::Error {
    crate::Error::Quic(Ngtcp2Error::new(what, code))
}

impl crate::Error {
    /// The peer's stream limit stopped a stream from opening (`NGTCP2_ERR_STREAM_ID_BLOCKED`):
    /// it opens once the peer's MAX_STREAMS allows (RFC 9000 section 4.6).
    pub fn is_stream_limit(&self) -> bool {
        matches!(self, crate::Error::Stream(StreamError::Open(e)) if e.code == ngtcp2_sys::NGTCP2_ERR_STREAM_ID_BLOCKED)
    }
}

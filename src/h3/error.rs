//! Errors of the HTTP/3 layer, each carrying the RFC 9114 / RFC 9204 error code
//! the connection or stream is closed with, so callers can match on them.

use nghttp3_sys as h;
use std::os::raw::c_int;

/// HTTP/3 error codes (RFC 9114 section 8.1, RFC 9204 section 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum H3Code {
    NoError,
    GeneralProtocolError,
    InternalError,
    StreamCreationError,
    ClosedCriticalStream,
    FrameUnexpected,
    FrameError,
    ExcessiveLoad,
    IdError,
    SettingsError,
    MissingSettings,
    RequestRejected,
    RequestCancelled,
    RequestIncomplete,
    MessageError,
    ConnectError,
    VersionFallback,
    QpackDecompressionFailed,
    QpackEncoderStreamError,
    QpackDecoderStreamError,
    /// A code outside the registry above (extensions, GREASE).
    Other(u64),
}

const CODES: [(H3Code, u64); 20] = [
    (H3Code::NoError, 0x100),
    (H3Code::GeneralProtocolError, 0x101),
    (H3Code::InternalError, 0x102),
    (H3Code::StreamCreationError, 0x103),
    (H3Code::ClosedCriticalStream, 0x104),
    (H3Code::FrameUnexpected, 0x105),
    (H3Code::FrameError, 0x106),
    (H3Code::ExcessiveLoad, 0x107),
    (H3Code::IdError, 0x108),
    (H3Code::SettingsError, 0x109),
    (H3Code::MissingSettings, 0x10a),
    (H3Code::RequestRejected, 0x10b),
    (H3Code::RequestCancelled, 0x10c),
    (H3Code::RequestIncomplete, 0x10d),
    (H3Code::MessageError, 0x10e),
    (H3Code::ConnectError, 0x10f),
    (H3Code::VersionFallback, 0x110),
    (H3Code::QpackDecompressionFailed, 0x200),
    (H3Code::QpackEncoderStreamError, 0x201),
    (H3Code::QpackDecoderStreamError, 0x202),
];

impl H3Code {
    pub fn from_u64(v: u64) -> H3Code {
        CODES.iter().find(|(_, c)| *c == v).map_or(H3Code::Other(v), |(k, _)| *k)
    }

    pub fn to_u64(self) -> u64 {
        match self {
            H3Code::Other(v) => v,
            k => CODES.iter().find(|(c, _)| *c == k).map_or(0x102, |(_, v)| *v),
        }
    }
}

impl std::fmt::Display for H3Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            H3Code::Other(v) => write!(f, "0x{v:x}"),
            k => write!(f, "{k:?} (0x{:x})", k.to_u64()),
        }
    }
}

fn strerror(lib: i32) -> String {
    // SAFETY: nghttp3_strerror takes any int and returns a static C string.
    unsafe { std::ffi::CStr::from_ptr(h::nghttp3_strerror(lib as c_int)) }.to_string_lossy().into_owned()
}

/// An error that ends the HTTP/3 connection; [`H3Error::code`] is what to close it with.
#[derive(Debug, thiserror::Error)]
pub enum H3Error {
    /// nghttp3 failed `op` with its library error `lib`, which maps to `code`.
    #[error("{op}: {} (closing with {code})", strerror(*lib))]
    Nghttp3 { op: &'static str, lib: i32, code: H3Code },
    /// The QUIC layer refused to open one of our control or QPACK streams.
    #[error("cannot open an HTTP/3 stream: {0}")]
    OpenStream(#[source] crate::error::Error),
}

impl H3Error {
    /// Maps an nghttp3 error to the HTTP/3 code it implies (`nghttp3_err_infer_quic_app_error_code`).
    pub(crate) fn lib(op: &'static str, lib: i64) -> H3Error {
        // SAFETY: takes any library error code.
        let code = unsafe { h::nghttp3_err_infer_quic_app_error_code(lib as c_int) };
        H3Error::Nghttp3 { op, lib: lib as i32, code: H3Code::from_u64(code) }
    }

    pub fn h3_code(&self) -> H3Code {
        match self {
            H3Error::Nghttp3 { code, .. } => *code,
            H3Error::OpenStream(_) => H3Code::InternalError,
        }
    }

    /// The application error code to close the connection with.
    pub fn code(&self) -> u64 {
        self.h3_code().to_u64()
    }
}

/// A malformed capsule on a WebTransport CONNECT stream (closes the stream with H3_MESSAGE_ERROR).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapsuleError {
    #[error("capsule of {0} bytes is over the 1 MiB limit")]
    TooLong(u64),
    #[error("CLOSE_WEBTRANSPORT_SESSION capsule of {0} bytes is shorter than its 4-byte code")]
    ShortClose(usize),
}

impl CapsuleError {
    pub fn code(&self) -> H3Code {
        H3Code::MessageError
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for (k, v) in CODES {
            assert_eq!(H3Code::from_u64(v), k);
            assert_eq!(k.to_u64(), v);
        }
        assert_eq!(H3Code::from_u64(0x21), H3Code::Other(0x21));
        assert_eq!(H3Code::Other(0x21).to_u64(), 0x21);
        let e = H3Error::lib("read stream", h::NGHTTP3_ERR_H3_FRAME_UNEXPECTED as i64);
        assert_eq!(e.h3_code(), H3Code::FrameUnexpected);
        assert_eq!(e.code(), 0x105);
        assert!(e.to_string().starts_with("read stream: "), "{e}");
    }
}

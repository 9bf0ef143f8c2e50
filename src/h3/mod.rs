//! HTTP/3 over nghttp3 (RFC 9114), Extended CONNECT (RFC 9220), HTTP datagrams
//! (RFC 9297) and WebTransport over HTTP/3 (draft-ietf-webtrans-http3).
//!
//! - [`conn`]: the safe wrapper of `nghttp3_conn` fed by QUIC connection events.
//! - [`wt`]: WebTransport sessions, stream routing and the handler trait applications implement.
//! - [`ws`]: RFC 6455 framing for WebSocket over HTTP/3.
//! - [`varint`]: QUIC variable-length integers.

pub mod conn;
pub mod varint;
pub mod ws;
pub mod wt;

pub use conn::{H3Config, H3Conn, H3Error, H3Event};

pub const ALPN: &str = "h3";

pub const FRAME_SETTINGS: u64 = 0x04;
/// draft-ietf-webtrans-http3: SETTINGS_ENABLE_WEBTRANSPORT (what Chromium and aioquic check).
pub const SETTINGS_ENABLE_WEBTRANSPORT: u64 = 0x2b60_3742;
/// draft-ietf-webtrans-http3-07+: SETTINGS_WEBTRANSPORT_MAX_SESSIONS.
pub const SETTINGS_WEBTRANSPORT_MAX_SESSIONS: u64 = 0xc671_706a;
/// Unidirectional stream type of a WebTransport stream.
pub const STREAM_TYPE_WEBTRANSPORT: u64 = 0x54;
/// Signal value opening a WebTransport bidirectional stream.
pub const FRAME_WEBTRANSPORT_STREAM: u64 = 0x41;
/// Capsule closing a WebTransport session (code u32 + reason).
pub const CAPSULE_CLOSE_WEBTRANSPORT_SESSION: u64 = 0x2843;
/// WT_SESSION_GONE: streams of a closed session are reset with it.
pub const WT_SESSION_GONE: u64 = 0x170d_7b68;
/// WT_BUFFERED_STREAM_REJECTED: a stream for a session we do not have.
pub const WT_BUFFERED_STREAM_REJECTED: u64 = 0x3994_bd84;
pub const H3_NO_ERROR: u64 = 0x100;
pub const H3_REQUEST_CANCELLED: u64 = 0x10c;
pub const H3_MESSAGE_ERROR: u64 = 0x10e;

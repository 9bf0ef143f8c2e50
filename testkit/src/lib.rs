//! Test scenarios shared by the in-process tests (`tests/rust/`, over the memory pair
//! in `tests/rust/harness`) and the `socket-iwa-h3-client` binary (over UDP), so
//! both drive exactly the same client logic:
//! - [`h3`]: the scripted HTTP/3 client: GET/POST lists verified byte for byte,
//!   a WebTransport session and a WebSocket-over-HTTP/3 session against echo
//!   endpoints, with a JSON report the pytest suites read.

pub mod h3;

//! Socket.IWA: QUIC (ngtcp2), HTTP/3 (nghttp3) and TLS 1.3 (wolfSSL) driven
//! from Rust, with one socket loop that runs natively and, compiled to
//! `wasm32-unknown-emscripten`, on Direct Sockets inside an Isolated Web App.
//!
//! Layers, bottom up:
//! - [`tls`]: safe wrappers over wolfSSL (contexts, identities, ticket keys, sessions).
//! - [`quic`]: a sans-IO QUIC core over ngtcp2: [`quic::Connection`] and the
//!   server/client endpoints. Datagrams in, datagrams out, explicit timers.
//! - [`io`]: the socket driver on `libc` (`poll` + `recvmsg`/`sendmsg`), the same
//!   code for native and wasm.
//! - [`app`]: application protocols selected by ALPN (`echo`).

pub mod app;
pub mod error;
pub mod io;
pub mod log;
pub mod quic;
pub mod time;
pub mod tls;

pub use error::Error;

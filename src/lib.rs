//! Socket.IWA: QUIC (ngtcp2), HTTP/3 (nghttp3) and TLS 1.3 (wolfSSL) driven
//! from Rust, with one socket loop that runs natively and, compiled to
//! `wasm32-unknown-emscripten`, on Direct Sockets inside an Isolated Web App.
//!
//! Layers, bottom up (each imports only those below it; docs/ARCHITECTURE.md
//! has the table):
//! - [`tls`]: safe wrappers over wolfSSL (contexts, identities, ticket keys,
//!   session capture).
//! - [`quic`]: a sans-IO QUIC core over ngtcp2: [`quic::Connection`] and the
//!   server/client endpoints. Datagrams in, typed events and datagrams out,
//!   explicit timers; no application, socket or clock.
//! - [`io`]: [`io::Host`], the one driver of an endpoint plus its applications,
//!   and the socket loop on `libc` (`poll` + `recvmsg`/`sendmsg`), the same code
//!   for native and wasm.
//! - [`h3`]: HTTP/3 over nghttp3, WebTransport and WebSocket over HTTP/3.
//! - [`app`]: application protocols selected by ALPN (`echo`, `h3`).
//! - Shared leaves: [`error`], [`time`], [`log`], [`sockaddr`].

pub mod app;
pub mod error;
pub mod h3;
pub mod io;
pub mod log;
pub mod quic;
pub mod sockaddr;
pub mod time;
pub mod tls;

pub use error::Error;

/// Versions of the C libraries linked into this binary (ngtcp2, nghttp3, wolfSSL).
pub fn library_versions() -> serde_json::Value {
    // SAFETY: each call returns a pointer to static data owned by the library.
    unsafe {
        let ngtcp2 = std::ffi::CStr::from_ptr((*ngtcp2_sys::ngtcp2_version(0)).version_str);
        let nghttp3 = std::ffi::CStr::from_ptr((*nghttp3_sys::nghttp3_version(0)).version_str);
        let wolfssl = std::ffi::CStr::from_ptr(wolfssl_sys::wolfSSL_lib_version());
        serde_json::json!({
            "ngtcp2": ngtcp2.to_string_lossy(),
            "nghttp3": nghttp3.to_string_lossy(),
            "wolfssl": wolfssl.to_string_lossy(),
        })
    }
}

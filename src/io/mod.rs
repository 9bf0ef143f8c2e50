//! The socket layer and the host: a non-blocking UDP socket on `libc`, the one
//! event loop ([`driver::run`]) and the one driver of connections plus their
//! applications ([`Host`]), for server and client, native and wasm. Natively
//! the sockets are kernel syscalls; in wasm they are Emscripten syscalls that
//! `libdirectsockets.js` maps to Direct Sockets (with JSPI suspending inside `poll`).

pub mod client;
pub mod driver;
pub mod host;
pub mod udp;

pub use client::{dial_and_run, dial_and_run_woken, ClientRun, Dial};
pub use driver::{run, run_woken};
pub use host::{AppFactory, ClientHost, ConnectionApp, Host, MigrationReport, Rebind, ServerHost};
pub use udp::{Received, Target, UdpSocket};

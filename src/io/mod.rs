//! The socket layer: a non-blocking UDP socket on `libc` and the one event loop
//! that drives any [`crate::quic::Endpoint`]. Natively these are kernel
//! syscalls; in wasm they are Emscripten syscalls that `libdirectsockets.js`
//! maps to Direct Sockets (with JSPI suspending inside `poll`).

pub mod addr;
pub mod driver;
pub mod udp;

pub use driver::run;
pub use udp::UdpSocket;

//! Monotonic timestamps in nanoseconds, as ngtcp2 counts them.
//!
//! Emscripten 3.1.6's `clock_gettime(CLOCK_MONOTONIC)` can hand back a
//! `tv_nsec` of 1e9 or more (it scales `performance.now()` without
//! normalising), which makes `std::time::Instant` panic. On that target the
//! clock therefore reads `emscripten_get_now()` (milliseconds, sub-ms precise)
//! directly, through the `emscripten-functions` crate. The other target forks
//! below the protocol code: `io::udp`'s
//! `poll_one` (`ppoll` natively, `poll` with milliseconds in wasm), the heap
//! trim in `quic::server::memory` (glibc only) and the ticket key file's mode
//! in `tls::ticket` (unix only); docs/ARCHITECTURE.md lists them.

use std::time::Duration;

#[cfg(not(target_os = "emscripten"))]
fn raw_ns() -> u64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

#[cfg(target_os = "emscripten")]
fn raw_ns() -> u64 {
    (emscripten_functions::emscripten::get_now() * 1e6) as u64
}

/// Nanoseconds on a monotonic clock (never 0, never `u64::MAX`).
pub fn now_ns() -> u64 {
    raw_ns() + 1
}

/// Time left until `deadline_ns`, or zero if it has passed.
pub fn until(deadline_ns: u64) -> Duration {
    Duration::from_nanos(deadline_ns.saturating_sub(now_ns()))
}

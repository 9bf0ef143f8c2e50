//! The event loop: wait on the socket until data or the endpoint's next timer,
//! feed datagrams in, fire timers, write packets out. One loop for server and
//! client, native and wasm.

use super::udp::UdpSocket;
use crate::quic::Endpoint;
use crate::time::now_ns;
use std::io;

/// Datagrams read per wakeup before timers and output get a turn.
const RECV_BATCH: usize = 64;

/// Runs `ep` on `sock` until the endpoint is done or `stop()` returns true.
/// `stop` is checked at least every 100 ms.
pub fn run(sock: &UdpSocket, ep: &mut dyn Endpoint, stop: &dyn Fn() -> bool) -> io::Result<()> {
    let local = sock.local_addr();
    let mut buf = vec![0u8; 65536];
    loop {
        let now = now_ns();
        // Send first: connections may have queued data at creation (client 0-RTT).
        let write_blocked = !ep.flush(now, &mut |pkt, to| match sock.send_to(pkt, to) {
            Ok(_) => true,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
            Err(e) => {
                // Unreachable peer and the like: the packet is lost; QUIC recovers or times out.
                log::debug!("send to {to} failed: {e}");
                true
            }
        });
        if ep.is_done() || stop() {
            return Ok(());
        }
        // poll() counts whole milliseconds. Rounding a pacing deadline of, say,
        // 200 µs up to 1 ms would cap throughput at one send quantum per ms, so
        // sub-millisecond deadlines are checked without sleeping.
        let wait_ms = match ep.timeout() {
            Some(t) => {
                let ns = t.saturating_sub(now_ns());
                if ns < 1_000_000 {
                    0
                } else {
                    (ns / 1_000_000).min(100) as i32
                }
            }
            None => 100,
        };
        let ready = sock.poll(write_blocked, wait_ms)?;
        if ready.readable {
            for _ in 0..RECV_BATCH {
                match sock.recv_from(&mut buf) {
                    Ok((n, from)) => ep.handle_datagram(now_ns(), local, from, &buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        // ICMP errors surface here on Linux (ECONNREFUSED); not fatal to the endpoint.
                        log::debug!("recv failed: {e}");
                        break;
                    }
                }
            }
        }
        let now = now_ns();
        if ep.timeout().is_some_and(|t| t <= now) {
            ep.on_timeout(now);
        }
    }
}

//! The event loop: wait on the socket until data or the host's next timer,
//! feed datagrams in, fire timers, write packets out. One loop for server and
//! client, native and wasm; everything between the socket and the
//! applications is the [`Host`]'s.

use super::host::{ConnectionApp, Host};
use super::udp::UdpSocket;
use crate::quic::Endpoint;
use crate::time::now_ns;
use std::io;
use std::time::Duration;

/// How long a stopping endpoint waits for its goodbyes to be acknowledged.
const SHUTDOWN_GRACE_NS: u64 = 500_000_000;

/// Datagrams read per wakeup before timers and output get a turn.
const RECV_BATCH: usize = 64;

/// Runs the host `ep` on `sock` until its endpoint is done or `stop()` returns true.
/// `stop` is checked at least every 100 ms; on stop a server host shuts down
/// gracefully (goodbyes acknowledged, at most 500 ms, then CONNECTION_CLOSE);
/// a client host just stops.
/// When the endpoint asks for a new socket (a client migrating, see
/// [`Host::wants_new_socket`]) the loop binds it and, if the endpoint
/// moves onto it, continues on that socket alone (the old one is no longer
/// read; one the loop bound itself is closed when replaced).
pub fn run<E: Endpoint, A: ConnectionApp>(sock: &UdpSocket, ep: &mut Host<E, A>, stop: &dyn Fn() -> bool) -> io::Result<()> {
    run_woken(sock, ep, stop, &|| false, Duration::from_millis(100))
}

/// [`run`], plus `woken()`, checked after each wait: true when something outside the
/// connections (JavaScript, docs/JS_SERVERS.md) changed what an application's
/// `timeout` says, so the host re-reads them ([`Host::reschedule_apps`]). `max_wait`
/// bounds each wait (so `stop` is seen): a caller whose stop request also
/// interrupts the wait (JavaScript's `server.close()`) can let an idle loop sleep longer.
pub fn run_woken<E: Endpoint, A: ConnectionApp>(
    sock: &UdpSocket,
    ep: &mut Host<E, A>,
    stop: &dyn Fn() -> bool,
    woken: &dyn Fn() -> bool,
    max_wait: Duration,
) -> io::Result<()> {
    let mut replacement: Option<UdpSocket> = None;
    let mut buf = vec![0u8; 65536];
    let mut shutdown_deadline: Option<u64> = None;
    loop {
        let now = now_ns();
        if let Some(addr) = ep.wants_new_socket() {
            match UdpSocket::bind(addr) {
                Ok(s) => {
                    if ep.rebound(now, Ok(s.local_addr())) {
                        replacement = Some(s);
                    }
                }
                Err(e) => {
                    ep.rebound(now, Err(e));
                }
            }
        }
        let sock = replacement.as_ref().unwrap_or(sock);
        let local = sock.local_addr();
        let mut send = |pkt: &[u8], to| match sock.send_to(pkt, to) {
            Ok(_) => true,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
            Err(e) => {
                // Unreachable peer and the like: the packet is lost; QUIC recovers or times out.
                log::debug!("send to {to} failed: {e}");
                true
            }
        };
        // Send first: connections may have queued data at creation (client 0-RTT).
        let write_blocked = !ep.flush(now, &mut send);
        if ep.is_done() {
            return Ok(());
        }
        if shutdown_deadline.is_none() && stop() {
            // Graceful stop: the apps queue their goodbyes (GOAWAY); the loop
            // keeps running until those are acknowledged or the grace period ends.
            ep.begin_shutdown(now);
            shutdown_deadline = Some(now + SHUTDOWN_GRACE_NS);
        }
        if let Some(deadline) = shutdown_deadline {
            if ep.goodbyes_delivered() || now_ns() >= deadline {
                // Then CONNECTION_CLOSE; packets that would block are dropped.
                ep.finish_shutdown(now_ns());
                ep.flush(now_ns(), &mut send);
                return Ok(());
            }
        }
        // Sleep exactly until the endpoint's next deadline (pacing deadlines are
        // often sub-millisecond), but at most `max_wait` (100 ms) so `stop` is seen.
        let max = max_wait;
        let wait = match ep.timeout() {
            Some(t) => Duration::from_nanos(t.saturating_sub(now_ns())).min(max),
            None => max,
        };
        // A stopping loop also wakes for the end of its grace period.
        let wait = shutdown_deadline.map_or(wait, |d| wait.min(Duration::from_nanos(d.saturating_sub(now_ns()))));
        let ready = sock.poll(write_blocked, Some(wait))?;
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
        if woken() {
            ep.reschedule_apps();
        }
        let now = now_ns();
        if ep.timeout().is_some_and(|t| t <= now) {
            ep.on_timeout(now);
        }
    }
}

//! The event loop: wait on the socket until data or the host's next timer,
//! feed datagrams in, fire timers, write packets out. One loop for server and
//! client, native and wasm; everything between the socket and the
//! applications is the [`Host`]'s.

use super::host::{ConnectionApp, Host};
use super::udp::{RecvBatch, SendBatch, UdpSocket};
use crate::quic::Endpoint;
use crate::time::now_ns;
use std::io;
use std::time::Duration;

/// How long a stopping endpoint waits for its goodbyes to be acknowledged.
const SHUTDOWN_GRACE_NS: u64 = 500_000_000;

/// Datagrams read per wakeup before timers and output get a turn (a receive
/// call that brings more, GRO-coalesced or several messages, is handled whole).
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
    // Packets are gathered per destination and sent with UDP GSO (in wasm too:
    // the bridge takes UDP_SEGMENT) or, natively without GSO, sendmmsg; natively
    // datagrams are read with recvmmsg/GRO, in wasm a run per recvmsg where the
    // bridge takes UDP_GRO (src/io/udp.rs, docs/ARCHITECTURE.md "The io layer").
    let mut rx = RecvBatch::new();
    let mut tx = SendBatch::new();
    let result = drive(sock, ep, stop, woken, max_wait, &mut replacement, &mut rx, &mut tx);
    // What the batched paths did (tests/interop/test_udp_batching.py reads this line).
    let s = replacement.as_ref().unwrap_or(sock);
    log::debug!("udp io: batching={} gso={} gro={} {:?}", s.batching(), s.gso(), s.gro(), s.counters());
    result
}

#[allow(clippy::too_many_arguments)]
fn drive<E: Endpoint, A: ConnectionApp>(
    sock: &UdpSocket,
    ep: &mut Host<E, A>,
    stop: &dyn Fn() -> bool,
    woken: &dyn Fn() -> bool,
    max_wait: Duration,
    replacement: &mut Option<UdpSocket>,
    rx: &mut RecvBatch,
    tx: &mut SendBatch,
) -> io::Result<()> {
    let mut shutdown_deadline: Option<u64> = None;
    loop {
        let now = now_ns();
        if let Some(addr) = ep.wants_new_socket() {
            match UdpSocket::bind(addr) {
                Ok(s) => {
                    if ep.rebound(now, Ok(s.local_addr())) {
                        *replacement = Some(s);
                    }
                }
                Err(e) => {
                    ep.rebound(now, Err(e));
                }
            }
        }
        let sock = replacement.as_ref().unwrap_or(sock);
        // Unreachable peer and the like: the packet is lost; QUIC recovers or times out.
        // `push` is false only when the socket is full (the host keeps the packet).
        let mut send = |pkt: &[u8], t| tx.push(sock, pkt, t);
        // Send first: connections may have queued data at creation (client 0-RTT).
        // What an earlier full socket left gathered goes before anything new.
        let write_blocked = !ep.flush(now, &mut send);
        let write_blocked = !tx.flush(sock) || write_blocked;
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
                ep.flush(now_ns(), &mut |pkt: &[u8], t| tx.push(sock, pkt, t));
                tx.flush(sock);
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
        let mut got = 0;
        if ready.readable {
            while got < RECV_BATCH {
                match sock.recv_batch(rx, &mut |d, r| ep.handle_batched_datagram(now_ns(), r.local, r.from, r.ecn, d)) {
                    Ok(n) => {
                        got += n.max(1);
                        if !rx.maybe_more() {
                            break; // a short recvmmsg drained the queue; poll says when more comes
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        // ICMP errors surface here on Linux (ECONNREFUSED); not fatal to the endpoint.
                        log::debug!("recv failed: {e}");
                        break;
                    }
                }
            }
        }
        if got > 0 {
            ep.received(now_ns());
        }
        if got > 0 && ep.yield_after_receive {
            super::udp::yield_to_host();
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

//! A non-blocking UDP socket over `libc`: `socket`/`bind`, `recvmsg`/`sendmsg`, `poll`,
//! and the batched paths the driver uses: [`SendBatch`] (natively on Linux: one
//! `sendmsg` with UDP GSO, `UDP_SEGMENT`, per run of equal-sized packets to one
//! address, else `sendmmsg`) and [`UdpSocket::recv_batch`] (natively: `recvmmsg`,
//! with UDP GRO, `UDP_GRO`, splitting coalesced datagrams). Under Emscripten
//! (wasm) a run goes to the bridge as one `sendmsg` with `UDP_SEGMENT` too (the
//! bridge sends it as a GSO run under Node, datagram by datagram in Chromium) and
//! receives are one `recvmsg` per run with `UDP_GRO` (the bridge hands over what it
//! has queued from one peer as Linux's GRO would: docs/BRIDGE.md "UDP_GRO: runs in
//! one recvmsg"); natively with `SOCKET_IWA_UDP_BATCH=off` both are one syscall per
//! datagram. docs/ARCHITECTURE.md, "The io layer: batching".
//!
//! ECN (RFC 9000 13.4, RFC 3168): where the kernel accepts `IP_RECVTOS` /
//! `IPV6_RECVTCLASS`, each received datagram comes with its ECN codepoint and each
//! send carries the codepoint ngtcp2 chose (`IP_TOS` / `IPV6_TCLASS` control
//! message, GSO runs included). The wasm bridge refuses those options (Direct
//! Sockets carry no TOS byte), so there every datagram is Not-ECT both ways.
//! docs/ARCHITECTURE.md, "ECN".
//!
//! Local addresses: a server socket bound to a wildcard address (`0.0.0.0`, `[::]`)
//! turns on `IP_PKTINFO` / `IPV6_RECVPKTINFO`, reports for each datagram the local
//! address it arrived at, and sends each datagram from the address its [`Target`]
//! names (an `IP_PKTINFO` / `IPV6_PKTINFO` control message), so a client that reached
//! the server at one of the host's addresses gets its answers from that address and
//! not from whichever one the routing table picks. docs/ARCHITECTURE.md "Local addresses".

use crate::sockaddr::RawAddr;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::raw::c_int;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// Largest UDP payload (what one receive buffer holds, and a GSO send's bound).
const MAX_DATAGRAM: usize = 65536;
/// At most this many segments per GSO send (the kernel's UDP_MAX_SEGMENTS is 64 on older kernels).
pub const MAX_SEGMENTS: usize = 64;
/// At most this many payload bytes per GSO send (64 KiB less IPv6 and UDP headers, rounded down).
const MAX_GSO_BYTES: usize = 65000;
/// Messages per `recvmmsg`.
#[cfg(target_os = "linux")]
const RX_MSGS: usize = 16;

/// Linux's UDP socket options (also what the wasm bridge answers to).
#[cfg(any(target_os = "linux", target_os = "emscripten"))]
mod sol_udp {
    pub const SOL_UDP: libc::c_int = 17;
    pub const UDP_SEGMENT: libc::c_int = 103;
    pub const UDP_GRO: libc::c_int = 104;
}

/// What a socket's batched paths did (for tests and benchmarks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoCounters {
    /// `sendmsg` calls carrying several datagrams with UDP GSO, and the datagrams they carried.
    pub gso_sends: u64,
    pub gso_datagrams: u64,
    /// GSO sends the kernel refused (EIO/EINVAL/...): GSO is then off for the socket.
    pub gso_refused: u64,
    /// Datagrams sent one per message (`sendmsg`/`sendmmsg`).
    pub single_datagrams: u64,
    /// Receive calls, and received messages the kernel had coalesced with UDP GRO.
    pub recv_calls: u64,
    pub gro_messages: u64,
    /// Datagrams received (coalesced ones counted one by one).
    pub recv_datagrams: u64,
    /// Datagrams sent with an ECN mark (ECT(0), ECT(1) or CE), and datagrams received
    /// with one, of which `ce_received` marked Congestion Experienced.
    pub ecn_sent: u64,
    pub ecn_received: u64,
    pub ce_received: u64,
}

#[derive(Default)]
struct Counters {
    gso_sends: AtomicU64,
    gso_datagrams: AtomicU64,
    gso_refused: AtomicU64,
    single_datagrams: AtomicU64,
    recv_calls: AtomicU64,
    gro_messages: AtomicU64,
    recv_datagrams: AtomicU64,
    ecn_sent: AtomicU64,
    ecn_received: AtomicU64,
    ce_received: AtomicU64,
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Relaxed);
}

/// Whether batching is on for new sockets: natively yes, unless the environment
/// says `SOCKET_IWA_UDP_BATCH=off` (benchmarks compare both; tests check both
/// carry the same bytes). Under Emscripten always: runs go to the bridge as one
/// `sendmsg` each where it answers the `UDP_SEGMENT` probe (the program's environment
/// there is Emscripten's, not the process's; under Node `SOCKET_IWA_NODE_FFI=off`
/// makes the bridge send a run datagram by datagram through node:dgram).
fn batching_wanted() -> bool {
    if cfg!(target_os = "emscripten") {
        return true;
    }
    if cfg!(not(target_os = "linux")) {
        return false;
    }
    static WANT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *WANT.get_or_init(|| !switched_off("SOCKET_IWA_UDP_BATCH"))
}

/// True when the environment sets `name` to `off` or `0` (the io layer's A/B switches).
fn switched_off(name: &str) -> bool {
    matches!(std::env::var(name).as_deref(), Ok("off") | Ok("0"))
}

pub struct UdpSocket {
    fd: c_int,
    local: SocketAddr,
    /// Batched paths on (`sendmmsg`/`recvmmsg`, GSO/GRO where the kernel has them).
    batch: bool,
    /// UDP GSO usable: the kernel knows `UDP_SEGMENT` and has not refused a GSO send.
    gso: AtomicBool,
    /// UDP GRO switched on (received messages may carry several datagrams).
    gro: bool,
    /// The kernel reports received ECN codepoints (`IP_RECVTOS` / `IPV6_RECVTCLASS`
    /// accepted), so sends carry the codepoint asked for too.
    ecn: bool,
    /// Bound to a wildcard address with `IP_PKTINFO` / `IPV6_RECVPKTINFO` on: each
    /// datagram's local address is reported, and sends name their source address.
    pktinfo: bool,
    counters: Counters,
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        // SAFETY: fd is owned by this socket and closed once.
        unsafe { libc::close(self.fd) };
    }
}

fn cvt(rv: c_int) -> io::Result<c_int> {
    if rv < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rv)
    }
}

#[cfg(not(target_os = "emscripten"))]
fn poll_one(pfd: &mut libc::pollfd, timeout: Option<std::time::Duration>) -> c_int {
    let ts = timeout.map(|d| libc::timespec { tv_sec: d.as_secs() as _, tv_nsec: d.subsec_nanos() as _ });
    let tsp = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: pfd is one valid pollfd; tsp is null or points to `ts`.
    unsafe { libc::ppoll(pfd, 1, tsp, std::ptr::null()) }
}

#[cfg(target_os = "emscripten")]
fn poll_one(pfd: &mut libc::pollfd, timeout: Option<std::time::Duration>) -> c_int {
    let ms = match timeout {
        None => -1,
        Some(d) if d.is_zero() => 0,
        Some(d) => d.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as c_int,
    };
    // SAFETY: pfd is one valid pollfd.
    unsafe { libc::poll(pfd, 1, ms) }
}

/// Lets the host's JavaScript run before the loop goes on (wasm: the bridge's `ds_yield`,
/// one task; natively nothing runs beside the loop, so nothing to do).
#[cfg(target_os = "emscripten")]
pub fn yield_to_host() {
    extern "C" {
        fn ds_yield() -> c_int;
    }
    // SAFETY: no arguments; the bridge's import suspends and returns 0.
    unsafe { ds_yield() };
}

#[cfg(not(target_os = "emscripten"))]
pub fn yield_to_host() {}

/// Before bind: the bridge sends this socket's datagrams through `k` sockets sharing its port.
#[cfg(target_os = "emscripten")]
fn send_through(fd: c_int, k: usize) -> io::Result<()> {
    extern "C" {
        fn ds_udp_send_sockets(fd: c_int, k: c_int) -> c_int;
    }
    // SAFETY: plain integers; the import returns 0 or -errno.
    let r = unsafe { ds_udp_send_sockets(fd, k as c_int) };
    if r < 0 {
        return Err(io::Error::from_raw_os_error(-r));
    }
    Ok(())
}

#[cfg(not(target_os = "emscripten"))]
fn send_through(_fd: c_int, _k: usize) -> io::Result<()> {
    Ok(())
}

/// Readiness reported by [`UdpSocket::poll`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Ready {
    pub readable: bool,
    pub writable: bool,
}

impl UdpSocket {
    /// Binds a non-blocking UDP socket (port 0 picks an ephemeral port): a client's.
    pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
        Self::open(addr, 1, false)
    }

    /// [`bind`](Self::bind), sending through `senders` (1..=8) sockets that share the port where
    /// a socket sends one datagram at a time: Chromium's `UDPSocket` writable, reached through the
    /// bridge (`ds_udp_send_sockets`, docs/BRIDGE.md "Several sockets sending for one"). Turns
    /// address sharing on for the port, so it is opt-in (`socket-iwa-server --udp-send-sockets`).
    /// Natively this is [`bind`](Self::bind) (sends are batched); under Node the bridge only turns
    /// address sharing on (`node/direct-sockets.js` sends without a one-at-a-time writable).
    /// This is a server's socket: bound to a wildcard address it reports and uses each
    /// datagram's local address (see the module docs).
    pub fn bind_sending(addr: SocketAddr, senders: usize) -> io::Result<UdpSocket> {
        Self::open(addr, senders, true)
    }

    fn open(addr: SocketAddr, senders: usize, server: bool) -> io::Result<UdpSocket> {
        if !(1..=8).contains(&senders) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "1 to 8 sending sockets"));
        }
        let family = if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
        // SAFETY: plain syscalls on a descriptor we own; addresses are valid for their lengths.
        unsafe {
            let fd = cvt(libc::socket(family, libc::SOCK_DGRAM, 0))?;
            let sock = UdpSocket { fd, local: addr, batch: false, gso: AtomicBool::new(false), gro: false, ecn: false, pktinfo: false, counters: Counters::default() };
            if senders > 1 {
                send_through(fd, senders)?;
            }
            // Bigger kernel buffers absorb bursts; failure here is not fatal.
            let size: c_int = 4 << 20;
            for opt in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
                libc::setsockopt(fd, libc::SOL_SOCKET, opt, &size as *const c_int as *const _, std::mem::size_of::<c_int>() as _);
            }
            let raw = RawAddr::from_std(&addr);
            cvt(libc::bind(fd, raw.as_ptr(), raw.len))?;
            let flags = cvt(libc::fcntl(fd, libc::F_GETFL))?;
            cvt(libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK))?;
            let mut me = sock;
            me.local = me.query_local_addr()?;
            me.ecn = me.enable_ecn();
            me.pktinfo = server && addr.ip().is_unspecified() && me.enable_pktinfo();
            if batching_wanted() {
                me.enable_batching();
            }
            Ok(me)
        }
    }

    /// Asks the kernel for each received datagram's TOS byte (`IP_RECVTOS`; on an
    /// IPv6 socket `IPV6_RECVTCLASS`, and `IP_RECVTOS` too for IPv4-mapped peers).
    /// True if it accepted. The wasm bridge answers ENOPROTOOPT: no ECN there.
    /// `SOCKET_IWA_ECN=off` in the environment leaves it off (A/B benchmarks).
    fn enable_ecn(&self) -> bool {
        static WANT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        if !*WANT.get_or_init(|| !switched_off("SOCKET_IWA_ECN")) {
            return false;
        }
        self.enable_for_family(libc::IP_RECVTOS, libc::IPV6_RECVTCLASS)
    }

    /// Turns on the int option `v4` (level `IPPROTO_IP`) on an IPv4 socket; on an IPv6
    /// socket `v6` (level `IPPROTO_IPV6`) and `v4` too, for IPv4-mapped peers of a
    /// dual-stack socket. True if the kernel accepted.
    fn enable_for_family(&self, v4: c_int, v6: c_int) -> bool {
        let one: c_int = 1;
        // SAFETY: setsockopt on our descriptor with an int of the right size.
        let set = |level: c_int, opt: c_int| unsafe {
            libc::setsockopt(self.fd, level, opt, &one as *const c_int as *const _, std::mem::size_of::<c_int>() as _) == 0
        };
        if self.local.is_ipv4() {
            set(libc::IPPROTO_IP, v4)
        } else {
            set(libc::IPPROTO_IPV6, v6) && set(libc::IPPROTO_IP, v4)
        }
    }

    /// True when the socket carries ECN codepoints both ways (see the module docs).
    pub fn ecn(&self) -> bool {
        self.ecn
    }

    /// Asks the kernel for each received datagram's destination address (`IP_PKTINFO`;
    /// on an IPv6 socket `IPV6_RECVPKTINFO`, and `IP_PKTINFO` too for IPv4-mapped peers).
    /// True if it accepted. The wasm bridge answers ENOPROTOOPT (Direct Sockets name
    /// no destination address): there a wildcard socket answers from the routing choice.
    fn enable_pktinfo(&self) -> bool {
        self.enable_for_family(libc::IP_PKTINFO, libc::IPV6_RECVPKTINFO)
    }

    /// True when the socket reports each datagram's local address (a server bound to a wildcard address).
    pub fn pktinfo(&self) -> bool {
        self.pktinfo
    }

    /// The local address of a datagram whose destination address was `dst` (the socket's
    /// own address if the kernel did not say; IPv4 destinations on an IPv6 socket mapped).
    fn local_for(&self, dst: Option<IpAddr>) -> SocketAddr {
        match (dst, self.local) {
            (Some(IpAddr::V4(a)), SocketAddr::V6(_)) => SocketAddr::new(IpAddr::V6(a.to_ipv6_mapped()), self.local.port()),
            (Some(ip), _) => SocketAddr::new(ip, self.local.port()),
            (None, _) => self.local,
        }
    }

    /// The source address a send to `t` names: on a socket with `pktinfo`, the target's
    /// `from` when it is a specific address (the one the peer reached us at), else none.
    fn source_for(&self, t: &Target) -> Option<IpAddr> {
        (self.pktinfo && !t.from.ip().is_unspecified()).then_some(t.from.ip())
    }

    fn query_local_addr(&self) -> io::Result<SocketAddr> {
        let mut raw = RawAddr::zeroed();
        // SAFETY: raw is writable storage of raw.len bytes.
        cvt(unsafe { libc::getsockname(self.fd, raw.as_mut_ptr(), &mut raw.len) })?;
        raw.to_std().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unknown address family"))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Natively: switches the batched paths on, with GSO if the kernel knows
    /// `UDP_SEGMENT` (a `getsockopt` probe, as ngtcp2's examples do) and GRO if it
    /// accepts `UDP_GRO`. Under Emscripten: GSO sends if the bridge answers the
    /// same probe (docs/BRIDGE.md "UDP_SEGMENT: one sendmsg per run"), and GRO if it
    /// takes `UDP_GRO` (docs/BRIDGE.md "UDP_GRO: runs in one recvmsg"): one
    /// `recvmsg` per run instead of per datagram. Elsewhere a no-op.
    fn enable_batching(&mut self) {
        #[cfg(any(target_os = "linux", target_os = "emscripten"))]
        {
            let mut v: c_int = 0;
            let mut len = std::mem::size_of::<c_int>() as libc::socklen_t;
            // SAFETY: getsockopt on our descriptor with an int of the right size.
            let gso = unsafe { libc::getsockopt(self.fd, sol_udp::SOL_UDP, sol_udp::UDP_SEGMENT, &mut v as *mut c_int as *mut _, &mut len) } == 0;
            self.gso.store(gso, Relaxed);
            let one: c_int = 1;
            // SAFETY: setsockopt on our descriptor with an int of the right size.
            self.gro = unsafe { libc::setsockopt(self.fd, sol_udp::SOL_UDP, sol_udp::UDP_GRO, &one as *const c_int as *const _, std::mem::size_of::<c_int>() as _) } == 0;
        }
        #[cfg(target_os = "linux")]
        {
            self.batch = true;
        }
    }

    /// Turns the batched paths off for this socket (one syscall per datagram). GRO
    /// stays as the kernel (or the wasm bridge) has it, so it is switched off too.
    pub fn disable_batching(&mut self) {
        #[cfg(any(target_os = "linux", target_os = "emscripten"))]
        if self.gro {
            let zero: c_int = 0;
            // SAFETY: as in enable_batching.
            unsafe { libc::setsockopt(self.fd, sol_udp::SOL_UDP, sol_udp::UDP_GRO, &zero as *const c_int as *const _, std::mem::size_of::<c_int>() as _) };
        }
        self.batch = false;
        self.gso.store(false, Relaxed);
        self.gro = false;
    }

    /// True when sends are batched (natively, unless switched off).
    pub fn batching(&self) -> bool {
        self.batch
    }

    /// True while UDP GSO is in use for batched sends.
    pub fn gso(&self) -> bool {
        self.gso.load(Relaxed)
    }

    /// True when UDP GRO is on for receives.
    pub fn gro(&self) -> bool {
        self.gro
    }

    pub fn counters(&self) -> IoCounters {
        let c = &self.counters;
        IoCounters {
            gso_sends: c.gso_sends.load(Relaxed),
            gso_datagrams: c.gso_datagrams.load(Relaxed),
            gso_refused: c.gso_refused.load(Relaxed),
            single_datagrams: c.single_datagrams.load(Relaxed),
            recv_calls: c.recv_calls.load(Relaxed),
            gro_messages: c.gro_messages.load(Relaxed),
            recv_datagrams: c.recv_datagrams.load(Relaxed),
            ecn_sent: c.ecn_sent.load(Relaxed),
            ecn_received: c.ecn_received.load(Relaxed),
            ce_received: c.ce_received.load(Relaxed),
        }
    }

    /// The raw descriptor (tests set socket options on it).
    pub fn as_raw_fd(&self) -> c_int {
        self.fd
    }

    /// Receives one datagram; `WouldBlock` when none is queued.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.recv_one(buf).map(|(n, r)| (n, r.from))
    }

    /// Receives one datagram with its local address and ECN codepoint (see [`Received`]).
    /// With GRO on (see [`gro`](Self::gro)) it may be a run of them: use [`recv_batch`](Self::recv_batch).
    pub fn recv_one(&self, buf: &mut [u8]) -> io::Result<(usize, Received)> {
        let (n, r, _) = self.recv_msg(buf)?;
        Ok((n, r))
    }

    /// One `recvmsg`: the message's length, where it came from, and its GRO segment
    /// size when it holds a run of datagrams (all of that size but the last, which may
    /// be shorter). Counts one receive call and the datagrams the message holds.
    fn recv_msg(&self, buf: &mut [u8]) -> io::Result<(usize, Received, Option<usize>)> {
        let mut raw = RawAddr::zeroed();
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        let mut ctrl = [0u64; CTRL_WORDS];
        let want_ctrl = self.ecn || self.pktinfo || self.gro;
        // SAFETY: msghdr points at live iov/raw/ctrl storage for the duration of the call.
        let (n, cm) = unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_name = raw.as_mut_ptr().cast();
            msg.msg_namelen = raw.len;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            if want_ctrl {
                msg.msg_control = ctrl.as_mut_ptr().cast();
                msg.msg_controllen = std::mem::size_of_val(&ctrl) as _;
            }
            let n = libc::recvmsg(self.fd, &mut msg, 0);
            raw.len = msg.msg_namelen;
            (n, if n >= 0 && want_ctrl { read_cmsgs(&msg) } else { Cmsgs::default() })
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        let seg = cm.gro_seg.filter(|&s| s < n);
        let datagrams = seg.map_or(1, |s| n.div_ceil(s)) as u64;
        bump(&self.counters.recv_calls, 1);
        bump(&self.counters.recv_datagrams, datagrams);
        if seg.is_some() {
            bump(&self.counters.gro_messages, 1);
        }
        self.count_ecn_received(cm.ecn, datagrams);
        let from = raw.to_std().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "datagram from an unknown address family"))?;
        Ok((n, Received { from, local: self.local_for(cm.dst), ecn: cm.ecn }, seg))
    }

    fn count_ecn_received(&self, ecn: u8, datagrams: u64) {
        if ecn != 0 {
            bump(&self.counters.ecn_received, datagrams);
            if ecn == ECN_CE {
                bump(&self.counters.ce_received, datagrams);
            }
        }
    }

    /// Sends one datagram; `WouldBlock` when the socket buffer is full.
    pub fn send_to(&self, data: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.send_one(data, Target { to, from: self.local, ecn: 0 })
    }

    /// Sends one datagram to `t.to`, from `t.from` where the socket chooses per datagram,
    /// with ECN codepoint `t.ecn` where the socket has ECN.
    pub fn send_one(&self, data: &[u8], t: Target) -> io::Result<usize> {
        let to = t.to;
        let mut raw = RawAddr::from_std(&to);
        let mut iov = libc::iovec { iov_base: data.as_ptr() as *mut _, iov_len: data.len() };
        let (mut ctrl, ecn) = self.send_ctrl(&t);
        // SAFETY: as in recv_one; sendmsg only reads the buffers.
        let n = unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_name = raw.as_mut_ptr().cast();
            msg.msg_namelen = raw.len;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            ctrl.attach(&mut msg);
            libc::sendmsg(self.fd, &msg, 0)
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        bump(&self.counters.single_datagrams, 1);
        self.count_ecn_sent(ecn, 1);
        Ok(n as usize)
    }

    /// The codepoint a send carries: `ecn` where the socket has ECN, else Not-ECT.
    fn ecn_for(&self, ecn: u8) -> u8 {
        if self.ecn {
            ecn & 3
        } else {
            0
        }
    }

    /// The control messages every send to `t` carries: its ECN codepoint where the socket
    /// has ECN, its source where the socket chooses one per datagram. Also returns the
    /// codepoint sent, for the counters.
    fn send_ctrl(&self, t: &Target) -> (SendCtrl, u8) {
        let mut ctrl = SendCtrl::new();
        let ecn = self.ecn_for(t.ecn);
        ctrl.ecn(t.to, ecn);
        ctrl.source(t.to, self.source_for(t));
        (ctrl, ecn)
    }

    fn count_ecn_sent(&self, ecn: u8, datagrams: u64) {
        if ecn != ECN_NOT_ECT {
            bump(&self.counters.ecn_sent, datagrams);
        }
    }

    /// Waits up to `timeout` (`None`: forever) for readability (and writability
    /// if asked). Natively `ppoll` keeps nanosecond precision, so sub-millisecond
    /// pacing deadlines are honoured without spinning. Under Emscripten the wait
    /// is a whole number of milliseconds, rounded up so that a positive wait
    /// really suspends and lets the JavaScript event loop deliver datagrams and
    /// flush writes (a `poll(0)` there returns without yielding). `ppoll` is not
    /// used there because emcc 3.1.6's `time_t` is 32-bit while the libc crate
    /// lays `timespec` out with a 64-bit one.
    pub fn poll(&self, want_write: bool, timeout: Option<std::time::Duration>) -> io::Result<Ready> {
        let mut pfd = libc::pollfd { fd: self.fd, events: libc::POLLIN | if want_write { libc::POLLOUT } else { 0 }, revents: 0 };
        let rv = poll_one(&mut pfd, timeout);
        if rv < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(Ready::default());
            }
            return Err(e);
        }
        Ok(Ready {
            readable: pfd.revents & (libc::POLLIN | libc::POLLERR) != 0,
            writable: pfd.revents & libc::POLLOUT != 0,
        })
    }
}

/// Errors by which a kernel refuses a GSO send that it would take as separate
/// datagrams: EIO (device without checksum offload), EINVAL (e.g. `SO_NO_CHECK`,
/// a segment size the path cannot carry), EOPNOTSUPP/ENOPROTOOPT.
fn gso_refused(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EIO) | Some(libc::EINVAL) | Some(libc::EOPNOTSUPP) | Some(libc::ENOPROTOOPT))
}

/// ECN codepoints (RFC 3168 5): the two low bits of the TOS byte / traffic class.
pub const ECN_NOT_ECT: u8 = 0;
pub const ECN_ECT1: u8 = 1;
pub const ECN_ECT0: u8 = 2;
pub const ECN_CE: u8 = 3;

/// A received datagram's addresses and ECN codepoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// The sender.
    pub from: SocketAddr,
    /// The address it was sent to: the socket's own, or on a server socket bound to a
    /// wildcard address, the local address it arrived at (`IP_PKTINFO`).
    pub local: SocketAddr,
    /// Its ECN codepoint (Not-ECT on a socket without ECN).
    pub ecn: u8,
}

/// Where a datagram goes: its destination, the local address it should leave from
/// (honoured on a server socket bound to a wildcard address; elsewhere the socket's
/// own address is the source anyway) and its ECN codepoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub to: SocketAddr,
    pub from: SocketAddr,
    pub ecn: u8,
}

/// 8-byte words of control data per message: room for UDP_GRO / UDP_SEGMENT, the TOS
/// byte and an IPv6 packet info (24 + 24 + 40 bytes), rounded up.
const CTRL_WORDS: usize = 16;

/// What a received message's control data says.
#[derive(Default)]
struct Cmsgs {
    /// The UDP GRO segment size, when the kernel coalesced datagrams into the message.
    gro_seg: Option<usize>,
    /// The ECN codepoint (`IP_TOS` / `IPV6_TCLASS`).
    ecn: u8,
    /// The datagram's destination address (`IP_PKTINFO` / `IPV6_PKTINFO`).
    dst: Option<IpAddr>,
}

/// Reads the control messages the kernel wrote into `msg`.
///
/// # Safety
/// `msg.msg_control` holds `msg.msg_controllen` bytes written by `recvmsg`/`recvmmsg`.
unsafe fn read_cmsgs(msg: &libc::msghdr) -> Cmsgs {
    let mut out = Cmsgs::default();
    let mut cm = libc::CMSG_FIRSTHDR(msg);
    while !cm.is_null() {
        let data = libc::CMSG_DATA(cm);
        match ((*cm).cmsg_level, (*cm).cmsg_type) {
            #[cfg(any(target_os = "linux", target_os = "emscripten"))]
            (sol_udp::SOL_UDP, sol_udp::UDP_GRO) => {
                let v = std::ptr::read_unaligned(data as *const c_int);
                if v > 0 {
                    out.gro_seg = Some(v as usize);
                }
            }
            // Linux hands IP_TOS over as one byte, IPV6_TCLASS as an int.
            (libc::IPPROTO_IP, libc::IP_TOS) => out.ecn = *data & 3,
            (libc::IPPROTO_IPV6, libc::IPV6_TCLASS) => out.ecn = (std::ptr::read_unaligned(data as *const c_int) & 3) as u8,
            (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                let pi = std::ptr::read_unaligned(data as *const libc::in_pktinfo);
                out.dst = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(pi.ipi_addr.s_addr))));
            }
            (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                let pi = std::ptr::read_unaligned(data as *const libc::in6_pktinfo);
                out.dst = Some(IpAddr::V6(Ipv6Addr::from(pi.ipi6_addr.s6_addr)));
            }
            _ => {}
        }
        cm = libc::CMSG_NXTHDR(msg, cm);
    }
    out
}

/// Control messages for one send: `UDP_SEGMENT` for a GSO run, the ECN codepoint and
/// the source address.
struct SendCtrl {
    buf: [u64; CTRL_WORDS],
    len: usize,
}

impl SendCtrl {
    fn new() -> Self {
        SendCtrl { buf: [0; CTRL_WORDS], len: 0 }
    }

    /// Appends one control message carrying `val`.
    fn push<T: Copy>(&mut self, level: c_int, ty: c_int, val: T) {
        let size = std::mem::size_of::<T>() as u32;
        // SAFETY: the assert keeps the message inside the 8-aligned buffer (at most a
        // u16, an int and an in6_pktinfo are pushed: 88 of 128 bytes); the header is
        // written in place.
        unsafe {
            let space = libc::CMSG_SPACE(size) as usize;
            assert!(self.len + space <= std::mem::size_of_val(&self.buf));
            let cm = (self.buf.as_mut_ptr() as *mut u8).add(self.len) as *mut libc::cmsghdr;
            (*cm).cmsg_level = level;
            (*cm).cmsg_type = ty;
            (*cm).cmsg_len = libc::CMSG_LEN(size) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(cm) as *mut T, val);
            self.len += space;
        }
    }

    /// Appends the ECN codepoint for a datagram to `to`, unless it is Not-ECT: `IP_TOS`
    /// for IPv4 (IPv4-mapped addresses too: Linux sends those as IPv4 and reads only
    /// IPv4 options), `IPV6_TCLASS` otherwise.
    fn ecn(&mut self, to: SocketAddr, ecn: u8) {
        if ecn == ECN_NOT_ECT {
            return;
        }
        let v4 = match to {
            SocketAddr::V4(_) => true,
            SocketAddr::V6(a) => a.ip().to_ipv4_mapped().is_some(),
        };
        if v4 {
            self.push(libc::IPPROTO_IP, libc::IP_TOS, ecn as c_int);
        } else {
            self.push(libc::IPPROTO_IPV6, libc::IPV6_TCLASS, ecn as c_int);
        }
    }

    /// Appends the source address `src` (none: the kernel chooses): `IP_PKTINFO` for
    /// IPv4 and IPv4-mapped destinations, `IPV6_PKTINFO` otherwise.
    fn source(&mut self, to: SocketAddr, src: Option<IpAddr>) {
        let Some(src) = src else { return };
        let v4 = |ip: IpAddr| match ip {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(a) => a.to_ipv4_mapped(),
        };
        match (v4(to.ip()), v4(src)) {
            (Some(_), Some(a)) => {
                // SAFETY: in_pktinfo is plain data; zero is a valid value for every field.
                let mut pi: libc::in_pktinfo = unsafe { std::mem::zeroed() };
                pi.ipi_spec_dst.s_addr = u32::from(a).to_be();
                self.push(libc::IPPROTO_IP, libc::IP_PKTINFO, pi);
            }
            (None, None) => {
                // SAFETY: as above.
                let mut pi: libc::in6_pktinfo = unsafe { std::mem::zeroed() };
                if let IpAddr::V6(a) = src {
                    pi.ipi6_addr.s6_addr = a.octets();
                }
                self.push(libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, pi);
            }
            // A source of the other family than the destination: let the kernel choose.
            _ => {}
        }
    }

    /// Points `msg` at the control messages (none: no control data).
    fn attach(&mut self, msg: &mut libc::msghdr) {
        if self.len > 0 {
            msg.msg_control = self.buf.as_mut_ptr().cast();
            msg.msg_controllen = self.len as _;
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "emscripten"))]
impl UdpSocket {
    /// One `sendmsg` of `data` as datagrams of `seg` bytes (the last may be
    /// shorter) to `to`, with a `UDP_SEGMENT` control message. Returns the bytes
    /// taken: all of them from a kernel; the wasm bridge may take the first whole
    /// datagrams of a run only (its send budget filled), and the rest waits.
    fn send_gso(&self, data: &[u8], seg: usize, t: Target) -> io::Result<usize> {
        let to = t.to;
        let mut raw = RawAddr::from_std(&to);
        let mut iov = libc::iovec { iov_base: data.as_ptr() as *mut _, iov_len: data.len() };
        let (mut ctrl, ecn) = self.send_ctrl(&t);
        ctrl.push(sol_udp::SOL_UDP, sol_udp::UDP_SEGMENT, seg as u16);
        // SAFETY: msghdr points at live iov/raw/ctrl storage.
        let n = unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_name = raw.as_mut_ptr().cast();
            msg.msg_namelen = raw.len;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            ctrl.attach(&mut msg);
            libc::sendmsg(self.fd, &msg, 0)
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = (n as usize).min(data.len());
        let datagrams = n.div_ceil(seg) as u64;
        bump(&self.counters.gso_sends, 1);
        bump(&self.counters.gso_datagrams, datagrams);
        self.count_ecn_sent(ecn, datagrams);
        Ok(n)
    }

    /// Sends the first datagrams of `data[..]` (each `seg` bytes, the last may be
    /// shorter) one per message; returns how many were taken (at least 1).
    #[cfg(target_os = "emscripten")]
    fn send_many(&self, data: &[u8], seg: usize, t: Target) -> io::Result<usize> {
        self.send_one(&data[..seg.min(data.len())], t).map(|_| 1)
    }

    /// `sendmmsg` of the datagrams `data[k*seg..]` (each `seg` bytes, the last
    /// may be shorter) to `to`; returns how many the kernel took (at least 1).
    #[cfg(target_os = "linux")]
    fn send_many(&self, data: &[u8], seg: usize, t: Target) -> io::Result<usize> {
        let to = t.to;
        let mut raw = RawAddr::from_std(&to);
        // One set of control messages (ECN codepoint, source) that every message points at.
        let (mut ctrl, ecn) = self.send_ctrl(&t);
        let mut iovs: Vec<libc::iovec> =
            data.chunks(seg).take(MAX_SEGMENTS).map(|c| libc::iovec { iov_base: c.as_ptr() as *mut _, iov_len: c.len() }).collect();
        // SAFETY: every mmsghdr points at one live iovec and at `raw`, which sendmmsg only reads.
        let n = unsafe {
            let mut msgs: Vec<libc::mmsghdr> = iovs
                .iter_mut()
                .map(|iov| {
                    let mut m: libc::mmsghdr = std::mem::zeroed();
                    m.msg_hdr.msg_name = raw.as_mut_ptr().cast();
                    m.msg_hdr.msg_namelen = raw.len;
                    m.msg_hdr.msg_iov = iov;
                    m.msg_hdr.msg_iovlen = 1;
                    ctrl.attach(&mut m.msg_hdr);
                    m
                })
                .collect();
            libc::sendmmsg(self.fd, msgs.as_mut_ptr(), msgs.len() as _, 0)
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        bump(&self.counters.single_datagrams, n as u64);
        self.count_ecn_sent(ecn, n as u64);
        Ok(n as usize)
    }
}

/// Receive buffers for [`UdpSocket::recv_batch`], allocated once per loop.
pub struct RecvBatch {
    bufs: Vec<u8>,
    /// The last call filled every message slot (or read one datagram the plain way):
    /// more may be queued. False after a short `recvmmsg`, which drained the queue.
    more: bool,
    #[cfg(target_os = "linux")]
    names: Vec<RawAddr>,
    #[cfg(target_os = "linux")]
    ctrl: Vec<[u64; CTRL_WORDS]>,
}

impl Default for RecvBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl RecvBatch {
    /// False when the last receive came back with fewer messages than it had room
    /// for: the socket queue was empty then, so the loop can go back to `poll`
    /// instead of spending a syscall on the EAGAIN that would follow.
    pub fn maybe_more(&self) -> bool {
        self.more
    }

    pub fn new() -> Self {
        #[cfg(target_os = "linux")]
        return RecvBatch { bufs: vec![0u8; RX_MSGS * MAX_DATAGRAM], more: true, names: vec![RawAddr::zeroed(); RX_MSGS], ctrl: vec![[0u64; CTRL_WORDS]; RX_MSGS] };
        #[cfg(not(target_os = "linux"))]
        return RecvBatch { bufs: vec![0u8; MAX_DATAGRAM], more: true };
    }
}

impl UdpSocket {
    /// Receives what is queued, calling `f(datagram, from)` for each datagram:
    /// natively one `recvmmsg` of up to 16 messages, each split into its
    /// datagrams when the kernel coalesced them (GRO); under Emscripten one
    /// `recvmsg`, a run when the bridge has GRO on; one datagram otherwise.
    /// `f` also gets the datagram's local address and ECN codepoint ([`Received`]).
    /// Returns how many datagrams were handed to `f`; `WouldBlock` when none was queued.
    pub fn recv_batch(&self, rb: &mut RecvBatch, f: &mut dyn FnMut(&[u8], Received)) -> io::Result<usize> {
        #[cfg(target_os = "linux")]
        if self.batch {
            return self.recv_mmsg(rb, f);
        }
        rb.more = true;
        let (n, r, seg) = self.recv_msg(&mut rb.bufs[..MAX_DATAGRAM])?;
        Ok(split_message(&rb.bufs[..n], seg, r, f))
    }

    #[cfg(target_os = "linux")]
    fn recv_mmsg(&self, rb: &mut RecvBatch, f: &mut dyn FnMut(&[u8], Received)) -> io::Result<usize> {
        let mut iovs: Vec<libc::iovec> = rb
            .bufs
            .chunks_mut(MAX_DATAGRAM)
            .map(|b| libc::iovec { iov_base: b.as_mut_ptr().cast(), iov_len: b.len() })
            .collect();
        // SAFETY: each mmsghdr points at its own live iovec, name and control storage.
        let (n, mut msgs) = unsafe {
            let mut msgs: Vec<libc::mmsghdr> = (0..RX_MSGS)
                .map(|i| {
                    let mut m: libc::mmsghdr = std::mem::zeroed();
                    rb.names[i] = RawAddr::zeroed();
                    m.msg_hdr.msg_name = rb.names[i].as_mut_ptr().cast();
                    m.msg_hdr.msg_namelen = rb.names[i].len;
                    m.msg_hdr.msg_iov = &mut iovs[i];
                    m.msg_hdr.msg_iovlen = 1;
                    m.msg_hdr.msg_control = rb.ctrl[i].as_mut_ptr().cast();
                    m.msg_hdr.msg_controllen = std::mem::size_of::<[u64; CTRL_WORDS]>() as _;
                    m
                })
                .collect();
            let n = libc::recvmmsg(self.fd, msgs.as_mut_ptr(), RX_MSGS as _, 0, std::ptr::null_mut());
            (n, msgs)
        };
        if n < 0 {
            rb.more = true;
            return Err(io::Error::last_os_error());
        }
        rb.more = n as usize == RX_MSGS;
        bump(&self.counters.recv_calls, 1);
        let mut delivered = 0;
        for (i, m) in msgs.iter_mut().take(n as usize).enumerate() {
            let len = m.msg_len as usize;
            rb.names[i].len = m.msg_hdr.msg_namelen;
            let Some(from) = rb.names[i].to_std() else { continue };
            // SAFETY: the kernel wrote msg_controllen bytes of cmsgs into ctrl[i].
            // (The coalesced datagrams of a GRO message share one TOS byte: GRO
            // merges only packets whose IP headers agree on it.)
            let cm = unsafe { read_cmsgs(&m.msg_hdr) };
            let data = &rb.bufs[i * MAX_DATAGRAM..i * MAX_DATAGRAM + len];
            if cm.gro_seg.is_some_and(|s| s < len) {
                bump(&self.counters.gro_messages, 1);
            }
            let r = Received { from, local: self.local_for(cm.dst), ecn: cm.ecn };
            let k = split_message(data, cm.gro_seg, r, f);
            self.count_ecn_received(cm.ecn, k as u64);
            delivered += k;
        }
        bump(&self.counters.recv_datagrams, delivered as u64);
        Ok(delivered)
    }
}

/// Hands `f` the datagrams of one received message: a run cut at its GRO segment
/// size `seg` (all that long but the last), or the message whole (no `seg`, or
/// not shorter than it, or empty). Returns how many.
fn split_message(data: &[u8], seg: Option<usize>, r: Received, f: &mut dyn FnMut(&[u8], Received)) -> usize {
    match seg {
        Some(s) if s > 0 && s < data.len() => {
            let mut n = 0;
            for d in data.chunks(s) {
                f(d, r);
                n += 1;
            }
            n
        }
        _ => {
            f(data, r);
            1
        }
    }
}

/// Outgoing datagrams gathered for one batched send: a run of packets to one
/// address, all of the first one's size but the last, which may be shorter
/// (what a GSO send can carry). [`push`](Self::push) sends the run when the next
/// packet does not fit it; [`flush`](Self::flush) sends what is gathered. On a
/// socket without batching or GSO `push` sends at once, so callers need not care.
#[derive(Default)]
pub struct SendBatch {
    buf: Vec<u8>,
    /// Where the run goes (destination, source, ECN codepoint: one per send).
    target: Option<Target>,
    /// Segment size: the first packet's length.
    seg: usize,
    /// Bytes at the front already sent (a per-datagram send stopped by a full socket).
    sent: usize,
}

impl SendBatch {
    pub fn new() -> Self {
        SendBatch { buf: Vec::with_capacity(MAX_DATAGRAM), ..Default::default() }
    }

    pub fn is_empty(&self) -> bool {
        self.buf.len() == self.sent
    }

    /// Queues (or, without batching or GSO, sends) one packet. False when the socket is
    /// full: the packet was not taken and the caller keeps it. A packet that
    /// fails otherwise (unreachable peer and the like) is lost, as QUIC allows.
    /// `t` says where it goes ([`Target`]; its ECN codepoint is dropped on a socket
    /// without ECN, its source on a socket that does not choose one per datagram).
    pub fn push(&mut self, sock: &UdpSocket, pkt: &[u8], t: Target) -> bool {
        let t = Target { ecn: sock.ecn_for(t.ecn), from: if sock.pktinfo { t.from } else { sock.local }, ..t };
        let to = t.to;
        if !sock.batch && !sock.gso() {
            return match sock.send_one(pkt, t) {
                Ok(_) => true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
                Err(e) => {
                    log::debug!("send to {to} failed: {e}");
                    true
                }
            };
        }
        if !self.is_empty() && !self.fits(pkt.len(), &t) && !self.flush(sock) {
            return false;
        }
        if self.is_empty() {
            self.buf.clear();
            self.sent = 0;
            self.target = Some(t);
            self.seg = pkt.len();
        }
        self.buf.extend_from_slice(pkt);
        if self.buf.len() / self.seg.max(1) >= MAX_SEGMENTS {
            // Full: send now (a full socket keeps it here for the next flush).
            self.flush(sock);
        }
        true
    }

    /// Whether a packet of `len` bytes for `t` can join the gathered run.
    fn fits(&self, len: usize, t: &Target) -> bool {
        self.target.as_ref() == Some(t)
            && self.sent == 0
            && len > 0
            && len <= self.seg
            && self.buf.len() % self.seg == 0
            && self.buf.len() / self.seg < MAX_SEGMENTS
            && self.buf.len() + len <= MAX_GSO_BYTES
    }

    /// Sends everything gathered. False when the socket filled up first; what
    /// is left stays here for the next call.
    pub fn flush(&mut self, sock: &UdpSocket) -> bool {
        if self.is_empty() {
            return true;
        }
        let t = self.target.expect("a gathered run has an address");
        let to = t.to;
        #[cfg(any(target_os = "linux", target_os = "emscripten"))]
        {
            let left = &self.buf[self.sent..];
            if left.len() > self.seg && sock.gso() {
                match sock.send_gso(left, self.seg, t) {
                    Ok(n) => {
                        self.sent += n;
                        if self.is_empty() {
                            return true;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                    Err(e) if gso_refused(&e) => {
                        // As ngtcp2's examples do: no GSO on this socket from now on,
                        // and these datagrams go out one by one below.
                        log::debug!("UDP GSO refused ({e}); sending datagrams one by one from now on");
                        sock.gso.store(false, Relaxed);
                        bump(&sock.counters.gso_refused, 1);
                    }
                    Err(e) => {
                        log::debug!("send to {to} failed: {e}");
                        self.sent = self.buf.len();
                        return true;
                    }
                }
            }
            while !self.is_empty() {
                match sock.send_many(&self.buf[self.sent..], self.seg, t) {
                    Ok(k) => self.sent = (self.sent + k * self.seg).min(self.buf.len()),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                    Err(e) => {
                        // The first datagram failed: it is lost; go on with the rest.
                        log::debug!("send to {to} failed: {e}");
                        self.sent = (self.sent + self.seg).min(self.buf.len());
                    }
                }
            }
            true
        }
        #[cfg(not(any(target_os = "linux", target_os = "emscripten")))]
        {
            // Not reached: without batching `push` sends at once.
            let _ = (sock, to);
            self.sent = self.buf.len();
            true
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::time::Duration;

    fn loopback() -> SocketAddr {
        "127.0.0.1:0".parse().unwrap()
    }

    /// Packet `i` of a test run: `len` bytes that say which packet they are.
    fn packet(i: usize, len: usize) -> Vec<u8> {
        (0..len).map(|k| (i * 7 + k * 13) as u8).collect()
    }

    /// Reads datagrams one by one (a plain socket) until `n` arrived or 5 s passed.
    fn read_plain(sock: &UdpSocket, n: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while out.len() < n && std::time::Instant::now() < deadline {
            sock.poll(false, Some(Duration::from_millis(100))).unwrap();
            while let Ok((len, _)) = sock.recv_from(&mut buf) {
                out.push(buf[..len].to_vec());
            }
        }
        out
    }

    fn plain_receiver() -> UdpSocket {
        let mut r = UdpSocket::bind(loopback()).unwrap();
        r.disable_batching();
        r
    }

    fn batching_sender() -> UdpSocket {
        let mut s = UdpSocket::bind(loopback()).unwrap();
        if !s.batching() {
            s.enable_batching();
        }
        s
    }

    /// `bind_sending` takes 1 to 8 senders; natively more than one is a plain bind.
    #[test]
    fn bind_sending_range() {
        for bad in [0, 9] {
            let e = UdpSocket::bind_sending(loopback(), bad).err().expect("out of range");
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        }
        let s = UdpSocket::bind_sending(loopback(), 4).unwrap();
        assert_ne!(s.local_addr().port(), 0);
    }

    /// Runs of equal-sized packets go out with GSO (one sendmsg per run), a shorter
    /// packet ends a run, and the receiver sees every datagram, in order, unchanged.
    #[test]
    fn gso_runs_arrive_as_the_same_datagrams() {
        let s = batching_sender();
        assert!(s.gso(), "this kernel has UDP_SEGMENT (Linux >= 4.18); the GSO path must be taken");
        let r = plain_receiver();
        let sizes = [1200, 1200, 1200, 700, 1200, 1200, 1200, 1200, 1200, 1200, 1200, 1200, 333, 1200];
        let sent: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, &l)| packet(i, l)).collect();
        let mut b = SendBatch::new();
        for p in &sent {
            assert!(b.push(&s, p, Target { to: r.local_addr(), from: s.local_addr(), ecn: 0 }));
        }
        assert!(b.flush(&s));
        assert!(b.is_empty());
        assert_eq!(read_plain(&r, sent.len()), sent);
        let c = s.counters();
        // Runs: [1200 x3 + 700], [1200 x8 + 333], [1200]: two GSO sends, one single datagram.
        assert_eq!((c.gso_sends, c.gso_datagrams, c.single_datagrams, c.gso_refused), (2, 13, 1, 0), "{c:?}");
    }

    /// More than MAX_SEGMENTS packets, or more than MAX_GSO_BYTES, split into several sends.
    #[test]
    fn long_runs_split_at_the_kernel_limits() {
        let s = batching_sender();
        let r = plain_receiver();
        let sent: Vec<Vec<u8>> = (0..150).map(|i| packet(i, 1000)).collect();
        let mut b = SendBatch::new();
        for p in &sent {
            assert!(b.push(&s, p, Target { to: r.local_addr(), from: s.local_addr(), ecn: 0 }));
        }
        assert!(b.flush(&s));
        assert_eq!(read_plain(&r, sent.len()), sent);
        let c = s.counters();
        assert_eq!(c.gso_datagrams, 150, "{c:?}");
        assert!(c.gso_sends >= 3, "65000 / 1000 = 65 > 64 segments: at least 3 sends, {c:?}");
    }

    /// When the kernel refuses a GSO send (here: EINVAL, since UDP GSO needs UDP
    /// checksums and SO_NO_CHECK switches them off), the batch goes out datagram
    /// by datagram, GSO stays off for the socket, nothing is lost.
    #[test]
    fn refused_gso_falls_back_to_single_datagrams() {
        let s = batching_sender();
        assert!(s.gso());
        let one: c_int = 1;
        const SO_NO_CHECK: c_int = 11;
        // SAFETY: setsockopt with an int on our socket.
        let rv = unsafe { libc::setsockopt(s.as_raw_fd(), libc::SOL_SOCKET, SO_NO_CHECK, &one as *const c_int as *const _, 4) };
        assert_eq!(rv, 0);
        let r = plain_receiver();
        let sent: Vec<Vec<u8>> = (0..10).map(|i| packet(i, 1100)).collect();
        let mut b = SendBatch::new();
        for p in &sent[..5] {
            assert!(b.push(&s, p, Target { to: r.local_addr(), from: s.local_addr(), ecn: 0 }));
        }
        assert!(b.flush(&s), "a refused GSO send must fall back, not fail");
        assert!(!s.gso(), "GSO is off for the socket after a refusal");
        for p in &sent[5..] {
            assert!(b.push(&s, p, Target { to: r.local_addr(), from: s.local_addr(), ecn: 0 }));
        }
        assert!(b.flush(&s));
        assert_eq!(read_plain(&r, sent.len()), sent);
        let c = s.counters();
        assert_eq!((c.gso_refused, c.gso_sends, c.single_datagrams), (1, 0, 10), "{c:?}");
    }

    /// A GRO receiver gets a GSO run from loopback as one coalesced message and
    /// hands it on as the original datagrams; recvmmsg takes several messages.
    #[test]
    fn gro_receive_splits_coalesced_datagrams() {
        let s = batching_sender();
        let r = batching_sender();
        assert!(r.gro(), "this kernel has UDP_GRO (Linux >= 5.0)");
        let sent: Vec<Vec<u8>> = (0..40).map(|i| packet(i, if i == 19 || i == 39 { 500 } else { 1000 })).collect();
        let mut b = SendBatch::new();
        for p in &sent {
            assert!(b.push(&s, p, Target { to: r.local_addr(), from: s.local_addr(), ecn: 0 }));
        }
        assert!(b.flush(&s));
        let mut got = Vec::new();
        let mut rb = RecvBatch::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while got.len() < sent.len() && std::time::Instant::now() < deadline {
            r.poll(false, Some(Duration::from_millis(100))).unwrap();
            let _ = r.recv_batch(&mut rb, &mut |d, got_from| {
                assert_eq!(got_from.from, s.local_addr());
                got.push(d.to_vec());
            });
        }
        assert_eq!(got, sent);
        let c = r.counters();
        assert_eq!(c.recv_datagrams, 40, "{c:?}");
        assert!(c.gro_messages >= 1 && c.recv_calls < 40, "loopback delivers GSO runs coalesced to a GRO socket: {c:?}");
    }

    /// Without batching, push sends at once (the wasm path): no GSO, no gathering.
    #[test]
    fn without_batching_push_sends_each_packet() {
        let mut s = UdpSocket::bind(loopback()).unwrap();
        s.disable_batching();
        let r = plain_receiver();
        let sent: Vec<Vec<u8>> = (0..6).map(|i| packet(i, 1200)).collect();
        let mut b = SendBatch::new();
        for p in &sent {
            assert!(b.push(&s, p, Target { to: r.local_addr(), from: s.local_addr(), ecn: 0 }));
            assert!(b.is_empty());
        }
        assert_eq!(read_plain(&r, sent.len()), sent);
        assert_eq!(s.counters().single_datagrams, 6);
        assert_eq!(s.counters().gso_sends, 0);
    }

    /// Packets to different addresses never share a send.
    #[test]
    fn runs_never_mix_destinations() {
        let s = batching_sender();
        let r1 = plain_receiver();
        let r2 = plain_receiver();
        let mut b = SendBatch::new();
        let mut to1 = Vec::new();
        let mut to2 = Vec::new();
        for i in 0..12 {
            let p = packet(i, 1200);
            if i % 3 == 2 {
                assert!(b.push(&s, &p, Target { to: r2.local_addr(), from: s.local_addr(), ecn: 0 }));
                to2.push(p);
            } else {
                assert!(b.push(&s, &p, Target { to: r1.local_addr(), from: s.local_addr(), ecn: 0 }));
                to1.push(p);
            }
        }
        assert!(b.flush(&s));
        assert_eq!(read_plain(&r1, to1.len()), to1);
        assert_eq!(read_plain(&r2, to2.len()), to2);
    }

    /// Reads `n` datagrams with their ECN codepoints through `recv_batch` (5 s at most).
    fn read_marked(sock: &UdpSocket, n: usize) -> Vec<(Vec<u8>, u8)> {
        let mut got = Vec::new();
        let mut rb = RecvBatch::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while got.len() < n && std::time::Instant::now() < deadline {
            sock.poll(false, Some(Duration::from_millis(100))).unwrap();
            let _ = sock.recv_batch(&mut rb, &mut |d, r| got.push((d.to_vec(), r.ecn)));
        }
        got
    }

    /// Every send path carries the codepoint asked for and every receive path reports
    /// it, over IPv4 and IPv6: GSO runs (split where the codepoint changes), `sendmmsg`,
    /// one `sendmsg` per datagram; received with GRO + `recvmmsg` and one by one.
    #[test]
    fn ecn_codepoints_survive_every_path() {
        let marks = [ECN_ECT0, ECN_ECT0, ECN_ECT0, ECN_CE, ECN_ECT1, ECN_NOT_ECT, ECN_ECT0, ECN_ECT0, ECN_ECT0, ECN_CE, ECN_CE, ECN_NOT_ECT];
        for host in ["127.0.0.1:0", "[::1]:0"] {
            let addr: SocketAddr = host.parse().unwrap();
            for (send_path, recv_batched) in [("gso", true), ("sendmmsg", false), ("single", true), ("single", false)] {
                let mut s = UdpSocket::bind(addr).unwrap();
                match send_path {
                    "gso" => assert!(s.gso()),
                    "sendmmsg" => s.gso.store(false, Relaxed),
                    _ => s.disable_batching(),
                }
                let mut r = UdpSocket::bind(addr).unwrap();
                if !recv_batched {
                    r.disable_batching();
                }
                assert!(s.ecn() && r.ecn(), "{host}: the kernel accepts IP_RECVTOS / IPV6_RECVTCLASS");
                let sent: Vec<(Vec<u8>, u8)> = marks.iter().enumerate().map(|(i, &e)| (packet(i, 1000), e)).collect();
                let mut b = SendBatch::new();
                for (p, e) in &sent {
                    assert!(b.push(&s, p, Target { to: r.local_addr(), from: s.local_addr(), ecn: *e }));
                }
                assert!(b.flush(&s));
                assert_eq!(read_marked(&r, sent.len()), sent, "{host} {send_path} -> batched receive {recv_batched}");
                let (cs, cr) = (s.counters(), r.counters());
                assert_eq!(cs.ecn_sent, 10, "{host} {send_path}: {cs:?}");
                assert_eq!((cr.ecn_received, cr.ce_received), (10, 3), "{host} {send_path}: {cr:?}");
                if send_path == "gso" {
                    // Runs: [ECT0 x3] [CE] [ECT1] [Not-ECT] [ECT0 x3] [CE x2] [Not-ECT].
                    assert_eq!((cs.gso_sends, cs.gso_datagrams), (3, 8), "{host}: a run never mixes codepoints, {cs:?}");
                }
            }
        }
    }

    /// A server socket on a wildcard address reports the local address each datagram
    /// was sent to and answers from it, whichever address the routing table would pick:
    /// IPv4 (127.0.0.1-3 on loopback), IPv6, and IPv4 peers of a dual-stack `[::]`
    /// socket, over the GSO and the one-by-one send paths. A client's socket does not.
    #[test]
    fn wildcard_server_answers_from_the_address_it_was_reached_at() {
        assert!(!UdpSocket::bind("0.0.0.0:0".parse().unwrap()).unwrap().pktinfo(), "clients leave the source to the kernel");
        for (bind, dsts) in [("0.0.0.0:0", &["127.0.0.1", "127.0.0.2", "127.0.0.3"][..]), ("[::]:0", &["::1", "127.0.0.2", "127.0.0.3"][..])] {
            for batched in [true, false] {
                let mut srv = UdpSocket::bind_sending(bind.parse().unwrap(), 1).unwrap();
                if !batched {
                    srv.disable_batching();
                }
                assert!(srv.pktinfo(), "{bind}: IP_PKTINFO / IPV6_RECVPKTINFO accepted");
                for dst in dsts {
                    let dst: IpAddr = dst.parse().unwrap();
                    let to = SocketAddr::new(dst, srv.local_addr().port());
                    let mut cli = UdpSocket::bind(SocketAddr::new(if dst.is_ipv4() { "127.0.0.1".parse().unwrap() } else { dst }, 0)).unwrap();
                    cli.disable_batching(); // one datagram per read (GRO would coalesce the answers)
                    cli.send_to(b"hello", to).unwrap();
                    let mut rb = RecvBatch::new();
                    let mut got = None;
                    let deadline = std::time::Instant::now() + Duration::from_secs(5);
                    while got.is_none() && std::time::Instant::now() < deadline {
                        srv.poll(false, Some(Duration::from_millis(100))).unwrap();
                        let _ = srv.recv_batch(&mut rb, &mut |_, r| got = Some(r));
                    }
                    let r = got.expect("the server socket received");
                    let want_local = match (dst, srv.local_addr()) {
                        (IpAddr::V4(a), SocketAddr::V6(_)) => SocketAddr::new(IpAddr::V6(a.to_ipv6_mapped()), to.port()),
                        _ => to,
                    };
                    assert_eq!(r.local, want_local, "{bind} batched {batched}: local address of a datagram sent to {to}");
                    let mut b = SendBatch::new();
                    for i in 0..3 {
                        assert!(b.push(&srv, &packet(i, 900), Target { to: r.from, from: r.local, ecn: 0 }));
                    }
                    assert!(b.flush(&srv));
                    let mut buf = vec![0u8; MAX_DATAGRAM];
                    let mut sources = Vec::new();
                    let deadline = std::time::Instant::now() + Duration::from_secs(5);
                    while sources.len() < 3 && std::time::Instant::now() < deadline {
                        cli.poll(false, Some(Duration::from_millis(100))).unwrap();
                        while let Ok((_, from)) = cli.recv_from(&mut buf) {
                            sources.push(from);
                        }
                    }
                    assert_eq!(sources, vec![to; 3], "{bind} batched {batched}: answers came from {sources:?}, not {to}");
                }
            }
        }
    }

    /// A socket without ECN (as under the wasm bridge) sends Not-ECT whatever it is asked.
    #[test]
    fn without_ecn_nothing_is_marked() {
        let mut s = batching_sender();
        s.ecn = false;
        let r = batching_sender();
        let mut b = SendBatch::new();
        for i in 0..4 {
            assert!(b.push(&s, &packet(i, 800), Target { to: r.local_addr(), from: s.local_addr(), ecn: ECN_ECT0 }));
        }
        assert!(b.flush(&s));
        let got = read_marked(&r, 4);
        assert_eq!(got.len(), 4);
        assert!(got.iter().all(|(_, e)| *e == ECN_NOT_ECT), "{:?}", got.iter().map(|g| g.1).collect::<Vec<_>>());
        assert_eq!((s.counters().ecn_sent, r.counters().ecn_received), (0, 0));
    }
}

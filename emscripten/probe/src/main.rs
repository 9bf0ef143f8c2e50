//! Socket probes: small std-only programs that exercise the Direct Sockets
//! bridge from Rust. Built for wasm32-unknown-emscripten (the real subject) and
//! natively (the same code against the kernel, as a reference).
//!
//! Every mode prints `READY <addr>` once it listens (when it does) and one
//! final line `RESULT <json>`; a failure prints `RESULT {"ok":false,...}` and
//! exits non-zero. Modes:
//!
//! - `udp-echo <bind> <count>`           echo `count` datagrams back to their sender
//! - `tcp-echo <bind> <conns>`           std TcpListener; echo with libc read()/write() on the fds
//! - `tcp-client <addr> <bytes>`         std TcpStream; non-blocking + poll(), write/read `bytes`, verify
//! - `multicast <group> <port> <rounds>` libc socket, IP_ADD_MEMBERSHIP, exchange with a peer, IP_DROP_MEMBERSHIP
//! - `expect-bind-udp <addr>`            report the io::ErrorKind of UdpSocket::bind
//! - `expect-connect <addr>`             report the io::ErrorKind of TcpStream::connect
//! - `socket-family <af>`                report socket(af, SOCK_DGRAM, 0)'s errno
//! - `recv-until-closed <bind>`          block in recv_from until another export closes the fd
//! - `options <bind>`                    setsockopt/getsockopt round trips, nonblocking EAGAIN
//! - `udp-driver <bind> <count>`        the QUIC driver's loop: poll -> recvmsg until EAGAIN -> sendmsg; [senders]: ds_udp_send_sockets first
//! - `ssm <group> <source> <port>`      IP_ADD/DROP_SOURCE_MEMBERSHIP errnos
//! - `clocks`                            std Instant/SystemTime vs Emscripten's clock across poll(100 ms)
//! - `recv-timeout <bind> <ms>`         set_read_timeout + recv_from on an idle socket
//! - `tcp-recv <addr> <bytes>`           blocking read() of a server's pattern stream, verified
//! - `udp-connected <peer> <count>`      bound UDP socket connect()ed to a peer: send()/recv()
//! - `msg-iov <peer>`                    sendmsg (3 iovecs), select(), recvmsg (2 iovecs, MSG_TRUNC)
//! - `send-until-eagain <bind> <dest> <size> <max> [read]`  non-blocking sends until EAGAIN, then poll(POLLOUT) (with `read`: POLLIN | POLLOUT, up to 5 s)
//! - `send-sizes <bind> <dest> <size,size,...>`  non-blocking sends of these sizes in turn; one refused
//!   with EAGAIN is retried after each poll(POLLOUT) (300 ms), at most 3 times
//! - `ssm-recv <group> <source> <port> <count>`  IP_ADD_SOURCE_MEMBERSHIP, then receive until `count`
//!   datagrams from `source` arrived (10 s bound): what was heard, from whom
//! - `unresolved <tcp|udp-connect|udp-sendto> <name:port> [after]`  the errno a host name that does not
//!   resolve gives connect() / a later send (via poll's POLLERR and SO_ERROR) on that path; udp-sendto
//!   then sends "after" to the address `after` from the same socket (it must still work)
//! - `udp-gro <bind> <count> <gro> <ctl> <wait_ms>`  UDP_GRO (`gro` 1/0) and recvmsg with or without room
//!   for control messages (`ctl` 1/0): once the first datagram is readable, waits `wait_ms`, then receives
//!   until `count` datagrams came; reports each message (length, GRO segment size, sender port), each
//!   datagram cut from them (length, FNV-1a hash), and with GRO off how often FIONREAD before a
//!   recvmsg() named another length than it returned

use std::io::{self, ErrorKind};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
#[cfg(unix)]
use std::os::fd::AsRawFd;

/// Milliseconds from a monotonic clock. On wasm32-unknown-emscripten with
/// Debian's emcc 3.1.6, std's Instant is wrong: 3.1.6 has a 32-bit time_t
/// (its clock_gettime writes {i32 sec, i32 nsec}) while Rust's libc crate
/// reads a 64-bit tv_sec, so the probe asks Emscripten's clock directly.
#[cfg(target_os = "emscripten")]
fn now_ms() -> f64 {
    extern "C" {
        fn emscripten_get_now() -> f64;
    }
    // SAFETY: emscripten_get_now has no preconditions.
    unsafe { emscripten_get_now() }
}

#[cfg(not(target_os = "emscripten"))]
fn now_ms() -> f64 {
    use std::sync::OnceLock;
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed().as_secs_f64() * 1000.0
}

/// What std's clocks report across a 100 ms poll(): shows the 3.1.6 time_t
/// mismatch (see now_ms) next to Emscripten's own clock.
fn clocks() -> io::Result<String> {
    let i0 = std::time::Instant::now();
    let e0 = now_ms();
    // SAFETY: poll with no fds just sleeps.
    unsafe { libc::poll(std::ptr::null_mut(), 0, 100) };
    let instant_ms = i0.elapsed().as_millis();
    let emscripten_ms = (now_ms() - e0).round() as u64;
    let unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    Ok(format!("{{\"ok\":true,\"instantMs\":{instant_ms},\"clockMs\":{emscripten_ms},\"systemTimeUnixSecs\":{unix}}}"))
}

fn result(json: String) {
    println!("RESULT {json}");
}

fn err_json(op: &str, e: &io::Error) -> String {
    format!(
        "{{\"ok\":false,\"op\":\"{op}\",\"kind\":\"{:?}\",\"errno\":{},\"msg\":\"{}\"}}",
        e.kind(),
        e.raw_os_error().unwrap_or(-1),
        e.to_string().replace('"', "'")
    )
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(-1)
}

/// Closes an fd from outside main while main is suspended in a blocking call
/// (called by the test through the module's exports).
#[no_mangle]
pub extern "C" fn probe_close(fd: i32) -> i32 {
    // SAFETY: closing an fd number is sound; the test owns the race by design.
    unsafe { libc::close(fd) }
}

fn udp_echo(bind: &str, count: usize) -> io::Result<String> {
    let sock = UdpSocket::bind(bind)?;
    println!("READY {}", sock.local_addr()?);
    let mut buf = vec![0u8; 65536];
    let mut bytes = 0usize;
    for _ in 0..count {
        let (n, from) = sock.recv_from(&mut buf)?;
        let sent = sock.send_to(&buf[..n], from)?;
        if sent != n {
            return Err(io::Error::other(format!("short send {sent} of {n}")));
        }
        bytes += n;
    }
    Ok(format!("{{\"ok\":true,\"echoed\":{count},\"bytes\":{bytes}}}"))
}

/// read() on an fd, retrying EINTR.
fn fd_read(fd: i32, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: buf is a valid writable slice of buf.len() bytes.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// write() on an fd, retrying EINTR.
fn fd_write(fd: i32, buf: &[u8]) -> io::Result<usize> {
    loop {
        // SAFETY: buf is a valid readable slice of buf.len() bytes.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn tcp_echo(bind: &str, conns: usize) -> io::Result<String> {
    let listener = TcpListener::bind(bind)?;
    println!("READY {}", listener.local_addr()?);
    let mut total = 0usize;
    let mut peers = Vec::new();
    let mut buf = vec![0u8; 16384];
    for _ in 0..conns {
        let (stream, peer) = listener.accept()?;
        peers.push(format!("\"{peer}\""));
        let fd = stream.as_raw_fd();
        loop {
            let n = fd_read(fd, &mut buf)?;
            if n == 0 {
                break;
            }
            let mut off = 0;
            while off < n {
                off += fd_write(fd, &buf[off..n])?;
            }
            total += n;
        }
        drop(stream);
    }
    Ok(format!("{{\"ok\":true,\"conns\":{conns},\"bytes\":{total},\"peers\":[{}]}}", peers.join(",")))
}

fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 8)) as u8
}

fn tcp_client(addr: &str, bytes: usize) -> io::Result<String> {
    let addr: SocketAddr = addr.parse().map_err(|e| io::Error::new(ErrorKind::InvalidInput, format!("{e}")))?;
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let local = stream.local_addr()?;
    let peer = stream.peer_addr()?;
    stream.set_nonblocking(true)?;
    let fd = stream.as_raw_fd();
    let out: Vec<u8> = (0..bytes).map(pattern).collect();
    let mut sent = 0usize;
    let mut got = Vec::with_capacity(bytes);
    let mut buf = vec![0u8; 65536];
    let mut shut = false;
    let mut polls = 0usize;
    let mut eagain = 0usize;
    loop {
        let mut events = libc::POLLIN;
        if sent < bytes {
            events |= libc::POLLOUT;
        }
        let mut pfd = libc::pollfd { fd, events, revents: 0 };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, 10_000) };
        polls += 1;
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        if r == 0 {
            return Err(io::Error::new(ErrorKind::TimedOut, format!("poll timed out, sent {sent} got {}", got.len())));
        }
        if pfd.revents & libc::POLLOUT != 0 && sent < bytes {
            let end = (sent + 32768).min(bytes);
            match fd_write(fd, &out[sent..end]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => eagain += 1,
                Err(e) => return Err(e),
            }
        }
        if sent == bytes && !shut {
            stream.shutdown(std::net::Shutdown::Write)?;
            shut = true;
        }
        if pfd.revents & (libc::POLLIN | libc::POLLHUP) != 0 {
            match fd_read(fd, &mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    // Done once everything came back: the peer's FIN (its
                    // answer to our shutdown) is not needed for the check.
                    if got.len() >= bytes {
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => eagain += 1,
                Err(e) => return Err(e),
            }
        }
        if pfd.revents & libc::POLLERR != 0 {
            return Err(stream.take_error()?.unwrap_or_else(|| io::Error::other("POLLERR")));
        }
    }
    if got != out {
        let first = got.iter().zip(out.iter()).position(|(a, b)| a != b);
        return Err(io::Error::other(format!(
            "echo mismatch: got {} of {} bytes, first difference at {:?}",
            got.len(),
            bytes,
            first
        )));
    }
    Ok(format!(
        "{{\"ok\":true,\"bytes\":{bytes},\"local\":\"{local}\",\"peer\":\"{peer}\",\"polls\":{polls},\"eagain\":{eagain}}}"
    ))
}

/// -1 -> the OS error (raw errno kept, so callers can compare it); `what`
/// names the call on stderr.
fn check(r: i32, what: &str) -> io::Result<i32> {
    if r < 0 {
        let e = io::Error::last_os_error();
        eprintln!("{what}: {e}");
        return Err(e);
    }
    Ok(r)
}

fn sockaddr_in(ip: [u8; 4], port: u16) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain old data; all-zero is a valid value.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_port = port.to_be();
    sa.sin_addr = libc::in_addr { s_addr: u32::from_ne_bytes(ip) };
    sa
}

fn parse_v4(s: &str) -> io::Result<[u8; 4]> {
    let ip: std::net::Ipv4Addr = s.parse().map_err(|e| io::Error::new(ErrorKind::InvalidInput, format!("{e}")))?;
    Ok(ip.octets())
}

fn set_int(fd: i32, level: i32, opt: i32, v: i32, what: &str) -> io::Result<()> {
    // SAFETY: optval points at a live i32 of the given length.
    check(
        unsafe { libc::setsockopt(fd, level, opt, (&v as *const i32).cast(), 4) },
        what,
    )?;
    Ok(())
}

fn get_int(fd: i32, level: i32, opt: i32, what: &str) -> io::Result<i32> {
    let mut v: i32 = 0;
    let mut len: libc::socklen_t = 4;
    // SAFETY: optval/optlen point at live locals of matching size.
    check(
        unsafe { libc::getsockopt(fd, level, opt, (&mut v as *mut i32).cast(), &mut len) },
        what,
    )?;
    Ok(v)
}

fn membership(fd: i32, group: [u8; 4], join: bool) -> io::Result<()> {
    let mreq = libc::ip_mreq {
        imr_multiaddr: libc::in_addr { s_addr: u32::from_ne_bytes(group) },
        imr_interface: libc::in_addr { s_addr: 0 },
    };
    let opt = if join { libc::IP_ADD_MEMBERSHIP } else { libc::IP_DROP_MEMBERSHIP };
    // SAFETY: mreq is a live ip_mreq and the length matches it.
    check(
        unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_IP,
                opt,
                (&mreq as *const libc::ip_mreq).cast(),
                std::mem::size_of::<libc::ip_mreq>() as libc::socklen_t,
            )
        },
        if join { "IP_ADD_MEMBERSHIP" } else { "IP_DROP_MEMBERSHIP" },
    )?;
    Ok(())
}

/// Multicast through raw setsockopt: join `group`, announce on the group,
/// answer `rounds` datagrams from peers unicast, leave the group.
fn multicast(group: &str, port: u16, rounds: usize) -> io::Result<String> {
    let g = parse_v4(group)?;
    // SAFETY: plain socket(2) call.
    let fd = check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) }, "socket")?;
    set_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1, "SO_REUSEADDR")?;
    set_int(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_TTL, 1, "IP_MULTICAST_TTL")?;
    set_int(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP, 1, "IP_MULTICAST_LOOP")?;
    let sa = sockaddr_in([0, 0, 0, 0], port);
    // SAFETY: sa is a live sockaddr_in of the given size.
    check(
        unsafe { libc::bind(fd, (&sa as *const libc::sockaddr_in).cast(), std::mem::size_of::<libc::sockaddr_in>() as u32) },
        "bind",
    )?;
    membership(fd, g, true)?;
    // Joining twice must fail like the kernel does (EADDRINUSE).
    let twice = membership(fd, g, true).err().and_then(|e| e.raw_os_error()).unwrap_or(0);
    let ttl = get_int(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_TTL, "getsockopt TTL")?;
    println!("READY 0.0.0.0:{port} fd={fd}");
    let hello = b"hello-from-wasm";
    let dst = sockaddr_in(g, port);
    // SAFETY: buffer and address are live for the call.
    check(
        unsafe {
            libc::sendto(fd, hello.as_ptr().cast(), hello.len(), 0, (&dst as *const libc::sockaddr_in).cast(), std::mem::size_of::<libc::sockaddr_in>() as u32) as i32
        },
        "sendto group",
    )?;
    let mut buf = [0u8; 2048];
    let mut answered = 0usize;
    let mut own_seen = 0usize;
    let mut peers = Vec::new();
    while answered < rounds {
        // SAFETY: zeroed sockaddr_in is valid; lengths match the buffers.
        let mut from: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        let mut flen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let n = check(
            unsafe {
                libc::recvfrom(fd, buf.as_mut_ptr().cast(), buf.len(), 0, (&mut from as *mut libc::sockaddr_in).cast(), &mut flen) as i32
            },
            "recvfrom",
        )? as usize;
        if &buf[..n] == hello {
            own_seen += 1; // multicast loopback delivers our own announcement
            continue;
        }
        let mut reply = b"echo:".to_vec();
        reply.extend_from_slice(&buf[..n]);
        // SAFETY: reply and from are live for the call.
        check(
            unsafe { libc::sendto(fd, reply.as_ptr().cast(), reply.len(), 0, (&from as *const libc::sockaddr_in).cast(), flen) as i32 },
            "sendto peer",
        )?;
        let ip = std::net::Ipv4Addr::from(u32::from_be(from.sin_addr.s_addr));
        peers.push(format!("\"{}:{}\"", ip, u16::from_be(from.sin_port)));
        answered += 1;
    }
    membership(fd, g, false)?;
    // Leaving a group we are not in must fail (EADDRNOTAVAIL).
    let not_member = membership(fd, g, false).err().and_then(|e| e.raw_os_error()).unwrap_or(0);
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    Ok(format!(
        "{{\"ok\":true,\"answered\":{answered},\"ownSeen\":{own_seen},\"ttl\":{ttl},\"joinTwiceErrno\":{twice},\"eaddrinuse\":{},\"leaveTwiceErrno\":{not_member},\"eaddrnotavail\":{},\"peers\":[{}]}}",
        libc::EADDRINUSE,
        libc::EADDRNOTAVAIL,
        peers.join(",")
    ))
}

fn expect_bind_udp(addr: &str) -> String {
    match UdpSocket::bind(addr) {
        Ok(s) => format!("{{\"ok\":true,\"op\":\"bind\",\"local\":\"{}\"}}", s.local_addr().map(|a| a.to_string()).unwrap_or_default()),
        Err(e) => err_json("bind", &e),
    }
}

fn expect_connect(addr: &str) -> String {
    match TcpStream::connect(addr) {
        Ok(s) => format!("{{\"ok\":true,\"op\":\"connect\",\"peer\":\"{}\"}}", s.peer_addr().map(|a| a.to_string()).unwrap_or_default()),
        Err(e) => err_json("connect", &e),
    }
}

fn socket_family(af: i32) -> String {
    // SAFETY: plain socket(2) call.
    let fd = unsafe { libc::socket(af, libc::SOCK_DGRAM, 0) };
    let e = if fd < 0 { errno() } else { 0 };
    if fd >= 0 {
        // SAFETY: fd is ours.
        unsafe { libc::close(fd) };
    }
    format!(
        "{{\"ok\":{},\"op\":\"socket\",\"fd\":{fd},\"errno\":{e},\"EAFNOSUPPORT\":{}}}",
        fd >= 0,
        libc::EAFNOSUPPORT
    )
}

fn recv_until_closed(bind: &str) -> io::Result<String> {
    let sock = UdpSocket::bind(bind)?;
    println!("READY {} fd={}", sock.local_addr()?, sock.as_raw_fd());
    let mut buf = [0u8; 1500];
    let r = sock.recv_from(&mut buf);
    std::mem::forget(sock); // its fd was closed from outside
    Ok(match r {
        Ok((n, from)) => format!("{{\"ok\":true,\"op\":\"recv\",\"n\":{n},\"from\":\"{from}\"}}"),
        Err(e) => err_json("recv", &e),
    })
}

/// Options and non-blocking behaviour on a bound UDP socket and a TCP socket.
fn options(bind: &str) -> io::Result<String> {
    let sock = UdpSocket::bind(bind)?;
    let fd = sock.as_raw_fd();
    sock.set_nonblocking(true)?;
    let mut buf = [0u8; 64];
    let eagain = match sock.recv_from(&mut buf) {
        Err(e) if e.kind() == ErrorKind::WouldBlock => true,
        _ => false,
    };
    sock.set_nonblocking(false)?;
    // F_GETFL must reflect the cleared O_NONBLOCK.
    // SAFETY: plain fcntl on our fd.
    let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    let nonblock_cleared = fl >= 0 && fl & libc::O_NONBLOCK == 0;
    set_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, 65536, "SO_SNDBUF")?;
    let sndbuf = get_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, "get SO_SNDBUF")?;
    let so_type = get_int(fd, libc::SOL_SOCKET, libc::SO_TYPE, "SO_TYPE")?;
    let unknown = {
        // SAFETY: optval points at a live i32.
        let v: i32 = 1;
        let r = unsafe { libc::setsockopt(fd, libc::SOL_SOCKET, 12345, (&v as *const i32).cast(), 4) };
        if r < 0 { errno() } else { 0 }
    };
    let mut avail: i32 = -1;
    // SAFETY: FIONREAD writes an int.
    let fionread = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut avail) };
    let tcp = TcpStream::connect(sock.local_addr()?).err().map(|e| format!("{:?}", e.kind())).unwrap_or_default();
    Ok(format!(
        "{{\"ok\":true,\"eagain\":{eagain},\"nonblockCleared\":{nonblock_cleared},\"sndbuf\":{sndbuf},\"soType\":{so_type},\"SOCK_DGRAM\":{},\"unknownOptErrno\":{unknown},\"ENOPROTOOPT\":{},\"fionread\":{fionread},\"avail\":{avail},\"tcpToUdpPort\":\"{tcp}\"}}",
        libc::SOCK_DGRAM,
        libc::ENOPROTOOPT
    ))
}

/// Non-blocking sends until EAGAIN, then poll for POLLOUT (backpressure).
/// Sends `size`-byte datagrams until EAGAIN (at most `max`), then polls: for POLLOUT for 300 ms,
/// or with `read` for POLLIN | POLLOUT for up to 5 s (and reports how long that took).
fn send_until_eagain(bind: &str, dest: &str, size: usize, max: usize, read: bool) -> io::Result<String> {
    let sock = UdpSocket::bind(bind)?;
    sock.set_nonblocking(true)?;
    let payload = vec![0x5au8; size];
    let mut sent = 0usize;
    let mut eagain = false;
    while sent < max {
        match sock.send_to(&payload, dest) {
            Ok(_) => sent += 1,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                eagain = true;
                break;
            }
            Err(e) => return Err(e),
        }
    }
    let events = if read { libc::POLLIN | libc::POLLOUT } else { libc::POLLOUT };
    let mut pfd = libc::pollfd { fd: sock.as_raw_fd(), events, revents: 0 };
    println!("POLLING");
    let t0 = now_ms();
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut pfd, 1, if read { 5000 } else { 300 }) };
    let ms = (now_ms() - t0).round() as u64;
    Ok(format!("{{\"ok\":true,\"sent\":{sent},\"eagain\":{eagain},\"pollReady\":{r},\"revents\":{},\"pollMs\":{ms}}}", pfd.revents))
}

/// Non-blocking sends of `sizes` (comma-separated) in turn to `dest`. A send refused with EAGAIN
/// is retried after poll(POLLOUT, 300 ms), at most 3 times. Reports per send whether it went out,
/// its tries and what each poll returned: a socket that reports POLLOUT must take the next send,
/// or a program that polls and sends spins without ever waiting.
fn send_sizes(bind: &str, dest: &str, sizes: &str) -> io::Result<String> {
    let sock = UdpSocket::bind(bind)?;
    sock.set_nonblocking(true)?;
    let mut out = Vec::new();
    for size in sizes.split(',') {
        let size: usize = size.parse().map_err(|e| io::Error::new(ErrorKind::InvalidInput, format!("size {size:?}: {e}")))?;
        let payload = vec![0x33u8; size];
        let (mut sent, mut tries, mut polls) = (false, 0, Vec::new());
        while tries < 4 && !sent {
            tries += 1;
            match sock.send_to(&payload, dest) {
                Ok(_) => sent = true,
                Err(e) if e.kind() == ErrorKind::WouldBlock && tries < 4 => {
                    let mut pfd = libc::pollfd { fd: sock.as_raw_fd(), events: libc::POLLOUT, revents: 0 };
                    // SAFETY: one valid pollfd.
                    polls.push(unsafe { libc::poll(&mut pfd, 1, 300) });
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        out.push(format!("{{\"size\":{size},\"sent\":{sent},\"tries\":{tries},\"polls\":{polls:?}}}"));
    }
    Ok(format!("{{\"ok\":true,\"sends\":[{}]}}", out.join(",")))
}

/// Blocking read() of `bytes` from a TCP server that sends pattern(i); verified.
/// Upload: `bytes` of pattern() through std TcpStream::write_all in `piece`-byte
/// writes, then waits for the server's one-line verdict. Every 4 MiB a 1 MiB
/// allocation is kept, so the wasm memory grows (and its buffer is replaced)
/// while sends are in flight.
fn tcp_send(addr: &str, bytes: usize, piece: usize) -> io::Result<String> {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(addr)?;
    let mut buf = vec![0u8; piece.max(1)];
    let mut ballast: Vec<Vec<u8>> = Vec::new();
    let mut sent = 0usize;
    while sent < bytes {
        let n = buf.len().min(bytes - sent);
        for (k, b) in buf[..n].iter_mut().enumerate() {
            *b = pattern(sent + k);
        }
        stream.write_all(&buf[..n])?;
        sent += n;
        if sent % (4 << 20) < n {
            ballast.push(vec![1u8; 1 << 20]);
        }
    }
    let mut verdict = Vec::new();
    let mut one = [0u8; 256];
    while !verdict.ends_with(b"\n") {
        let n = stream.read(&mut one)?;
        if n == 0 {
            break;
        }
        verdict.extend_from_slice(&one[..n]);
    }
    let grown: usize = ballast.iter().map(|b| b[0] as usize).sum();
    Ok(format!(
        "{{\"ok\":true,\"sent\":{sent},\"ballastMiB\":{grown},\"verdict\":\"{}\"}}",
        String::from_utf8_lossy(&verdict).trim()
    ))
}

fn tcp_recv(addr: &str, bytes: usize) -> io::Result<String> {
    let stream = TcpStream::connect(addr)?;
    let fd = stream.as_raw_fd();
    let mut buf = vec![0u8; 65536];
    let mut got = 0usize;
    let mut reads = 0usize;
    while got < bytes {
        let n = fd_read(fd, &mut buf)?;
        if n == 0 {
            break;
        }
        reads += 1;
        for (k, b) in buf[..n].iter().enumerate() {
            if *b != pattern(got + k) {
                return Err(io::Error::other(format!("byte {} is {b}, expected {}", got + k, pattern(got + k))));
            }
        }
        got += n;
    }
    Ok(format!("{{\"ok\":{},\"bytes\":{got},\"reads\":{reads}}}", got == bytes))
}

/// A bound UDP socket connect()ed to `peer`: send()/recv() only with that peer.
fn udp_connected(peer: &str, count: usize) -> io::Result<String> {
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    println!("READY {}", sock.local_addr()?);
    sock.connect(peer)?;
    let connected_to = sock.peer_addr()?;
    let mut buf = [0u8; 1500];
    let mut got = Vec::new();
    for i in 0..count {
        sock.send(format!("hello-{i}").as_bytes())?;
        let n = sock.recv(&mut buf)?;
        got.push(format!("\"{}\"", String::from_utf8_lossy(&buf[..n])));
    }
    Ok(format!("{{\"ok\":true,\"peer\":\"{connected_to}\",\"got\":[{}]}}", got.join(",")))
}

/// sendmsg() with three iovecs, select() for readability, recvmsg() into two
/// iovecs with truncation reported in msg_flags, against an echo peer.
fn msg_iov(peer: &str) -> io::Result<String> {
    let peer: std::net::SocketAddrV4 = peer.parse().map_err(|e| io::Error::new(ErrorKind::InvalidInput, format!("{e}")))?;
    // SAFETY: plain socket(2) call.
    let fd = check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) }, "socket")?;
    let local = sockaddr_in([127, 0, 0, 1], 0);
    // SAFETY: local is a live sockaddr_in.
    check(unsafe { libc::bind(fd, (&local as *const libc::sockaddr_in).cast(), 16) }, "bind")?;
    let dst = sockaddr_in(peer.ip().octets(), peer.port());
    let parts: [&[u8]; 3] = [b"alpha-", b"beta-", b"gamma"];
    let iov: Vec<libc::iovec> = parts.iter().map(|p| libc::iovec { iov_base: p.as_ptr() as *mut _, iov_len: p.len() }).collect();
    // SAFETY: msghdr is plain data; every pointer in it stays live for the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&dst as *const libc::sockaddr_in) as *mut _;
    msg.msg_namelen = 16;
    msg.msg_iov = iov.as_ptr() as *mut _;
    msg.msg_iovlen = iov.len() as _;
    // SAFETY: msg describes live buffers.
    let sent = check(unsafe { libc::sendmsg(fd, &msg, 0) } as i32, "sendmsg")?;
    // select() with a 5 s timeout for readability.
    // SAFETY: fd_set is plain data; FD_SET/FD_ISSET take a live set.
    let mut rset: libc::fd_set = unsafe { std::mem::zeroed() };
    unsafe { libc::FD_SET(fd, &mut rset) };
    let mut tv = libc::timeval { tv_sec: 5, tv_usec: 0 };
    let ready = check(unsafe { libc::select(fd + 1, &mut rset, std::ptr::null_mut(), std::ptr::null_mut(), &mut tv) }, "select")?;
    let readable = unsafe { libc::FD_ISSET(fd, &rset) };
    // Receive into 4 + 6 bytes: the 16-byte echo is truncated.
    let mut a = [0u8; 4];
    let mut b = [0u8; 6];
    let riov = [
        libc::iovec { iov_base: a.as_mut_ptr().cast(), iov_len: a.len() },
        libc::iovec { iov_base: b.as_mut_ptr().cast(), iov_len: b.len() },
    ];
    // SAFETY: zeroed sockaddr_in / msghdr are valid; pointers are live.
    let mut from: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut rmsg: libc::msghdr = unsafe { std::mem::zeroed() };
    rmsg.msg_name = (&mut from as *mut libc::sockaddr_in).cast();
    rmsg.msg_namelen = 16;
    rmsg.msg_iov = riov.as_ptr() as *mut _;
    rmsg.msg_iovlen = 2;
    let n = check(unsafe { libc::recvmsg(fd, &mut rmsg, 0) } as i32, "recvmsg")?;
    let truncated = rmsg.msg_flags & libc::MSG_TRUNC != 0;
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    Ok(format!(
        "{{\"ok\":true,\"sent\":{sent},\"selectReady\":{ready},\"readable\":{readable},\"received\":{n},\"first\":\"{}\",\"second\":\"{}\",\"truncated\":{truncated},\"fromPort\":{}}}",
        String::from_utf8_lossy(&a),
        String::from_utf8_lossy(&b),
        u16::from_be(from.sin_port)
    ))
}

/// A run of datagrams in one sendmsg() with a UDP_SEGMENT control message (Linux's UDP GSO,
/// which the bridge takes too): 4 x 1200 + 500 bytes to `peer`, datagram `k` filled with `k`.
/// Then what is refused: 65 segments (more than UDP_MAX_SEGMENTS on the kernels the bridge
/// copies) and a control message shorter than its header (EINVAL both).
fn udp_segment(peer: &str) -> io::Result<String> {
    let peer: std::net::SocketAddrV4 = peer.parse().map_err(|e| io::Error::new(ErrorKind::InvalidInput, format!("{e}")))?;
    const SOL_UDP: i32 = 17;
    const UDP_SEGMENT: i32 = 103;
    // SAFETY: plain socket(2) call.
    let fd = check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) }, "socket")?;
    let local = sockaddr_in([127, 0, 0, 1], 0);
    // SAFETY: local is a live sockaddr_in.
    check(unsafe { libc::bind(fd, (&local as *const libc::sockaddr_in).cast(), 16) }, "bind")?;
    let probe = get_int(fd, SOL_UDP, UDP_SEGMENT, "getsockopt UDP_SEGMENT")?;
    let dst = sockaddr_in(peer.ip().octets(), peer.port());
    let send_run = |data: &[u8], seg: u16, cmsg_len: Option<u32>| -> i32 {
        let mut iov = libc::iovec { iov_base: data.as_ptr() as *mut _, iov_len: data.len() };
        let mut ctrl = [0u64; 4];
        // SAFETY: msghdr points at live iov/dst/ctrl storage; ctrl is aligned and holds one
        // cmsg carrying a u16 (CMSG_SPACE(2) <= 24 bytes).
        unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_name = (&dst as *const libc::sockaddr_in) as *mut _;
            msg.msg_namelen = 16;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = ctrl.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(2) as _;
            let cm = libc::CMSG_FIRSTHDR(&msg);
            (*cm).cmsg_level = SOL_UDP;
            (*cm).cmsg_type = UDP_SEGMENT;
            (*cm).cmsg_len = cmsg_len.unwrap_or(libc::CMSG_LEN(2)) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(cm) as *mut u16, seg);
            if libc::sendmsg(fd, &msg, 0) < 0 { -errno() } else { data.len() as i32 }
        }
    };
    let mut run = Vec::new();
    for (k, len) in [1200usize, 1200, 1200, 1200, 500].into_iter().enumerate() {
        run.extend(std::iter::repeat_n(k as u8, len));
    }
    let sent = send_run(&run, 1200, None);
    let too_many = send_run(&[7u8; 6500], 100, None);
    let short_cmsg = send_run(&run, 1200, Some(8));
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    Ok(format!(
        "{{\"ok\":true,\"getsockopt\":{probe},\"sent\":{sent},\"tooMany\":{too_many},\"shortCmsg\":{short_cmsg},\"einval\":{}}}",
        -libc::EINVAL
    ))
}

/// UDP_GRO as Linux has it (and the bridge: docs/BRIDGE.md "UDP_GRO: runs in one recvmsg"): with it
/// on, one recvmsg() may return a run of datagrams from one sender, all the size the UDP_GRO control
/// message names but the last, which may be shorter. Receives `count` datagrams and reports every
/// message and every datagram cut from them, for the test to compare with what was sent.
fn udp_gro(bind: &str, count: usize, gro: bool, ctl: bool, wait_ms: i32) -> io::Result<String> {
    let addr: std::net::SocketAddrV4 = bind.parse().map_err(|e| io::Error::new(ErrorKind::InvalidInput, format!("{e}")))?;
    const SOL_UDP: i32 = 17;
    const UDP_GRO: i32 = 104;
    // SAFETY: plain socket(2) call.
    let fd = check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) }, "socket")?;
    set_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, 1 << 20, "SO_RCVBUF")?;
    let local = sockaddr_in(addr.ip().octets(), addr.port());
    // SAFETY: local is a live sockaddr_in.
    check(unsafe { libc::bind(fd, (&local as *const libc::sockaddr_in).cast(), 16) }, "bind")?;
    if gro {
        set_int(fd, SOL_UDP, UDP_GRO, 1, "setsockopt UDP_GRO")?;
    }
    let gro_opt = get_int(fd, SOL_UDP, UDP_GRO, "getsockopt UDP_GRO")?;
    let mut bound: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut blen: libc::socklen_t = 16;
    // SAFETY: bound/blen are live locals of the right size.
    check(unsafe { libc::getsockname(fd, (&mut bound as *mut libc::sockaddr_in).cast(), &mut blen) }, "getsockname")?;
    println!("READY {}:{}", addr.ip(), u16::from_be(bound.sin_port));
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one live pollfd; then a pure timeout (no descriptors).
    check(unsafe { libc::poll(&mut pfd, 1, 10_000) }, "poll")?;
    if wait_ms > 0 {
        check(unsafe { libc::poll(std::ptr::null_mut(), 0, wait_ms) }, "poll (wait)")?;
    }
    let mut buf = vec![0u8; 65536];
    let mut ctrl = [0u64; 8];
    let (mut messages, mut datagrams, mut got) = (Vec::new(), Vec::new(), 0usize);
    // With GRO off FIONREAD must name the next datagram's length (Linux: the next queued skb's).
    let mut fionread_mismatches = 0;
    while got < count {
        let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one live pollfd; then an int for FIONREAD.
        check(unsafe { libc::poll(&mut pfd, 1, 10_000) }, "poll")?;
        let mut avail: libc::c_int = -1;
        check(unsafe { libc::ioctl(fd, libc::FIONREAD, &mut avail) }, "FIONREAD")?;
        let mut from: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        // SAFETY: msghdr is plain data; every pointer in it is live for the call.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (&mut from as *mut libc::sockaddr_in).cast();
        msg.msg_namelen = 16;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if ctl {
            msg.msg_control = ctrl.as_mut_ptr().cast();
            msg.msg_controllen = std::mem::size_of_val(&ctrl) as _;
        }
        // SAFETY: as above.
        let n = check(unsafe { libc::recvmsg(fd, &mut msg, 0) } as i32, "recvmsg")? as usize;
        let mut seg = 0usize;
        if ctl {
            // SAFETY: the call wrote msg_controllen bytes of control messages into ctrl.
            unsafe {
                let mut cm = libc::CMSG_FIRSTHDR(&msg);
                while !cm.is_null() {
                    if (*cm).cmsg_level == SOL_UDP && (*cm).cmsg_type == UDP_GRO {
                        seg = std::ptr::read_unaligned(libc::CMSG_DATA(cm) as *const i32) as usize;
                    }
                    cm = libc::CMSG_NXTHDR(&msg, cm);
                }
            }
        }
        let port = u16::from_be(from.sin_port);
        if !gro && avail as usize != n {
            fionread_mismatches += 1;
        }
        messages.push(format!("[{n},{seg},{port}]"));
        let step = if seg > 0 && seg < n { seg } else { n.max(1) };
        for d in buf[..n].chunks(step).chain((n == 0).then_some(&buf[..0])) {
            let hash = d.iter().fold(0x811c9dc5u32, |h, &b| (h ^ b as u32).wrapping_mul(0x0100_0193));
            datagrams.push(format!("[{},{hash},{port}]", d.len()));
            got += 1;
        }
    }
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    Ok(format!(
        "{{\"ok\":true,\"groOption\":{gro_opt},\"fionreadMismatches\":{fionread_mismatches},\"messages\":[{}],\"datagrams\":[{}]}}",
        messages.join(","),
        datagrams.join(",")
    ))
}

/// SO_RCVTIMEO through std: recv_from on an idle socket gives WouldBlock after
/// the timeout; read_timeout() reads it back.
fn recv_timeout(bind: &str, ms: u64) -> io::Result<String> {
    let sock = UdpSocket::bind(bind)?;
    sock.set_read_timeout(Some(std::time::Duration::from_millis(ms)))?;
    let back = sock.read_timeout()?.map(|d| d.as_millis()).unwrap_or(0);
    let mut buf = [0u8; 16];
    let t0 = now_ms();
    let r = sock.recv_from(&mut buf);
    let elapsed = (now_ms() - t0).round() as u64;
    let kind = match r {
        Ok(_) => "Ok".to_string(),
        Err(e) => format!("{:?}", e.kind()),
    };
    Ok(format!("{{\"ok\":true,\"kind\":\"{kind}\",\"elapsedMs\":{elapsed},\"readTimeoutMs\":{back}}}"))
}

/// The socket loop the QUIC server's driver uses (src/io/udp.rs): libc socket,
/// SO_RCVBUF/SO_SNDBUF 4 MiB before bind, O_NONBLOCK via fcntl, getsockname,
/// then poll(POLLIN, timeout) -> recvmsg until EAGAIN -> sendmsg back. Echoes
/// `count` datagrams and reports how many arrived per wakeup.
/// The bridge's `ds_udp_send_sockets` (wasm); natively there is nothing to share.
#[cfg(target_os = "emscripten")]
fn send_sockets(fd: i32, k: usize) -> i32 {
    extern "C" {
        fn ds_udp_send_sockets(fd: i32, k: i32) -> i32;
    }
    // SAFETY: plain integers; the import returns 0 or -errno.
    unsafe { ds_udp_send_sockets(fd, k as i32) }
}

#[cfg(not(target_os = "emscripten"))]
fn send_sockets(_fd: i32, _k: usize) -> i32 {
    0
}

fn udp_driver(bind: &str, count: usize, senders: usize) -> io::Result<String> {
    let addr: std::net::SocketAddrV4 = bind.parse().map_err(|e| io::Error::new(ErrorKind::InvalidInput, format!("{e}")))?;
    // SAFETY: plain syscalls on an fd we own; every pointer is live for its call.
    unsafe {
        let fd = check(libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0), "socket")?;
        if senders > 1 {
            let r = send_sockets(fd, senders);
            if r < 0 {
                return Err(io::Error::from_raw_os_error(-r));
            }
        }
        let size: i32 = 4 << 20;
        for opt in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
            libc::setsockopt(fd, libc::SOL_SOCKET, opt, (&size as *const i32).cast(), 4);
        }
        let rcvbuf = get_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, "SO_RCVBUF")?;
        let sa = sockaddr_in(addr.ip().octets(), addr.port());
        check(libc::bind(fd, (&sa as *const libc::sockaddr_in).cast(), 16), "bind")?;
        let flags = check(libc::fcntl(fd, libc::F_GETFL), "F_GETFL")?;
        check(libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK), "F_SETFL")?;
        let mut local: libc::sockaddr_storage = std::mem::zeroed();
        let mut llen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        check(libc::getsockname(fd, (&mut local as *mut libc::sockaddr_storage).cast(), &mut llen), "getsockname")?;
        let port = u16::from_be((*(&local as *const _ as *const libc::sockaddr_in)).sin_port);
        println!("READY {}:{port}", addr.ip());
        let mut buf = vec![0u8; 65536];
        let (mut echoed, mut wakeups, mut max_batch) = (0usize, 0usize, 0usize);
        while echoed < count {
            let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
            let r = check(libc::poll(&mut pfd, 1, 5000), "poll")?;
            if r == 0 {
                return Err(io::Error::new(ErrorKind::TimedOut, format!("idle after {echoed} datagrams")));
            }
            wakeups += 1;
            let mut batch = 0usize;
            loop {
                let mut from: libc::sockaddr_storage = std::mem::zeroed();
                let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
                let mut msg: libc::msghdr = std::mem::zeroed();
                msg.msg_name = (&mut from as *mut libc::sockaddr_storage).cast();
                msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as _;
                msg.msg_iov = &mut iov;
                msg.msg_iovlen = 1;
                let n = libc::recvmsg(fd, &mut msg, 0);
                if n < 0 {
                    let e = io::Error::last_os_error();
                    if e.kind() == ErrorKind::WouldBlock {
                        break;
                    }
                    return Err(e);
                }
                let mut out_iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: n as usize };
                let mut out: libc::msghdr = std::mem::zeroed();
                out.msg_name = (&mut from as *mut libc::sockaddr_storage).cast();
                out.msg_namelen = msg.msg_namelen;
                out.msg_iov = &mut out_iov;
                out.msg_iovlen = 1;
                check(libc::sendmsg(fd, &out, 0) as i32, "sendmsg")?;
                batch += 1;
                echoed += 1;
            }
            max_batch = max_batch.max(batch);
        }
        libc::close(fd);
        Ok(format!("{{\"ok\":true,\"echoed\":{echoed},\"wakeups\":{wakeups},\"maxBatch\":{max_batch},\"rcvbuf\":{rcvbuf}}}"))
    }
}

/// IP_ADD_SOURCE_MEMBERSHIP / IP_DROP_SOURCE_MEMBERSHIP on a bound socket.
fn ssm(group: &str, source: &str, port: u16) -> io::Result<String> {
    let g = parse_v4(group)?;
    let src = parse_v4(source)?;
    // SAFETY: plain syscalls; the mreq and address structs are live for each call.
    unsafe {
        let fd = check(libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0), "socket")?;
        set_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1, "SO_REUSEADDR")?;
        let sa = sockaddr_in([0, 0, 0, 0], port);
        check(libc::bind(fd, (&sa as *const libc::sockaddr_in).cast(), 16), "bind")?;
        let mreq = libc::ip_mreq_source {
            imr_multiaddr: libc::in_addr { s_addr: u32::from_ne_bytes(g) },
            imr_interface: libc::in_addr { s_addr: 0 },
            imr_sourceaddr: libc::in_addr { s_addr: u32::from_ne_bytes(src) },
        };
        let len = std::mem::size_of::<libc::ip_mreq_source>() as libc::socklen_t;
        let join = libc::setsockopt(fd, libc::IPPROTO_IP, libc::IP_ADD_SOURCE_MEMBERSHIP, (&mreq as *const libc::ip_mreq_source).cast(), len);
        let join_errno = if join < 0 { errno() } else { 0 };
        let drop = libc::setsockopt(fd, libc::IPPROTO_IP, libc::IP_DROP_SOURCE_MEMBERSHIP, (&mreq as *const libc::ip_mreq_source).cast(), len);
        let drop_errno = if drop < 0 { errno() } else { 0 };
        libc::close(fd);
        Ok(format!(
            "{{\"ok\":true,\"joinErrno\":{join_errno},\"dropErrno\":{drop_errno},\"EOPNOTSUPP\":{}}}",
            libc::EOPNOTSUPP
        ))
    }
}

fn ssm_mreq(group: [u8; 4], source: [u8; 4]) -> libc::ip_mreq_source {
    libc::ip_mreq_source {
        imr_multiaddr: libc::in_addr { s_addr: u32::from_ne_bytes(group) },
        imr_interface: libc::in_addr { s_addr: 0 },
        imr_sourceaddr: libc::in_addr { s_addr: u32::from_ne_bytes(source) },
    }
}

/// Source-specific reception: join (`group`, `source`) on a socket bound to
/// `port`, print READY, collect every datagram ("text|sender address") until
/// `count` came from `source` or 10 s passed (poll() bounds each wait), leave.
fn ssm_recv(group: &str, source: &str, port: u16, count: usize) -> io::Result<String> {
    let g = parse_v4(group)?;
    let src = parse_v4(source)?;
    let len = std::mem::size_of::<libc::ip_mreq_source>() as libc::socklen_t;
    // SAFETY: plain syscalls on an fd we own; every pointer is to a live local of the given size.
    unsafe {
        let fd = check(libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0), "socket")?;
        set_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1, "SO_REUSEADDR")?;
        let sa = sockaddr_in([0, 0, 0, 0], port);
        check(libc::bind(fd, (&sa as *const libc::sockaddr_in).cast(), 16), "bind")?;
        let mreq = ssm_mreq(g, src);
        let join = libc::setsockopt(fd, libc::IPPROTO_IP, libc::IP_ADD_SOURCE_MEMBERSHIP, (&mreq as *const libc::ip_mreq_source).cast(), len);
        if join < 0 {
            let e = errno();
            libc::close(fd);
            return Ok(format!("{{\"ok\":false,\"joinErrno\":{e},\"EOPNOTSUPP\":{}}}", libc::EOPNOTSUPP));
        }
        println!("READY 0.0.0.0:{port} fd={fd}");
        let t0 = now_ms();
        let mut heard = Vec::new();
        let mut from_source = 0usize;
        let mut buf = [0u8; 2048];
        while from_source < count {
            let left = 10_000.0 - (now_ms() - t0);
            if left <= 0.0 {
                break;
            }
            let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
            if check(libc::poll(&mut pfd, 1, left as i32), "poll")? == 0 {
                break;
            }
            let mut from: libc::sockaddr_in = std::mem::zeroed();
            let mut flen = 16 as libc::socklen_t;
            let n = check(
                libc::recvfrom(fd, buf.as_mut_ptr().cast(), buf.len(), 0, (&mut from as *mut libc::sockaddr_in).cast(), &mut flen) as i32,
                "recvfrom",
            )? as usize;
            let ip = std::net::Ipv4Addr::from(u32::from_be(from.sin_addr.s_addr));
            if ip.octets() == src {
                from_source += 1;
            }
            heard.push(format!("\"{}|{}\"", String::from_utf8_lossy(&buf[..n]).replace('"', "'"), ip));
        }
        let drop = libc::setsockopt(fd, libc::IPPROTO_IP, libc::IP_DROP_SOURCE_MEMBERSHIP, (&mreq as *const libc::ip_mreq_source).cast(), len);
        let drop_errno = if drop < 0 { errno() } else { 0 };
        libc::close(fd);
        Ok(format!(
            "{{\"ok\":true,\"joinErrno\":0,\"dropErrno\":{drop_errno},\"fromSource\":{from_source},\"heard\":[{}]}}",
            heard.join(",")
        ))
    }
}

/// connect() / sendto() on a host name that does not resolve. Emscripten's
/// getaddrinfo() answers any name with a placeholder address, so the failure
/// comes from Direct Sockets when the bridge hands them the name: connect()
/// reports it directly; a sendto() is accepted and its failure arrives later,
/// as on Linux an ICMP error does: poll() sees POLLERR, SO_ERROR has the errno.
fn unresolved(path: &str, target: &str, after: Option<String>) -> io::Result<String> {
    let (host, port) = target.rsplit_once(':').ok_or_else(|| io::Error::new(ErrorKind::InvalidInput, "name:port"))?;
    let port: u16 = port.parse().map_err(|_| io::Error::new(ErrorKind::InvalidInput, "port"))?;
    let fail = |op: &str, e: io::Error| -> String {
        format!(
            "{{\"ok\":false,\"op\":\"{op}\",\"kind\":\"{:?}\",\"errno\":{},\"EHOSTUNREACH\":{},\"ECONNREFUSED\":{},\"ENETUNREACH\":{}}}",
            e.kind(),
            e.raw_os_error().unwrap_or(-1),
            libc::EHOSTUNREACH,
            libc::ECONNREFUSED,
            libc::ENETUNREACH
        )
    };
    match path {
        "tcp" => Ok(match TcpStream::connect((host, port)) {
            Ok(s) => format!("{{\"ok\":true,\"op\":\"connect\",\"peer\":\"{}\"}}", s.peer_addr().map(|a| a.to_string()).unwrap_or_default()),
            Err(e) => fail("connect", e),
        }),
        "udp-connect" => {
            // An unbound socket (std's UdpSocket is always bound first): connect()
            // opens a connected-mode UDPSocket on the name.
            use std::net::ToSocketAddrs;
            let to = (host, port).to_socket_addrs()?.find(|a| a.is_ipv4()).ok_or_else(|| io::Error::new(ErrorKind::NotFound, "no IPv4 address"))?;
            let ip = match to { SocketAddr::V4(a) => a.ip().octets(), SocketAddr::V6(_) => unreachable!() };
            let sa = sockaddr_in(ip, port);
            // SAFETY: plain syscalls on an fd we own; sa is a live sockaddr_in.
            unsafe {
                let fd = check(libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0), "socket")?;
                let r = libc::connect(fd, (&sa as *const libc::sockaddr_in).cast(), 16);
                let e = io::Error::last_os_error();
                libc::close(fd);
                Ok(if r == 0 { "{\"ok\":true,\"op\":\"connect\"}".to_string() } else { fail("connect", e) })
            }
        }
        "udp-sendto" => {
            let sock = UdpSocket::bind("0.0.0.0:0")?;
            let sent = sock.send_to(b"x", (host, port));
            if let Err(e) = sent {
                return Ok(fail("sendto", e));
            }
            let mut pfd = libc::pollfd { fd: sock.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: one live pollfd. Bounded: 10 s, far more than a local resolver needs.
            let n = check(unsafe { libc::poll(&mut pfd, 1, 10_000) }, "poll")?;
            let pollerr = n > 0 && (pfd.revents & libc::POLLERR) != 0;
            let pending = sock.take_error()?;
            // Reported once (SO_ERROR clears it, as on Linux); the socket keeps working.
            let after_sent = match after {
                Some(a) => match sock.send_to(b"after", a.as_str()) {
                    Ok(n) => n.to_string(),
                    Err(e) => format!("\"{:?}\"", e.kind()),
                },
                None => "null".to_string(),
            };
            let out = match pending {
                Some(e) => {
                    let j = fail("sendto", e);
                    format!("{},\"pollerr\":{pollerr},\"afterSent\":{after_sent}}}", &j[..j.len() - 1])
                }
                None => format!("{{\"ok\":true,\"op\":\"sendto\",\"pollerr\":{pollerr},\"afterSent\":{after_sent}}}"),
            };
            Ok(out)
        }
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!("usage: ds-probe <mode> [args] (see src/main.rs)");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_else(|| usage());
    let num = |i: usize| arg(i).parse::<usize>().unwrap_or_else(|_| usage());
    let mode = arg(0);
    let out: io::Result<String> = match mode.as_str() {
        "udp-echo" => udp_echo(&arg(1), num(2)),
        "tcp-echo" => tcp_echo(&arg(1), num(2)),
        "tcp-client" => tcp_client(&arg(1), num(2)),
        "multicast" => multicast(&arg(1), num(2) as u16, num(3)),
        "expect-bind-udp" => Ok(expect_bind_udp(&arg(1))),
        "expect-connect" => Ok(expect_connect(&arg(1))),
        "socket-family" => Ok(socket_family(num(1) as i32)),
        "recv-until-closed" => recv_until_closed(&arg(1)),
        "options" => options(&arg(1)),
        "clocks" => clocks(),
        "ssm" => ssm(&arg(1), &arg(2), num(3) as u16),
        "udp-driver" => udp_driver(&arg(1), num(2), args.get(3).map_or(1, |_| num(3))),
        "recv-timeout" => recv_timeout(&arg(1), num(2) as u64),
        "tcp-recv" => tcp_recv(&arg(1), num(2)),
        "tcp-send" => tcp_send(&arg(1), num(2), num(3)),
        "udp-connected" => udp_connected(&arg(1), num(2)),
        "msg-iov" => msg_iov(&arg(1)),
        "udp-segment" => udp_segment(&arg(1)),
        "udp-gro" => udp_gro(&arg(1), num(2), num(3) != 0, num(4) != 0, num(5) as i32),
        "unresolved" => unresolved(&arg(1), &arg(2), args.get(3).cloned()),
        "ssm-recv" => ssm_recv(&arg(1), &arg(2), num(3) as u16, num(4)),
        "send-until-eagain" => send_until_eagain(&arg(1), &arg(2), num(3), num(4), args.get(5).is_some_and(|a| a == "read")),
        "send-sizes" => send_sizes(&arg(1), &arg(2), &arg(3)),
        _ => usage(),
    };
    match out {
        Ok(json) => result(json),
        Err(e) => {
            result(err_json(&mode, &e));
            std::process::exit(1);
        }
    }
}

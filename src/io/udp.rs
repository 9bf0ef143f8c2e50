//! A non-blocking UDP socket over `libc`: `socket`/`bind`, `recvmsg`/`sendmsg`, `poll`.

use crate::sockaddr::RawAddr;
use std::io;
use std::net::SocketAddr;
use std::os::raw::c_int;

pub struct UdpSocket {
    fd: c_int,
    local: SocketAddr,
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

/// Readiness reported by [`UdpSocket::poll`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Ready {
    pub readable: bool,
    pub writable: bool,
}

impl UdpSocket {
    /// Binds a non-blocking UDP socket (port 0 picks an ephemeral port).
    pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
        let family = if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
        // SAFETY: plain syscalls on a descriptor we own; addresses are valid for their lengths.
        unsafe {
            let fd = cvt(libc::socket(family, libc::SOCK_DGRAM, 0))?;
            let sock = UdpSocket { fd, local: addr };
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
            Ok(me)
        }
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

    /// Receives one datagram; `WouldBlock` when none is queued.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let mut raw = RawAddr::zeroed();
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        // SAFETY: msghdr points at live iov/raw storage for the duration of the call.
        let n = unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_name = raw.as_mut_ptr().cast();
            msg.msg_namelen = raw.len;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            let n = libc::recvmsg(self.fd, &mut msg, 0);
            raw.len = msg.msg_namelen;
            n
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let from = raw.to_std().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "datagram from an unknown address family"))?;
        Ok((n as usize, from))
    }

    /// Sends one datagram; `WouldBlock` when the socket buffer is full.
    pub fn send_to(&self, data: &[u8], to: SocketAddr) -> io::Result<usize> {
        let mut raw = RawAddr::from_std(&to);
        let mut iov = libc::iovec { iov_base: data.as_ptr() as *mut _, iov_len: data.len() };
        // SAFETY: as in recv_from; sendmsg only reads the buffers.
        let n = unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_name = raw.as_mut_ptr().cast();
            msg.msg_namelen = raw.len;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            libc::sendmsg(self.fd, &msg, 0)
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
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

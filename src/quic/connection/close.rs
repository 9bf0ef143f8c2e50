//! The close state machine: open, closing (we sent CONNECTION_CLOSE and answer
//! further packets with it), draining (the peer closed; stay silent), closed;
//! and the connection's timer, which also ends the closing and draining periods.

use super::{Connection, NgPath};
use ngtcp2_sys as n;
use std::os::raw::c_int;

/// Why a connection ended, as far as this side knows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CloseReason {
    /// True if the error code is an application error (not a transport error).
    pub application: bool,
    pub code: u64,
    pub reason: String,
    /// True if the peer closed, false if we did.
    pub remote: bool,
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "code 0x{:x} {}", self.code, self.reason)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    Open,
    /// We sent CONNECTION_CLOSE; answer further packets with it until the deadline.
    Closing { until: u64 },
    /// The peer closed; stay silent until the deadline.
    Draining { until: u64 },
    Closed,
}

impl Connection {
    /// True once the connection can be forgotten.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// True while the connection can carry application data.
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    pub fn close_reason(&self) -> Option<&CloseReason> {
        self.close_reason.as_ref()
    }

    /// True if the connection ended by the peer's Stateless Reset (RFC 9000 10.3): it
    /// went away without a CONNECTION_CLOSE, like an idle timeout, not a clean close.
    pub fn was_reset(&self) -> bool {
        // SAFETY: inner is valid for the connection's lifetime.
        unsafe { (*self.inner).stateless_reset }
    }

    /// One line saying how the connection ended, for reports.
    pub fn close_description(&self) -> String {
        match &self.close_reason {
            Some(r) => format!("connection closed: {r}"),
            None => "connection closed".into(),
        }
    }

    pub(super) fn closing_period(&self) -> u64 {
        // SAFETY: conn is valid.
        3 * unsafe { n::ngtcp2_conn_get_pto(self.conn()) }
    }

    /// The peer's CONNECTION_CLOSE, or its Stateless Reset, as the close reason.
    pub(super) fn record_remote_close(&mut self) {
        if self.was_reset() {
            let reason = "stateless reset: the peer no longer knows this connection (restarted, or dropped it)".into();
            self.close_reason = Some(CloseReason { application: false, code: 0, reason, remote: true });
            return;
        }
        // SAFETY: conn is valid; the returned ccerr is owned by conn.
        let e = unsafe { &*n::ngtcp2_conn_get_ccerr(self.conn()) };
        let reason = if e.reason.is_null() {
            String::new()
        } else {
            // SAFETY: reason is valid for reasonlen bytes.
            String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(e.reason, e.reasonlen) }).into_owned()
        };
        self.close_reason = Some(CloseReason {
            application: e.type_ == n::NGTCP2_CCERR_TYPE_APPLICATION,
            code: e.error_code,
            reason,
            remote: true,
        });
    }

    /// Enters the closing state with the error `set` writes, queueing CONNECTION_CLOSE.
    pub(super) fn close_with(&mut self, now: u64, set: impl FnOnce(*mut n::ngtcp2_ccerr)) {
        if self.state != State::Open {
            return;
        }
        // SAFETY: ccerr is initialised by ngtcp2_ccerr_default before `set` edits it.
        let mut e: n::ngtcp2_ccerr = unsafe { std::mem::zeroed() };
        unsafe { n::ngtcp2_ccerr_default(&mut e) };
        set(&mut e);
        self.close_reason = Some(CloseReason {
            application: e.type_ == n::NGTCP2_CCERR_TYPE_APPLICATION,
            code: e.error_code,
            reason: String::new(),
            remote: false,
        });
        let mut buf = vec![0u8; 1500];
        let mut ps = NgPath::new(self.local_addr(), self.remote_addr());
        let mut pi: n::ngtcp2_pkt_info = unsafe { std::mem::zeroed() };
        // SAFETY: conn is valid, buf writable; ngtcp2 writes at most buf.len() bytes.
        let nwrite = unsafe {
            n::ngtcp2_conn_write_connection_close_versioned(
                self.conn(), ps.path_mut(), n::NGTCP2_PKT_INFO_VERSION as c_int, &mut pi, buf.as_mut_ptr(), buf.len(), &e, now,
            )
        };
        let until = now + self.closing_period();
        if nwrite > 0 {
            buf.truncate(nwrite as usize);
            self.close_packet = buf;
            self.close_to = ps.remote().unwrap_or(self.remote);
            self.close_from = ps.local().unwrap_or(self.local);
            self.close_packet_due = true;
            self.state = State::Closing { until };
        } else {
            // Nothing can be sent (for example before any keys exist): just drop.
            self.state = State::Closed;
        }
    }

    /// Closes the connection with an application error code.
    pub fn close(&mut self, now: u64, app_error_code: u64, reason: &str) {
        let r = reason.as_bytes();
        self.close_with(now, |e| unsafe { n::ngtcp2_ccerr_set_application_error(e, app_error_code, r.as_ptr(), r.len()) });
    }

    /// When [`on_timeout`](Self::on_timeout) must be called next (ns timestamp).
    pub fn timeout(&self) -> Option<u64> {
        match self.state {
            State::Open => {
                // SAFETY: conn is valid.
                let t = unsafe { n::ngtcp2_conn_get_expiry(self.conn()) };
                (t != u64::MAX).then_some(t)
            }
            State::Closing { until } | State::Draining { until } => Some(until),
            State::Closed => None,
        }
    }

    pub fn on_timeout(&mut self, now: u64) {
        match self.state {
            State::Open => {
                // SAFETY: conn is valid.
                let rv = unsafe { n::ngtcp2_conn_handle_expiry(self.conn(), now) };
                self.note_handshake(now);
                if rv == n::NGTCP2_ERR_IDLE_CLOSE || rv == n::NGTCP2_ERR_HANDSHAKE_TIMEOUT {
                    self.close_reason = Some(CloseReason { application: false, code: 0, reason: crate::quic::ngtcp2_strerror(rv), remote: false });
                    self.state = State::Closed;
                } else if rv != 0 {
                    self.close_with(now, |e| unsafe { n::ngtcp2_ccerr_set_liberr(e, rv, std::ptr::null(), 0) });
                }
            }
            State::Closing { until } | State::Draining { until } if now >= until => self.state = State::Closed,
            _ => {}
        }
    }
}

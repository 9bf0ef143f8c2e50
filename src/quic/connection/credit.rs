//! Flow-control credit and buffer accounting: connection-level credit
//! (MAX_DATA) held back until memory is free (docs/LIMITS.md) and what a
//! connection makes us buffer.

use super::Connection;
use ngtcp2_sys as n;

/// Connection-level flow-control credit held back until memory is free
/// (see [`Connection::enable_credit_gate`] and docs/LIMITS.md).
pub(super) struct CreditGate {
    /// The per-connection budget (bytes).
    limit: u64,
    /// Our MAX_DATA so far: the initial value plus every release.
    granted: u64,
    /// Bytes the application consumed whose connection credit is not yet given back.
    owed: u64,
}

impl Connection {
    /// Gives the peer `bytes` more flow-control credit on stream `id` (and on the connection).
    /// With the credit gate on, the connection-level part is only recorded here and
    /// given back by [`release_credit`](Self::release_credit) as memory allows.
    pub fn consume(&mut self, id: i64, bytes: u64) {
        self.consume_stream(id, bytes);
        self.consume_connection(bytes);
    }

    /// The stream-level half of [`consume`](Self::consume): MAX_STREAM_DATA only.
    pub fn consume_stream(&mut self, id: i64, bytes: u64) {
        // SAFETY: conn is valid.
        unsafe { n::ngtcp2_conn_extend_max_stream_offset(self.conn(), id, bytes) };
    }

    /// The connection-level half of [`consume`](Self::consume) (through the credit gate when on).
    pub fn consume_connection(&mut self, bytes: u64) {
        match self.gate.as_mut() {
            Some(g) => g.owed += bytes,
            // SAFETY: conn is valid.
            None => unsafe { n::ngtcp2_conn_extend_max_offset(self.conn(), bytes) },
        }
    }

    /// Server side: from now on, connection-level credit (MAX_DATA) is given back
    /// only through [`release_credit`](Self::release_credit). `initial_max_data` must be
    /// the value this connection advertised. ngtcp2's own MAX_DATA auto-tuning must be
    /// off (`max_window` 0) so that our count of granted credit stays exact.
    pub(crate) fn enable_credit_gate(&mut self, initial_max_data: u64, limit: u64) {
        self.gate = Some(CreditGate { limit, granted: initial_max_data, owed: 0 });
    }

    /// The per-connection buffer budget, when the credit gate is on.
    pub fn buffer_limit(&self) -> Option<u64> {
        self.gate.as_ref().map(|g| g.limit)
    }

    /// True while the server-wide buffer budget is used up: applications refuse new
    /// work (new streams, requests, sessions) and let existing work finish.
    pub fn server_busy(&self) -> bool {
        self.server_busy
    }

    pub(crate) fn set_server_busy(&mut self, busy: bool) {
        self.server_busy = busy;
    }

    /// Bytes this connection may cost us: stream bytes queued and not yet acknowledged,
    /// queued datagrams, and credit the peer holds but has not used yet (bytes it may
    /// still send). The application adds what it buffers itself.
    pub fn buffer_exposure(&self) -> u64 {
        self.buffered_output() + self.unused_credit()
    }

    /// Stream bytes queued and not yet acknowledged, plus queued datagrams.
    pub fn buffered_output(&self) -> u64 {
        // SAFETY: inner is valid.
        let st = unsafe { &*self.inner };
        let queued: u64 = st.streams.values().map(|s| s.queued - s.base).sum();
        let dgrams: u64 = st.datagrams.iter().map(|d| d.len() as u64).sum();
        queued + dgrams
    }

    /// Connection credit granted to the peer and not used yet (bytes it may still send).
    /// Never more than the initial MAX_DATA: credit is only given back for bytes received.
    pub fn unused_credit(&self) -> u64 {
        // SAFETY: inner is valid.
        let delivered = unsafe { (*self.inner).delivered };
        self.gate.as_ref().map_or(0, |g| g.granted.saturating_sub(delivered))
    }

    /// Connection credit consumed by the application and not yet given back.
    pub fn credit_owed(&self) -> u64 {
        self.gate.as_ref().map_or(0, |g| g.owed)
    }

    /// Gives back up to `max` bytes of owed connection credit; returns how much.
    pub fn release_credit(&mut self, max: u64) -> u64 {
        let conn = self.conn();
        let Some(g) = self.gate.as_mut() else { return 0 };
        let x = g.owed.min(max);
        if x > 0 {
            g.owed -= x;
            g.granted += x;
            // SAFETY: conn is valid.
            unsafe { n::ngtcp2_conn_extend_max_offset(conn, x) };
        }
        x
    }
}

//! Outgoing stream bytes: per-stream buffers of immutable chunks (ngtcp2
//! retransmits from our memory, so a chunk stays put until acknowledged) and
//! the stream operations applications call.

use super::Connection;
use crate::error::Result;
use crate::quic::{Ngtcp2Error, StreamError};
use ngtcp2_sys as n;
use std::collections::VecDeque;
use std::os::raw::c_int;

#[derive(Default)]
pub(super) struct SendStream {
    /// Immutable chunks; their heap buffers never move while ngtcp2 may read them.
    pub(super) chunks: VecDeque<Vec<u8>>,
    /// Stream offset of `chunks[0][0]`.
    pub(super) base: u64,
    /// Bytes handed to ngtcp2 so far.
    pub(super) sent: u64,
    /// Position of the first unsent byte: chunk index and offset inside it.
    pub(super) cursor: (usize, usize),
    /// Bytes queued in total (offset one past the last queued byte).
    pub(super) end: u64,
    /// Like `end`, but not cut back by STOP_SENDING: `queued - base` bytes are held in `chunks`.
    pub(super) queued: u64,
    pub(super) fin: bool,
    pub(super) fin_sent: bool,
    /// The peer sent STOP_SENDING: nothing more is offered, later writes are dropped.
    pub(super) stopped: bool,
}

impl SendStream {
    pub(super) fn has_pending(&self) -> bool {
        self.sent < self.end || (self.fin && !self.fin_sent)
    }

    /// `ngtcp2_vec`s over the unsent bytes, at most `max` of them.
    pub(super) fn unsent(&self, out: &mut Vec<n::ngtcp2_vec>, max: usize) {
        out.clear();
        if self.stopped {
            return;
        }
        let (mut idx, mut skip) = self.cursor;
        while let Some(c) = self.chunks.get(idx) {
            if out.len() == max {
                break;
            }
            if skip < c.len() {
                out.push(n::ngtcp2_vec { base: c[skip..].as_ptr() as *mut u8, len: c.len() - skip });
            }
            idx += 1;
            skip = 0;
        }
    }

    /// Records that ngtcp2 took `n` more bytes.
    pub(super) fn advance(&mut self, mut n: usize) {
        self.sent += n as u64;
        while n > 0 {
            let (idx, off) = self.cursor;
            let left = self.chunks[idx].len() - off;
            if n < left {
                self.cursor.1 += n;
                return;
            }
            n -= left;
            self.cursor = (idx + 1, 0);
        }
        // Skip empty chunks so the cursor rests on real data.
        while self.chunks.get(self.cursor.0).is_some_and(|c| c.len() == self.cursor.1) {
            self.cursor = (self.cursor.0 + 1, 0);
        }
        // STOP_SENDING can arrive inside the very write that took these bytes
        // (ngtcp2 processes buffered packets there): they count as queued.
        self.end = self.end.max(self.sent);
    }

    pub(super) fn ack_to(&mut self, offset: u64) {
        while let Some(c) = self.chunks.front() {
            // Only chunks fully acknowledged and fully sent can go.
            if self.base + c.len() as u64 <= offset && self.cursor.0 > 0 {
                self.base += c.len() as u64;
                self.chunks.pop_front();
                self.cursor.0 -= 1;
            } else {
                break;
            }
        }
    }
}

impl Connection {
    /// Queues bytes on a stream (and optionally finishes it). Bytes are kept
    /// until the peer acknowledges them.
    pub fn stream_send(&mut self, id: i64, data: &[u8], fin: bool) -> Result<()> {
        self.stream_send_owned(id, data.to_vec(), fin)
    }

    /// [`stream_send`](Self::stream_send) of bytes the caller gives away: kept as they
    /// are, without a copy (the HTTP/3 layer hands over what nghttp3 wrote this way).
    pub fn stream_send_owned(&mut self, id: i64, data: Vec<u8>, fin: bool) -> Result<()> {
        let st = self.inner_mut();
        let s = st.streams.entry(id).or_default();
        if s.fin {
            return Err(StreamError::Finished(id).into());
        }
        if s.stopped {
            // The peer asked us to stop sending (ngtcp2 resets the stream): discarded.
            return Ok(());
        }
        if !data.is_empty() {
            s.end += data.len() as u64;
            s.queued += data.len() as u64;
            s.chunks.push_back(data);
        }
        s.fin |= fin;
        if !st.ready.contains(&id) {
            st.ready.push_back(id);
        }
        Ok(())
    }

    /// True when everything queued has been sent and acknowledged: no stream
    /// bytes or FIN waiting, no datagrams queued, nothing in flight.
    pub fn output_settled(&self) -> bool {
        // SAFETY: inner and conn are valid; ngtcp2 fills `info` completely.
        unsafe {
            let st = &*self.inner;
            let mut info: n::ngtcp2_conn_info = std::mem::zeroed();
            n::ngtcp2_conn_get_conn_info_versioned(self.conn(), n::NGTCP2_CONN_INFO_VERSION as c_int, &mut info);
            st.streams.values().all(|s| !s.has_pending()) && st.datagrams.is_empty() && info.bytes_in_flight == 0
        }
    }

    /// Bytes queued on a stream and not yet acknowledged.
    pub fn stream_unacked(&self, id: i64) -> u64 {
        // SAFETY: inner is valid.
        unsafe { (*self.inner).streams.get(&id).map_or(0, |s| s.end - s.base) }
    }

    /// Resets a stream in both directions with an application error code.
    pub fn stream_shutdown(&mut self, id: i64, code: u64) {
        self.inner_mut().streams.remove(&id);
        // SAFETY: conn is valid.
        unsafe { n::ngtcp2_conn_shutdown_stream(self.conn(), 0, id, code) };
    }

    /// Opens a bidirectional stream.
    pub fn open_bidi(&mut self) -> Result<i64> {
        self.open_stream(true)
    }

    /// Opens a unidirectional (send-only) stream.
    pub fn open_uni(&mut self) -> Result<i64> {
        self.open_stream(false)
    }

    fn open_stream(&mut self, bidi: bool) -> Result<i64> {
        let mut id = -1;
        // SAFETY: conn is valid; id is written on success.
        let rv = unsafe {
            if bidi {
                n::ngtcp2_conn_open_bidi_stream(self.conn(), &mut id, std::ptr::null_mut())
            } else {
                n::ngtcp2_conn_open_uni_stream(self.conn(), &mut id, std::ptr::null_mut())
            }
        };
        if rv != 0 {
            return Err(StreamError::Open(Ngtcp2Error::new(if bidi { "open stream" } else { "open uni stream" }, rv)).into());
        }
        Ok(id)
    }

    /// Resets only the sending side of a stream (RESET_STREAM) and drops what is queued on it.
    pub fn stream_reset_write(&mut self, id: i64, code: u64) {
        self.inner_mut().streams.remove(&id);
        // SAFETY: conn is valid.
        unsafe { n::ngtcp2_conn_shutdown_stream_write(self.conn(), 0, id, code) };
    }

    /// Asks the peer to stop sending on a stream (STOP_SENDING).
    pub fn stream_stop_sending(&mut self, id: i64, code: u64) {
        // SAFETY: conn is valid.
        unsafe { n::ngtcp2_conn_shutdown_stream_read(self.conn(), 0, id, code) };
    }
}

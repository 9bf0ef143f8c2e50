//! The transmit scheduler: packetises queued datagrams first, then stream
//! data round-robin over the streams with pending bytes, and paces bursts.

use super::{Connection, NgPath};
use crate::quic::Transmit;
use super::close::State;
use ngtcp2_sys as n;
use std::collections::HashSet;
use std::os::raw::c_int;

/// A packet closed because a datagram of at most this many bytes did not fit is padded
/// to the path MTU (`poll_transmit`); the padding is then at most ~131 bytes, under a
/// tenth of a packet.
const PAD_FOR_DATAGRAMS_UP_TO: usize = 128;

impl Connection {
    /// How many packets the congestion controller allows in one burst.
    pub fn burst_limit(&self) -> usize {
        // SAFETY: conn is valid.
        unsafe {
            let q = n::ngtcp2_conn_get_send_quantum(self.conn());
            let m = n::ngtcp2_conn_get_max_tx_udp_payload_size(self.conn()).max(1);
            (q / m).clamp(1, 64)
        }
    }

    /// Tells ngtcp2 a burst ended (pacing).
    pub fn burst_done(&mut self, now: u64) {
        if self.state == State::Open {
            // SAFETY: conn is valid.
            unsafe { n::ngtcp2_conn_update_pkt_tx_time(self.conn(), now) };
        }
    }

    /// The [`Transmit`] of a packet of `len` bytes ngtcp2 just wrote on path `ps`.
    fn written(&self, len: usize, ps: &NgPath, pi: &n::ngtcp2_pkt_info) -> Transmit {
        Transmit { len, to: ps.remote().unwrap_or(self.remote), from: ps.local().unwrap_or(self.local), ecn: pi.ecn }
    }

    /// Writes the next packet into `buf`; returns its length, destination, source and
    /// ECN codepoint, or `None` when there is nothing to send now.
    pub fn poll_transmit(&mut self, now: u64, buf: &mut [u8]) -> Option<Transmit> {
        match self.state {
            State::Open => {}
            State::Closing { .. } if self.close_packet_due => {
                self.close_packet_due = false;
                let n = self.close_packet.len().min(buf.len());
                buf[..n].copy_from_slice(&self.close_packet[..n]);
                return Some(Transmit { len: n, to: self.close_to, from: self.close_from, ecn: 0 });
            }
            _ => return None,
        }
        // ngtcp2 copies each packet's path into `ps`: the destination is read
        // back per packet (path validation and migration use other addresses).
        let mut ps = NgPath::new(self.local, self.remote);
        // SAFETY: zeroed pkt_info is valid output storage.
        let mut pi: n::ngtcp2_pkt_info = unsafe { std::mem::zeroed() };
        let conn = self.conn();
        let mut blocked: HashSet<i64> = HashSet::new();
        let mut dgram_tried = false;
        loop {
            // 1. Datagrams first: they are latency-sensitive and small.
            if !dgram_tried && !self.inner_mut().datagrams.is_empty() {
                dgram_tried = true;
                // Taken off the queue for the call (no copy) and put back if ngtcp2
                // did not take it into this packet.
                let d = self.inner_mut().datagrams.pop_front().unwrap();
                let v = n::ngtcp2_vec { base: d.as_ptr() as *mut u8, len: d.len() };
                let mut accepted: c_int = 0;
                // PADDING for small datagrams: ngtcp2 closes a packet here only when this
                // datagram did not fit (it goes into the next packet), so the packet is one
                // of a burst, and less than the datagram's size (plus its frame header) from
                // full; padded to the path MTU, a burst of small datagrams is all one size
                // and the io layer sends it as one GSO run. Unpadded, such packets differ by
                // a few bytes (DATAGRAM frames cannot be split) and each difference ends a
                // run (ngtcp2 recommends the flag with GSO). Larger datagrams are not padded
                // for: that could cost up to their size per packet. The burst's last packet
                // is closed without it (step 2, no stream), so a lone datagram is never padded.
                let mut flags = n::NGTCP2_WRITE_DATAGRAM_FLAG_MORE;
                if d.len() <= PAD_FOR_DATAGRAMS_UP_TO {
                    flags |= n::NGTCP2_WRITE_DATAGRAM_FLAG_PADDING;
                }
                // SAFETY: conn valid, buf writable, v points into `d` which outlives the call
                // (ngtcp2 copies datagram payloads into the packet).
                let nw = unsafe {
                    n::ngtcp2_conn_writev_datagram_versioned(
                        conn, ps.path_mut(), n::NGTCP2_PKT_INFO_VERSION as c_int, &mut pi, buf.as_mut_ptr(), buf.len(),
                        &mut accepted, flags, 0, &v, 1, now,
                    )
                };
                if accepted != 0 {
                    dgram_tried = false;
                } else {
                    self.inner_mut().datagrams.push_front(d);
                }
                match nw as i32 {
                    n::NGTCP2_ERR_WRITE_MORE => continue,
                    x if x > 0 => return Some(self.written(x as usize, &ps, &pi)),
                    0 => return None,
                    n::NGTCP2_ERR_INVALID_ARGUMENT => {
                        // Larger than the peer allows now: drop it, it is unreliable.
                        self.inner_mut().datagrams.pop_front();
                        continue;
                    }
                    e => {
                        self.close_with(now, |c| unsafe { n::ngtcp2_ccerr_set_liberr(c, e as c_int, std::ptr::null(), 0) });
                        return self.poll_transmit(now, buf);
                    }
                }
            }
            // 2. Stream data, round-robin over streams with pending bytes.
            let next = {
                let st = self.inner_mut();
                let mut found = None;
                for _ in 0..st.ready.len() {
                    let id = st.ready.pop_front().unwrap();
                    match st.streams.get(&id) {
                        Some(s) if s.has_pending() => {
                            if blocked.contains(&id) {
                                st.ready.push_back(id);
                            } else {
                                found = Some(id);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                found
            };
            let (id, fin) = match next {
                Some(id) => {
                    let mut scratch = std::mem::take(&mut self.scratch);
                    let s = &self.inner_mut().streams[&id];
                    s.unsent(&mut scratch, 16);
                    // FIN goes with the last byte, so only when these vecs cover everything unsent.
                    let fin = s.fin && scratch.iter().map(|v| v.len as u64).sum::<u64>() == s.end - s.sent;
                    self.scratch = scratch;
                    (id, fin)
                }
                None => {
                    self.scratch.clear();
                    (-1, false)
                }
            };
            // MORE lets ngtcp2 coalesce several streams into one packet; without a
            // stream it must close the packet, so no MORE then.
            let mut flags = if id >= 0 { n::NGTCP2_WRITE_STREAM_FLAG_MORE } else { n::NGTCP2_WRITE_STREAM_FLAG_NONE };
            if fin {
                flags |= n::NGTCP2_WRITE_STREAM_FLAG_FIN;
            }
            let mut ndatalen: n::ngtcp2_ssize = -1;
            // SAFETY: conn valid; buf writable; scratch vecs point into chunks that stay
            // alive (and unmoved) until acknowledged.
            let nw = unsafe {
                n::ngtcp2_conn_writev_stream_versioned(
                    conn, ps.path_mut(), n::NGTCP2_PKT_INFO_VERSION as c_int, &mut pi, buf.as_mut_ptr(), buf.len(),
                    &mut ndatalen, flags, id, self.scratch.as_ptr(), self.scratch.len(), now,
                )
            };
            if id >= 0 {
                let st = self.inner_mut();
                if let Some(s) = st.streams.get_mut(&id) {
                    if ndatalen >= 0 {
                        s.advance(ndatalen as usize);
                        if fin && s.sent == s.end {
                            s.fin_sent = true;
                        }
                    }
                    if s.has_pending() {
                        st.ready.push_back(id);
                    }
                }
            }
            match nw as i32 {
                n::NGTCP2_ERR_WRITE_MORE => continue,
                n::NGTCP2_ERR_STREAM_DATA_BLOCKED | n::NGTCP2_ERR_STREAM_SHUT_WR | n::NGTCP2_ERR_STREAM_NOT_FOUND => {
                    if nw as i32 != n::NGTCP2_ERR_STREAM_DATA_BLOCKED {
                        self.inner_mut().streams.remove(&id);
                    }
                    blocked.insert(id);
                    continue;
                }
                x if x > 0 => return Some(self.written(x as usize, &ps, &pi)),
                0 => return None,
                e => {
                    self.close_with(now, |c| unsafe { n::ngtcp2_ccerr_set_liberr(c, e as c_int, std::ptr::null(), 0) });
                    return self.poll_transmit(now, buf);
                }
            }
        }
    }
}

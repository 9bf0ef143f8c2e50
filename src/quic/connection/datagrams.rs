//! The QUIC DATAGRAM (RFC 9221) send queue. Datagrams are unreliable: the
//! queue sheds its oldest entry rather than grow, and one the peer no longer
//! accepts is dropped when it is written (see `transmit`).

use super::Connection;
use crate::error::Result;
use crate::quic::DatagramError;
use ngtcp2_sys as n;

impl Connection {
    /// Queues a DATAGRAM frame (a copy of `data`). Fails if the peer did not
    /// negotiate datagrams or the payload is larger than it accepts.
    pub fn send_datagram(&mut self, data: &[u8]) -> Result<()> {
        self.check_datagram_len(data.len())?;
        self.queue_datagram(data.to_vec());
        Ok(())
    }

    /// [`send_datagram`](Self::send_datagram) for a payload the caller owns: queued
    /// without a copy (an echo hands back the one it received).
    pub fn send_datagram_owned(&mut self, data: Vec<u8>) -> Result<()> {
        self.check_datagram_len(data.len())?;
        self.queue_datagram(data);
        Ok(())
    }

    fn check_datagram_len(&self, len: usize) -> Result<()> {
        let max = self.max_datagram_payload();
        if len > max {
            return Err(DatagramError::TooLarge { len, max }.into());
        }
        Ok(())
    }

    fn queue_datagram(&mut self, data: Vec<u8>) {
        let st = self.inner_mut();
        if st.datagrams.len() >= 1024 {
            // Unreliable by definition: shed the oldest under pressure rather than grow.
            st.datagrams.pop_front();
        }
        st.datagrams.push_back(data);
    }

    /// Largest DATAGRAM payload the peer accepts (0: datagrams not negotiated).
    pub fn max_datagram_payload(&self) -> usize {
        // SAFETY: conn is valid; the returned pointer is owned by conn.
        let p = unsafe { n::ngtcp2_conn_get_remote_transport_params(self.conn()) };
        if p.is_null() {
            return 0;
        }
        // DATAGRAM frame overhead: type (1) + length varint (up to 8).
        (unsafe { (*p).max_datagram_frame_size } as usize).saturating_sub(9).min(1200)
    }
}

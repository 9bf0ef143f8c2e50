//! Buffer budgets: what each connection makes us hold, and connection-level
//! flow-control credit given back only as far as the per-connection and the
//! server-wide budgets allow (docs/LIMITS.md).

use super::ServerEndpoint;

impl ServerEndpoint {
    /// Recounts what one connection buffers and gives back the connection credit it is
    /// owed, as far as its own budget (buffered + unused credit) and the server-wide
    /// budget (buffered over all connections) allow.
    pub(super) fn account(&mut self, key: u64) {
        let Some(slot) = self.slots.get_mut(&key) else { return };
        let held = slot.conn.buffered_output() + slot.app_buffered;
        self.buffered = self.buffered - slot.buffered + held;
        slot.buffered = held;
        let room_conn = self.cfg.conn_buffer_limit.saturating_sub(held + slot.conn.unused_credit());
        let room_srv = self.cfg.server_buffer_limit.saturating_sub(self.buffered);
        slot.conn.release_credit(room_conn.min(room_srv));
        self.stats.peak_buffered = self.stats.peak_buffered.max(self.buffered);
        if slot.conn.credit_owed() > 0 && room_srv < room_conn {
            self.starved.insert(key);
        } else {
            self.starved.remove(&key);
        }
    }

    /// Server-wide room appeared: give it to connections that were waiting for it.
    pub(super) fn feed_starved(&mut self) {
        while self.buffered < self.cfg.server_buffer_limit {
            let Some(&key) = self.starved.iter().next() else { break };
            self.starved.remove(&key);
            self.account(key);
            self.mark_dirty(key);
            if self.starved.contains(&key) {
                break; // still short of room: the rest stay queued
            }
        }
    }

    /// Bytes buffered over all connections.
    pub fn buffered(&self) -> u64 {
        self.buffered
    }
}

//! Connection timers in a binary heap with lazy invalidation, and the list of
//! connections that may have packets to write: per-packet cost does not grow
//! with the number of connections.

use super::ServerEndpoint;
use std::cmp::Reverse;

impl ServerEndpoint {
    pub(super) fn mark_dirty(&mut self, key: u64) {
        if let Some(slot) = self.slots.get_mut(&key) {
            if !slot.dirty {
                slot.dirty = true;
                self.dirty.push(key);
            }
        }
    }

    /// Puts the slot's current deadline in the heap if it changed.
    pub(super) fn reschedule(&mut self, key: u64) {
        let Some(slot) = self.slots.get_mut(&key) else { return };
        let t = slot.conn.timeout();
        if t != slot.timer {
            slot.timer = t;
            if let Some(t) = t {
                self.timers.push(Reverse((t, key)));
            }
        }
        // Stale entries pile up when deadlines move; rebuild when they dominate.
        if self.timers.len() > 2 * self.slots.len() + 64 {
            self.timers = self.slots.iter().filter_map(|(&k, s)| s.timer.map(|t| Reverse((t, k)))).collect();
        }
    }

    pub(super) fn is_current(&self, t: u64, key: u64) -> bool {
        self.slots.get(&key).is_some_and(|s| s.timer == Some(t))
    }

    /// Drops stale entries from the top of the heap so `timeout` is exact.
    pub(super) fn prune_timers(&mut self) {
        while let Some(&Reverse((t, k))) = self.timers.peek() {
            if self.is_current(t, k) {
                break;
            }
            self.timers.pop();
        }
    }
}

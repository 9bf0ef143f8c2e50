//! The accepting endpoint: routes datagrams to connections by connection ID,
//! accepts new connections from valid client Initials, answers unknown versions
//! with Version Negotiation, and drops everything else without side effects.
//!
//! Abuse limits (docs/LIMITS.md has the policy and the numbers):
//! - Handshakes in progress ("half-open") are counted apart from established
//!   connections and bounded by [`ServerConfig::max_half_open`].
//! - Address validation with Retry: always with [`ServerConfig::retry`], and
//!   automatically while at least [`ServerConfig::retry_threshold`] handshakes
//!   are in progress, or for a source address that already holds
//!   [`ServerConfig::max_half_open_per_source`] unvalidated handshakes.
//!   Retry tokens and NEW_TOKEN tokens are ngtcp2's AEAD-sealed formats.
//! - Under pressure, half-open handshakes older than
//!   [`ServerConfig::pressure_handshake_timeout_ms`] are reclaimed; a validated
//!   newcomer may evict the oldest unvalidated one. Established connections
//!   are never evicted.
//! - Stateless answers (Retry, Version Negotiation, refusals) have a budget,
//!   in all and per client address and port ([`tokens`]); beyond it the
//!   Initial is dropped unanswered and counted.
//! - Per-packet cost does not depend on the number of connections: timers
//!   live in a binary heap (lazy invalidation) and `flush` visits only
//!   connections marked dirty.
//!
//! This file holds the endpoint's state and its [`Endpoint`] implementation
//! (routing by connection ID); the rest lives beside it: [`config`],
//! [`admission`] (half-open table, quotas, pressure), [`tokens`] (Retry,
//! NEW_TOKEN, Version Negotiation, stateless answers), [`timers`], [`budget`]
//! (buffer budgets and credit), [`stats`] and [`memory`] (heap trimming).

mod admission;
mod budget;
mod config;
mod memory;
mod stats;
mod timers;
mod tokens;
#[cfg(test)]
mod tests;

pub use config::{
    ServerConfig, DEFAULT_CONN_BUFFER_LIMIT, DEFAULT_QLOG_MAX_FILES, DEFAULT_SERVER_BUFFER_LIMIT, MIN_BUFFER_LIMIT, SERVER_RECEIVE_WINDOW,
};
pub use stats::{ConnectionSample, InitialDrops, PacketCounters, ServerStats};
pub use tokens::{NEW_TOKEN_LIFETIME_NS, RETRY_TOKEN_LIFETIME_NS};

use super::connection::{Connection, PathStats};
use super::{ConnKey, ConnectionConfig, Endpoint, EndpointEvent};
use crate::tls::TlsContext;
use admission::{HalfOpen, Source};
use ngtcp2_sys as n;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;

/// Length of the connection IDs this server issues.
pub const SCID_LEN: usize = 18;

/// HKDF info for the stateless reset secret (derived from the ticket key).
const RESET_SECRET_LABEL: &[u8] = b"socket-iwa stateless reset v1";

/// One summary line about dropped Initials at most this often.
const DROP_LOG_INTERVAL_NS: u64 = 1_000_000_000;

struct Slot {
    conn: Connection,
    /// When the first Initial arrived (a monitoring sample's age).
    since: u64,
    /// What the connection's application held when it last ran.
    app_buffered: u64,
    /// Every connection ID that routes to this slot.
    cids: Vec<Vec<u8>>,
    /// Set while the handshake is in progress.
    half_open: Option<HalfOpen>,
    /// The deadline this slot has in the timer heap (entries that differ are stale).
    timer: Option<u64>,
    /// In the dirty list: may have packets to write.
    dirty: bool,
    /// This connection's share of `ServerEndpoint::buffered` when last counted.
    buffered: u64,
}

/// Called with each connection as it closes ([`ServerEndpoint::on_close`]).
pub type CloseHook = Box<dyn FnMut(&Connection)>;
/// Called with the counters ([`ServerEndpoint::on_stats`]).
pub type StatsHook = Box<dyn FnMut(&ServerStats)>;
/// Called with every live connection and the running path totals ([`ServerEndpoint::on_connections`]).
pub type ConnectionsHook = Box<dyn FnMut(&[ConnectionSample], &PathStats)>;

pub struct ServerEndpoint {
    tls: TlsContext,
    cfg: ServerConfig,
    /// `cfg.conn` as the server applies it: receive window within the connection budget, no MAX_DATA auto-tuning.
    conn_cfg: ConnectionConfig,
    /// Bytes buffered over all connections: queued output and app buffers (not the
    /// unused receive credit, which each connection counts against its own budget).
    buffered: u64,
    /// Connections owed credit that the server-wide budget held back.
    starved: BTreeSet<u64>,
    /// Gives freed heap back to the OS after many connections close (app/memory.rs).
    reclaim: memory::Reclaimer,
    /// Connections ready for their application, connections gone.
    events: VecDeque<EndpointEvent>,
    slots: HashMap<u64, Slot>,
    next_key: u64,
    routes: HashMap<Vec<u8>, u64>,
    static_secret: [u8; 32],
    /// Seals Retry and NEW_TOKEN tokens; lives as long as the process.
    token_secret: [u8; 32],
    /// Stateless packets to send: (packet, to, from).
    stateless: VecDeque<(Vec<u8>, SocketAddr, SocketAddr)>,
    stateless_budget: tokens::StatelessBudget,
    reset_budget: tokens::StatelessBudget,
    /// Connection timers: (deadline, key), min-first; stale entries are skipped.
    timers: BinaryHeap<Reverse<(u64, u64)>>,
    /// Connections that may have something to send.
    dirty: Vec<u64>,
    /// Half-open connections in creation order (entries may be stale).
    half_open_order: VecDeque<(u64, u64)>,
    /// Unvalidated and validated half-open handshakes per source.
    per_source: HashMap<Source, (usize, usize)>,
    half_open: usize,
    /// Last time the half-open count was at the pressure mark; the short
    /// handshake timeout applies until two such timeouts after it.
    pressure_seen_at: Option<u64>,
    /// Drop counters at the last summary line, and when it was written.
    drops_logged: u64,
    drops_logged_at: u64,
    stats_every: Option<(u64, u64)>,
    /// `set_connections_interval`: (every, next).
    connections_every: Option<(u64, u64)>,
    /// Path counters of connections already gone, so sampled totals never go down.
    closed_path: PathStats,
    /// Connections visited by `flush` so far (cost accounting for tests).
    flush_visits: u64,
    /// qlog files started (`cfg.qlog_max_files` at most).
    qlog_files: u64,
    pub stats: ServerStats,
    /// Called with each connection as it closes (for logs).
    pub on_close: Option<CloseHook>,
    /// Called every `set_stats_interval` with the counters.
    pub on_stats: Option<StatsHook>,
    /// Called every `set_connections_interval` with every live connection and
    /// the running path totals (closed connections included).
    pub on_connections: Option<ConnectionsHook>,
}

impl ServerEndpoint {
    pub fn new(tls: TlsContext, cfg: ServerConfig) -> Self {
        // Stateless reset tokens (RFC 9000 10.3) come from a secret derived from the
        // ticket key: a server restarted with the same --ticket-key (or a JavaScript
        // server's stored key) can reset the connections of the process before it.
        let static_secret = tls.derive_secret(RESET_SECRET_LABEL).unwrap_or_else(|| {
            let mut s = [0u8; 32];
            crate::tls::random_bytes(&mut s);
            s
        });
        let mut token_secret = [0u8; 32];
        crate::tls::random_bytes(&mut token_secret);
        let mut conn_cfg = cfg.conn.clone();
        // The receive window (unused credit never exceeds it) is at most half the budget,
        // the rest being room for output awaiting acknowledgement, and at most
        // SERVER_RECEIVE_WINDOW, since windows are not counted against the server budget.
        conn_cfg.initial_max_data = conn_cfg.initial_max_data.min(cfg.conn_buffer_limit / 2).min(SERVER_RECEIVE_WINDOW);
        // MAX_DATA grows only as buffered bytes leave (release_credit), never by ngtcp2's auto-tuning.
        conn_cfg.max_window = 0;
        ServerEndpoint {
            tls,
            cfg,
            conn_cfg,
            buffered: 0,
            starved: BTreeSet::new(),
            reclaim: Default::default(),
            events: VecDeque::new(),
            slots: HashMap::new(),
            next_key: 0,
            routes: HashMap::new(),
            static_secret,
            token_secret,
            stateless: VecDeque::new(),
            stateless_budget: Default::default(),
            reset_budget: tokens::StatelessBudget::resets(),
            timers: BinaryHeap::new(),
            dirty: Vec::new(),
            half_open_order: VecDeque::new(),
            per_source: HashMap::new(),
            half_open: 0,
            pressure_seen_at: None,
            drops_logged: 0,
            drops_logged_at: 0,
            stats_every: None,
            connections_every: None,
            closed_path: PathStats::default(),
            flush_visits: 0,
            qlog_files: 0,
            stats: ServerStats::default(),
            on_close: None,
            on_stats: None,
            on_connections: None,
        }
    }

    pub fn connection_count(&self) -> usize {
        self.slots.len()
    }

    fn remove_slot(&mut self, key: u64) {
        let Some(mut slot) = self.slots.remove(&key) else { return };
        for c in &slot.cids {
            self.routes.remove(c);
        }
        if let Some(h) = slot.half_open.take() {
            self.leave_half_open(h);
        }
        self.buffered -= slot.buffered;
        self.starved.remove(&key);
        self.stats.closed += 1;
        self.events.push_back(EndpointEvent::Closed(key));
        self.closed_path.add(&slot.conn.path_stats());
        if let Some(cb) = self.on_close.as_mut() {
            cb(&slot.conn);
        }
        drop(slot);
        self.reclaim.connection_closed(self.slots.len());
        self.stats.malloc_trims = self.reclaim.trims;
    }

    /// Routes the connection IDs the connection issued or retired since the last call.
    /// ngtcp2 issues them while writing (NEW_CONNECTION_ID goes out in the same packet),
    /// so this runs after every flush too: a peer that switches to a new ID at once must
    /// find it routed, not answered with a Stateless Reset as a stranger.
    fn sync_routes(&mut self, key: u64) {
        let Some(slot) = self.slots.get_mut(&key) else { return };
        let (added, retired) = slot.conn.take_cid_changes();
        for c in added {
            self.routes.insert(c.clone(), key);
            slot.cids.push(c);
        }
        for c in retired {
            self.routes.remove(&c);
            slot.cids.retain(|x| x != &c);
        }
    }

    /// After the application ran on the connection's events: refreshes routes,
    /// forgets a closed connection, ends the half-open state, recounts budgets.
    fn process(&mut self, key: u64, now: u64, app_buffered: u64) {
        self.sync_routes(key);
        let Some(slot) = self.slots.get_mut(&key) else { return };
        slot.app_buffered = app_buffered;
        if slot.conn.is_closed() {
            self.remove_slot(key);
            return;
        }
        let completed = if slot.half_open.is_some() && slot.conn.handshake_completed() { slot.half_open.take() } else { None };
        if let Some(h) = completed {
            self.leave_half_open(h);
            self.stats.handshakes_completed += 1;
            self.send_new_token(key, now);
        }
        self.account(key);
        self.mark_dirty(key);
        self.reschedule(key);
    }

}

impl Endpoint for ServerEndpoint {
    fn handle_datagram(&mut self, now: u64, local: SocketAddr, remote: SocketAddr, ecn: u8, data: &[u8]) {
        self.stats.packets.datagrams += 1;
        self.stats.packets.bytes += data.len() as u64;
        if data.is_empty() {
            // ngtcp2's decoder asserts on empty input; an empty datagram is never QUIC.
            self.stats.dropped_datagrams += 1;
            self.stats.packets.garbage += 1;
            return;
        }
        // SAFETY: vc is output storage pointing into `data`, used only in this call.
        let mut vc: n::ngtcp2_version_cid = unsafe { std::mem::zeroed() };
        let rv = unsafe { n::ngtcp2_pkt_decode_version_cid(&mut vc, data.as_ptr(), data.len(), SCID_LEN) };
        if rv == n::NGTCP2_ERR_VERSION_NEGOTIATION {
            // A long-header packet of a version we do not speak, in a datagram big enough to be an Initial.
            if data.len() >= 1200 {
                let refused = self.stats.initials_dropped.total();
                self.version_negotiation(now, local, remote, &vc);
                if self.stats.initials_dropped.total() != refused {
                    self.stats.packets.refused += 1;
                } else {
                    self.stats.packets.version_negotiation += 1;
                }
            } else {
                self.stats.dropped_datagrams += 1;
                self.stats.packets.garbage += 1;
            }
            return;
        }
        if rv != 0 {
            self.stats.dropped_datagrams += 1;
            self.stats.packets.garbage += 1;
            return;
        }
        // SAFETY: dcid points to dcidlen bytes inside `data`.
        let dcid = unsafe { std::slice::from_raw_parts(vc.dcid, vc.dcidlen) };
        let key = match self.routes.get(dcid) {
            Some(&k) => {
                self.stats.packets.to_connection += 1;
                k
            }
            None => {
                let (refused, retries) = (self.stats.initials_dropped.total(), self.stats.retries_sent);
                match self.accept(now, local, remote, data) {
                    Some(k) => {
                        self.stats.packets.new_connection += 1;
                        k
                    }
                    None => {
                        let p = &mut self.stats.packets;
                        if self.stats.initials_dropped.total() != refused {
                            p.refused += 1;
                        } else if self.stats.retries_sent != retries {
                            p.retry += 1;
                        } else {
                            p.unknown_cid += 1;
                            if data[0] & 0x80 == 0 {
                                self.send_stateless_reset(now, local, remote, dcid, data.len());
                            }
                        }
                        return;
                    }
                }
            }
        };
        if let Some(slot) = self.slots.get_mut(&key) {
            slot.conn.recv(now, local, remote, ecn, data);
        }
        self.events.push_back(EndpointEvent::Ready(key));
    }

    fn timeout(&self) -> Option<u64> {
        let conn = self.timers.peek().map(|Reverse((t, _))| *t);
        let stats = [self.stats_every, self.connections_every].into_iter().flatten().map(|(_, next)| next).min();
        let drops = (self.stats.initials_dropped.total() != self.drops_logged).then_some(self.drops_logged_at + DROP_LOG_INTERVAL_NS);
        let reclaim = if self.under_pressure() || self.pressure_seen_at.is_some() {
            self.half_open_order.front().map(|&(created, _)| created + self.pressure_timeout_ns())
        } else {
            None
        };
        // Pressure mode ends two short timeouts after it was last seen.
        let pressure_end = self.pressure_seen_at.map(|t| t + 2 * self.pressure_timeout_ns());
        [conn, stats, drops, reclaim, pressure_end].into_iter().flatten().min()
    }

    fn on_timeout(&mut self, now: u64) {
        let mut due = Vec::new();
        while let Some(&Reverse((t, k))) = self.timers.peek() {
            if t > now {
                break;
            }
            self.timers.pop();
            if self.is_current(t, k) {
                due.push(k);
            }
        }
        for key in due {
            if let Some(slot) = self.slots.get_mut(&key) {
                // The entry is consumed: a new deadline is pushed by `processed`.
                slot.timer = None;
                slot.conn.on_timeout(now);
            }
            self.events.push_back(EndpointEvent::Ready(key));
        }
    }

    fn maintain(&mut self, now: u64) {
        self.reclaim_half_open(now);
        if let Some((every, next)) = self.stats_every {
            if now >= next {
                self.stats_every = Some((every, now + every));
                let s = self.current_stats();
                if let Some(cb) = self.on_stats.as_mut() {
                    cb(&s);
                }
            }
        }
        self.sample_connections(now);
        self.log_drops(now, false);
        self.prune_timers();
    }

    fn poll_event(&mut self) -> Option<EndpointEvent> {
        self.events.pop_front()
    }

    fn connection(&self, key: ConnKey) -> Option<&Connection> {
        self.slots.get(&key).map(|s| &s.conn)
    }

    fn connection_mut(&mut self, key: ConnKey) -> Option<&mut Connection> {
        self.slots.get_mut(&key).map(|s| &mut s.conn)
    }

    fn connection_for_app(&mut self, key: ConnKey) -> Option<&mut Connection> {
        // New work is refused from 15/16 of the server budget on: the last 1/16 stays
        // for work already accepted, so it can progress.
        let limit = self.cfg.server_buffer_limit;
        let busy = self.buffered >= limit - limit / 16;
        let slot = self.slots.get_mut(&key)?;
        slot.conn.set_server_busy(busy);
        Some(&mut slot.conn)
    }

    fn processed(&mut self, key: ConnKey, now: u64, app_buffered: u64) {
        self.process(key, now, app_buffered);
        self.prune_timers();
    }

    fn touch(&mut self, key: ConnKey) {
        self.mark_dirty(key);
        self.reschedule(key);
    }

    fn keys(&self) -> Vec<ConnKey> {
        self.slots.keys().copied().collect()
    }

    fn poll_stateless(&mut self) -> Option<(Vec<u8>, SocketAddr, SocketAddr)> {
        self.stateless.pop_front()
    }

    fn unsent_stateless(&mut self, pkt: Vec<u8>, to: SocketAddr, from: SocketAddr) {
        self.stateless.push_front((pkt, to, from));
    }

    fn take_sendable(&mut self) -> Vec<ConnKey> {
        if !self.starved.is_empty() {
            self.feed_starved();
        }
        // Taken keys keep their `dirty` flag until `flushed` says they drained.
        std::mem::take(&mut self.dirty)
    }

    fn flushed(&mut self, key: ConnKey, drained: bool, _blocked: bool) {
        self.sync_routes(key);
        let Some(slot) = self.slots.get_mut(&key) else { return };
        self.flush_visits += 1;
        if drained {
            slot.dirty = false;
        } else {
            self.dirty.push(key);
        }
        // Writing can close a connection (an error found while packetising).
        if slot.conn.is_closed() {
            self.events.push_back(EndpointEvent::Ready(key));
        } else {
            self.reschedule(key);
        }
    }

    fn not_flushed(&mut self, keys: &[ConnKey]) {
        self.dirty.extend_from_slice(keys);
    }

    fn flush_done(&mut self) {
        self.prune_timers();
    }

    fn is_done(&self) -> bool {
        false
    }
}


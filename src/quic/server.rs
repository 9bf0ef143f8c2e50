//! The accepting endpoint: routes datagrams to connections by connection ID,
//! accepts new connections from valid client Initials, answers unknown versions
//! with Version Negotiation, and drops everything else without side effects.

use super::connection::{random_cid, Connection};
use super::{ConnectionConfig, Endpoint};
use crate::app::{AppFactory, ConnectionApp};
use crate::tls::TlsContext;
use ngtcp2_sys as n;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;

/// Length of the connection IDs this server issues.
pub const SCID_LEN: usize = 18;

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub conn: ConnectionConfig,
    /// New connections beyond this many are dropped (their Initials ignored).
    pub max_connections: usize,
    /// Bytes one connection may make us buffer (queued output awaiting acknowledgement,
    /// request bodies, WebTransport/WebSocket data, unused receive credit). Connection
    /// flow-control credit is given back only within this budget. See docs/LIMITS.md.
    pub conn_buffer_limit: u64,
    /// The same over all connections together. When it is used up, applications
    /// refuse new work (503, stream refusal) and credit waits for memory to drain.
    pub server_buffer_limit: u64,
}

/// Default [`ServerConfig::conn_buffer_limit`]: 16 MiB (the connection receive window we always used).
pub const DEFAULT_CONN_BUFFER_LIMIT: u64 = 16 << 20;
/// Default [`ServerConfig::server_buffer_limit`]: 256 MiB.
pub const DEFAULT_SERVER_BUFFER_LIMIT: u64 = 256 << 20;
/// Largest connection receive window (initial MAX_DATA) the server grants: 4 MiB,
/// 800 Mbit/s at 40 ms RTT. Bytes a peer may send on top of the server-wide budget.
pub const SERVER_RECEIVE_WINDOW: u64 = 4 << 20;

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            conn: ConnectionConfig::default(),
            max_connections: 4096,
            conn_buffer_limit: DEFAULT_CONN_BUFFER_LIMIT,
            server_buffer_limit: DEFAULT_SERVER_BUFFER_LIMIT,
        }
    }
}

/// Smallest accepted buffer budget (per connection): room for a few packets'
/// worth of HTTP/3 control and QPACK traffic plus one flow-control window.
pub const MIN_BUFFER_LIMIT: u64 = 64 << 10;

/// Parses a byte count: digits with an optional K, M or G suffix (powers of 1024), e.g. `4M`.
pub fn parse_byte_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mul) = match t.char_indices().last() {
        Some((i, c)) if c.eq_ignore_ascii_case(&'k') => (&t[..i], 1u64 << 10),
        Some((i, c)) if c.eq_ignore_ascii_case(&'m') => (&t[..i], 1 << 20),
        Some((i, c)) if c.eq_ignore_ascii_case(&'g') => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    let n: u64 = num.parse().map_err(|_| format!("'{s}' is not a byte count (digits with an optional K, M or G suffix)"))?;
    n.checked_mul(mul).filter(|&b| b < 1 << 62).ok_or_else(|| format!("'{s}' is too large"))
}

impl ServerConfig {
    /// Checks the buffer limits against each other; the error names the flag.
    pub fn check_limits(&self) -> Result<(), String> {
        if self.conn_buffer_limit < MIN_BUFFER_LIMIT {
            return Err(format!("--conn-buffer-limit {} is below the minimum of {MIN_BUFFER_LIMIT} bytes", self.conn_buffer_limit));
        }
        if self.server_buffer_limit < self.conn_buffer_limit {
            return Err(format!(
                "--server-buffer-limit {} is below --conn-buffer-limit {}",
                self.server_buffer_limit, self.conn_buffer_limit
            ));
        }
        Ok(())
    }
}

/// Counters a test or operator can read.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ServerStats {
    pub accepted: u64,
    pub closed: u64,
    pub dropped_datagrams: u64,
    pub version_negotiations: u64,
    /// Most bytes buffered over all connections at once (see docs/LIMITS.md).
    pub peak_buffered: u64,
}

struct Slot {
    conn: Connection,
    app: Option<Box<dyn ConnectionApp>>,
    /// Every connection ID that routes to this slot.
    cids: Vec<Vec<u8>>,
    /// This connection's share of `ServerEndpoint::buffered` when last counted.
    buffered: u64,
}

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
    reclaim: crate::app::memory::Reclaimer,
    factory: AppFactory,
    slots: HashMap<u64, Slot>,
    next_key: u64,
    routes: HashMap<Vec<u8>, u64>,
    static_secret: [u8; 32],
    stateless: VecDeque<(Vec<u8>, SocketAddr)>,
    blocked: Option<(Vec<u8>, SocketAddr)>,
    buf: Vec<u8>,
    /// Application close codes chosen in `begin_shutdown`, used by `finish_shutdown`.
    shutdown_codes: Vec<(u64, u64)>,
    pub stats: ServerStats,
    /// Called with each connection as it closes (for logs).
    pub on_close: Option<Box<dyn FnMut(&Connection)>>,
}

impl ServerEndpoint {
    pub fn new(tls: TlsContext, cfg: ServerConfig, factory: AppFactory) -> Self {
        let mut static_secret = [0u8; 32];
        crate::tls::random_bytes(&mut static_secret);
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
            factory,
            slots: HashMap::new(),
            next_key: 0,
            routes: HashMap::new(),
            static_secret,
            stateless: VecDeque::new(),
            blocked: None,
            buf: vec![0u8; 1500],
            shutdown_codes: Vec::new(),
            stats: ServerStats::default(),
            on_close: None,
        }
    }

    pub fn connection_count(&self) -> usize {
        self.slots.len()
    }

    fn accept(&mut self, now: u64, local: SocketAddr, remote: SocketAddr, data: &[u8]) -> Option<u64> {
        // SAFETY: hd is output storage; data is valid for its length.
        let mut hd: n::ngtcp2_pkt_hd = unsafe { std::mem::zeroed() };
        if unsafe { n::ngtcp2_accept(&mut hd, data.as_ptr(), data.len()) } != 0 {
            // Not a valid client Initial (garbage, short, or a stray packet for a gone connection).
            self.stats.dropped_datagrams += 1;
            return None;
        }
        if self.slots.len() >= self.cfg.max_connections {
            log::warn!("connection limit {} reached; dropping Initial from {remote}", self.cfg.max_connections);
            self.stats.dropped_datagrams += 1;
            return None;
        }
        let scid = random_cid(SCID_LEN);
        let conn = match Connection::accept(&self.tls, &hd, &scid, local, remote, &self.conn_cfg, self.static_secret, now) {
            Ok(mut c) => {
                c.enable_credit_gate(self.conn_cfg.initial_max_data, self.cfg.conn_buffer_limit);
                c
            }
            Err(e) => {
                log::warn!("cannot accept a connection from {remote}: {e}");
                self.stats.dropped_datagrams += 1;
                return None;
            }
        };
        let key = self.next_key;
        self.next_key += 1;
        let odcid = hd.dcid.data[..hd.dcid.datalen].to_vec();
        self.routes.insert(odcid.clone(), key);
        self.routes.insert(scid.clone(), key);
        self.slots.insert(key, Slot { conn, app: None, cids: vec![odcid, scid], buffered: 0 });
        self.stats.accepted += 1;
        log::debug!("accepted a connection from {remote}");
        Some(key)
    }

    /// Runs the application on the connection's pending events and refreshes routes.
    fn process(&mut self, key: u64, now: u64) {
        // New work is refused from 15/16 of the server budget on: the last 1/16 stays
        // for work already accepted, so it can progress.
        let limit = self.cfg.server_buffer_limit;
        let busy = self.buffered >= limit - limit / 16;
        let Some(slot) = self.slots.get_mut(&key) else { return };
        slot.conn.set_server_busy(busy);
        while let Some(ev) = slot.conn.poll_event() {
            if slot.app.is_none() {
                if let Some(alpn) = slot.conn.alpn() {
                    slot.app = (self.factory)(&alpn);
                }
            }
            match slot.app.as_mut() {
                Some(app) => app.on_event(&mut slot.conn, now, ev),
                None => log::debug!("event before the application is known: {ev:?}"),
            }
        }
        if let Some(app) = slot.app.as_mut() {
            app.on_tick(&mut slot.conn, now);
        }
        let (added, retired) = slot.conn.take_cid_changes();
        for c in added {
            self.routes.insert(c.clone(), key);
            slot.cids.push(c);
        }
        for c in retired {
            self.routes.remove(&c);
            slot.cids.retain(|x| x != &c);
        }
        if !slot.conn.is_closed() {
            self.account(key);
            return;
        }
        {
            let slot = self.slots.remove(&key).unwrap();
            self.buffered -= slot.buffered;
            self.starved.remove(&key);
            for c in &slot.cids {
                self.routes.remove(c);
            }
            self.stats.closed += 1;
            if let Some(cb) = self.on_close.as_mut() {
                cb(&slot.conn);
            }
            drop(slot);
            self.reclaim.connection_closed(self.slots.len());
        }
    }

    /// Recounts what one connection buffers and gives back the connection credit it is
    /// owed, as far as its own budget (buffered + unused credit) and the server-wide
    /// budget (buffered over all connections) allow.
    fn account(&mut self, key: u64) {
        let Some(slot) = self.slots.get_mut(&key) else { return };
        let held = slot.conn.buffered_output() + slot.app.as_ref().map_or(0, |a| a.buffered());
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
    fn feed_starved(&mut self) {
        while self.buffered < self.cfg.server_buffer_limit {
            let Some(&key) = self.starved.iter().next() else { break };
            self.starved.remove(&key);
            self.account(key);
            if self.starved.contains(&key) {
                break; // still short of room: the rest stay queued
            }
        }
    }

    /// Bytes buffered over all connections.
    pub fn buffered(&self) -> u64 {
        self.buffered
    }

    fn version_negotiation(&mut self, remote: SocketAddr, vc: &n::ngtcp2_version_cid) {
        let mut out = vec![0u8; 1200];
        let versions = [super::QUIC_V1];
        let mut r = [0u8; 1];
        crate::tls::random_bytes(&mut r);
        // SAFETY: vc's pointers point into the received datagram, still alive; out is writable.
        let len = unsafe {
            n::ngtcp2_pkt_write_version_negotiation(out.as_mut_ptr(), out.len(), r[0], vc.scid, vc.scidlen, vc.dcid, vc.dcidlen, versions.as_ptr(), versions.len())
        };
        if len > 0 {
            out.truncate(len as usize);
            self.stateless.push_back((out, remote));
            self.stats.version_negotiations += 1;
        }
    }
}

impl Endpoint for ServerEndpoint {
    fn handle_datagram(&mut self, now: u64, local: SocketAddr, remote: SocketAddr, data: &[u8]) {
        if data.is_empty() {
            // ngtcp2's decoder asserts on empty input; an empty datagram is never QUIC.
            self.stats.dropped_datagrams += 1;
            return;
        }
        // SAFETY: vc is output storage pointing into `data`, used only in this call.
        let mut vc: n::ngtcp2_version_cid = unsafe { std::mem::zeroed() };
        let rv = unsafe { n::ngtcp2_pkt_decode_version_cid(&mut vc, data.as_ptr(), data.len(), SCID_LEN) };
        if rv == n::NGTCP2_ERR_VERSION_NEGOTIATION {
            // A long-header packet of a version we do not speak, in a datagram big enough to be an Initial.
            if data.len() >= 1200 {
                self.version_negotiation(remote, &vc);
            } else {
                self.stats.dropped_datagrams += 1;
            }
            return;
        }
        if rv != 0 {
            self.stats.dropped_datagrams += 1;
            return;
        }
        // SAFETY: dcid points to dcidlen bytes inside `data`.
        let dcid = unsafe { std::slice::from_raw_parts(vc.dcid, vc.dcidlen) };
        let key = match self.routes.get(dcid) {
            Some(&k) => k,
            None => match self.accept(now, local, remote, data) {
                Some(k) => k,
                None => return,
            },
        };
        if let Some(slot) = self.slots.get_mut(&key) {
            slot.conn.recv(now, local, remote, data);
        }
        self.process(key, now);
    }

    fn timeout(&self) -> Option<u64> {
        self.slots.values().filter_map(|s| s.conn.timeout()).min()
    }

    fn on_timeout(&mut self, now: u64) {
        let due: Vec<u64> = self.slots.iter().filter(|(_, s)| s.conn.timeout().is_some_and(|t| t <= now)).map(|(k, _)| *k).collect();
        for key in due {
            if let Some(slot) = self.slots.get_mut(&key) {
                slot.conn.on_timeout(now);
            }
            self.process(key, now);
        }
    }

    fn flush(&mut self, now: u64, send: &mut dyn FnMut(&[u8], SocketAddr) -> bool) -> bool {
        if let Some((pkt, to)) = self.blocked.take() {
            if !send(&pkt, to) {
                self.blocked = Some((pkt, to));
                return false;
            }
        }
        while let Some((pkt, to)) = self.stateless.pop_front() {
            if !send(&pkt, to) {
                self.blocked = Some((pkt, to));
                return false;
            }
        }
        if !self.starved.is_empty() {
            self.feed_starved();
        }
        let keys: Vec<u64> = self.slots.keys().copied().collect();
        for key in keys {
            let Some(slot) = self.slots.get_mut(&key) else { continue };
            let limit = slot.conn.burst_limit();
            for _ in 0..limit {
                match slot.conn.poll_transmit(now, &mut self.buf) {
                    Some((len, to)) => {
                        if !send(&self.buf[..len], to) {
                            self.blocked = Some((self.buf[..len].to_vec(), to));
                            slot.conn.burst_done(now);
                            return false;
                        }
                    }
                    None => break,
                }
            }
            slot.conn.burst_done(now);
            // Writing can close a connection (an error found while packetising).
            if slot.conn.is_closed() {
                self.process(key, now);
            }
        }
        true
    }

    fn is_done(&self) -> bool {
        false
    }

    fn begin_shutdown(&mut self, now: u64) {
        let mut codes = Vec::new();
        for (&key, slot) in self.slots.iter_mut() {
            let code = match slot.app.as_mut() {
                Some(app) if slot.conn.is_open() => app.on_shutdown(&mut slot.conn, now),
                _ => 0,
            };
            codes.push((key, code));
        }
        self.shutdown_codes = codes;
    }

    fn goodbyes_delivered(&self) -> bool {
        self.slots.values().all(|s| !s.conn.is_open() || s.conn.output_settled())
    }

    fn finish_shutdown(&mut self, now: u64) {
        for (key, code) in std::mem::take(&mut self.shutdown_codes) {
            if let Some(slot) = self.slots.get_mut(&key) {
                slot.conn.close(now, code, "server shutting down");
            }
        }
    }
}

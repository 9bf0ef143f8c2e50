//! The accepting endpoint: routes datagrams to connections by connection ID,
//! accepts new connections from valid client Initials, answers unknown versions
//! with Version Negotiation, and drops everything else without side effects.

use super::connection::{random_cid, Connection};
use super::{ConnectionConfig, Endpoint};
use crate::app::{AppFactory, ConnectionApp};
use crate::tls::TlsContext;
use ngtcp2_sys as n;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

/// Length of the connection IDs this server issues.
pub const SCID_LEN: usize = 18;

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub conn: ConnectionConfig,
    /// New connections beyond this many are dropped (their Initials ignored).
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig { conn: ConnectionConfig::default(), max_connections: 4096 }
    }
}

/// Counters a test or operator can read.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ServerStats {
    pub accepted: u64,
    pub closed: u64,
    pub dropped_datagrams: u64,
    pub version_negotiations: u64,
}

struct Slot {
    conn: Connection,
    app: Option<Box<dyn ConnectionApp>>,
    /// Every connection ID that routes to this slot.
    cids: Vec<Vec<u8>>,
}

pub struct ServerEndpoint {
    tls: TlsContext,
    cfg: ServerConfig,
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
        ServerEndpoint {
            tls,
            cfg,
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
        let conn = match Connection::accept(&self.tls, &hd, &scid, local, remote, &self.cfg.conn, self.static_secret, now) {
            Ok(c) => c,
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
        self.slots.insert(key, Slot { conn, app: None, cids: vec![odcid, scid] });
        self.stats.accepted += 1;
        log::debug!("accepted a connection from {remote}");
        Some(key)
    }

    /// Runs the application on the connection's pending events and refreshes routes.
    fn process(&mut self, key: u64, now: u64) {
        let Some(slot) = self.slots.get_mut(&key) else { return };
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
        if slot.conn.is_closed() {
            let slot = self.slots.remove(&key).unwrap();
            for c in &slot.cids {
                self.routes.remove(c);
            }
            self.stats.closed += 1;
            if let Some(cb) = self.on_close.as_mut() {
                cb(&slot.conn);
            }
        }
    }

    fn version_negotiation(&mut self, remote: SocketAddr, vc: &n::ngtcp2_version_cid) {
        let mut out = vec![0u8; 1200];
        let versions = self.cfg.conn.versions.list();
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

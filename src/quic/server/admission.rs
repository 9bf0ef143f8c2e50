//! Admission of new connections: the half-open (handshake) table, per-source
//! quotas, the pressure mode that turns Retry on and reclaims stale handshakes,
//! and the checks a client Initial passes before it becomes a connection.

use super::tokens::TokenCheck;
use super::{ServerEndpoint, Slot, SCID_LEN};
use crate::quic::connection::{random_cid, Connection, ValidatedToken};
use crate::quic::ConnectionConfig;
use ngtcp2_sys as n;
use std::net::{IpAddr, SocketAddr};

/// The unit of fairness: an IPv4 address or an IPv6 /64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct Source([u8; 8]);

impl Source {
    pub(super) fn of(addr: &SocketAddr) -> Self {
        // On a dual-stack socket IPv4 clients arrive as ::ffff:a.b.c.d; they are IPv4 sources.
        let ip = match addr.ip() {
            IpAddr::V6(a) => a.to_ipv4_mapped().map_or(IpAddr::V6(a), IpAddr::V4),
            v4 => v4,
        };
        match ip {
            IpAddr::V4(a) => {
                let mut s = [0u8; 8];
                s[..4].copy_from_slice(&a.octets());
                s[4] = 4;
                Source(s)
            }
            IpAddr::V6(a) => Source(a.octets()[..8].try_into().unwrap()),
        }
    }
}

pub(super) struct HalfOpen {
    source: Source,
    validated: bool,
}

impl ServerEndpoint {
    pub(super) fn under_pressure(&self) -> bool {
        self.half_open >= self.cfg.retry_threshold.clamp(1, self.cfg.max_half_open.max(1))
    }

    pub(super) fn pressure_timeout_ns(&self) -> u64 {
        self.cfg.pressure_handshake_timeout_ms * 1_000_000
    }

    /// Pressure with hysteresis: reclaiming one handshake must not end it, or
    /// the rest of a flood's handshakes would wait out the full timeout.
    pub(super) fn pressured(&self, now: u64) -> bool {
        self.under_pressure() || self.pressure_seen_at.is_some_and(|t| now < t + 2 * self.pressure_timeout_ns())
    }

    /// Frees a half-open slot for a validated newcomer: the oldest unvalidated one.
    pub(super) fn evict_unvalidated(&mut self) -> bool {
        let victim = self.half_open_order.iter().map(|&(_, k)| k).find(|k| {
            self.slots.get(k).is_some_and(|s| s.half_open.as_ref().is_some_and(|h| !h.validated))
        });
        match victim {
            Some(k) => {
                self.remove_slot(k);
                self.stats.half_open_evicted += 1;
                true
            }
            None => false,
        }
    }

    pub(super) fn accept(&mut self, now: u64, local: SocketAddr, remote: SocketAddr, data: &[u8]) -> Option<u64> {
        // SAFETY: hd is output storage; data is valid for its length.
        let mut hd: n::ngtcp2_pkt_hd = unsafe { std::mem::zeroed() };
        if unsafe { n::ngtcp2_accept(&mut hd, data.as_ptr(), data.len()) } != 0 {
            // Not a valid client Initial (garbage, short, or a stray packet for a gone connection).
            self.stats.dropped_datagrams += 1;
            return None;
        }
        if self.slots.len() - self.half_open >= self.cfg.max_connections {
            self.send_close(now, local, remote, &hd, n::NGTCP2_CONNECTION_REFUSED as u64);
            self.drop_initial(now, |d| d.server_full += 1);
            return None;
        }
        let check = self.check_token(now, &remote, &hd);
        let token = match check {
            TokenCheck::BadRetry => {
                // RFC 9000 8.1.2: close with INVALID_TOKEN, without keeping state.
                self.send_close(now, local, remote, &hd, n::NGTCP2_INVALID_TOKEN as u64);
                self.drop_initial(now, |d| d.bad_retry_token += 1);
                return None;
            }
            TokenCheck::Retry(odcid) => Some(ValidatedToken { retry_odcid: Some(odcid) }),
            TokenCheck::NewToken => Some(ValidatedToken { retry_odcid: None }),
            TokenCheck::None => None,
        };
        let source = Source::of(&remote);
        let (unvalidated, validated) = self.per_source.get(&source).copied().unwrap_or((0, 0));
        if token.is_none() {
            // While the pressure mode lasts, every unvalidated Initial extends it: Retry
            // stays on until the flood has stopped, instead of switching off as soon as
            // reclaiming takes the count below the mark (which let the next wave of
            // the flood back in, each Initial costing a full handshake).
            let pressured = self.pressured(now);
            if pressured {
                self.pressure_seen_at = Some(now);
            }
            if self.cfg.retry || pressured || unvalidated >= self.cfg.max_half_open_per_source {
                self.send_retry(now, local, remote, &hd);
                return None;
            }
        } else if validated >= (self.cfg.max_half_open / 4).max(self.cfg.max_half_open_per_source) {
            self.drop_initial(now, |d| d.source_quota += 1);
            return None;
        }
        if self.half_open >= self.cfg.max_half_open {
            // Unvalidated newcomers were sent a Retry above unless the limits are set oddly.
            if token.is_none() || !self.evict_unvalidated() {
                self.drop_initial(now, |d| d.half_open_full += 1);
                return None;
            }
        }
        let validated_now = token.is_some();
        if self.under_pressure() {
            self.pressure_seen_at = Some(now);
        }
        let scid = random_cid(SCID_LEN);
        let unlogged;
        let conn_cfg = if self.conn_cfg.qlog_dir.is_none() {
            &self.conn_cfg
        } else if self.qlog_files < self.cfg.qlog_max_files {
            self.qlog_files += 1;
            &self.conn_cfg
        } else {
            if self.qlog_files == self.cfg.qlog_max_files {
                self.qlog_files += 1; // warn once
                log::warn!("qlog: {} files written (--qlog-max-files); later connections are not logged", self.cfg.qlog_max_files);
            }
            unlogged = ConnectionConfig { qlog_dir: None, ..self.conn_cfg.clone() };
            &unlogged
        };
        let conn = match Connection::accept(&self.tls, &hd, token, &scid, local, remote, conn_cfg, self.static_secret, now) {
            Ok(mut c) => {
                c.enable_credit_gate(self.conn_cfg.initial_max_data, self.cfg.conn_buffer_limit);
                c
            }
            Err(e) => {
                log::debug!("cannot accept a connection from {remote}: {e}");
                self.drop_initial(now, |d| d.accept_failed += 1);
                return None;
            }
        };
        let key = self.next_key;
        self.next_key += 1;
        let odcid = hd.dcid.data[..hd.dcid.datalen].to_vec();
        self.routes.insert(odcid.clone(), key);
        self.routes.insert(scid.clone(), key);
        let ho = HalfOpen { source, validated: validated_now };
        let e = self.per_source.entry(source).or_insert((0, 0));
        if validated_now {
            e.1 += 1;
        } else {
            e.0 += 1;
        }
        self.half_open += 1;
        if self.under_pressure() {
            self.pressure_seen_at = Some(now);
        }
        self.half_open_order.push_back((now, key));
        self.slots.insert(key, Slot { conn, app_buffered: 0, cids: vec![odcid, scid], half_open: Some(ho), timer: None, dirty: false, buffered: 0, since: now });
        self.stats.accepted += 1;
        log::debug!("accepted a connection from {remote}");
        Some(key)
    }

    /// The handshake of `key` ended (completed or the slot went away).
    pub(super) fn leave_half_open(&mut self, h: HalfOpen) {
        self.half_open -= 1;
        if let Some(e) = self.per_source.get_mut(&h.source) {
            if h.validated {
                e.1 -= 1;
            } else {
                e.0 -= 1;
            }
            if *e == (0, 0) {
                self.per_source.remove(&h.source);
            }
        }
        if self.half_open == 0 {
            self.half_open_order.clear();
        }
    }

    /// Under pressure, half-open handshakes older than the short timeout go.
    pub(super) fn reclaim_half_open(&mut self, now: u64) {
        let limit = self.pressure_timeout_ns();
        if self.pressure_seen_at.is_some_and(|t| now >= t + 2 * limit) && !self.under_pressure() {
            self.pressure_seen_at = None;
        }
        while let Some(&(created, key)) = self.half_open_order.front() {
            let live = self.slots.get(&key).is_some_and(|s| s.half_open.is_some());
            if !live {
                self.half_open_order.pop_front();
                continue;
            }
            if !self.pressured(now) || now < created + limit {
                break;
            }
            self.half_open_order.pop_front();
            self.remove_slot(key);
            self.stats.half_open_reclaimed += 1;
        }
    }
}

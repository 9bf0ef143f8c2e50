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
//! - Per-packet cost does not depend on the number of connections: timers
//!   live in a binary heap (lazy invalidation) and `flush` visits only
//!   connections marked dirty.

use super::connection::{random_cid, Connection, ValidatedToken};
use super::{ConnectionConfig, Endpoint};
use crate::app::{AppFactory, ConnectionApp};
use crate::io::addr::RawAddr;
use crate::tls::TlsContext;
use ngtcp2_sys as n;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

/// Length of the connection IDs this server issues.
pub const SCID_LEN: usize = 18;

/// How long a Retry token is accepted after it was issued.
pub const RETRY_TOKEN_LIFETIME_NS: u64 = 10_000_000_000;
/// How long a NEW_TOKEN token is accepted after it was issued (within one server process).
pub const NEW_TOKEN_LIFETIME_NS: u64 = 24 * 3600 * 1_000_000_000;
/// ngtcp2_crypto.h's NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN2 (a sizeof expression bindgen cannot evaluate):
/// magic, sockaddr union, CID length, CID, timestamp, AEAD tag, random salt.
const MAX_RETRY_TOKENLEN: usize = 1 + std::mem::size_of::<n::ngtcp2_sockaddr_union>() + 1 + 20 + 8 + 16 + 16;
/// NGTCP2_CRYPTO_MAX_REGULAR_TOKENLEN: magic, timestamp, AEAD tag, random salt.
const MAX_REGULAR_TOKENLEN: usize = 1 + 8 + 16 + 16;
/// Stateless packets (Retry, Version Negotiation, refusals) waiting for the socket, at most.
const MAX_STATELESS_QUEUE: usize = 1024;
/// One summary line about dropped Initials at most this often.
const DROP_LOG_INTERVAL_NS: u64 = 1_000_000_000;

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub conn: ConnectionConfig,
    /// Established connections beyond this many are refused (CONNECTION_REFUSED).
    pub max_connections: usize,
    /// Handshakes in progress, at most.
    pub max_half_open: usize,
    /// Validate every new client address with a Retry.
    pub retry: bool,
    /// Retry every unvalidated client while this many handshakes are in progress.
    pub retry_threshold: usize,
    /// Unvalidated handshakes one source (IPv4 address, IPv6 /64) may hold;
    /// beyond that the source gets a Retry.
    pub max_half_open_per_source: usize,
    /// Handshake timeout for half-open connections while under pressure.
    pub pressure_handshake_timeout_ms: u64,
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
            max_half_open: 256,
            retry: false,
            retry_threshold: 64,
            max_half_open_per_source: 16,
            pressure_handshake_timeout_ms: 2_000,
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

/// Initials not turned into a connection, by reason.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct InitialDrops {
    /// Established connections at `max_connections` (answered with CONNECTION_REFUSED).
    pub server_full: u64,
    /// Half-open table full of validated handshakes.
    pub half_open_full: u64,
    /// A validated source over its share of the half-open table.
    pub source_quota: u64,
    /// A Retry token that failed verification (answered with INVALID_TOKEN).
    pub bad_retry_token: u64,
    /// The stateless answer queue was full (socket not writable).
    pub queue_full: u64,
    /// ngtcp2 or TLS refused to set the connection up.
    pub accept_failed: u64,
}

impl InitialDrops {
    fn total(&self) -> u64 {
        self.server_full + self.half_open_full + self.source_quota + self.bad_retry_token + self.queue_full + self.accept_failed
    }
}

/// Counters a test or operator can read (`--stats-interval` prints them).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ServerStats {
    pub accepted: u64,
    pub closed: u64,
    pub dropped_datagrams: u64,
    pub version_negotiations: u64,
    /// Gauges: connections now established / handshakes now in progress.
    pub established: u64,
    pub half_open: u64,
    pub handshakes_completed: u64,
    pub retries_sent: u64,
    pub retry_tokens_ok: u64,
    pub retry_tokens_bad: u64,
    pub new_tokens_sent: u64,
    pub new_tokens_ok: u64,
    /// NEW_TOKEN tokens that failed verification (the client is treated as unvalidated).
    pub new_tokens_bad: u64,
    /// Half-open handshakes dropped by the short timeout under pressure.
    pub half_open_reclaimed: u64,
    /// Unvalidated half-open handshakes evicted to admit a validated one.
    pub half_open_evicted: u64,
    pub initials_dropped: InitialDrops,
    pub malloc_trims: u64,
    /// Most bytes buffered over all connections at once (see docs/LIMITS.md).
    pub peak_buffered: u64,
}

/// The unit of fairness: an IPv4 address or an IPv6 /64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Source([u8; 8]);

impl Source {
    fn of(addr: &SocketAddr) -> Self {
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

struct HalfOpen {
    source: Source,
    validated: bool,
}

struct Slot {
    conn: Connection,
    app: Option<Box<dyn ConnectionApp>>,
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

/// How an Initial's token turned out.
enum TokenCheck {
    None,
    Retry(n::ngtcp2_cid),
    NewToken,
    BadRetry,
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
    /// Seals Retry and NEW_TOKEN tokens; lives as long as the process.
    token_secret: [u8; 32],
    stateless: VecDeque<(Vec<u8>, SocketAddr)>,
    blocked: Option<(Vec<u8>, SocketAddr)>,
    buf: Vec<u8>,
    /// Application close codes chosen in `begin_shutdown`, used by `finish_shutdown`.
    shutdown_codes: Vec<(u64, u64)>,
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
    /// Connections visited by `flush` so far (cost accounting for tests).
    flush_visits: u64,
    pub stats: ServerStats,
    /// Called with each connection as it closes (for logs).
    pub on_close: Option<Box<dyn FnMut(&Connection)>>,
    /// Called every `set_stats_interval` with the counters.
    pub on_stats: Option<Box<dyn FnMut(&ServerStats)>>,
}

impl ServerEndpoint {
    pub fn new(tls: TlsContext, cfg: ServerConfig, factory: AppFactory) -> Self {
        let mut static_secret = [0u8; 32];
        crate::tls::random_bytes(&mut static_secret);
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
            factory,
            slots: HashMap::new(),
            next_key: 0,
            routes: HashMap::new(),
            static_secret,
            token_secret,
            stateless: VecDeque::new(),
            blocked: None,
            buf: vec![0u8; 1500],
            shutdown_codes: Vec::new(),
            timers: BinaryHeap::new(),
            dirty: Vec::new(),
            half_open_order: VecDeque::new(),
            per_source: HashMap::new(),
            half_open: 0,
            pressure_seen_at: None,
            drops_logged: 0,
            drops_logged_at: 0,
            stats_every: None,
            flush_visits: 0,
            stats: ServerStats::default(),
            on_close: None,
            on_stats: None,
        }
    }

    pub fn connection_count(&self) -> usize {
        self.slots.len()
    }

    /// Every connection the server holds now (handshaking or established), read-only.
    pub fn connections(&self) -> impl Iterator<Item = &Connection> {
        self.slots.values().map(|s| &s.conn)
    }

    /// Handshakes in progress.
    pub fn half_open_count(&self) -> usize {
        self.half_open
    }

    /// Calls `on_stats` every `interval_ns`, starting `interval_ns` after `now`.
    pub fn set_stats_interval(&mut self, now: u64, interval_ns: u64) {
        self.stats_every = (interval_ns > 0).then_some((interval_ns, now + interval_ns));
    }

    /// The counters with the gauges brought up to date.
    pub fn current_stats(&self) -> ServerStats {
        let mut s = self.stats.clone();
        s.half_open = self.half_open as u64;
        s.established = (self.slots.len() - self.half_open) as u64;
        s
    }

    fn under_pressure(&self) -> bool {
        self.half_open >= self.cfg.retry_threshold.clamp(1, self.cfg.max_half_open.max(1))
    }

    fn pressure_timeout_ns(&self) -> u64 {
        self.cfg.pressure_handshake_timeout_ms * 1_000_000
    }

    /// Pressure with hysteresis: reclaiming one handshake must not end it, or
    /// the rest of a flood's handshakes would wait out the full timeout.
    fn pressured(&self, now: u64) -> bool {
        self.under_pressure() || self.pressure_seen_at.is_some_and(|t| now < t + 2 * self.pressure_timeout_ns())
    }

    fn drop_initial(&mut self, now: u64, reason: impl FnOnce(&mut InitialDrops)) {
        reason(&mut self.stats.initials_dropped);
        self.stats.dropped_datagrams += 1;
        self.log_drops(now, false);
    }

    /// One summary line per interval instead of one line per dropped Initial.
    fn log_drops(&mut self, now: u64, force: bool) {
        let total = self.stats.initials_dropped.total();
        if total == self.drops_logged || (!force && now < self.drops_logged_at + DROP_LOG_INTERVAL_NS) {
            return;
        }
        let d = &self.stats.initials_dropped;
        log::warn!(
            "dropped {} client Initials since the last report (totals: server_full {}, half_open_full {}, source_quota {}, bad_retry_token {}, queue_full {}, accept_failed {}); {} handshakes in progress, {} established",
            total - self.drops_logged, d.server_full, d.half_open_full, d.source_quota, d.bad_retry_token, d.queue_full, d.accept_failed,
            self.half_open, self.slots.len() - self.half_open
        );
        self.drops_logged = total;
        self.drops_logged_at = now;
    }

    fn push_stateless(&mut self, now: u64, pkt: Vec<u8>, to: SocketAddr) -> bool {
        if self.stateless.len() >= MAX_STATELESS_QUEUE {
            self.drop_initial(now, |d| d.queue_full += 1);
            return false;
        }
        self.stateless.push_back((pkt, to));
        true
    }

    fn check_token(&mut self, now: u64, remote: &SocketAddr, hd: &n::ngtcp2_pkt_hd) -> TokenCheck {
        if hd.tokenlen == 0 {
            return TokenCheck::None;
        }
        // SAFETY: token points to tokenlen bytes inside the datagram being handled.
        let token = unsafe { std::slice::from_raw_parts(hd.token, hd.tokenlen) };
        self.check_token_bytes(now, remote, hd, token)
    }

    fn check_token_bytes(&mut self, now: u64, remote: &SocketAddr, hd: &n::ngtcp2_pkt_hd, token: &[u8]) -> TokenCheck {
        let ra = RawAddr::from_std(remote);
        match token[0] as u32 {
            n::NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY2 => {
                // SAFETY: zeroed cid is valid output storage; all inputs valid for the call.
                let mut odcid: n::ngtcp2_cid = unsafe { std::mem::zeroed() };
                let rv = unsafe {
                    n::ngtcp2_crypto_verify_retry_token2(
                        &mut odcid, token.as_ptr(), token.len(), self.token_secret.as_ptr(), self.token_secret.len(), hd.version,
                        ra.as_ptr().cast(), ra.len as _, &hd.dcid, RETRY_TOKEN_LIFETIME_NS, now,
                    )
                };
                if rv == 0 {
                    self.stats.retry_tokens_ok += 1;
                    TokenCheck::Retry(odcid)
                } else {
                    self.stats.retry_tokens_bad += 1;
                    TokenCheck::BadRetry
                }
            }
            n::NGTCP2_CRYPTO_TOKEN_MAGIC_REGULAR => {
                // SAFETY: inputs valid for the call.
                let rv = unsafe {
                    n::ngtcp2_crypto_verify_regular_token(
                        token.as_ptr(), token.len(), self.token_secret.as_ptr(), self.token_secret.len(), ra.as_ptr().cast(),
                        ra.len as _, NEW_TOKEN_LIFETIME_NS, now,
                    )
                };
                if rv == 0 {
                    self.stats.new_tokens_ok += 1;
                    TokenCheck::NewToken
                } else {
                    // RFC 9000 8.1.3: proceed as if the client had no token.
                    self.stats.new_tokens_bad += 1;
                    TokenCheck::None
                }
            }
            _ => {
                self.stats.new_tokens_bad += 1;
                TokenCheck::None
            }
        }
    }

    /// A Retry token (ngtcp2's retry_token2 format): sealed with the token secret,
    /// bound to the client's address and port, the Retry's SCID (the client's next
    /// DCID) and the QUIC version; carries the original DCID and `now`.
    fn mint_retry_token(&self, remote: &SocketAddr, version: u32, retry_scid: &n::ngtcp2_cid, odcid: &n::ngtcp2_cid, now: u64) -> Option<Vec<u8>> {
        let ra = RawAddr::from_std(remote);
        let mut token = vec![0u8; MAX_RETRY_TOKENLEN];
        // SAFETY: token has the documented maximum size; inputs are valid for the call.
        let len = unsafe {
            n::ngtcp2_crypto_generate_retry_token2(
                token.as_mut_ptr(), self.token_secret.as_ptr(), self.token_secret.len(), version, ra.as_ptr().cast(), ra.len as _,
                retry_scid, odcid, now,
            )
        };
        (len > 0).then(|| {
            token.truncate(len as usize);
            token
        })
    }

    /// A NEW_TOKEN token (ngtcp2's regular token): sealed, bound to the client's IP address (not the port), carries `now`.
    fn mint_new_token(&self, remote: &SocketAddr, now: u64) -> Option<Vec<u8>> {
        let ra = RawAddr::from_std(remote);
        let mut token = vec![0u8; MAX_REGULAR_TOKENLEN];
        // SAFETY: token has the documented maximum size; inputs valid for the call.
        let len = unsafe {
            n::ngtcp2_crypto_generate_regular_token(token.as_mut_ptr(), self.token_secret.as_ptr(), self.token_secret.len(), ra.as_ptr().cast(), ra.len as _, now)
        };
        (len > 0).then(|| {
            token.truncate(len as usize);
            token
        })
    }

    fn send_retry(&mut self, now: u64, remote: SocketAddr, hd: &n::ngtcp2_pkt_hd) {
        let retry_scid = super::connection::cid(&random_cid(SCID_LEN));
        let Some(token) = self.mint_retry_token(&remote, hd.version, &retry_scid, &hd.dcid, now) else {
            self.drop_initial(now, |d| d.accept_failed += 1);
            return;
        };
        let mut out = vec![0u8; 256];
        // SAFETY: out is writable for its length; cids and token are valid.
        let len = unsafe {
            n::ngtcp2_crypto_write_retry(out.as_mut_ptr(), out.len(), hd.version, &hd.scid, &retry_scid, &hd.dcid, token.as_ptr(), token.len())
        };
        if len < 0 {
            self.drop_initial(now, |d| d.accept_failed += 1);
            return;
        }
        out.truncate(len as usize);
        if self.push_stateless(now, out, remote) {
            self.stats.retries_sent += 1;
        }
    }

    /// A stateless CONNECTION_CLOSE in an Initial packet (INVALID_TOKEN, CONNECTION_REFUSED).
    fn send_close(&mut self, now: u64, remote: SocketAddr, hd: &n::ngtcp2_pkt_hd, code: u64) {
        let mut out = vec![0u8; 256];
        // SAFETY: out is writable for its length; the cids are valid.
        let len = unsafe {
            n::ngtcp2_crypto_write_connection_close(out.as_mut_ptr(), out.len(), hd.version, &hd.scid, &hd.dcid, code, std::ptr::null(), 0)
        };
        if len > 0 {
            out.truncate(len as usize);
            self.push_stateless(now, out, remote);
        }
    }

    /// Frees a half-open slot for a validated newcomer: the oldest unvalidated one.
    fn evict_unvalidated(&mut self, now: u64) -> bool {
        let victim = self.half_open_order.iter().map(|&(_, k)| k).find(|k| {
            self.slots.get(k).is_some_and(|s| s.half_open.as_ref().is_some_and(|h| !h.validated))
        });
        match victim {
            Some(k) => {
                self.remove_slot(k, now);
                self.stats.half_open_evicted += 1;
                true
            }
            None => false,
        }
    }

    fn accept(&mut self, now: u64, local: SocketAddr, remote: SocketAddr, data: &[u8]) -> Option<u64> {
        // SAFETY: hd is output storage; data is valid for its length.
        let mut hd: n::ngtcp2_pkt_hd = unsafe { std::mem::zeroed() };
        if unsafe { n::ngtcp2_accept(&mut hd, data.as_ptr(), data.len()) } != 0 {
            // Not a valid client Initial (garbage, short, or a stray packet for a gone connection).
            self.stats.dropped_datagrams += 1;
            return None;
        }
        if self.slots.len() - self.half_open >= self.cfg.max_connections {
            self.send_close(now, remote, &hd, n::NGTCP2_CONNECTION_REFUSED as u64);
            self.drop_initial(now, |d| d.server_full += 1);
            return None;
        }
        let check = self.check_token(now, &remote, &hd);
        let token = match check {
            TokenCheck::BadRetry => {
                // RFC 9000 8.1.2: close with INVALID_TOKEN, without keeping state.
                self.send_close(now, remote, &hd, n::NGTCP2_INVALID_TOKEN as u64);
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
                self.send_retry(now, remote, &hd);
                return None;
            }
        } else if validated >= (self.cfg.max_half_open / 4).max(self.cfg.max_half_open_per_source) {
            self.drop_initial(now, |d| d.source_quota += 1);
            return None;
        }
        if self.half_open >= self.cfg.max_half_open {
            // Unvalidated newcomers were sent a Retry above unless the limits are set oddly.
            if token.is_none() || !self.evict_unvalidated(now) {
                self.drop_initial(now, |d| d.half_open_full += 1);
                return None;
            }
        }
        let validated_now = token.is_some();
        if self.under_pressure() {
            self.pressure_seen_at = Some(now);
        }
        let scid = random_cid(SCID_LEN);
        let conn = match Connection::accept(&self.tls, &hd, token, &scid, local, remote, &self.conn_cfg, self.static_secret, now) {
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
        self.slots.insert(key, Slot { conn, app: None, cids: vec![odcid, scid], half_open: Some(ho), timer: None, dirty: false, buffered: 0 });
        self.stats.accepted += 1;
        log::debug!("accepted a connection from {remote}");
        Some(key)
    }

    /// The handshake of `key` ended (completed or the slot went away).
    fn leave_half_open(&mut self, h: HalfOpen) {
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

    fn remove_slot(&mut self, key: u64, _now: u64) {
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
        if let Some(cb) = self.on_close.as_mut() {
            cb(&slot.conn);
        }
        drop(slot);
        self.reclaim.connection_closed(self.slots.len());
        self.stats.malloc_trims = self.reclaim.trims;
    }

    fn mark_dirty(&mut self, key: u64) {
        if let Some(slot) = self.slots.get_mut(&key) {
            if !slot.dirty {
                slot.dirty = true;
                self.dirty.push(key);
            }
        }
    }

    /// Puts the slot's current deadline in the heap if it changed.
    fn reschedule(&mut self, key: u64) {
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

    fn is_current(&self, t: u64, key: u64) -> bool {
        self.slots.get(&key).is_some_and(|s| s.timer == Some(t))
    }

    /// Drops stale entries from the top of the heap so `timeout` is exact.
    fn prune_timers(&mut self) {
        while let Some(&Reverse((t, k))) = self.timers.peek() {
            if self.is_current(t, k) {
                break;
            }
            self.timers.pop();
        }
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
        if slot.conn.is_closed() {
            self.remove_slot(key, now);
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

    /// After the handshake: a token the client can present next time to skip Retry.
    fn send_new_token(&mut self, key: u64, now: u64) {
        let Some(remote) = self.slots.get(&key).map(|s| s.conn.remote_addr()) else { return };
        let Some(token) = self.mint_new_token(&remote, now) else { return };
        if let Some(slot) = self.slots.get_mut(&key) {
            if slot.conn.submit_new_token(&token).is_ok() {
                self.stats.new_tokens_sent += 1;
            }
        }
    }

    /// Under pressure, half-open handshakes older than the short timeout go.
    fn reclaim_half_open(&mut self, now: u64) {
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
            self.remove_slot(key, now);
            self.stats.half_open_reclaimed += 1;
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

    fn version_negotiation(&mut self, now: u64, remote: SocketAddr, vc: &n::ngtcp2_version_cid) {
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
            if self.push_stateless(now, out, remote) {
                self.stats.version_negotiations += 1;
            }
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
                self.version_negotiation(now, remote, &vc);
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
        self.prune_timers();
    }

    fn timeout(&self) -> Option<u64> {
        let conn = self.timers.peek().map(|Reverse((t, _))| *t);
        let stats = self.stats_every.map(|(_, next)| next);
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
                // The entry is consumed: a new deadline is pushed by `process`.
                slot.timer = None;
                slot.conn.on_timeout(now);
            }
            self.process(key, now);
        }
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
        self.log_drops(now, false);
        self.prune_timers();
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
        let queue = std::mem::take(&mut self.dirty);
        let mut again = Vec::new();
        let mut result = true;
        for (i, &key) in queue.iter().enumerate() {
            if !result {
                // The socket is full: everything not visited stays dirty.
                again.extend_from_slice(&queue[i..]);
                break;
            }
            let Some(slot) = self.slots.get_mut(&key) else { continue };
            self.flush_visits += 1;
            let limit = slot.conn.burst_limit();
            let mut drained = false;
            for _ in 0..limit {
                match slot.conn.poll_transmit(now, &mut self.buf) {
                    Some((len, to)) => {
                        if !send(&self.buf[..len], to) {
                            self.blocked = Some((self.buf[..len].to_vec(), to));
                            result = false;
                            break;
                        }
                    }
                    None => {
                        drained = true;
                        break;
                    }
                }
            }
            slot.conn.burst_done(now);
            if drained {
                slot.dirty = false;
            } else {
                again.push(key);
            }
            // Writing can close a connection (an error found while packetising).
            let closed = slot.conn.is_closed();
            if closed {
                self.process(key, now);
            } else {
                self.reschedule(key);
            }
        }
        self.dirty.extend(again);
        self.prune_timers();
        result
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
        for &(key, _) in &codes {
            self.mark_dirty(key);
            self.reschedule(key);
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
            self.mark_dirty(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::{Identity, TicketKey};

    fn endpoint() -> ServerEndpoint {
        endpoint_with(ServerConfig::default())
    }

    fn endpoint_with(cfg: ServerConfig) -> ServerEndpoint {
        let id = Identity::generate().unwrap();
        let tls = TlsContext::server(&id, crate::app::SERVER_ALPNS, TicketKey::ephemeral()).unwrap();
        ServerEndpoint::new(tls, cfg, crate::app::server_factory())
    }

    fn header(dcid: &[u8]) -> n::ngtcp2_pkt_hd {
        // SAFETY: plain data; the fields used are set below.
        let mut hd: n::ngtcp2_pkt_hd = unsafe { std::mem::zeroed() };
        hd.version = super::super::QUIC_V1;
        hd.dcid = super::super::connection::cid(dcid);
        hd
    }

    const T0: u64 = 5_000_000_000;

    /// Real client Initials from our own client connections, fed in memory.
    fn client_initial(tls: &TlsContext, local: SocketAddr, server: SocketAddr, now: u64) -> Vec<u8> {
        let mut c = Connection::connect(tls, local, server, &["echo"], "localhost", None, &ConnectionConfig::default(), now).unwrap();
        let mut buf = vec![0u8; 1500];
        let (len, _) = c.poll_transmit(now, &mut buf).unwrap();
        buf.truncate(len);
        buf
    }

    #[test]
    fn flush_and_timers_cost_does_not_grow_with_connections() {
        // Retry off (by its threshold) so every Initial becomes a connection.
        let mut ep = endpoint_with(ServerConfig { retry_threshold: 1000, max_half_open: 1000, ..Default::default() });
        let ctls = TlsContext::client(&crate::tls::Verification::Insecure).unwrap();
        let server: SocketAddr = "127.0.0.1:4433".parse().unwrap();
        let n = 150u16;
        let mut now = T0;
        let mut first = Vec::new();
        for i in 0..n {
            // One source address each, so neither the per-source quota nor Retry interferes.
            let client = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, (i >> 8) as u8, i as u8)), 5000);
            let d = client_initial(&ctls, "0.0.0.0:5000".parse().unwrap(), server, now);
            ep.handle_datagram(now, server, client, &d);
            if i == 0 {
                first = d;
            }
            now += 1_000;
        }
        assert_eq!(ep.stats.accepted, n as u64);
        let mut sent = 0;
        assert!(ep.flush(now, &mut |_, _| {
            sent += 1;
            true
        }));
        assert!(sent >= n as usize);
        // The heap's earliest deadline equals the earliest of all connections.
        let brute = ep.slots.values().filter_map(|s| s.conn.timeout()).min();
        assert_eq!(ep.timers.peek().map(|r| r.0 .0), brute);
        assert!(ep.timeout() <= brute);
        // One more datagram for one connection: the next flush visits that one only.
        let before = ep.flush_visits;
        let c0 = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 0)), 5000);
        ep.handle_datagram(now, server, c0, &first);
        ep.flush(now, &mut |_, _| true);
        assert_eq!(ep.flush_visits - before, 1, "flush must visit only connections with something to send");
        // Nothing else due: a flush with no input visits nobody.
        let before = ep.flush_visits;
        ep.flush(now, &mut |_, _| true);
        assert_eq!(ep.flush_visits, before);
        // Timers fire only for due connections; after their PTOs fire, the heap still matches.
        let t = ep.timeout().unwrap();
        ep.on_timeout(t);
        let brute = ep.slots.values().filter_map(|s| s.conn.timeout()).min();
        assert_eq!(ep.timers.peek().map(|r| r.0 .0), brute);
        assert!(ep.timers.len() <= 2 * ep.slots.len() + 64);
    }

    #[test]
    fn sources_are_ipv4_addresses_and_ipv6_slash_64s() {
        let s = |a: &str| Source::of(&a.parse().unwrap());
        assert_eq!(s("192.0.2.1:1"), s("192.0.2.1:2"));
        assert_ne!(s("192.0.2.1:1"), s("192.0.2.2:1"));
        assert_eq!(s("[::ffff:192.0.2.1]:1"), s("192.0.2.1:9"));
        assert_ne!(s("[::ffff:192.0.2.1]:1"), s("[::ffff:192.0.2.2]:1"));
        assert_eq!(s("[2001:db8:1:2::1]:1"), s("[2001:db8:1:2:ffff::9]:1"));
        assert_ne!(s("[2001:db8:1:2::1]:1"), s("[2001:db8:1:3::1]:1"));
    }

    #[test]
    fn retry_token_is_bound_to_address_dcid_and_lifetime() {
        let mut ep = endpoint();
        let client: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let odcid = super::super::connection::cid(&[7u8; 8]);
        let retry_scid = [9u8; SCID_LEN];
        let hd = header(&retry_scid);
        let tok = ep.mint_retry_token(&client, hd.version, &hd.dcid, &odcid, T0).unwrap();
        assert_eq!(tok[0] as u32, n::NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY2);
        match ep.check_token_bytes(T0 + RETRY_TOKEN_LIFETIME_NS - 1, &client, &hd, &tok) {
            TokenCheck::Retry(c) => assert_eq!(c.data[..c.datalen], [7u8; 8]),
            _ => panic!("a fresh Retry token from the same address must verify"),
        }
        let expired = ep.check_token_bytes(T0 + RETRY_TOKEN_LIFETIME_NS + 1, &client, &hd, &tok);
        assert!(matches!(expired, TokenCheck::BadRetry), "an expired Retry token must not verify");
        let other_port: SocketAddr = "127.0.0.1:5001".parse().unwrap();
        assert!(matches!(ep.check_token_bytes(T0, &other_port, &hd, &tok), TokenCheck::BadRetry));
        let other_dcid = header(&[8u8; SCID_LEN]);
        assert!(matches!(ep.check_token_bytes(T0, &client, &other_dcid, &tok), TokenCheck::BadRetry));
        let mut forged = tok.clone();
        forged[10] ^= 1;
        assert!(matches!(ep.check_token_bytes(T0, &client, &hd, &forged), TokenCheck::BadRetry));
        // Another server process (another secret) cannot read it.
        let mut other = endpoint();
        assert!(matches!(other.check_token_bytes(T0, &client, &hd, &tok), TokenCheck::BadRetry));
        assert_eq!(ep.stats.retry_tokens_ok, 1);
        assert_eq!(ep.stats.retry_tokens_bad, 4);
    }

    #[test]
    fn new_token_is_bound_to_ip_not_port_and_expires() {
        let mut ep = endpoint();
        let client: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let hd = header(&[1u8; 8]);
        let tok = ep.mint_new_token(&client, T0).unwrap();
        let later: SocketAddr = "127.0.0.1:6000".parse().unwrap();
        assert!(matches!(ep.check_token_bytes(T0 + NEW_TOKEN_LIFETIME_NS - 1, &later, &hd, &tok), TokenCheck::NewToken));
        let other_ip: SocketAddr = "127.0.0.2:5000".parse().unwrap();
        assert!(matches!(ep.check_token_bytes(T0, &other_ip, &hd, &tok), TokenCheck::None));
        assert!(matches!(ep.check_token_bytes(T0 + NEW_TOKEN_LIFETIME_NS + 1, &client, &hd, &tok), TokenCheck::None));
        assert!(matches!(ep.check_token_bytes(T0, &client, &hd, b"not a token"), TokenCheck::None));
        assert_eq!((ep.stats.new_tokens_ok, ep.stats.new_tokens_bad), (1, 3));
    }
}

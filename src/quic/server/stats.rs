//! Counters a test or operator can read, and the rate-limited log of dropped Initials.

use super::{ServerEndpoint, DROP_LOG_INTERVAL_NS};
use crate::quic::connection::PathStats;

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
    /// Over the stateless answer budget (docs/LIMITS.md, "Stateless answer budget"): no Retry or Version Negotiation sent.
    pub stateless_budget: u64,
    /// ngtcp2 or TLS refused to set the connection up.
    pub accept_failed: u64,
}

impl InitialDrops {
    pub(super) fn total(&self) -> u64 {
        self.server_full + self.half_open_full + self.source_quota + self.bad_retry_token + self.queue_full + self.stateless_budget + self.accept_failed
    }
}

/// Every datagram the endpoint read, by what became of it: the classes add up to
/// `datagrams` (docs/LIMITS.md, "Packet counters"). A flood benchmark reads
/// them to see what the server handled, not what a sender offered.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PacketCounters {
    /// Datagrams handed to the endpoint, and their bytes.
    pub datagrams: u64,
    pub bytes: u64,
    /// Routed to a connection by its destination connection ID.
    pub to_connection: u64,
    /// A client Initial that became a new connection.
    pub new_connection: u64,
    /// A client Initial answered with a stateless Retry.
    pub retry: u64,
    /// A long header of a version we do not speak, answered with Version Negotiation.
    pub version_negotiation: u64,
    /// A client Initial refused by a limit (`initials_dropped` has the reason), the
    /// stateless answer queue included.
    pub refused: u64,
    /// A well-formed header for no connection that is not a client Initial
    /// (a stray short header, a Handshake packet, a truncated Initial).
    pub unknown_cid: u64,
    /// Not a QUIC packet: empty, no decodable header, or an unknown version in a datagram too short for an Initial.
    pub garbage: u64,
}

/// Counters a test or operator can read (`--stats-interval` prints them).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ServerStats {
    /// Every datagram read, classified.
    pub packets: PacketCounters,
    pub accepted: u64,
    pub closed: u64,
    pub dropped_datagrams: u64,
    pub version_negotiations: u64,
    /// Gauges: connections now established / handshakes now in progress.
    pub established: u64,
    pub half_open: u64,
    pub handshakes_completed: u64,
    pub retries_sent: u64,
    /// Stateless answers (Retry, Version Negotiation, refusals) not sent: over the budget.
    pub stateless_withheld: u64,
    /// Stateless Resets (RFC 9000 10.3) sent for short-header packets of no connection.
    pub stateless_resets_sent: u64,
    /// Stateless Resets not sent: over their own budget.
    pub stateless_resets_withheld: u64,
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

/// One live connection in a monitoring sample (`--connections-interval`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct ConnectionSample {
    pub peer: String,
    pub alpn: Option<String>,
    pub established: bool,
    pub resumed: bool,
    /// The negotiated TLS cipher suite (IANA name), once chosen.
    pub cipher_suite: Option<String>,
    /// Since its first Initial arrived.
    pub age_ms: u64,
    #[serde(flatten)]
    pub path: PathStats,
}

impl ServerEndpoint {
    /// Calls `on_connections` every `interval_ns`, starting `interval_ns` after `now`.
    pub fn set_connections_interval(&mut self, now: u64, interval_ns: u64) {
        self.connections_every = (interval_ns > 0).then_some((interval_ns, now + interval_ns));
    }

    /// Every live connection (handshaking or established) and the running path
    /// totals, closed connections included.
    pub fn connections_sample(&self, now: u64) -> (Vec<ConnectionSample>, PathStats) {
        let mut totals = self.closed_path;
        let list = self.slots.values().map(|s| {
            let path = s.conn.path_stats();
            totals.add(&path);
            ConnectionSample {
                peer: s.conn.remote_addr().to_string(),
                alpn: s.conn.alpn().map(|a| String::from_utf8_lossy(&a).into_owned()),
                established: s.conn.handshake_completed(),
                resumed: s.conn.resumed(),
                cipher_suite: s.conn.cipher_suite(),
                age_ms: now.saturating_sub(s.since) / 1_000_000,
                path,
            }
        }).collect();
        (list, totals)
    }

    pub(super) fn sample_connections(&mut self, now: u64) {
        let Some((every, next)) = self.connections_every else { return };
        if now < next {
            return;
        }
        self.connections_every = Some((every, now + every));
        if self.on_connections.is_some() {
            let (list, totals) = self.connections_sample(now);
            if let Some(cb) = self.on_connections.as_mut() {
                cb(&list, &totals);
            }
        }
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

    pub(super) fn drop_initial(&mut self, now: u64, reason: impl FnOnce(&mut InitialDrops)) {
        reason(&mut self.stats.initials_dropped);
        self.stats.dropped_datagrams += 1;
        self.log_drops(now, false);
    }

    /// One summary line per interval instead of one line per dropped Initial.
    pub(super) fn log_drops(&mut self, now: u64, force: bool) {
        let total = self.stats.initials_dropped.total();
        if total == self.drops_logged || (!force && now < self.drops_logged_at + DROP_LOG_INTERVAL_NS) {
            return;
        }
        let d = &self.stats.initials_dropped;
        log::warn!(
            "dropped {} client Initials since the last report (totals: server_full {}, half_open_full {}, source_quota {}, bad_retry_token {}, queue_full {}, stateless_budget {}, accept_failed {}); {} handshakes in progress, {} established",
            total - self.drops_logged, d.server_full, d.half_open_full, d.source_quota, d.bad_retry_token, d.queue_full, d.stateless_budget, d.accept_failed,
            self.half_open, self.slots.len() - self.half_open
        );
        self.drops_logged = total;
        self.drops_logged_at = now;
    }
}

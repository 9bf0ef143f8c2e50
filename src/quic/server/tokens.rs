//! Stateless answers and address validation: Retry and NEW_TOKEN tokens
//! (ngtcp2's AEAD-sealed formats), Version Negotiation, stateless
//! CONNECTION_CLOSE, and the queue those packets wait in for the socket.

use super::{ServerEndpoint, SCID_LEN};
use crate::sockaddr::RawAddr;
use crate::quic::connection::random_cid;
use ngtcp2_sys as n;
use std::collections::HashMap;
use std::net::SocketAddr;

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

/// Stateless answers to one client address and port: at most this many a second, ...
pub(super) const STATELESS_PEER_RATE: u64 = 100;
/// ... in bursts of at most this many (docs/LIMITS.md, "Stateless answer budget").
pub(super) const STATELESS_PEER_BURST: u64 = 32;
/// Stateless answers in all: at most this many a second, ...
pub(super) const STATELESS_RATE: u64 = 5000;
/// ... in bursts of at most this many.
pub(super) const STATELESS_BURST: u64 = 1000;
/// Stateless Resets to one client address and port: at most this many a second
/// (one is enough to end a connection), in bursts of at most this many ...
pub(super) const RESET_PEER_RATE: u64 = 10;
pub(super) const RESET_PEER_BURST: u64 = 4;
/// ... and in all (their own budget: a flood of stray short headers cannot use up
/// the Retries due to new clients, nor take more than a sliver of the IWA's send
/// path, about 7,000 datagrams a second; quinn sends at most 50 a second).
pub(super) const RESET_RATE: u64 = 100;
pub(super) const RESET_BURST: u64 = 50;
/// Peers with budget in use that are tracked; when full (and nothing can be pruned),
/// answers to other peers are bounded by the total only.
const STATELESS_PEERS_TRACKED: usize = 4096;
/// Random bytes in a Stateless Reset answering a packet longer than 43 bytes: the
/// reset is then 42 bytes, what a 1-RTT packet with a 20-byte connection ID and
/// the smallest payload would be (as ngtcp2's example server sends).
const RESET_RAND_MAX: usize = n::NGTCP2_MAX_CIDLEN as usize + 22 - n::NGTCP2_STATELESS_RESET_TOKENLEN as usize;

/// The stateless answer budget (Retry, Version Negotiation, refusals): a token
/// bucket in all and one per client address and port, kept as GCRA theoretical
/// arrival times (an answer fits while its bucket's time is at most one burst
/// ahead of now). Beyond it an answer is not even built, so a flood of Initials
/// cannot crowd the send path (in the IWA, one datagram in flight per socket)
/// ahead of the packets of established connections, and a flooding peer cannot
/// use up the answers due to a newcomer on another address or port.
pub(super) struct StatelessBudget {
    all: u64,
    peers: HashMap<SocketAddr, u64>,
    pruned_at: u64,
    /// (rate per second, burst): in all, then per peer.
    limits: [(u64, u64); 2],
}

impl Default for StatelessBudget {
    /// The budget of Retry, Version Negotiation and refusals.
    fn default() -> Self {
        Self::with_limits([(STATELESS_RATE, STATELESS_BURST), (STATELESS_PEER_RATE, STATELESS_PEER_BURST)])
    }
}

fn fits(tat: u64, now: u64, rate: u64, burst: u64) -> bool {
    tat.saturating_sub(now) <= (burst - 1) * (1_000_000_000 / rate)
}

impl StatelessBudget {
    fn with_limits(limits: [(u64, u64); 2]) -> Self {
        StatelessBudget { all: 0, peers: HashMap::new(), pruned_at: 0, limits }
    }

    /// The budget of Stateless Resets.
    pub(super) fn resets() -> Self {
        Self::with_limits([(RESET_RATE, RESET_BURST), (RESET_PEER_RATE, RESET_PEER_BURST)])
    }

    /// Takes one answer to `to` from the budget; false if none is left.
    pub(super) fn take(&mut self, now: u64, to: &SocketAddr) -> bool {
        let peer = self.peers.get(to).copied();
        let [(rate, burst), (peer_rate, peer_burst)] = self.limits;
        if !fits(self.all, now, rate, burst) || !fits(peer.unwrap_or(0), now, peer_rate, peer_burst) {
            return false;
        }
        if peer.is_none() && self.peers.len() >= STATELESS_PEERS_TRACKED && now >= self.pruned_at + 100_000_000 {
            // Peers whose bucket is full again are as good as new: forget them (at most every 100 ms).
            self.pruned_at = now;
            self.peers.retain(|_, tat| *tat > now);
        }
        if peer.is_some() || self.peers.len() < STATELESS_PEERS_TRACKED {
            self.peers.insert(*to, peer.unwrap_or(0).max(now) + 1_000_000_000 / peer_rate);
        }
        self.all = self.all.max(now) + 1_000_000_000 / rate;
        true
    }
}

/// How an Initial's token turned out.
pub(super) enum TokenCheck {
    None,
    Retry(n::ngtcp2_cid),
    NewToken,
    BadRetry,
}

impl ServerEndpoint {
    /// Queues a stateless packet to `to`, sent from `from` (the local address of the
    /// datagram it answers, so that a server on a wildcard address answers from the
    /// address it was reached at).
    pub(super) fn push_stateless(&mut self, now: u64, pkt: Vec<u8>, to: SocketAddr, from: SocketAddr) -> bool {
        if self.stateless.len() >= MAX_STATELESS_QUEUE {
            self.drop_initial(now, |d| d.queue_full += 1);
            return false;
        }
        self.stateless.push_back((pkt, to, from));
        true
    }

    pub(super) fn check_token(&mut self, now: u64, remote: &SocketAddr, hd: &n::ngtcp2_pkt_hd) -> TokenCheck {
        if hd.tokenlen == 0 {
            return TokenCheck::None;
        }
        // SAFETY: token points to tokenlen bytes inside the datagram being handled.
        let token = unsafe { std::slice::from_raw_parts(hd.token, hd.tokenlen) };
        self.check_token_bytes(now, remote, hd, token)
    }

    pub(super) fn check_token_bytes(&mut self, now: u64, remote: &SocketAddr, hd: &n::ngtcp2_pkt_hd, token: &[u8]) -> TokenCheck {
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
    pub(super) fn mint_retry_token(&self, remote: &SocketAddr, version: u32, retry_scid: &n::ngtcp2_cid, odcid: &n::ngtcp2_cid, now: u64) -> Option<Vec<u8>> {
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
    pub(super) fn mint_new_token(&self, remote: &SocketAddr, now: u64) -> Option<Vec<u8>> {
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

    /// One stateless answer to `to` from the budget; counts it as withheld if none is left.
    fn stateless_budget(&mut self, now: u64, to: &SocketAddr) -> bool {
        let ok = self.stateless_budget.take(now, to);
        if !ok {
            self.stats.stateless_withheld += 1;
        }
        ok
    }

    pub(super) fn send_retry(&mut self, now: u64, local: SocketAddr, remote: SocketAddr, hd: &n::ngtcp2_pkt_hd) {
        if !self.stateless_budget(now, &remote) {
            self.drop_initial(now, |d| d.stateless_budget += 1);
            return;
        }
        let retry_scid = crate::quic::connection::cid(&random_cid(SCID_LEN));
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
        if self.push_stateless(now, out, remote, local) {
            self.stats.retries_sent += 1;
        }
    }

    /// RFC 9000 10.3: a Stateless Reset answering a short-header packet whose
    /// connection ID routes to no connection (one we dropped, or a restarted
    /// server's predecessor's, when the ticket key was kept). Only for a packet
    /// that could be 1-RTT with one of our connection IDs, and always shorter
    /// than it, so two endpoints answering each other's resets cannot loop.
    pub(super) fn send_stateless_reset(&mut self, now: u64, local: SocketAddr, remote: SocketAddr, dcid: &[u8], pktlen: usize) {
        const TOKENLEN: usize = n::NGTCP2_STATELESS_RESET_TOKENLEN as usize;
        if dcid.len() != SCID_LEN || pktlen < SCID_LEN + 22 {
            return;
        }
        if self.stateless.len() >= MAX_STATELESS_QUEUE || !self.reset_budget.take(now, &remote) {
            self.stats.stateless_resets_withheld += 1;
            return;
        }
        let Some(data) = crate::quic::connection::reset_token(&self.static_secret, &crate::quic::connection::cid(dcid)) else {
            return;
        };
        let token = n::ngtcp2_stateless_reset_token { data };
        // RFC 9000 10.3: one byte shorter than a trigger of 43 bytes or less.
        let randlen = if pktlen <= 43 { pktlen - TOKENLEN - 1 } else { RESET_RAND_MAX };
        let mut rand = [0u8; RESET_RAND_MAX];
        crate::tls::random_bytes(&mut rand[..randlen]);
        let mut out = vec![0u8; randlen + TOKENLEN];
        // SAFETY: out is writable for its length; token and rand are valid.
        let len = unsafe { n::ngtcp2_pkt_write_stateless_reset2(out.as_mut_ptr(), out.len(), &token, rand.as_ptr(), randlen) };
        if len <= 0 {
            return;
        }
        out.truncate(len as usize);
        self.stateless.push_back((out, remote, local));
        self.stats.stateless_resets_sent += 1;
    }

    /// A stateless CONNECTION_CLOSE in an Initial packet (INVALID_TOKEN, CONNECTION_REFUSED).
    /// The Initial is counted as dropped by the caller (for its reason), withheld or not.
    pub(super) fn send_close(&mut self, now: u64, local: SocketAddr, remote: SocketAddr, hd: &n::ngtcp2_pkt_hd, code: u64) {
        if !self.stateless_budget(now, &remote) {
            return;
        }
        let mut out = vec![0u8; 256];
        // SAFETY: out is writable for its length; the cids are valid.
        let len = unsafe {
            n::ngtcp2_crypto_write_connection_close(out.as_mut_ptr(), out.len(), hd.version, &hd.scid, &hd.dcid, code, std::ptr::null(), 0)
        };
        if len > 0 {
            out.truncate(len as usize);
            self.push_stateless(now, out, remote, local);
        }
    }

    /// After the handshake: a token the client can present next time to skip Retry.
    pub(super) fn send_new_token(&mut self, key: u64, now: u64) {
        let Some(remote) = self.slots.get(&key).map(|s| s.conn.remote_addr()) else { return };
        let Some(token) = self.mint_new_token(&remote, now) else { return };
        if let Some(slot) = self.slots.get_mut(&key) {
            if slot.conn.submit_new_token(&token).is_ok() {
                self.stats.new_tokens_sent += 1;
            }
        }
    }

    pub(super) fn version_negotiation(&mut self, now: u64, local: SocketAddr, remote: SocketAddr, vc: &n::ngtcp2_version_cid) {
        if !self.stateless_budget(now, &remote) {
            self.drop_initial(now, |d| d.stateless_budget += 1);
            return;
        }
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
            if self.push_stateless(now, out, remote, local) {
                self.stats.version_negotiations += 1;
            }
        }
    }
}

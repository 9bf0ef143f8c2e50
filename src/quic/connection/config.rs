//! ngtcp2 settings and our transport parameters from a [`ConnectionConfig`],
//! and connection ID helpers.

use crate::quic::ConnectionConfig;
use ngtcp2_sys as n;
use std::net::SocketAddr;
use std::os::raw::c_int;

pub(super) fn settings(cfg: &ConnectionConfig, now: u64) -> n::ngtcp2_settings {
    // SAFETY: ngtcp2_settings_default fully initialises the struct.
    let mut s: n::ngtcp2_settings = unsafe { std::mem::zeroed() };
    unsafe { n::ngtcp2_settings_default_versioned(n::NGTCP2_SETTINGS_VERSION as c_int, &mut s) };
    s.initial_ts = now;
    s.max_window = cfg.max_window;
    s.max_stream_window = cfg.max_stream_window;
    s.handshake_timeout = cfg.handshake_timeout_ms * 1_000_000;
    s.cc_algo = n::NGTCP2_CC_ALGO_CUBIC;
    // RFC 9368: our versions, most preferred first, also sent as available_versions (ngtcp2 copies both).
    let versions = cfg.versions.list();
    s.preferred_versions = versions.as_ptr();
    s.preferred_versionslen = versions.len();
    s.available_versions = versions.as_ptr();
    s.available_versionslen = versions.len();
    if cfg.ack_thresh > 0 {
        s.ack_thresh = cfg.ack_thresh;
    }
    if cfg.max_udp_payload > 0 {
        let max = cfg.max_udp_payload.clamp(n::NGTCP2_MAX_UDP_PAYLOAD_SIZE as usize, MAX_UDP_PAYLOAD);
        s.max_tx_udp_payload_size = max;
        // ngtcp2 keeps the pointer (not a copy): a static list, largest first,
        // from the first entry not above `max` (each must be > 1200).
        let from = PMTUD_PROBES.iter().position(|&p| (p as usize) <= max).unwrap_or(PMTUD_PROBES.len());
        let probes = &PMTUD_PROBES[from..];
        if !probes.is_empty() {
            s.pmtud_probes = probes.as_ptr();
            s.pmtud_probeslen = probes.len();
        }
    }
    if log::log_enabled!(log::Level::Trace) {
        s.log_write = Some(super::callbacks::log_write_cb);
    }
    s
}

/// Upper bound of [`ConnectionConfig::max_udp_payload`]: the IPv4 payload of a
/// 1500-byte MTU. The hosts write packets into 1500-byte buffers (src/io), and
/// ngtcp2 stops probing at a probe larger than the buffer.
pub(crate) const MAX_UDP_PAYLOAD: usize = 1472;

/// Path MTU Discovery probe sizes for [`ConnectionConfig::max_udp_payload`],
/// largest first: 1472 (IPv4, 1500-byte MTU), 1452 (IPv6), then ngtcp2's own.
static PMTUD_PROBES: [u16; 6] = [1472, 1452, 1444, 1406, 1342, 1232];

/// Connection IDs we keep from the peer (active_connection_id_limit; RFC 9000 18.2, default 2):
/// with 2 the peer has one spare, so a client migrating twice in a row (createQuic's
/// `conn.migrate()`) waited for NEW_CONNECTION_ID and failed with ERR_CONN_ID_BLOCKED.
pub(crate) const ACTIVE_CID_LIMIT: u64 = 8;

pub(super) fn transport_params(cfg: &ConnectionConfig) -> n::ngtcp2_transport_params {
    // SAFETY: ngtcp2_transport_params_default fully initialises the struct.
    let mut p: n::ngtcp2_transport_params = unsafe { std::mem::zeroed() };
    unsafe { n::ngtcp2_transport_params_default_versioned(n::NGTCP2_TRANSPORT_PARAMS_VERSION as c_int, &mut p) };
    p.initial_max_data = cfg.initial_max_data;
    p.initial_max_stream_data_bidi_local = cfg.initial_max_stream_data;
    p.initial_max_stream_data_bidi_remote = cfg.initial_max_stream_data;
    p.initial_max_stream_data_uni = cfg.initial_max_stream_data;
    p.initial_max_streams_bidi = cfg.max_streams_bidi;
    p.initial_max_streams_uni = cfg.max_streams_uni;
    p.max_idle_timeout = cfg.idle_timeout_ms * 1_000_000;
    p.max_datagram_frame_size = cfg.max_datagram_frame_size;
    p.active_connection_id_limit = ACTIVE_CID_LIMIT;
    p
}

pub(crate) fn cid(bytes: &[u8]) -> n::ngtcp2_cid {
    // SAFETY: ngtcp2_cid_init copies at most NGTCP2_MAX_CIDLEN bytes.
    let mut c: n::ngtcp2_cid = unsafe { std::mem::zeroed() };
    unsafe { n::ngtcp2_cid_init(&mut c, bytes.as_ptr(), bytes.len()) };
    c
}

/// The stateless reset token (RFC 9000 10.3) of connection ID `id` under `secret`
/// (HKDF, ngtcp2's derivation): what NEW_CONNECTION_ID, the transport parameter and
/// a reset itself carry. None only if the crypto backend fails.
pub(crate) fn reset_token(secret: &[u8; 32], id: &n::ngtcp2_cid) -> Option<[u8; n::NGTCP2_STATELESS_RESET_TOKENLEN as usize]> {
    let mut token = [0u8; n::NGTCP2_STATELESS_RESET_TOKENLEN as usize];
    // SAFETY: token has the token's length; secret and id are valid for the call.
    let rv = unsafe { n::ngtcp2_crypto_generate_stateless_reset_token(token.as_mut_ptr(), secret.as_ptr(), secret.len(), id) };
    (rv == 0).then_some(token)
}

/// Server: offers `addrs` (at most one per family; later ones of a family are ignored)
/// as the `preferred_address` transport parameter, with a fresh connection ID of
/// `cid_len` bytes and its stateless reset token. Returns that ID, which the endpoint
/// must route to the connection (it never passes through NEW_CONNECTION_ID).
pub(super) fn preferred_address(p: &mut n::ngtcp2_transport_params, addrs: &[SocketAddr], cid_len: usize, secret: &[u8; 32]) -> Option<Vec<u8>> {
    if addrs.is_empty() {
        return None;
    }
    let pa = &mut p.preferred_addr;
    for a in addrs {
        let raw = crate::sockaddr::RawAddr::from_std(a);
        // SAFETY: RawAddr holds a sockaddr_in / sockaddr_in6 of `raw.len` bytes, the
        // layout of ngtcp2_sockaddr_in / _in6 (the platform's own structs).
        unsafe {
            match a {
                SocketAddr::V4(_) if pa.ipv4_present == 0 => {
                    std::ptr::copy_nonoverlapping(raw.as_ptr() as *const u8, &mut pa.ipv4 as *mut _ as *mut u8, std::mem::size_of_val(&pa.ipv4));
                    pa.ipv4_present = 1;
                }
                SocketAddr::V6(_) if pa.ipv6_present == 0 => {
                    std::ptr::copy_nonoverlapping(raw.as_ptr() as *const u8, &mut pa.ipv6 as *mut _ as *mut u8, std::mem::size_of_val(&pa.ipv6));
                    pa.ipv6_present = 1;
                }
                _ => {}
            }
        }
    }
    let id = random_cid(cid_len);
    pa.cid = cid(&id);
    let t = reset_token(secret, &pa.cid)?;
    pa.stateless_reset_token = t;
    p.preferred_addr_present = 1;
    Some(id)
}

pub(crate) fn random_cid(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    crate::tls::random_bytes(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_leave_ngtcp2_settings_alone() {
        let s = settings(&ConnectionConfig::default(), 0);
        assert_eq!(s.ack_thresh, 2);
        assert_eq!(s.max_tx_udp_payload_size, 1452);
        assert!(s.pmtud_probes.is_null());
    }

    #[test]
    fn ack_thresh_and_max_udp_payload_reach_ngtcp2() {
        let cfg = ConnectionConfig { ack_thresh: 8, max_udp_payload: 1472, ..Default::default() };
        let s = settings(&cfg, 0);
        assert_eq!(s.ack_thresh, 8);
        assert_eq!(s.max_tx_udp_payload_size, 1472);
        // SAFETY: the probes point into the static list.
        let probes = unsafe { std::slice::from_raw_parts(s.pmtud_probes, s.pmtud_probeslen) };
        assert_eq!(probes, &[1472, 1452, 1444, 1406, 1342, 1232]);
        let s = settings(&ConnectionConfig { max_udp_payload: 1450, ..Default::default() }, 0);
        assert_eq!(s.max_tx_udp_payload_size, 1450);
        let probes = unsafe { std::slice::from_raw_parts(s.pmtud_probes, s.pmtud_probeslen) };
        assert_eq!(probes[0], 1444, "no probe above the maximum");
        let s = settings(&ConnectionConfig { max_udp_payload: 9000, ..Default::default() }, 0);
        assert_eq!(s.max_tx_udp_payload_size, MAX_UDP_PAYLOAD, "clamped to the host buffers");
    }
}

//! ngtcp2 settings and our transport parameters from a [`ConnectionConfig`],
//! and connection ID helpers.

use crate::quic::ConnectionConfig;
use ngtcp2_sys as n;
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
    if log::log_enabled!(log::Level::Trace) {
        s.log_write = Some(super::callbacks::log_write_cb);
    }
    s
}

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
    p
}

pub(crate) fn cid(bytes: &[u8]) -> n::ngtcp2_cid {
    // SAFETY: ngtcp2_cid_init copies at most NGTCP2_MAX_CIDLEN bytes.
    let mut c: n::ngtcp2_cid = unsafe { std::mem::zeroed() };
    unsafe { n::ngtcp2_cid_init(&mut c, bytes.as_ptr(), bytes.len()) };
    c
}

pub(crate) fn random_cid(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    crate::tls::random_bytes(&mut v);
    v
}

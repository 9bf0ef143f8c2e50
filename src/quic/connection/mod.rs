//! One QUIC connection over ngtcp2, sans IO: packets in ([`Connection::recv`]),
//! packets out ([`Connection::poll_transmit`]), an explicit timer
//! ([`Connection::timeout`] / [`Connection::on_timeout`]) and application events
//! ([`Connection::poll_event`]). No sockets, no clocks: the caller passes `now`.
//!
//! Memory rules:
//! - `Inner` is heap-allocated and never moves; ngtcp2 and wolfSSL hold its address
//!   (ngtcp2 `user_data`, wolfSSL app data through `ngtcp2_crypto_conn_ref`).
//! - Outgoing stream bytes are kept in immutable chunks until ngtcp2 reports them
//!   acknowledged, because ngtcp2 retransmits from the caller's memory.
//! - References to `Inner` are never held across a call into ngtcp2, since ngtcp2
//!   calls back into `Inner` from inside those calls.
//!
//! This file only coordinates: it holds the connection's state, creates it,
//! feeds input and answers questions about it. The parts live beside it:
//! [`callbacks`] (what ngtcp2 calls), [`config`] (settings and transport
//! parameters), [`send_buffer`] (stream output), [`datagrams`], [`transmit`]
//! (the packet scheduler), [`close`] (the close state machine and timers),
//! [`credit`] (flow-control credit and buffer accounting) and [`session`]
//! (resumption state and tokens).

mod callbacks;
mod close;
mod config;
mod credit;
mod datagrams;
mod qlog;
mod send_buffer;
mod session;
mod transmit;

pub use close::CloseReason;
pub use qlog::{parse_dir as parse_qlog_dir, parse_max_bytes as parse_qlog_max_bytes, DEFAULT_QLOG_MAX_BYTES};

/// See [`Connection::path_stats`]. Bytes are UDP payload bytes of QUIC packets.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct PathStats {
    pub rtt_us: u64,
    pub packets_in: u64,
    pub packets_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub packets_lost: u64,
}

impl PathStats {
    /// Adds `other`'s counters (not the RTT) to these.
    pub fn add(&mut self, other: &PathStats) {
        self.packets_in += other.packets_in;
        self.packets_out += other.packets_out;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.packets_lost += other.packets_lost;
    }
}
pub(crate) use config::{cid, random_cid, reset_token};

use super::{ConnectionConfig, MigrateError, NgPath};
use crate::error::Result;
use crate::tls::{EarlyData, SavedSession, Tls, TlsContext};
use close::State;
use credit::CreditGate;
use ngtcp2_sys as n;
use send_buffer::SendStream;
use std::collections::{HashMap, VecDeque};
use std::ffi::c_void;
use std::net::SocketAddr;
use std::os::raw::c_int;

/// What happened on a connection, for the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The TLS handshake completed (1-RTT keys are available).
    HandshakeCompleted,
    /// Bytes arrived on a stream (`fin`: the peer finished the stream).
    StreamData { id: i64, data: Vec<u8>, fin: bool },
    /// The peer acknowledged `bytes` more bytes we sent on stream `id`.
    StreamAcked { id: i64, bytes: u64 },
    /// The peer reset its sending side of a stream.
    StreamReset { id: i64, code: u64 },
    /// The peer asked us to stop sending on a stream.
    StopSending { id: i64, code: u64 },
    /// A stream is fully closed in both directions.
    StreamClosed { id: i64, code: u64 },
    /// The peer raised how many bidirectional streams we may open.
    BidiStreamsAvailable,
    /// A QUIC DATAGRAM frame (RFC 9221) arrived.
    Datagram(Vec<u8>),
    /// Client: the server refused 0-RTT. Streams opened before the handshake are
    /// gone; the application must open them again and resend.
    EarlyDataRejected,
}

pub(crate) struct Inner {
    conn: *mut n::ngtcp2_conn,
    conn_ref: n::ngtcp2_crypto_conn_ref,
    is_server: bool,
    events: VecDeque<Event>,
    streams: HashMap<i64, SendStream>,
    /// Streams with bytes or FIN waiting to be written, in arrival order.
    ready: VecDeque<i64>,
    datagrams: VecDeque<Vec<u8>>,
    /// Connection IDs issued / retired since the endpoint last looked.
    new_cids: Vec<Vec<u8>>,
    retired_cids: Vec<Vec<u8>>,
    static_secret: [u8; 32],
    handshake_completed: bool,
    /// RFC 9001 4.1.2: a client's handshake is confirmed by HANDSHAKE_DONE (a migration needs it).
    handshake_confirmed: bool,
    /// Stream bytes received in 0-RTT packets.
    early_data_bytes: u64,
    /// Client: the latest address validation token from a NEW_TOKEN frame.
    new_token: Option<Vec<u8>>,
    /// Client: the server answered our first Initial with a Retry.
    retried: bool,
    /// The peer sent a Stateless Reset (RFC 9000 10.3): it no longer knows this connection.
    stateless_reset: bool,
    /// Stream bytes delivered to the application so far (all streams).
    delivered: u64,
    /// Client: the versions of a Version Negotiation packet the server sent.
    vn_versions: Vec<u32>,
    /// `--qlog-dir`: this connection's qlog file (src/quic/connection/qlog.rs).
    qlog: qlog::QlogSink,
}

/// A client token the server endpoint verified (see [`Connection::accept`]).
pub(crate) struct ValidatedToken {
    /// For a Retry token: the original Destination Connection ID it carries.
    pub retry_odcid: Option<n::ngtcp2_cid>,
}

/// A QUIC connection.
pub struct Connection {
    inner: *mut Inner,
    tls: Tls,
    state: State,
    local: SocketAddr,
    remote: SocketAddr,
    close_packet: Vec<u8>,
    /// Where the CONNECTION_CLOSE goes: the path ngtcp2 wrote it for.
    close_to: SocketAddr,
    close_from: SocketAddr,
    close_packet_due: bool,
    close_reason: Option<CloseReason>,
    started: u64,
    handshake_done_at: Option<u64>,
    scratch: Vec<n::ngtcp2_vec>,
    gate: Option<CreditGate>,
    /// Set by the server endpoint while its server-wide buffer budget is used up.
    server_busy: bool,
    /// Client: a saved session allowed 0-RTT, so early data may be sent before the handshake completes.
    zero_rtt: bool,
    /// `ConnectionConfig::key_update_after` (0: none), and whether it was done.
    key_update_after: u64,
    key_update_initiated: bool,
}

impl Drop for Connection {
    fn drop(&mut self) {
        // SAFETY: conn and inner were created in `new_*` and are freed exactly once.
        // The TLS object is dropped after this, but ngtcp2_conn_del does not touch it.
        unsafe {
            n::ngtcp2_conn_del((*self.inner).conn);
            drop(Box::from_raw(self.inner));
        }
    }
}

impl Connection {
    #[allow(clippy::too_many_arguments)]
    fn build(
        tls_ctx: &TlsContext,
        is_server: bool,
        local: SocketAddr,
        remote: SocketAddr,
        static_secret: [u8; 32],
        qlog: qlog::QlogSink,
        now: u64,
        create: impl FnOnce(*mut *mut n::ngtcp2_conn, &n::ngtcp2_path, &n::ngtcp2_callbacks, *mut c_void) -> c_int,
    ) -> Result<Connection> {
        let tls = tls_ctx.new_tls()?;
        let inner = Box::into_raw(Box::new(Inner {
            conn: std::ptr::null_mut(),
            conn_ref: n::ngtcp2_crypto_conn_ref { get_conn: Some(callbacks::get_conn_cb), user_data: std::ptr::null_mut() },
            is_server,
            events: VecDeque::new(),
            streams: HashMap::new(),
            ready: VecDeque::new(),
            datagrams: VecDeque::new(),
            new_cids: Vec::new(),
            retired_cids: Vec::new(),
            static_secret,
            handshake_completed: false,
            handshake_confirmed: false,
            early_data_bytes: 0,
            new_token: None,
            retried: false,
            stateless_reset: false,
            delivered: 0,
            vn_versions: Vec::new(),
            qlog,
        }));
        let mut ps = NgPath::new(local, remote);
        let cbs = callbacks::callbacks(is_server);
        let mut conn = std::ptr::null_mut();
        let rv = create(&mut conn, ps.path(), &cbs, inner.cast());
        if rv != 0 {
            // SAFETY: inner was just leaked from a Box and nothing else holds it.
            unsafe { drop(Box::from_raw(inner)) };
            return Err(crate::quic::error::ngtcp2("connection setup", rv));
        }
        // SAFETY: inner is valid; the conn_ref lives inside it, at a stable address.
        unsafe {
            (*inner).conn = conn;
            (*inner).conn_ref.user_data = inner.cast();
            wolfssl_sys::wolfSSL_set_app_data(tls.as_ptr(), (&mut (*inner).conn_ref as *mut n::ngtcp2_crypto_conn_ref).cast());
            n::ngtcp2_conn_set_tls_native_handle(conn, tls.as_ptr().cast());
        }
        Ok(Connection {
            inner,
            tls,
            state: State::Open,
            local,
            remote,
            close_packet: Vec::new(),
            close_to: remote,
            close_from: local,
            close_packet_due: false,
            close_reason: None,
            started: now,
            handshake_done_at: None,
            scratch: Vec::with_capacity(16),
            gate: None,
            server_busy: false,
            zero_rtt: false,
            key_update_after: 0,
            key_update_initiated: false,
        })
    }

    /// Server side: a connection for the client Initial whose header `hd` was
    /// decoded by `ngtcp2_accept`. `scid` is the connection ID we choose.
    /// `token` is set only for a token the endpoint verified (it lifts the
    /// anti-amplification limit); for a Retry token it carries the original DCID.
    // What ngtcp2_conn_server_new needs, each from a different owner (endpoint, packet, path, config).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn accept(
        tls_ctx: &TlsContext,
        hd: &n::ngtcp2_pkt_hd,
        token: Option<ValidatedToken>,
        scid: &[u8],
        local: SocketAddr,
        remote: SocketAddr,
        cfg: &ConnectionConfig,
        static_secret: [u8; 32],
        now: u64,
    ) -> Result<Connection> {
        let s = config::settings(cfg, now);
        let mut s = s;
        let mut p = config::transport_params(cfg);
        p.original_dcid = hd.dcid;
        p.original_dcid_present = 1;
        if let Some(t) = &token {
            s.token = hd.token;
            s.tokenlen = hd.tokenlen;
            s.token_type = if t.retry_odcid.is_some() { n::NGTCP2_TOKEN_TYPE_RETRY } else { n::NGTCP2_TOKEN_TYPE_NEW_TOKEN };
            if let Some(odcid) = t.retry_odcid {
                p.original_dcid = odcid;
                p.retry_scid = hd.dcid;
                p.retry_scid_present = 1;
            }
        }
        let our = cid(scid);
        // The stateless reset token of the connection ID chosen during the handshake (RFC 9000
        // 18.2); the ones issued later come with NEW_CONNECTION_ID (get_new_connection_id_cb).
        if let Some(t) = reset_token(&static_secret, &our) {
            p.stateless_reset_token = t;
            p.stateless_reset_token_present = 1;
        }
        let preferred_cid = config::preferred_address(&mut p, &cfg.preferred_addresses, scid.len(), &static_secret);
        // The qlog file is named by the client's original DCID (before any Retry), as the client's is.
        let qlog = qlog::attach(cfg, &p.original_dcid, true, &mut s);
        let mut me = Self::build(tls_ctx, true, local, remote, static_secret, qlog, now, |pconn, path, cbs, ud| {
            // SAFETY: all pointers are valid for the call; ngtcp2 copies what it keeps.
            unsafe {
                n::ngtcp2_conn_server_new_versioned(
                    pconn, &hd.scid, &our, path, hd.version,
                    n::NGTCP2_CALLBACKS_VERSION as c_int, cbs,
                    n::NGTCP2_SETTINGS_VERSION as c_int, &s,
                    n::NGTCP2_TRANSPORT_PARAMS_VERSION as c_int, &p,
                    std::ptr::null(), ud,
                )
            }
        })?;
        me.key_update_after = cfg.key_update_after;
        // Routed like the IDs NEW_CONNECTION_ID issues (Endpoint::processed takes them).
        me.inner_mut().new_cids.extend(preferred_cid);
        Ok(me)
    }

    /// Client side: a connection to `remote` offering `alpns`. With `session`,
    /// the client resumes and may send 0-RTT data before the handshake completes.
    // What ngtcp2_conn_client_new and the TLS session need, each from a different owner.
    #[allow(clippy::too_many_arguments)]
    pub fn connect(
        tls_ctx: &TlsContext,
        local: SocketAddr,
        remote: SocketAddr,
        alpns: &[&str],
        server_name: &str,
        session: Option<&SavedSession>,
        cfg: &ConnectionConfig,
        now: u64,
    ) -> Result<Connection> {
        let mut s = config::settings(cfg, now);
        let p = config::transport_params(cfg);
        // A NEW_TOKEN token from an earlier connection lets the server skip Retry.
        let token = session.and_then(|x| x.token.as_deref()).and_then(crate::tls::unhex).filter(|t| !t.is_empty());
        if let Some(t) = &token {
            s.token = t.as_ptr();
            s.tokenlen = t.len();
        }
        let dcid = cid(&random_cid(18));
        let scid = cid(&random_cid(17));
        let mut secret = [0u8; 32];
        crate::tls::random_bytes(&mut secret);
        let qlog = qlog::attach(cfg, &dcid, false, &mut s);
        let mut me = Self::build(tls_ctx, false, local, remote, secret, qlog, now, |pconn, path, cbs, ud| {
            // SAFETY: as in `accept`.
            unsafe {
                n::ngtcp2_conn_client_new_versioned(
                    pconn, &dcid, &scid, path, cfg.versions.initial(),
                    n::NGTCP2_CALLBACKS_VERSION as c_int, cbs,
                    n::NGTCP2_SETTINGS_VERSION as c_int, &s,
                    n::NGTCP2_TRANSPORT_PARAMS_VERSION as c_int, &p,
                    std::ptr::null(), ud,
                )
            }
        })?;
        me.key_update_after = cfg.key_update_after;
        me.tls.set_alpn(alpns)?;
        me.tls.set_server_name(server_name)?;
        // SAFETY: the TLS object is valid.
        unsafe { wolfssl_sys::wolfSSL_set_connect_state(me.tls.as_ptr()) };
        if let Some(session) = session {
            if me.tls.resume(session)? {
                let tp = session.transport_params()?;
                // SAFETY: conn is valid; tp is valid for its length.
                let rv = unsafe { n::ngtcp2_conn_decode_and_set_0rtt_transport_params(me.conn(), tp.as_ptr(), tp.len()) };
                if rv != 0 {
                    return Err(crate::quic::error::ngtcp2("restoring 0-RTT transport parameters", rv));
                }
                me.zero_rtt = true;
            }
        }
        Ok(me)
    }

    fn conn(&self) -> *mut n::ngtcp2_conn {
        // SAFETY: inner is valid for the connection's lifetime.
        unsafe { (*self.inner).conn }
    }

    fn inner_mut(&mut self) -> &mut Inner {
        // SAFETY: see the module comment: never held across an ngtcp2 call.
        unsafe { &mut *self.inner }
    }

    /// The local address of the connection's current path (it changes when
    /// a client migrates).
    pub fn local_addr(&self) -> SocketAddr {
        // SAFETY: conn is valid; the returned path is owned by conn.
        unsafe { super::path_local(&*n::ngtcp2_conn_get_path(self.conn())) }.unwrap_or(self.local)
    }

    /// The peer's address on the connection's current path (it changes when
    /// the peer migrates or its NAT rebinds, once ngtcp2 switched paths).
    pub fn remote_addr(&self) -> SocketAddr {
        // SAFETY: as in `local_addr`.
        unsafe { super::path_remote(&*n::ngtcp2_conn_get_path(self.conn())) }.unwrap_or(self.remote)
    }

    /// Client: moves the connection to a new local address at once (RFC 9000
    /// section 9: a fresh connection ID, the new path validated meanwhile).
    /// Packets are then written for the new path; the caller must send them
    /// from a socket bound to `new_local` and feed what that socket receives.
    pub fn migrate(&mut self, new_local: SocketAddr, now: u64) -> Result<()> {
        if self.state != State::Open {
            return Err(MigrateError::NotOpen.into());
        }
        let mut ps = NgPath::new(new_local, self.remote_addr());
        // SAFETY: conn is valid; ngtcp2 copies the path.
        let rv = unsafe { n::ngtcp2_conn_initiate_immediate_migration(self.conn(), ps.path(), now) };
        if rv != 0 {
            // SAFETY: conn is valid; the returned pointer is owned by conn (null before the handshake).
            let p = unsafe { n::ngtcp2_conn_get_remote_transport_params(self.conn()) };
            return Err(match rv {
                n::NGTCP2_ERR_INVALID_STATE if !p.is_null() && unsafe { (*p).disable_active_migration } != 0 => MigrateError::DisabledByPeer,
                n::NGTCP2_ERR_CONN_ID_BLOCKED => MigrateError::NoConnectionId,
                _ => MigrateError::Refused(crate::quic::Ngtcp2Error::new("migration", rv)),
            }
            .into());
        }
        self.local = new_local;
        Ok(())
    }

    /// The handshake is confirmed (RFC 9001 4.1.2; a client migrates only after it).
    pub fn handshake_confirmed(&self) -> bool {
        // SAFETY: inner is valid.
        unsafe { (*self.inner).handshake_confirmed }
    }

    pub fn handshake_completed(&self) -> bool {
        // SAFETY: inner is valid.
        unsafe { (*self.inner).handshake_completed }
    }

    /// Nanoseconds from creation to handshake completion.
    pub fn handshake_duration_ns(&self) -> Option<u64> {
        self.handshake_done_at.map(|t| t - self.started)
    }

    /// The negotiated ALPN protocol.
    pub fn alpn(&self) -> Option<Vec<u8>> {
        self.tls.alpn()
    }

    pub fn early_data(&self) -> EarlyData {
        self.tls.early_data_status()
    }

    /// Client: whether this connection may send 0-RTT data (a saved session allowed it);
    /// [`early_data`](Self::early_data) tells the server's answer once the handshake completes.
    pub fn early_data_attempted(&self) -> bool {
        self.zero_rtt
    }

    pub fn resumed(&self) -> bool {
        self.tls.resumed()
    }

    /// The negotiated TLS cipher suite (IANA name), once the handshake chose one.
    pub fn cipher_suite(&self) -> Option<String> {
        self.tls.cipher_suite()
    }

    /// Stream bytes this connection received in 0-RTT packets.
    pub fn early_data_bytes(&self) -> u64 {
        // SAFETY: inner lives as long as self.
        unsafe { (*self.inner).early_data_bytes }
    }

    /// Live path counters from ngtcp2 (smoothed RTT, packets and bytes each way),
    /// for monitoring (the server's `connections` samples, the demo IWA's table).
    pub fn path_stats(&self) -> PathStats {
        // SAFETY: conn is valid; ngtcp2 fills `info` completely.
        let info = unsafe {
            let mut info: n::ngtcp2_conn_info = std::mem::zeroed();
            n::ngtcp2_conn_get_conn_info_versioned(self.conn(), n::NGTCP2_CONN_INFO_VERSION as c_int, &mut info);
            info
        };
        PathStats {
            rtt_us: info.smoothed_rtt / 1000,
            packets_in: info.pkt_recv,
            packets_out: info.pkt_sent,
            bytes_in: info.bytes_recv,
            bytes_out: info.bytes_sent,
            packets_lost: info.pkt_lost,
        }
    }

    /// The congestion window, bytes (ngtcp2's CUBIC): shrinks on loss and on ECN-CE
    /// marks the peer reports (RFC 9002 7, RFC 9000 13.4.1).
    pub fn cwnd(&self) -> u64 {
        // SAFETY: conn is valid; ngtcp2 fills `info` completely.
        unsafe {
            let mut info: n::ngtcp2_conn_info = std::mem::zeroed();
            n::ngtcp2_conn_get_conn_info_versioned(self.conn(), n::NGTCP2_CONN_INFO_VERSION as c_int, &mut info);
            info.cwnd
        }
    }

    /// The negotiated QUIC version (0 until the client knows it).
    pub fn quic_version(&self) -> u32 {
        // SAFETY: conn is valid.
        unsafe { n::ngtcp2_conn_get_negotiated_version2(self.conn()) }
    }

    /// Number of bidirectional streams we may still open.
    pub fn bidi_streams_left(&self) -> u64 {
        // SAFETY: conn is valid.
        unsafe { n::ngtcp2_conn_get_streams_bidi_left(self.conn()) }
    }

    /// How many connection IDs of ours ngtcp2 holds for this connection (issued, not retired).
    #[cfg(test)]
    pub(crate) fn scid_count(&self) -> usize {
        // SAFETY: conn is valid; a null destination only counts.
        unsafe { n::ngtcp2_conn_get_scid(self.conn(), std::ptr::null_mut()) }
    }

    /// Connection IDs issued and retired since the last call (for the endpoint's routing table).
    pub(crate) fn take_cid_changes(&mut self) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let st = self.inner_mut();
        (std::mem::take(&mut st.new_cids), std::mem::take(&mut st.retired_cids))
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.inner_mut().events.pop_front()
    }

    /// `--key-update-after`: one key update of our own once enough was received. ngtcp2
    /// refuses while the handshake is unconfirmed or an earlier update is not yet
    /// acknowledged (NGTCP2_ERR_INVALID_STATE); the next packet tries again.
    fn maybe_initiate_key_update(&mut self, now: u64) {
        // SAFETY: inner is valid for the connection's lifetime.
        if self.key_update_after == 0 || self.key_update_initiated || unsafe { (*self.inner).delivered } < self.key_update_after {
            return;
        }
        // SAFETY: conn is valid.
        let rv = unsafe { n::ngtcp2_conn_initiate_key_update(self.conn(), now) };
        if rv == 0 {
            self.key_update_initiated = true;
            log::debug!("initiated a key update after {} stream bytes", self.key_update_after);
        }
    }

    /// Records the handshake time from the caller's clock (`now` of the call
    /// that completed it), so no real clock is read here.
    fn note_handshake(&mut self, now: u64) {
        if self.handshake_done_at.is_none() && self.handshake_completed() {
            self.handshake_done_at = Some(now);
        }
    }

    /// Feeds one received UDP datagram and the ECN codepoint it arrived with
    /// (ngtcp2 counts them for its ACK frames' ECN counts and reacts to CE).
    pub fn recv(&mut self, now: u64, local: SocketAddr, remote: SocketAddr, ecn: u8, data: &[u8]) {
        match self.state {
            State::Open => {}
            State::Closing { .. } => {
                self.close_packet_due = true;
                return;
            }
            State::Draining { .. } | State::Closed => return,
        }
        let mut ps = NgPath::new(local, remote);
        // SAFETY: a zeroed pkt_info is valid; ecn is its only field.
        let mut pi: n::ngtcp2_pkt_info = unsafe { std::mem::zeroed() };
        pi.ecn = ecn & 3;
        // SAFETY: conn is valid; data is valid for its length; callbacks may run.
        let rv = unsafe {
            n::ngtcp2_conn_read_pkt_versioned(self.conn(), ps.path(), n::NGTCP2_PKT_INFO_VERSION as c_int, &pi, data.as_ptr(), data.len(), now)
        };
        self.note_handshake(now);
        if rv == 0 {
            self.maybe_initiate_key_update(now);
            return;
        }
        match rv {
            n::NGTCP2_ERR_DRAINING => {
                self.record_remote_close();
                self.state = State::Draining { until: now + self.closing_period() };
            }
            n::NGTCP2_ERR_DROP_CONN => self.state = State::Closed,
            n::NGTCP2_ERR_RECV_VERSION_NEGOTIATION => {
                // None of the server's versions is ours: give up (no reconnect; docs/INTEROP.md).
                let offered: Vec<String> = self.inner_mut().vn_versions.iter().map(|&v| crate::quic::version_name(v)).collect();
                let reason = format!("Version Negotiation: the server speaks only {} (no reconnect in another version)", offered.join(", "));
                self.close_reason = Some(CloseReason { application: false, code: 0, reason, remote: true });
                self.state = State::Closed;
            }
            n::NGTCP2_ERR_CRYPTO => {
                // SAFETY: conn is valid.
                let alert = unsafe { n::ngtcp2_conn_get_tls_alert(self.conn()) };
                self.close_with(now, |e| unsafe { n::ngtcp2_ccerr_set_tls_alert(e, alert, std::ptr::null(), 0) });
            }
            _ => {
                log::debug!("closing connection from {}: {}", self.remote_addr(), crate::quic::ngtcp2_strerror(rv));
                self.close_with(now, |e| unsafe { n::ngtcp2_ccerr_set_liberr(e, rv, std::ptr::null(), 0) });
            }
        }
    }

}

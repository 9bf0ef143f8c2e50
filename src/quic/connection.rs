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

use super::{ConnectionConfig, PathBuf};
use crate::error::{Error, Result};
use crate::tls::{EarlyData, SavedSession, Tls, TlsContext};
use ngtcp2_sys as n;
use std::collections::{HashMap, HashSet, VecDeque};
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

/// Why a connection ended, as far as this side knows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CloseReason {
    /// True if the error code is an application error (not a transport error).
    pub application: bool,
    pub code: u64,
    pub reason: String,
    /// True if the peer closed, false if we did.
    pub remote: bool,
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "code 0x{:x} {}", self.code, self.reason)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// We sent CONNECTION_CLOSE; answer further packets with it until the deadline.
    Closing { until: u64 },
    /// The peer closed; stay silent until the deadline.
    Draining { until: u64 },
    Closed,
}

#[derive(Default)]
struct SendStream {
    /// Immutable chunks; their heap buffers never move while ngtcp2 may read them.
    chunks: VecDeque<Vec<u8>>,
    /// Stream offset of `chunks[0][0]`.
    base: u64,
    /// Bytes handed to ngtcp2 so far.
    sent: u64,
    /// Position of the first unsent byte: chunk index and offset inside it.
    cursor: (usize, usize),
    /// Bytes queued in total (offset one past the last queued byte).
    end: u64,
    /// Like `end`, but not cut back by STOP_SENDING: `queued - base` bytes are held in `chunks`.
    queued: u64,
    fin: bool,
    fin_sent: bool,
    /// The peer sent STOP_SENDING: nothing more is offered, later writes are dropped.
    stopped: bool,
}

impl SendStream {
    fn has_pending(&self) -> bool {
        self.sent < self.end || (self.fin && !self.fin_sent)
    }

    /// `ngtcp2_vec`s over the unsent bytes, at most `max` of them.
    fn unsent(&self, out: &mut Vec<n::ngtcp2_vec>, max: usize) {
        out.clear();
        if self.stopped {
            return;
        }
        let (mut idx, mut skip) = self.cursor;
        while let Some(c) = self.chunks.get(idx) {
            if out.len() == max {
                break;
            }
            if skip < c.len() {
                out.push(n::ngtcp2_vec { base: c[skip..].as_ptr() as *mut u8, len: c.len() - skip });
            }
            idx += 1;
            skip = 0;
        }
    }

    /// Records that ngtcp2 took `n` more bytes.
    fn advance(&mut self, mut n: usize) {
        self.sent += n as u64;
        while n > 0 {
            let (idx, off) = self.cursor;
            let left = self.chunks[idx].len() - off;
            if n < left {
                self.cursor.1 += n;
                return;
            }
            n -= left;
            self.cursor = (idx + 1, 0);
        }
        // Skip empty chunks so the cursor rests on real data.
        while self.chunks.get(self.cursor.0).is_some_and(|c| c.len() == self.cursor.1) {
            self.cursor = (self.cursor.0 + 1, 0);
        }
        // STOP_SENDING can arrive inside the very write that took these bytes
        // (ngtcp2 processes buffered packets there): they count as queued.
        self.end = self.end.max(self.sent);
    }

    fn ack_to(&mut self, offset: u64) {
        while let Some(c) = self.chunks.front() {
            // Only chunks fully acknowledged and fully sent can go.
            if self.base + c.len() as u64 <= offset && self.cursor.0 > 0 {
                self.base += c.len() as u64;
                self.chunks.pop_front();
                self.cursor.0 -= 1;
            } else {
                break;
            }
        }
    }
}

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
    tls_session: Option<Vec<u8>>,
    handshake_completed: bool,
    /// Stream bytes received in 0-RTT packets.
    early_data_bytes: u64,
    /// Client: the latest address validation token from a NEW_TOKEN frame.
    new_token: Option<Vec<u8>>,
    /// Client: the server answered our first Initial with a Retry.
    retried: bool,
    /// Stream bytes delivered to the application so far (all streams).
    delivered: u64,
    /// Client: the versions of a Version Negotiation packet the server sent.
    vn_versions: Vec<u32>,
}

/// A client token the server endpoint verified (see [`Connection::accept`]).
pub(crate) struct ValidatedToken {
    /// For a Retry token: the original Destination Connection ID it carries.
    pub retry_odcid: Option<n::ngtcp2_cid>,
}

/// Connection-level flow-control credit held back until memory is free
/// (see [`Connection::enable_credit_gate`] and docs/LIMITS.md).
struct CreditGate {
    /// The per-connection budget (bytes).
    limit: u64,
    /// Our MAX_DATA so far: the initial value plus every release.
    granted: u64,
    /// Bytes the application consumed whose connection credit is not yet given back.
    owed: u64,
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
    close_packet_due: bool,
    close_reason: Option<CloseReason>,
    started: u64,
    handshake_done_at: Option<u64>,
    scratch: Vec<n::ngtcp2_vec>,
    gate: Option<CreditGate>,
    /// Set by the server endpoint while its server-wide buffer budget is used up.
    server_busy: bool,
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

// ---- callbacks ---------------------------------------------------------------

/// # Safety
/// `user_data` is the `Inner` registered with ngtcp2 for this connection.
unsafe fn inner<'a>(user_data: *mut c_void) -> &'a mut Inner {
    &mut *(user_data as *mut Inner)
}

unsafe extern "C" fn get_conn_cb(conn_ref: *mut n::ngtcp2_crypto_conn_ref) -> *mut n::ngtcp2_conn {
    (*((*conn_ref).user_data as *mut Inner)).conn
}

unsafe extern "C" fn rand_cb(dest: *mut u8, len: usize, _ctx: *const n::ngtcp2_rand_ctx) {
    crate::tls::random_bytes(std::slice::from_raw_parts_mut(dest, len));
}

unsafe extern "C" fn get_new_connection_id_cb(
    _conn: *mut n::ngtcp2_conn,
    cid: *mut n::ngtcp2_cid,
    token: *mut u8,
    cidlen: usize,
    user_data: *mut c_void,
) -> c_int {
    let me = inner(user_data);
    let mut id = vec![0u8; cidlen];
    crate::tls::random_bytes(&mut id);
    n::ngtcp2_cid_init(cid, id.as_ptr(), cidlen);
    if n::ngtcp2_crypto_generate_stateless_reset_token(token, me.static_secret.as_ptr(), me.static_secret.len(), cid) != 0 {
        return n::NGTCP2_ERR_CALLBACK_FAILURE;
    }
    me.new_cids.push(id);
    0
}

unsafe extern "C" fn remove_connection_id_cb(
    _conn: *mut n::ngtcp2_conn,
    cid: *const n::ngtcp2_cid,
    user_data: *mut c_void,
) -> c_int {
    let cid = &*cid;
    inner(user_data).retired_cids.push(cid.data[..cid.datalen].to_vec());
    0
}

unsafe extern "C" fn handshake_completed_cb(_conn: *mut n::ngtcp2_conn, user_data: *mut c_void) -> c_int {
    let me = inner(user_data);
    me.handshake_completed = true;
    me.events.push_back(Event::HandshakeCompleted);
    0
}

unsafe extern "C" fn recv_stream_data_cb(
    _conn: *mut n::ngtcp2_conn,
    flags: u32,
    stream_id: i64,
    _offset: u64,
    data: *const u8,
    datalen: usize,
    user_data: *mut c_void,
    _stream_user_data: *mut c_void,
) -> c_int {
    let bytes = if datalen == 0 { Vec::new() } else { std::slice::from_raw_parts(data, datalen).to_vec() };
    let fin = flags & n::NGTCP2_STREAM_DATA_FLAG_FIN != 0;
    if flags & n::NGTCP2_STREAM_DATA_FLAG_0RTT != 0 {
        inner(user_data).early_data_bytes += datalen as u64;
    }
    inner(user_data).delivered += datalen as u64;
    inner(user_data).events.push_back(Event::StreamData { id: stream_id, data: bytes, fin });
    0
}

unsafe extern "C" fn acked_stream_data_offset_cb(
    _conn: *mut n::ngtcp2_conn,
    stream_id: i64,
    offset: u64,
    datalen: u64,
    user_data: *mut c_void,
    _sud: *mut c_void,
) -> c_int {
    let me = inner(user_data);
    if let Some(s) = me.streams.get_mut(&stream_id) {
        s.ack_to(offset + datalen);
    }
    me.events.push_back(Event::StreamAcked { id: stream_id, bytes: datalen });
    0
}

unsafe extern "C" fn stream_close_cb(
    conn: *mut n::ngtcp2_conn,
    flags: u32,
    stream_id: i64,
    app_error_code: u64,
    user_data: *mut c_void,
    _sud: *mut c_void,
) -> c_int {
    let me = inner(user_data);
    me.streams.remove(&stream_id);
    let code = if flags & n::NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET != 0 { app_error_code } else { 0 };
    me.events.push_back(Event::StreamClosed { id: stream_id, code });
    // Keep the peer's concurrency constant: a closed remote stream frees a slot.
    let remote_initiated = (stream_id & 1 == 0) == me.is_server;
    if remote_initiated {
        if stream_id & 2 == 0 {
            n::ngtcp2_conn_extend_max_streams_bidi(conn, 1);
        } else {
            n::ngtcp2_conn_extend_max_streams_uni(conn, 1);
        }
    }
    0
}

unsafe extern "C" fn stream_reset_cb(
    _conn: *mut n::ngtcp2_conn,
    stream_id: i64,
    _final_size: u64,
    app_error_code: u64,
    user_data: *mut c_void,
    _sud: *mut c_void,
) -> c_int {
    inner(user_data).events.push_back(Event::StreamReset { id: stream_id, code: app_error_code });
    0
}

unsafe extern "C" fn stream_stop_sending_cb(
    _conn: *mut n::ngtcp2_conn,
    stream_id: i64,
    app_error_code: u64,
    user_data: *mut c_void,
    _sud: *mut c_void,
) -> c_int {
    let me = inner(user_data);
    if let Some(s) = me.streams.get_mut(&stream_id) {
        // Nothing more will be sent on it; drop what is queued. The chunks stay
        // as they are: this can run inside a write that still reads them.
        s.end = s.sent;
        s.fin = false;
        s.stopped = true;
    }
    me.events.push_back(Event::StopSending { id: stream_id, code: app_error_code });
    0
}

unsafe extern "C" fn extend_max_local_streams_bidi_cb(
    _conn: *mut n::ngtcp2_conn,
    _max: u64,
    user_data: *mut c_void,
) -> c_int {
    inner(user_data).events.push_back(Event::BidiStreamsAvailable);
    0
}

unsafe extern "C" fn tls_early_data_rejected_cb(_conn: *mut n::ngtcp2_conn, user_data: *mut c_void) -> c_int {
    let me = inner(user_data);
    // ngtcp2 discards every stream opened in 0-RTT; drop their buffers too.
    me.streams.clear();
    me.ready.clear();
    me.events.push_back(Event::EarlyDataRejected);
    0
}

unsafe extern "C" fn recv_new_token_cb(
    _conn: *mut n::ngtcp2_conn,
    token: *const u8,
    tokenlen: usize,
    user_data: *mut c_void,
) -> c_int {
    inner(user_data).new_token = Some(std::slice::from_raw_parts(token, tokenlen).to_vec());
    0
}

unsafe extern "C" fn recv_retry_cb(conn: *mut n::ngtcp2_conn, hd: *const n::ngtcp2_pkt_hd, user_data: *mut c_void) -> c_int {
    inner(user_data).retried = true;
    n::ngtcp2_crypto_recv_retry_cb(conn, hd, user_data)
}

unsafe extern "C" fn recv_datagram_cb(
    _conn: *mut n::ngtcp2_conn,
    _flags: u32,
    data: *const u8,
    datalen: usize,
    user_data: *mut c_void,
) -> c_int {
    let bytes = if datalen == 0 { Vec::new() } else { std::slice::from_raw_parts(data, datalen).to_vec() };
    inner(user_data).events.push_back(Event::Datagram(bytes));
    0
}

unsafe extern "C" fn recv_version_negotiation_cb(
    _conn: *mut n::ngtcp2_conn,
    _hd: *const n::ngtcp2_pkt_hd,
    sv: *const u32,
    nsv: usize,
    user_data: *mut c_void,
) -> c_int {
    inner(user_data).vn_versions = if nsv == 0 { Vec::new() } else { std::slice::from_raw_parts(sv, nsv).to_vec() };
    0
}

/// Called by the TLS layer when the client receives a resumable session.
pub(crate) fn deliver_tls_session(ssl: *mut wolfssl_sys::WOLFSSL, der: Vec<u8>) {
    // SAFETY: every TLS object we create carries our conn_ref as app data,
    // whose user_data is the connection's `Inner`.
    unsafe {
        let r = wolfssl_sys::wolfSSL_get_app_data(ssl) as *mut n::ngtcp2_crypto_conn_ref;
        if r.is_null() {
            return;
        }
        inner((*r).user_data).tls_session = Some(der);
    }
}

fn callbacks(is_server: bool) -> n::ngtcp2_callbacks {
    // SAFETY: ngtcp2_callbacks is a struct of nullable function pointers.
    let mut cb: n::ngtcp2_callbacks = unsafe { std::mem::zeroed() };
    if is_server {
        cb.recv_client_initial = Some(n::ngtcp2_crypto_recv_client_initial_cb);
    } else {
        cb.client_initial = Some(n::ngtcp2_crypto_client_initial_cb);
        cb.recv_retry = Some(recv_retry_cb);
        cb.recv_new_token = Some(recv_new_token_cb);
        cb.extend_max_local_streams_bidi = Some(extend_max_local_streams_bidi_cb);
        cb.tls_early_data_rejected = Some(tls_early_data_rejected_cb);
        cb.recv_version_negotiation = Some(recv_version_negotiation_cb);
    }
    cb.recv_crypto_data = Some(n::ngtcp2_crypto_recv_crypto_data_cb);
    cb.encrypt = Some(n::ngtcp2_crypto_encrypt_cb);
    cb.decrypt = Some(n::ngtcp2_crypto_decrypt_cb);
    cb.hp_mask = Some(n::ngtcp2_crypto_hp_mask_cb);
    cb.update_key = Some(n::ngtcp2_crypto_update_key_cb);
    cb.delete_crypto_aead_ctx = Some(n::ngtcp2_crypto_delete_crypto_aead_ctx_cb);
    cb.delete_crypto_cipher_ctx = Some(n::ngtcp2_crypto_delete_crypto_cipher_ctx_cb);
    cb.get_path_challenge_data = Some(n::ngtcp2_crypto_get_path_challenge_data_cb);
    cb.version_negotiation = Some(n::ngtcp2_crypto_version_negotiation_cb);
    cb.rand = Some(rand_cb);
    cb.get_new_connection_id = Some(get_new_connection_id_cb);
    cb.remove_connection_id = Some(remove_connection_id_cb);
    cb.handshake_completed = Some(handshake_completed_cb);
    cb.recv_stream_data = Some(recv_stream_data_cb);
    cb.acked_stream_data_offset = Some(acked_stream_data_offset_cb);
    cb.stream_close = Some(stream_close_cb);
    cb.stream_reset = Some(stream_reset_cb);
    // The peer's STOP_SENDING (ngtcp2's `stream_stop_sending` fires on our own read shutdown instead).
    cb.recv_stop_sending = Some(stream_stop_sending_cb);
    cb.recv_datagram = Some(recv_datagram_cb);
    cb
}

unsafe extern "C" fn log_write_cb(_user_data: *mut c_void, msg: *mut std::os::raw::c_char, len: usize) {
    let text = std::slice::from_raw_parts(msg as *const u8, len);
    log::trace!("ngtcp2: {}", String::from_utf8_lossy(text).trim_end());
}

fn settings(cfg: &ConnectionConfig, now: u64) -> n::ngtcp2_settings {
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
        s.log_write = Some(log_write_cb);
    }
    s
}

fn transport_params(cfg: &ConnectionConfig) -> n::ngtcp2_transport_params {
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

impl Connection {
    fn build(
        tls_ctx: &TlsContext,
        is_server: bool,
        local: SocketAddr,
        remote: SocketAddr,
        static_secret: [u8; 32],
        now: u64,
        create: impl FnOnce(*mut *mut n::ngtcp2_conn, &n::ngtcp2_path, &n::ngtcp2_callbacks, *mut c_void) -> c_int,
    ) -> Result<Connection> {
        let tls = tls_ctx.new_tls()?;
        let inner = Box::into_raw(Box::new(Inner {
            conn: std::ptr::null_mut(),
            conn_ref: n::ngtcp2_crypto_conn_ref { get_conn: Some(get_conn_cb), user_data: std::ptr::null_mut() },
            is_server,
            events: VecDeque::new(),
            streams: HashMap::new(),
            ready: VecDeque::new(),
            datagrams: VecDeque::new(),
            new_cids: Vec::new(),
            retired_cids: Vec::new(),
            static_secret,
            tls_session: None,
            handshake_completed: false,
            early_data_bytes: 0,
            new_token: None,
            retried: false,
            delivered: 0,
            vn_versions: Vec::new(),
        }));
        let mut ps = PathBuf::new(local, remote);
        let cbs = callbacks(is_server);
        let mut conn = std::ptr::null_mut();
        let rv = create(&mut conn, ps.path(), &cbs, inner.cast());
        if rv != 0 {
            // SAFETY: inner was just leaked from a Box and nothing else holds it.
            unsafe { drop(Box::from_raw(inner)) };
            return Err(Error::ngtcp2("connection setup", rv));
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
            close_packet_due: false,
            close_reason: None,
            started: now,
            handshake_done_at: None,
            scratch: Vec::with_capacity(16),
            gate: None,
            server_busy: false,
        })
    }

    /// Server side: a connection for the client Initial whose header `hd` was
    /// decoded by `ngtcp2_accept`. `scid` is the connection ID we choose.
    /// `token` is set only for a token the endpoint verified (it lifts the
    /// anti-amplification limit); for a Retry token it carries the original DCID.
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
        let s = settings(cfg, now);
        let mut s = s;
        let mut p = transport_params(cfg);
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
        Self::build(tls_ctx, true, local, remote, static_secret, now, |pconn, path, cbs, ud| {
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
        })
    }

    /// Client side: a connection to `remote` offering `alpns`. With `session`,
    /// the client resumes and may send 0-RTT data before the handshake completes.
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
        let mut s = settings(cfg, now);
        let p = transport_params(cfg);
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
        let me = Self::build(tls_ctx, false, local, remote, secret, now, |pconn, path, cbs, ud| {
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
                    return Err(Error::ngtcp2("restoring 0-RTT transport parameters", rv));
                }
            }
        }
        Ok(me)
    }

    fn conn(&self) -> *mut n::ngtcp2_conn {
        // SAFETY: inner is valid for the connection's lifetime.
        unsafe { (*self.inner).conn }
    }

    fn st(&mut self) -> &mut Inner {
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
            return Err(Error::Other("cannot migrate a closing connection".into()));
        }
        let mut ps = PathBuf::new(new_local, self.remote_addr());
        // SAFETY: conn is valid; ngtcp2 copies the path.
        let rv = unsafe { n::ngtcp2_conn_initiate_immediate_migration(self.conn(), ps.path(), now) };
        if rv != 0 {
            return Err(Error::ngtcp2("migration", rv));
        }
        self.local = new_local;
        Ok(())
    }

    pub fn is_server(&self) -> bool {
        // SAFETY: inner is valid.
        unsafe { (*self.inner).is_server }
    }

    /// True once the connection can be forgotten.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// True while the connection can carry application data.
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    pub fn handshake_completed(&self) -> bool {
        // SAFETY: inner is valid.
        unsafe { (*self.inner).handshake_completed }
    }

    /// Nanoseconds from creation to handshake completion.
    pub fn handshake_duration_ns(&self) -> Option<u64> {
        self.handshake_done_at.map(|t| t - self.started)
    }

    pub fn close_reason(&self) -> Option<&CloseReason> {
        self.close_reason.as_ref()
    }

    /// One line saying how the connection ended, for reports.
    pub fn close_description(&self) -> String {
        match &self.close_reason {
            Some(r) => format!("connection closed: {r}"),
            None => "connection closed".into(),
        }
    }

    /// The negotiated ALPN protocol.
    pub fn alpn(&self) -> Option<Vec<u8>> {
        self.tls.alpn()
    }

    pub fn early_data(&self) -> EarlyData {
        self.tls.early_data_status()
    }

    pub fn resumed(&self) -> bool {
        self.tls.resumed()
    }

    /// Stream bytes this connection received in 0-RTT packets.
    pub fn early_data_bytes(&self) -> u64 {
        // SAFETY: inner lives as long as self.
        unsafe { (*self.inner).early_data_bytes }
    }

    /// Live path counters from ngtcp2 (smoothed RTT, packets and bytes each way),
    /// for monitoring (the demo IWA's connection list).
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

    /// The negotiated QUIC version (0 until the client knows it).
    pub fn quic_version(&self) -> u32 {
        // SAFETY: conn is valid.
        unsafe { n::ngtcp2_conn_get_negotiated_version2(self.conn()) }
    }

    /// Largest DATAGRAM payload the peer accepts (0: datagrams not negotiated).
    pub fn max_datagram_payload(&self) -> usize {
        // SAFETY: conn is valid; the returned pointer is owned by conn.
        let p = unsafe { n::ngtcp2_conn_get_remote_transport_params(self.conn()) };
        if p.is_null() {
            return 0;
        }
        // DATAGRAM frame overhead: type (1) + length varint (up to 8).
        (unsafe { (*p).max_datagram_frame_size } as usize).saturating_sub(9).min(1200)
    }

    /// Number of bidirectional streams we may still open.
    pub fn bidi_streams_left(&self) -> u64 {
        // SAFETY: conn is valid.
        unsafe { n::ngtcp2_conn_get_streams_bidi_left(self.conn()) }
    }

    /// Client: the session to store for resumption, once the server sent a ticket.
    pub fn take_session(&mut self, alpn: &str) -> Option<SavedSession> {
        let der = self.st().tls_session.take()?;
        let mut buf = vec![0u8; 256];
        // SAFETY: conn is valid; buf is writable for its length.
        let n = unsafe { n::ngtcp2_conn_encode_0rtt_transport_params(self.conn(), buf.as_mut_ptr(), buf.len()) };
        if n < 0 {
            return None;
        }
        buf.truncate(n as usize);
        Some(SavedSession {
            version: 1,
            alpn: alpn.to_string(),
            tls_session: crate::tls::hex(&der),
            transport_params: crate::tls::hex(&buf),
            verification: String::new(),
            token: self.st().new_token.as_deref().map(crate::tls::hex),
        })
    }

    /// Client: the latest NEW_TOKEN token from the server, if any.
    pub fn new_token(&self) -> Option<Vec<u8>> {
        // SAFETY: inner is valid.
        unsafe { (*self.inner).new_token.clone() }
    }

    /// Client: whether the server made us retry with a Retry packet.
    pub fn retried(&self) -> bool {
        // SAFETY: inner is valid.
        unsafe { (*self.inner).retried }
    }

    /// Server: sends an address validation token in a NEW_TOKEN frame.
    pub(crate) fn submit_new_token(&mut self, token: &[u8]) -> Result<()> {
        // SAFETY: conn is valid; ngtcp2 copies the token.
        let rv = unsafe { n::ngtcp2_conn_submit_new_token(self.conn(), token.as_ptr(), token.len()) };
        if rv != 0 {
            return Err(Error::ngtcp2("NEW_TOKEN", rv));
        }
        Ok(())
    }

    /// Connection IDs issued and retired since the last call (for the endpoint's routing table).
    pub(crate) fn take_cid_changes(&mut self) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let st = self.st();
        (std::mem::take(&mut st.new_cids), std::mem::take(&mut st.retired_cids))
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.st().events.pop_front()
    }

    /// Records the handshake time from the caller's clock (`now` of the call
    /// that completed it), so no real clock is read here.
    fn note_handshake(&mut self, now: u64) {
        if self.handshake_done_at.is_none() && self.handshake_completed() {
            self.handshake_done_at = Some(now);
        }
    }

    // ---- input ------------------------------------------------------------

    /// Feeds one received UDP datagram.
    pub fn recv(&mut self, now: u64, local: SocketAddr, remote: SocketAddr, data: &[u8]) {
        match self.state {
            State::Open => {}
            State::Closing { .. } => {
                self.close_packet_due = true;
                return;
            }
            State::Draining { .. } | State::Closed => return,
        }
        let mut ps = PathBuf::new(local, remote);
        // SAFETY: a zeroed pkt_info is valid (no ECN).
        let pi: n::ngtcp2_pkt_info = unsafe { std::mem::zeroed() };
        // SAFETY: conn is valid; data is valid for its length; callbacks may run.
        let rv = unsafe {
            n::ngtcp2_conn_read_pkt_versioned(self.conn(), ps.path(), n::NGTCP2_PKT_INFO_VERSION as c_int, &pi, data.as_ptr(), data.len(), now)
        };
        self.note_handshake(now);
        if rv == 0 {
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
                let offered: Vec<String> = self.st().vn_versions.iter().map(|&v| super::version_name(v)).collect();
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
                log::debug!("closing connection from {}: {}", self.remote_addr(), super::ngtcp2_strerror(rv));
                self.close_with(now, |e| unsafe { n::ngtcp2_ccerr_set_liberr(e, rv, std::ptr::null(), 0) });
            }
        }
    }

    fn closing_period(&self) -> u64 {
        // SAFETY: conn is valid.
        3 * unsafe { n::ngtcp2_conn_get_pto(self.conn()) }
    }

    fn record_remote_close(&mut self) {
        // SAFETY: conn is valid; the returned ccerr is owned by conn.
        let e = unsafe { &*n::ngtcp2_conn_get_ccerr(self.conn()) };
        let reason = if e.reason.is_null() {
            String::new()
        } else {
            // SAFETY: reason is valid for reasonlen bytes.
            String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(e.reason, e.reasonlen) }).into_owned()
        };
        self.close_reason = Some(CloseReason {
            application: e.type_ == n::NGTCP2_CCERR_TYPE_APPLICATION,
            code: e.error_code,
            reason,
            remote: true,
        });
    }

    /// Enters the closing state with the error `set` writes, queueing CONNECTION_CLOSE.
    fn close_with(&mut self, now: u64, set: impl FnOnce(*mut n::ngtcp2_ccerr)) {
        if self.state != State::Open {
            return;
        }
        // SAFETY: ccerr is initialised by ngtcp2_ccerr_default before `set` edits it.
        let mut e: n::ngtcp2_ccerr = unsafe { std::mem::zeroed() };
        unsafe { n::ngtcp2_ccerr_default(&mut e) };
        set(&mut e);
        self.close_reason = Some(CloseReason {
            application: e.type_ == n::NGTCP2_CCERR_TYPE_APPLICATION,
            code: e.error_code,
            reason: String::new(),
            remote: false,
        });
        let mut buf = vec![0u8; 1500];
        let mut ps = PathBuf::new(self.local_addr(), self.remote_addr());
        let mut pi: n::ngtcp2_pkt_info = unsafe { std::mem::zeroed() };
        // SAFETY: conn is valid, buf writable; ngtcp2 writes at most buf.len() bytes.
        let nwrite = unsafe {
            n::ngtcp2_conn_write_connection_close_versioned(
                self.conn(), ps.path_mut(), n::NGTCP2_PKT_INFO_VERSION as c_int, &mut pi, buf.as_mut_ptr(), buf.len(), &e, now,
            )
        };
        let until = now + self.closing_period();
        if nwrite > 0 {
            buf.truncate(nwrite as usize);
            self.close_packet = buf;
            self.close_to = ps.remote().unwrap_or(self.remote);
            self.close_packet_due = true;
            self.state = State::Closing { until };
        } else {
            // Nothing can be sent (for example before any keys exist): just drop.
            self.state = State::Closed;
        }
    }

    /// Closes the connection with an application error code.
    pub fn close(&mut self, now: u64, app_error_code: u64, reason: &str) {
        let r = reason.as_bytes();
        self.close_with(now, |e| unsafe { n::ngtcp2_ccerr_set_application_error(e, app_error_code, r.as_ptr(), r.len()) });
    }

    /// Closes the connection with a QUIC transport error code.
    pub fn close_transport(&mut self, now: u64, code: u64, reason: &str) {
        let r = reason.as_bytes();
        self.close_with(now, |e| unsafe { n::ngtcp2_ccerr_set_transport_error(e, code, r.as_ptr(), r.len()) });
    }

    // ---- timers ------------------------------------------------------------

    /// When [`on_timeout`](Self::on_timeout) must be called next (ns timestamp).
    pub fn timeout(&self) -> Option<u64> {
        match self.state {
            State::Open => {
                // SAFETY: conn is valid.
                let t = unsafe { n::ngtcp2_conn_get_expiry(self.conn()) };
                (t != u64::MAX).then_some(t)
            }
            State::Closing { until } | State::Draining { until } => Some(until),
            State::Closed => None,
        }
    }

    pub fn on_timeout(&mut self, now: u64) {
        match self.state {
            State::Open => {
                // SAFETY: conn is valid.
                let rv = unsafe { n::ngtcp2_conn_handle_expiry(self.conn(), now) };
                self.note_handshake(now);
                if rv == n::NGTCP2_ERR_IDLE_CLOSE || rv == n::NGTCP2_ERR_HANDSHAKE_TIMEOUT {
                    self.close_reason = Some(CloseReason { application: false, code: 0, reason: super::ngtcp2_strerror(rv), remote: false });
                    self.state = State::Closed;
                } else if rv != 0 {
                    self.close_with(now, |e| unsafe { n::ngtcp2_ccerr_set_liberr(e, rv, std::ptr::null(), 0) });
                }
            }
            State::Closing { until } | State::Draining { until } if now >= until => self.state = State::Closed,
            _ => {}
        }
    }

    // ---- output ------------------------------------------------------------

    /// Queues bytes on a stream (and optionally finishes it). Bytes are kept
    /// until the peer acknowledges them.
    pub fn stream_send(&mut self, id: i64, data: &[u8], fin: bool) -> Result<()> {
        let st = self.st();
        let s = st.streams.entry(id).or_default();
        if s.fin {
            return Err(Error::Other(format!("stream {id} already finished")));
        }
        if s.stopped {
            // The peer asked us to stop sending (ngtcp2 resets the stream): discarded.
            return Ok(());
        }
        if !data.is_empty() {
            s.chunks.push_back(data.to_vec());
            s.end += data.len() as u64;
            s.queued += data.len() as u64;
        }
        s.fin |= fin;
        if !st.ready.contains(&id) {
            st.ready.push_back(id);
        }
        Ok(())
    }

    /// True when everything queued has been sent and acknowledged: no stream
    /// bytes or FIN waiting, no datagrams queued, nothing in flight.
    pub fn output_settled(&self) -> bool {
        // SAFETY: inner and conn are valid; ngtcp2 fills `info` completely.
        unsafe {
            let st = &*self.inner;
            let mut info: n::ngtcp2_conn_info = std::mem::zeroed();
            n::ngtcp2_conn_get_conn_info_versioned(self.conn(), n::NGTCP2_CONN_INFO_VERSION as c_int, &mut info);
            st.streams.values().all(|s| !s.has_pending()) && st.datagrams.is_empty() && info.bytes_in_flight == 0
        }
    }

    /// Bytes queued on a stream and not yet acknowledged.
    pub fn stream_unacked(&self, id: i64) -> u64 {
        // SAFETY: inner is valid.
        unsafe { (*self.inner).streams.get(&id).map_or(0, |s| s.end - s.base) }
    }

    /// Resets a stream in both directions with an application error code.
    pub fn stream_shutdown(&mut self, id: i64, code: u64) {
        self.st().streams.remove(&id);
        // SAFETY: conn is valid.
        unsafe { n::ngtcp2_conn_shutdown_stream(self.conn(), 0, id, code) };
    }

    /// Gives the peer `bytes` more flow-control credit on stream `id` (and on the connection).
    /// With the credit gate on, the connection-level part is only recorded here and
    /// given back by [`release_credit`](Self::release_credit) as memory allows.
    pub fn consume(&mut self, id: i64, bytes: u64) {
        // SAFETY: conn is valid.
        unsafe { n::ngtcp2_conn_extend_max_stream_offset(self.conn(), id, bytes) };
        match self.gate.as_mut() {
            Some(g) => g.owed += bytes,
            // SAFETY: conn is valid.
            None => unsafe { n::ngtcp2_conn_extend_max_offset(self.conn(), bytes) },
        }
    }

    /// Server side: from now on, connection-level credit (MAX_DATA) is given back
    /// only through [`release_credit`](Self::release_credit). `initial_max_data` must be
    /// the value this connection advertised. ngtcp2's own MAX_DATA auto-tuning must be
    /// off (`max_window` 0) so that our count of granted credit stays exact.
    pub(crate) fn enable_credit_gate(&mut self, initial_max_data: u64, limit: u64) {
        self.gate = Some(CreditGate { limit, granted: initial_max_data, owed: 0 });
    }

    /// The per-connection buffer budget, when the credit gate is on.
    pub fn buffer_limit(&self) -> Option<u64> {
        self.gate.as_ref().map(|g| g.limit)
    }

    /// True while the server-wide buffer budget is used up: applications refuse new
    /// work (new streams, requests, sessions) and let existing work finish.
    pub fn server_busy(&self) -> bool {
        self.server_busy
    }

    pub(crate) fn set_server_busy(&mut self, busy: bool) {
        self.server_busy = busy;
    }

    /// Bytes this connection may cost us: stream bytes queued and not yet acknowledged,
    /// queued datagrams, and credit the peer holds but has not used yet (bytes it may
    /// still send). The application adds what it buffers itself.
    pub fn buffer_exposure(&self) -> u64 {
        self.buffered_output() + self.unused_credit()
    }

    /// Stream bytes queued and not yet acknowledged, plus queued datagrams.
    pub fn buffered_output(&self) -> u64 {
        // SAFETY: inner is valid.
        let st = unsafe { &*self.inner };
        let queued: u64 = st.streams.values().map(|s| s.queued - s.base).sum();
        let dgrams: u64 = st.datagrams.iter().map(|d| d.len() as u64).sum();
        queued + dgrams
    }

    /// Connection credit granted to the peer and not used yet (bytes it may still send).
    /// Never more than the initial MAX_DATA: credit is only given back for bytes received.
    pub fn unused_credit(&self) -> u64 {
        // SAFETY: inner is valid.
        let delivered = unsafe { (*self.inner).delivered };
        self.gate.as_ref().map_or(0, |g| g.granted.saturating_sub(delivered))
    }

    /// Connection credit consumed by the application and not yet given back.
    pub fn credit_owed(&self) -> u64 {
        self.gate.as_ref().map_or(0, |g| g.owed)
    }

    /// Gives back up to `max` bytes of owed connection credit; returns how much.
    pub fn release_credit(&mut self, max: u64) -> u64 {
        let conn = self.conn();
        let Some(g) = self.gate.as_mut() else { return 0 };
        let x = g.owed.min(max);
        if x > 0 {
            g.owed -= x;
            g.granted += x;
            // SAFETY: conn is valid.
            unsafe { n::ngtcp2_conn_extend_max_offset(conn, x) };
        }
        x
    }

    /// Opens a bidirectional stream.
    pub fn open_bidi(&mut self) -> Result<i64> {
        self.open_stream(true)
    }

    /// Opens a unidirectional (send-only) stream.
    pub fn open_uni(&mut self) -> Result<i64> {
        self.open_stream(false)
    }

    fn open_stream(&mut self, bidi: bool) -> Result<i64> {
        let mut id = -1;
        // SAFETY: conn is valid; id is written on success.
        let rv = unsafe {
            if bidi {
                n::ngtcp2_conn_open_bidi_stream(self.conn(), &mut id, std::ptr::null_mut())
            } else {
                n::ngtcp2_conn_open_uni_stream(self.conn(), &mut id, std::ptr::null_mut())
            }
        };
        if rv != 0 {
            return Err(Error::ngtcp2(if bidi { "open stream" } else { "open uni stream" }, rv));
        }
        Ok(id)
    }

    /// Resets only the sending side of a stream (RESET_STREAM) and drops what is queued on it.
    pub fn stream_reset_write(&mut self, id: i64, code: u64) {
        self.st().streams.remove(&id);
        // SAFETY: conn is valid.
        unsafe { n::ngtcp2_conn_shutdown_stream_write(self.conn(), 0, id, code) };
    }

    /// Asks the peer to stop sending on a stream (STOP_SENDING).
    pub fn stream_stop_sending(&mut self, id: i64, code: u64) {
        // SAFETY: conn is valid.
        unsafe { n::ngtcp2_conn_shutdown_stream_read(self.conn(), 0, id, code) };
    }

    /// Queues a DATAGRAM frame. Fails if the peer did not negotiate datagrams
    /// or the payload is larger than it accepts.
    pub fn send_datagram(&mut self, data: &[u8]) -> Result<()> {
        let max = self.max_datagram_payload();
        if data.len() > max {
            return Err(Error::Other(format!("datagram of {} bytes exceeds the peer's limit of {max}", data.len())));
        }
        let st = self.st();
        if st.datagrams.len() >= 1024 {
            // Unreliable by definition: shed the oldest under pressure rather than grow.
            st.datagrams.pop_front();
        }
        st.datagrams.push_back(data.to_vec());
        Ok(())
    }

    /// How many packets the congestion controller allows in one burst.
    pub fn burst_limit(&self) -> usize {
        // SAFETY: conn is valid.
        unsafe {
            let q = n::ngtcp2_conn_get_send_quantum(self.conn());
            let m = n::ngtcp2_conn_get_max_tx_udp_payload_size(self.conn()).max(1);
            (q / m).clamp(1, 64)
        }
    }

    /// Tells ngtcp2 a burst ended (pacing).
    pub fn burst_done(&mut self, now: u64) {
        if self.state == State::Open {
            // SAFETY: conn is valid.
            unsafe { n::ngtcp2_conn_update_pkt_tx_time(self.conn(), now) };
        }
    }

    /// Writes the next packet into `buf`; returns its length and destination,
    /// or `None` when there is nothing to send now.
    pub fn poll_transmit(&mut self, now: u64, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
        match self.state {
            State::Open => {}
            State::Closing { .. } if self.close_packet_due => {
                self.close_packet_due = false;
                let n = self.close_packet.len().min(buf.len());
                buf[..n].copy_from_slice(&self.close_packet[..n]);
                return Some((n, self.close_to));
            }
            _ => return None,
        }
        // ngtcp2 copies each packet's path into `ps`: the destination is read
        // back per packet (path validation and migration use other addresses).
        let mut ps = PathBuf::new(self.local, self.remote);
        // SAFETY: zeroed pkt_info is valid output storage.
        let mut pi: n::ngtcp2_pkt_info = unsafe { std::mem::zeroed() };
        let conn = self.conn();
        let mut blocked: HashSet<i64> = HashSet::new();
        let mut dgram_tried = false;
        loop {
            // 1. Datagrams first: they are latency-sensitive and small.
            if !dgram_tried && !self.st().datagrams.is_empty() {
                dgram_tried = true;
                let d = self.st().datagrams.front().cloned().unwrap();
                let v = n::ngtcp2_vec { base: d.as_ptr() as *mut u8, len: d.len() };
                let mut accepted: c_int = 0;
                // SAFETY: conn valid, buf writable, v points into `d` which outlives the call
                // (ngtcp2 copies datagram payloads into the packet).
                let nw = unsafe {
                    n::ngtcp2_conn_writev_datagram_versioned(
                        conn, ps.path_mut(), n::NGTCP2_PKT_INFO_VERSION as c_int, &mut pi, buf.as_mut_ptr(), buf.len(),
                        &mut accepted, n::NGTCP2_WRITE_DATAGRAM_FLAG_MORE, 0, &v, 1, now,
                    )
                };
                if accepted != 0 {
                    self.st().datagrams.pop_front();
                    dgram_tried = false;
                }
                match nw as i32 {
                    n::NGTCP2_ERR_WRITE_MORE => continue,
                    x if x > 0 => return Some((x as usize, ps.remote().unwrap_or(self.remote))),
                    0 => return None,
                    n::NGTCP2_ERR_INVALID_ARGUMENT => {
                        // Larger than the peer allows now: drop it, it is unreliable.
                        self.st().datagrams.pop_front();
                        continue;
                    }
                    e => {
                        self.close_with(now, |c| unsafe { n::ngtcp2_ccerr_set_liberr(c, e as c_int, std::ptr::null(), 0) });
                        return self.poll_transmit(now, buf);
                    }
                }
            }
            // 2. Stream data, round-robin over streams with pending bytes.
            let next = {
                let st = self.st();
                let mut found = None;
                for _ in 0..st.ready.len() {
                    let id = st.ready.pop_front().unwrap();
                    match st.streams.get(&id) {
                        Some(s) if s.has_pending() => {
                            if blocked.contains(&id) {
                                st.ready.push_back(id);
                            } else {
                                found = Some(id);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                found
            };
            let (id, fin) = match next {
                Some(id) => {
                    let mut scratch = std::mem::take(&mut self.scratch);
                    let s = &self.st().streams[&id];
                    s.unsent(&mut scratch, 16);
                    // FIN goes with the last byte, so only when these vecs cover everything unsent.
                    let fin = s.fin && scratch.iter().map(|v| v.len as u64).sum::<u64>() == s.end - s.sent;
                    self.scratch = scratch;
                    (id, fin)
                }
                None => {
                    self.scratch.clear();
                    (-1, false)
                }
            };
            // MORE lets ngtcp2 coalesce several streams into one packet; without a
            // stream it must close the packet, so no MORE then.
            let mut flags = if id >= 0 { n::NGTCP2_WRITE_STREAM_FLAG_MORE } else { n::NGTCP2_WRITE_STREAM_FLAG_NONE };
            if fin {
                flags |= n::NGTCP2_WRITE_STREAM_FLAG_FIN;
            }
            let mut ndatalen: n::ngtcp2_ssize = -1;
            // SAFETY: conn valid; buf writable; scratch vecs point into chunks that stay
            // alive (and unmoved) until acknowledged.
            let nw = unsafe {
                n::ngtcp2_conn_writev_stream_versioned(
                    conn, ps.path_mut(), n::NGTCP2_PKT_INFO_VERSION as c_int, &mut pi, buf.as_mut_ptr(), buf.len(),
                    &mut ndatalen, flags, id, self.scratch.as_ptr(), self.scratch.len(), now,
                )
            };
            if id >= 0 {
                let st = self.st();
                if let Some(s) = st.streams.get_mut(&id) {
                    if ndatalen >= 0 {
                        s.advance(ndatalen as usize);
                        if fin && s.sent == s.end {
                            s.fin_sent = true;
                        }
                    }
                    if s.has_pending() {
                        st.ready.push_back(id);
                    }
                }
            }
            match nw as i32 {
                n::NGTCP2_ERR_WRITE_MORE => continue,
                n::NGTCP2_ERR_STREAM_DATA_BLOCKED | n::NGTCP2_ERR_STREAM_SHUT_WR | n::NGTCP2_ERR_STREAM_NOT_FOUND => {
                    if nw as i32 != n::NGTCP2_ERR_STREAM_DATA_BLOCKED {
                        self.st().streams.remove(&id);
                    }
                    blocked.insert(id);
                    continue;
                }
                x if x > 0 => return Some((x as usize, ps.remote().unwrap_or(self.remote))),
                0 => return None,
                e => {
                    self.close_with(now, |c| unsafe { n::ngtcp2_ccerr_set_liberr(c, e as c_int, std::ptr::null(), 0) });
                    return self.poll_transmit(now, buf);
                }
            }
        }
    }
}

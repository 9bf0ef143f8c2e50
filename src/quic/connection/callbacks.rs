//! ngtcp2's callbacks. Each one reaches the connection's [`Inner`] through
//! ngtcp2's `user_data` and only records what happened (events, stream and
//! connection ID bookkeeping); the connection acts on it after the ngtcp2 call returns.

use super::{Event, Inner};
use ngtcp2_sys as n;
use std::ffi::c_void;
use std::os::raw::c_int;

/// # Safety
/// `user_data` is the `Inner` registered with ngtcp2 for this connection.
unsafe fn inner<'a>(user_data: *mut c_void) -> &'a mut Inner {
    &mut *(user_data as *mut Inner)
}

pub(super) unsafe extern "C" fn get_conn_cb(conn_ref: *mut n::ngtcp2_crypto_conn_ref) -> *mut n::ngtcp2_conn {
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
    match super::reset_token(&me.static_secret, &*cid) {
        // SAFETY: ngtcp2 passes room for the token.
        Some(t) => std::ptr::copy_nonoverlapping(t.as_ptr(), token, t.len()),
        None => return n::NGTCP2_ERR_CALLBACK_FAILURE,
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

unsafe extern "C" fn recv_stateless_reset_cb(
    _conn: *mut n::ngtcp2_conn,
    _sr: *const n::ngtcp2_pkt_stateless_reset2,
    user_data: *mut c_void,
) -> c_int {
    inner(user_data).stateless_reset = true;
    0
}

unsafe extern "C" fn handshake_completed_cb(_conn: *mut n::ngtcp2_conn, user_data: *mut c_void) -> c_int {
    let me = inner(user_data);
    me.handshake_completed = true;
    me.events.push_back(Event::HandshakeCompleted);
    0
}

unsafe extern "C" fn handshake_confirmed_cb(_conn: *mut n::ngtcp2_conn, user_data: *mut c_void) -> c_int {
    inner(user_data).handshake_confirmed = true;
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

pub(super) fn callbacks(is_server: bool) -> n::ngtcp2_callbacks {
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
        cb.select_preferred_addr = Some(select_preferred_addr_cb);
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
    cb.handshake_confirmed = Some(handshake_confirmed_cb);
    cb.recv_stream_data = Some(recv_stream_data_cb);
    cb.acked_stream_data_offset = Some(acked_stream_data_offset_cb);
    cb.stream_close = Some(stream_close_cb);
    cb.stream_reset = Some(stream_reset_cb);
    // The peer's STOP_SENDING (ngtcp2's `stream_stop_sending` fires on our own read shutdown instead).
    cb.recv_stop_sending = Some(stream_stop_sending_cb);
    cb.recv_datagram = Some(recv_datagram_cb);
    cb.recv_stateless_reset2 = Some(recv_stateless_reset_cb);
    cb
}

/// Client: the server offered a preferred address (RFC 9000 9.6). We move to the one of
/// our own address family, from the same local address (ngtcp2 already put the current
/// one in `dest.local`); ngtcp2 validates the new path and switches once it answered.
/// Leaving `dest.remote` empty declines (no address of our family).
unsafe extern "C" fn select_preferred_addr_cb(
    _conn: *mut n::ngtcp2_conn,
    dest: *mut n::ngtcp2_path,
    paddr: *const n::ngtcp2_preferred_addr,
    _user_data: *mut c_void,
) -> c_int {
    let (dest, pa) = (&mut *dest, &*paddr);
    let v4 = (*dest.local.addr).sa_family as c_int == libc::AF_INET;
    if v4 && pa.ipv4_present != 0 {
        n::ngtcp2_addr_copy_byte(&mut dest.remote, &pa.ipv4 as *const _ as *const n::ngtcp2_sockaddr, std::mem::size_of_val(&pa.ipv4) as _);
    } else if !v4 && pa.ipv6_present != 0 {
        n::ngtcp2_addr_copy_byte(&mut dest.remote, &pa.ipv6 as *const _ as *const n::ngtcp2_sockaddr, std::mem::size_of_val(&pa.ipv6) as _);
    }
    0
}

pub(super) unsafe extern "C" fn log_write_cb(_user_data: *mut c_void, msg: *mut std::os::raw::c_char, len: usize) {
    let text = std::slice::from_raw_parts(msg as *const u8, len);
    log::trace!("ngtcp2: {}", String::from_utf8_lossy(text).trim_end());
}

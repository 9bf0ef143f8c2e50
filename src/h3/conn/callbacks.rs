//! nghttp3's callbacks and the state they write into ([`Inner`], owned by the
//! [`super::H3Conn`] and passed to nghttp3 as its user data): header sections,
//! DATA, stream ends and resets become [`H3Event`]s; body chunks are handed to
//! nghttp3 by [`read_data`] and freed as it reports them acknowledged.

use super::H3Event;
use nghttp3_sys as h;
use std::collections::{HashMap, VecDeque};
use std::os::raw::{c_int, c_void};

/// Outgoing body of one stream: chunks not yet handed to nghttp3, and chunks
/// nghttp3 points at until it reports them acknowledged.
#[derive(Default)]
pub(super) struct Body {
    pub(super) pending: VecDeque<Vec<u8>>,
    pub(super) handed: VecDeque<Vec<u8>>,
    pub(super) handed_acked: usize,
    pub(super) buffered: u64,
    pub(super) eof: bool,
    /// The stream's reader returned WOULDBLOCK; it must be resumed when data comes.
    pub(super) blocked: bool,
}

pub(super) struct Partial {
    pub(super) headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub(super) size: u64,
    pub(super) too_large: bool,
}

pub(super) struct Inner {
    pub(super) events: VecDeque<H3Event>,
    pub(super) bodies: HashMap<i64, Body>,
    pub(super) partial: HashMap<i64, Partial>,
    /// Credit to give back to the peer, per stream (nghttp3's deferred consumption and DATA).
    pub(super) consumed: Vec<(i64, u64)>,
    pub(super) resets: Vec<(i64, u64)>,
    pub(super) stops: Vec<(i64, u64)>,
    pub(super) max_field_section_size: u64,
    /// DATA payload is left for the application to credit (H3Config::app_credits_data).
    pub(super) app_credits_data: bool,
}

fn inner<'a>(p: *mut c_void) -> &'a mut Inner {
    // SAFETY: conn_user_data is the Box<Inner> owned by the H3Conn, alive as long as the nghttp3_conn.
    unsafe { &mut *(p as *mut Inner) }
}

fn rcbuf_bytes(b: *mut h::nghttp3_rcbuf) -> Vec<u8> {
    // SAFETY: nghttp3 passes a valid rcbuf for the duration of the callback.
    let v = unsafe { h::nghttp3_rcbuf_get_buf(b) };
    if v.len == 0 {
        return Vec::new();
    }
    // SAFETY: base/len describe the rcbuf's bytes.
    unsafe { std::slice::from_raw_parts(v.base, v.len) }.to_vec()
}

unsafe extern "C" fn acked_stream_data(_c: *mut h::nghttp3_conn, id: i64, mut len: u64, ud: *mut c_void, _s: *mut c_void) -> c_int {
    let me = inner(ud);
    if let Some(b) = me.bodies.get_mut(&id) {
        while len > 0 {
            let Some(front) = b.handed.front() else { break };
            let left = (front.len() - b.handed_acked) as u64;
            if len >= left {
                len -= left;
                b.handed.pop_front();
                b.handed_acked = 0;
            } else {
                b.handed_acked += len as usize;
                len = 0;
            }
        }
    }
    0
}

unsafe extern "C" fn stream_close(_c: *mut h::nghttp3_conn, id: i64, _code: u64, ud: *mut c_void, _s: *mut c_void) -> c_int {
    let me = inner(ud);
    me.bodies.remove(&id);
    me.partial.remove(&id);
    0
}

unsafe extern "C" fn recv_data(_c: *mut h::nghttp3_conn, id: i64, data: *const u8, len: usize, ud: *mut c_void, _s: *mut c_void) -> c_int {
    let me = inner(ud);
    let d = if len == 0 { Vec::new() } else { std::slice::from_raw_parts(data, len).to_vec() };
    if !me.app_credits_data {
        me.consumed.push((id, len as u64));
    }
    me.events.push_back(H3Event::Data { id, data: d });
    0
}

unsafe extern "C" fn deferred_consume(_c: *mut h::nghttp3_conn, id: i64, n: usize, ud: *mut c_void, _s: *mut c_void) -> c_int {
    inner(ud).consumed.push((id, n as u64));
    0
}

unsafe extern "C" fn begin_headers(_c: *mut h::nghttp3_conn, id: i64, ud: *mut c_void, _s: *mut c_void) -> c_int {
    inner(ud).partial.insert(id, Partial { headers: Vec::new(), size: 0, too_large: false });
    0
}

unsafe extern "C" fn recv_header(
    _c: *mut h::nghttp3_conn,
    id: i64,
    _token: i32,
    name: *mut h::nghttp3_rcbuf,
    value: *mut h::nghttp3_rcbuf,
    _flags: u8,
    ud: *mut c_void,
    _s: *mut c_void,
) -> c_int {
    let me = inner(ud);
    let limit = me.max_field_section_size;
    if let Some(p) = me.partial.get_mut(&id) {
        let (n, v) = (rcbuf_bytes(name), rcbuf_bytes(value));
        // RFC 9114 section 4.2.2: size = name + value + 32 per field.
        p.size += (n.len() + v.len() + 32) as u64;
        if p.size > limit {
            p.too_large = true;
            p.headers.clear();
        } else if !p.too_large {
            p.headers.push((n, v));
        }
    }
    0
}

unsafe extern "C" fn end_headers(_c: *mut h::nghttp3_conn, id: i64, fin: c_int, ud: *mut c_void, _s: *mut c_void) -> c_int {
    let me = inner(ud);
    if let Some(p) = me.partial.remove(&id) {
        me.events.push_back(H3Event::Headers { id, headers: p.headers, fin: fin != 0, too_large: p.too_large });
    }
    0
}

unsafe extern "C" fn end_stream(_c: *mut h::nghttp3_conn, id: i64, ud: *mut c_void, _s: *mut c_void) -> c_int {
    inner(ud).events.push_back(H3Event::End { id });
    0
}

unsafe extern "C" fn stop_sending(_c: *mut h::nghttp3_conn, id: i64, code: u64, ud: *mut c_void, _s: *mut c_void) -> c_int {
    let me = inner(ud);
    me.stops.push((id, code));
    0
}

unsafe extern "C" fn reset_stream(_c: *mut h::nghttp3_conn, id: i64, code: u64, ud: *mut c_void, _s: *mut c_void) -> c_int {
    let me = inner(ud);
    me.resets.push((id, code));
    me.events.push_back(H3Event::Aborted { id, code });
    0
}

unsafe extern "C" fn rand_cb(dest: *mut u8, len: usize) {
    // GREASE values only: a xorshift stream is enough. No user data here, so a
    // per-thread state, seeded from wolfSSL's RNG (not the clock: the QUIC core reads no clock).
    thread_local!(static S: std::cell::Cell<u64> = std::cell::Cell::new({
        let mut b = [0u8; 8];
        crate::tls::random_bytes(&mut b);
        u64::from_ne_bytes(b) | 1
    }));
    S.with(|s| {
        for i in 0..len {
            let mut x = s.get();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.set(x);
            *dest.add(i) = x as u8;
        }
    });
}

pub(super) unsafe extern "C" fn read_data(
    _c: *mut h::nghttp3_conn,
    id: i64,
    vec: *mut h::nghttp3_vec,
    veccnt: usize,
    pflags: *mut u32,
    ud: *mut c_void,
    _s: *mut c_void,
) -> h::nghttp3_ssize {
    let me = inner(ud);
    let Some(b) = me.bodies.get_mut(&id) else {
        *pflags |= h::NGHTTP3_DATA_FLAG_EOF;
        return 0;
    };
    let mut n = 0usize;
    while n < veccnt {
        let Some(chunk) = b.pending.pop_front() else { break };
        b.buffered -= chunk.len() as u64;
        // Moving the Vec into `handed` does not move its heap buffer: the pointer stays valid.
        b.handed.push_back(chunk);
        let c = b.handed.back().unwrap();
        *vec.add(n) = h::nghttp3_vec { base: c.as_ptr() as *mut u8, len: c.len() };
        n += 1;
    }
    if b.pending.is_empty() && b.eof {
        *pflags |= h::NGHTTP3_DATA_FLAG_EOF;
    } else if n == 0 {
        b.blocked = true;
        return h::NGHTTP3_ERR_WOULDBLOCK as h::nghttp3_ssize;
    }
    n as h::nghttp3_ssize
}

pub(super) fn callbacks() -> h::nghttp3_callbacks {
    // SAFETY: an all-None callbacks struct is valid; we fill what we use.
    let mut cb: h::nghttp3_callbacks = unsafe { std::mem::zeroed() };
    cb.acked_stream_data = Some(acked_stream_data);
    cb.stream_close = Some(stream_close);
    cb.recv_data = Some(recv_data);
    cb.deferred_consume = Some(deferred_consume);
    cb.begin_headers = Some(begin_headers);
    cb.recv_header = Some(recv_header);
    cb.end_headers = Some(end_headers);
    cb.begin_trailers = Some(begin_headers);
    cb.recv_trailer = Some(recv_header);
    cb.end_trailers = Some(end_headers_trailers);
    cb.stop_sending = Some(stop_sending);
    cb.end_stream = Some(end_stream);
    cb.reset_stream = Some(reset_stream);
    cb.rand = Some(rand_cb);
    cb
}

unsafe extern "C" fn end_headers_trailers(_c: *mut h::nghttp3_conn, id: i64, _fin: c_int, ud: *mut c_void, _s: *mut c_void) -> c_int {
    // Trailers are accepted and ignored.
    inner(ud).partial.remove(&id);
    0
}

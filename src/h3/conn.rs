//! A safe wrapper of an `nghttp3_conn` (server or client side), fed by [`Connection`] events.
//!
//! Data path: stream bytes the QUIC layer delivers go to [`H3Conn::read`]
//! (`nghttp3_conn_read_stream2`); what nghttp3 produces is pulled by
//! [`H3Conn::flush`] (`nghttp3_conn_writev_stream`) and copied into the QUIC
//! connection's own send buffers, which keep it until the peer acknowledges it.
//! Because that copy is made at once, nghttp3's write *and* ack offsets are
//! advanced right after the copy and nghttp3 frees its side immediately.
//!
//! nghttp3 knows nothing about WebTransport. The SETTINGS frame it writes on our
//! control stream is rewritten once, on its way out, to append the settings
//! listed in [`H3Config::extra_settings`] (see docs/ARCHITECTURE.md).

use super::error::H3Error;
use super::varint;
use crate::quic::Connection;
use nghttp3_sys as h;
mod callbacks;

use callbacks::{callbacks, read_data, Body, Inner};
use std::collections::{HashMap, HashSet, VecDeque};
use std::os::raw::{c_int, c_void};

/// What the HTTP/3 layer reports to the application.
#[derive(Debug)]
pub enum H3Event {
    /// A complete request header section (pseudo-headers included).
    Headers { id: i64, headers: Vec<(Vec<u8>, Vec<u8>)>, fin: bool, too_large: bool },
    /// DATA frame payload on a request stream. The bytes are already credited back to the peer.
    Data { id: i64, data: Vec<u8> },
    /// The peer finished its side of a request stream.
    End { id: i64 },
    /// nghttp3 asked for the stream to be reset/stopped (e.g. a malformed message).
    Aborted { id: i64, code: u64 },
}

#[derive(Clone, Debug)]
pub struct H3Config {
    pub max_field_section_size: u64,
    pub max_client_streams_bidi: u64,
    /// SETTINGS nghttp3 does not know, appended to the SETTINGS frame it emits.
    pub extra_settings: Vec<(u64, u64)>,
    /// DATA payload is credited back to the peer by the application (`Ctx::credit`), not on
    /// delivery: backpressure for handlers that consume bodies later (docs/JS_SERVERS.md).
    pub app_credits_data: bool,
}

impl Default for H3Config {
    fn default() -> Self {
        H3Config {
            max_field_section_size: 16 * 1024,
            max_client_streams_bidi: 128,
            extra_settings: vec![(super::SETTINGS_ENABLE_WEBTRANSPORT, 1), (super::SETTINGS_WEBTRANSPORT_MAX_SESSIONS, 16)],
            app_credits_data: false,
        }
    }
}


pub struct H3Conn {
    raw: *mut h::nghttp3_conn,
    inner: Box<Inner>,
    control: i64,
    settings_patched: bool,
    extra_settings: Vec<(u64, u64)>,
    /// Streams whose sending side is gone at the QUIC level.
    write_shut: HashSet<i64>,
    failed: bool,
}


fn lib_error(op: &'static str, rv: i64) -> H3Error {
    H3Error::lib(op, rv)
}

/// The header list nghttp3 copies on submission: one `nghttp3_nv` per (name, value),
/// pointing into `headers` (alive for the call).
fn nv_list(headers: &[(&[u8], &[u8])]) -> Vec<h::nghttp3_nv> {
    headers
        .iter()
        .map(|(n, v)| h::nghttp3_nv { name: n.as_ptr(), value: v.as_ptr(), namelen: n.len(), valuelen: v.len(), flags: h::NGHTTP3_NV_FLAG_NONE as u8 })
        .collect()
}

impl H3Conn {
    /// Creates the server side and opens our control and QPACK streams on `conn`.
    pub fn server(conn: &mut Connection, cfg: &H3Config) -> Result<H3Conn, H3Error> {
        Self::new(conn, cfg, true)
    }

    /// Creates the client side and opens our control and QPACK streams on `conn`.
    pub fn client(conn: &mut Connection, cfg: &H3Config) -> Result<H3Conn, H3Error> {
        Self::new(conn, cfg, false)
    }

    fn new(conn: &mut Connection, cfg: &H3Config, server: bool) -> Result<H3Conn, H3Error> {
        let mut inner = Box::new(Inner {
            events: VecDeque::new(),
            bodies: HashMap::new(),
            partial: HashMap::new(),
            consumed: Vec::new(),
            resets: Vec::new(),
            stops: Vec::new(),
            max_field_section_size: cfg.max_field_section_size,
            app_credits_data: cfg.app_credits_data,
        });
        // SAFETY: settings is filled by nghttp3_settings_default.
        let mut settings: h::nghttp3_settings = unsafe { std::mem::zeroed() };
        unsafe { h::nghttp3_settings_default_versioned(h::NGHTTP3_SETTINGS_VERSION as c_int, &mut settings) };
        settings.max_field_section_size = cfg.max_field_section_size;
        settings.enable_connect_protocol = 1;
        settings.h3_datagram = 1;
        settings.qpack_max_dtable_capacity = 4096;
        // A client must not let the server's header blocks wait for QPACK inserts: a
        // response stream can be complete at the QUIC layer (FIN in, request acked) while
        // its headers still wait for an encoder-stream packet that was lost or reordered;
        // closing it then makes nghttp3 discard the response. 0 forbids blocking blocks.
        settings.qpack_blocked_streams = if server { 100 } else { 0 };
        let cb = callbacks();
        let mut raw = std::ptr::null_mut();
        // SAFETY: callbacks and settings are copied by nghttp3; inner outlives raw (both owned by H3Conn).
        let new_fn = if server { h::nghttp3_conn_server_new_versioned } else { h::nghttp3_conn_client_new_versioned };
        let rv = unsafe {
            new_fn(
                &mut raw,
                h::NGHTTP3_CALLBACKS_VERSION as c_int,
                &cb,
                h::NGHTTP3_SETTINGS_VERSION as c_int,
                &settings,
                std::ptr::null(),
                &mut *inner as *mut Inner as *mut c_void,
            )
        };
        if rv != 0 {
            return Err(lib_error("nghttp3_conn_new", rv as i64));
        }
        let mut me = H3Conn {
            raw,
            inner,
            control: -1,
            settings_patched: cfg.extra_settings.is_empty(),
            extra_settings: cfg.extra_settings.clone(),
            write_shut: HashSet::new(),
            failed: false,
        };
        if server {
            // SAFETY: raw is valid.
            unsafe { h::nghttp3_conn_set_max_client_streams_bidi(me.raw, cfg.max_client_streams_bidi) };
        }
        let open = |conn: &mut Connection| conn.open_uni().map_err(H3Error::OpenStream);
        let ctrl = open(conn)?;
        let enc = open(conn)?;
        let dec = open(conn)?;
        me.control = ctrl;
        // SAFETY: raw is valid; the ids are fresh local uni streams.
        let rv = unsafe { h::nghttp3_conn_bind_control_stream(me.raw, ctrl) };
        if rv != 0 {
            return Err(lib_error("bind control stream", rv as i64));
        }
        let rv = unsafe { h::nghttp3_conn_bind_qpack_streams(me.raw, enc, dec) };
        if rv != 0 {
            return Err(lib_error("bind qpack streams", rv as i64));
        }
        Ok(me)
    }

    pub fn failed(&self) -> bool {
        self.failed
    }

    /// Feeds stream bytes received from the peer. Gives flow-control credit back
    /// for what nghttp3 consumed. An error is a connection error (close with `code`).
    pub fn read(&mut self, conn: &mut Connection, id: i64, data: &[u8], fin: bool, now: u64) -> Result<(), H3Error> {
        if self.failed {
            return Ok(());
        }
        // SAFETY: raw is valid; data is readable for its length.
        let rv = unsafe { h::nghttp3_conn_read_stream2(self.raw, id, data.as_ptr(), data.len(), fin as c_int, now) };
        if rv < 0 {
            let stream_error = rv as c_int == h::NGHTTP3_ERR_MALFORMED_HTTP_HEADER || rv as c_int == h::NGHTTP3_ERR_MALFORMED_HTTP_MESSAGING;
            if stream_error && id & 2 == 0 {
                // RFC 9114 section 4.1.2: a malformed request is a stream error (H3_MESSAGE_ERROR).
                let code = lib_error("read stream", rv as i64).code();
                self.inner.partial.remove(&id);
                conn.consume(id, data.len() as u64);
                conn.stream_stop_sending(id, code);
                conn.stream_reset_write(id, code);
                self.shutdown_write(id);
                self.peer_reset(id);
                self.apply(conn);
                return Ok(());
            }
            self.failed = true;
            return Err(lib_error("read stream", rv as i64));
        }
        if rv > 0 {
            conn.consume(id, rv as u64);
        }
        self.apply(conn);
        Ok(())
    }

    /// Applies what callbacks asked for: credit, resets, stop-sendings.
    fn apply(&mut self, conn: &mut Connection) {
        for (id, n) in self.inner.consumed.drain(..) {
            conn.consume(id, n);
        }
        for (id, code) in std::mem::take(&mut self.inner.resets) {
            conn.stream_reset_write(id, code);
            self.shutdown_write(id);
        }
        for (id, code) in std::mem::take(&mut self.inner.stops) {
            conn.stream_stop_sending(id, code);
        }
    }

    pub fn poll_event(&mut self) -> Option<H3Event> {
        self.inner.events.pop_front()
    }

    /// Submits a response. The body is fed with [`push_body`](Self::push_body) and
    /// ended with [`end_body`](Self::end_body); `has_body = false` finishes the stream after the headers.
    pub fn respond(&mut self, id: i64, headers: &[(&[u8], &[u8])], has_body: bool) -> Result<(), H3Error> {
        self.submit(id, headers, has_body.then(Body::default), true)
    }

    /// Client side: submits a request on the fresh bidi stream `id`, with an optional body.
    pub fn request(&mut self, id: i64, headers: &[(&[u8], &[u8])], body: Option<Vec<u8>>) -> Result<(), H3Error> {
        let body = body.map(|b| {
            let mut e = Body { buffered: b.len() as u64, eof: true, ..Default::default() };
            if !b.is_empty() {
                e.pending.push_back(b);
            }
            e
        });
        self.submit(id, headers, body, false)
    }

    /// Client side: submits a request whose body stays open (Extended CONNECT,
    /// RFC 9220): fed with [`push_body`](Self::push_body), finished with [`end_body`](Self::end_body).
    pub fn request_streaming(&mut self, id: i64, headers: &[(&[u8], &[u8])]) -> Result<(), H3Error> {
        self.submit(id, headers, Some(Body::default()), false)
    }

    /// The one place header lists reach nghttp3: a response (`response`) or a request on `id`,
    /// with a body reader when `body` is given (its initial contents queued).
    fn submit(&mut self, id: i64, headers: &[(&[u8], &[u8])], body: Option<Body>, response: bool) -> Result<(), H3Error> {
        let nva = nv_list(headers);
        let dr = h::nghttp3_data_reader { read_data: Some(read_data) };
        let has_body = body.is_some();
        if let Some(b) = body {
            let e = self.inner.bodies.entry(id).or_default();
            e.buffered += b.buffered;
            e.pending.extend(b.pending);
            e.eof |= b.eof;
        }
        let drp = if has_body { &dr as *const h::nghttp3_data_reader } else { std::ptr::null() };
        // SAFETY: nva points into `headers` (copied by nghttp3); dr is copied.
        let rv = unsafe {
            if response {
                h::nghttp3_conn_submit_response(self.raw, id, nva.as_ptr(), nva.len(), drp)
            } else {
                h::nghttp3_conn_submit_request(self.raw, id, nva.as_ptr(), nva.len(), drp, std::ptr::null_mut())
            }
        };
        if rv != 0 {
            self.inner.bodies.remove(&id);
            return Err(lib_error(if response { "submit response" } else { "submit request" }, rv as i64));
        }
        Ok(())
    }

    pub fn push_body(&mut self, id: i64, data: Vec<u8>) {
        if data.is_empty() {
            return;
        }
        if let Some(b) = self.inner.bodies.get_mut(&id) {
            if b.eof {
                return;
            }
            b.buffered += data.len() as u64;
            b.pending.push_back(data);
            self.resume(id);
        }
    }

    pub fn end_body(&mut self, id: i64) {
        if let Some(b) = self.inner.bodies.get_mut(&id) {
            b.eof = true;
            self.resume(id);
        }
    }

    fn resume(&mut self, id: i64) {
        let raw = self.raw;
        if let Some(b) = self.inner.bodies.get_mut(&id) {
            if b.blocked {
                b.blocked = false;
                // SAFETY: raw is valid.
                unsafe { h::nghttp3_conn_resume_stream(raw, id) };
            }
        }
    }

    /// Body bytes queued in this layer over all streams, not yet handed to QUIC.
    pub fn pending_bytes(&self) -> u64 {
        self.inner.bodies.values().map(|b| b.buffered).sum()
    }

    /// Body bytes queued in this layer and not yet handed to QUIC.
    pub fn body_buffered(&self, id: i64) -> u64 {
        self.inner.bodies.get(&id).map_or(0, |b| b.buffered)
    }

    pub fn has_body(&self, id: i64) -> bool {
        self.inner.bodies.contains_key(&id)
    }

    /// Tells nghttp3 the sending side of `id` is gone (we or the peer reset it).
    pub fn shutdown_write(&mut self, id: i64) {
        if self.write_shut.insert(id) {
            self.inner.bodies.remove(&id);
            // SAFETY: raw is valid.
            unsafe { h::nghttp3_conn_shutdown_stream_write(self.raw, id) };
        }
    }

    /// The peer reset its sending side of `id`.
    pub fn peer_reset(&mut self, id: i64) {
        // SAFETY: raw is valid.
        unsafe { h::nghttp3_conn_shutdown_stream_read(self.raw, id) };
    }

    /// The QUIC stream is closed in both directions. Closing a critical stream is a connection error.
    pub fn stream_closed(&mut self, id: i64, code: u64) -> Result<(), H3Error> {
        self.write_shut.remove(&id);
        // SAFETY: raw is valid.
        let rv = unsafe { h::nghttp3_conn_close_stream(self.raw, id, code) };
        if rv != 0 && rv != h::NGHTTP3_ERR_STREAM_NOT_FOUND {
            self.failed = true;
            return Err(lib_error("close stream", rv as i64));
        }
        Ok(())
    }

    /// Starts a graceful shutdown: GOAWAY naming the last accepted request.
    pub fn shutdown(&mut self) {
        // SAFETY: raw is valid.
        unsafe { h::nghttp3_conn_shutdown(self.raw) };
    }

    /// Moves everything nghttp3 has to send into the QUIC connection's buffers.
    pub fn flush(&mut self, conn: &mut Connection) -> Result<(), H3Error> {
        if self.failed {
            return Ok(());
        }
        let mut vecs = [h::nghttp3_vec { base: std::ptr::null_mut(), len: 0 }; 16];
        // Bounded: each round either moves bytes or finishes a stream; nghttp3 reports -1 when idle.
        for _ in 0..100_000 {
            let mut id: i64 = -1;
            let mut fin: c_int = 0;
            // SAFETY: raw is valid; vecs has room for 16 entries.
            let n = unsafe { h::nghttp3_conn_writev_stream(self.raw, &mut id, &mut fin, vecs.as_mut_ptr(), vecs.len()) };
            if n < 0 {
                self.failed = true;
                return Err(lib_error("writev stream", n as i64));
            }
            if id < 0 {
                break;
            }
            let mut bytes = Vec::with_capacity(vecs[..n as usize].iter().map(|v| v.len).sum());
            for v in &vecs[..n as usize] {
                if v.len > 0 {
                    // SAFETY: nghttp3 vouches for base/len until the ack offset passes them.
                    bytes.extend_from_slice(unsafe { std::slice::from_raw_parts(v.base, v.len) });
                }
            }
            let written = bytes.len() as u64;
            if id == self.control && !self.settings_patched {
                self.settings_patched = true;
                bytes = patch_settings(&bytes, &self.extra_settings);
            }
            if !self.write_shut.contains(&id) && conn.stream_send_owned(id, bytes, fin != 0).is_err() {
                self.shutdown_write(id);
            }
            // SAFETY: raw is valid; `written` bytes of this stream were just taken.
            unsafe {
                h::nghttp3_conn_add_write_offset(self.raw, id, written as usize);
                h::nghttp3_conn_add_ack_offset(self.raw, id, written);
            }
        }
        self.apply(conn);
        Ok(())
    }
}

impl Drop for H3Conn {
    fn drop(&mut self) {
        // SAFETY: raw came from nghttp3_conn_server_new and is freed once.
        unsafe { h::nghttp3_conn_del(self.raw) };
    }
}

/// Rewrites the start of our control stream (`0x00` stream type, then a
/// SETTINGS frame) to append `extra` settings. Anything after the frame is
/// kept. If the bytes are not what nghttp3 is known to write, they pass unchanged.
pub fn patch_settings(bytes: &[u8], extra: &[(u64, u64)]) -> Vec<u8> {
    let parse = || -> Option<Vec<u8>> {
        let (st, a) = varint::decode(bytes)?;
        let (ft, b) = varint::decode(&bytes[a..])?;
        let (len, c) = varint::decode(&bytes[a + b..])?;
        if st != 0 || ft != super::FRAME_SETTINGS {
            return None;
        }
        let start = a + b + c;
        let end = start.checked_add(len as usize)?;
        if end > bytes.len() {
            return None;
        }
        let mut payload = bytes[start..end].to_vec();
        for &(k, v) in extra {
            varint::encode(k, &mut payload);
            varint::encode(v, &mut payload);
        }
        let mut out = Vec::with_capacity(bytes.len() + 16);
        varint::encode(0, &mut out);
        varint::encode(super::FRAME_SETTINGS, &mut out);
        varint::encode(payload.len() as u64, &mut out);
        out.extend_from_slice(&payload);
        out.extend_from_slice(&bytes[end..]);
        Some(out)
    };
    match parse() {
        Some(b) => b,
        None => {
            log::warn!("h3: control stream does not start with SETTINGS; extra settings not sent");
            bytes.to_vec()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_appended() {
        // stream type 0, SETTINGS len 4: (0x08=1), (0x33=1), then a GOAWAY-like trailer kept as is.
        let orig = [0x00, 0x04, 0x04, 0x08, 0x01, 0x33, 0x01, 0x07, 0x01, 0x00];
        let out = patch_settings(&orig, &[(0x2b603742, 1)]);
        assert_eq!(&out[..2], &[0x00, 0x04]);
        let (len, n) = varint::decode(&out[2..]).unwrap();
        assert_eq!(len, 4 + 5);
        let payload = &out[2 + n..2 + n + len as usize];
        assert_eq!(&payload[..4], &[0x08, 0x01, 0x33, 0x01]);
        assert_eq!(&payload[4..], &[0x80 | 0x2b, 0x60, 0x37, 0x42, 0x01]);
        assert_eq!(&out[2 + n + len as usize..], &[0x07, 0x01, 0x00]);
        // Unknown shapes pass through.
        assert_eq!(patch_settings(&[0x01, 0x02], &[(1, 1)]), vec![0x01, 0x02]);
    }
}

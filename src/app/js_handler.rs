//! The HTTP/3 [`Handler`] whose logic is JavaScript's (issue 10; docs/JS_SERVERS.md).
//!
//! Rust hands JavaScript each request event through non-suspending imports
//! (`sjs_request`, `sjs_data`, `sjs_end`, `sjs_gone`, `sjs_conn_closed`): they
//! only queue the event on the JavaScript side and return. JavaScript's answers
//! are pulled in `on_tick` with `sjs_pull`, one action at a time per stream,
//! never more body bytes than the stream's window and the connection's buffer
//! budget allow. When JavaScript has something new it marks the connection
//! (`sjs_pending`) and interrupts the driver's `poll`; the driver then re-reads
//! every application's [`Handler::timeout`], which is "now" for a marked
//! connection, so exactly those connections tick.
//!
//! The imports exist only in the wasm build (emscripten/src/lib/libjs_handler.js
//! forwards them to `Module.jsHandler`, which api/h3_server.js provides). A
//! native build has no JavaScript: [`JsBridge`] is the seam, and
//! `socket-iwa-server --js-handler` refuses to start natively.

use crate::h3::handler::{Ctx, Handler, Request};
use crate::h3::wt::WebTransportHandler;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

/// Response bytes of one stream kept queued (HTTP/3 layer + QUIC unacknowledged).
pub const RESPONSE_WINDOW: u64 = 1 << 20;
/// Largest action one `sjs_pull` may write (a header section or a body chunk).
pub const PULL_BUFFER: usize = 64 * 1024;

/// Action kinds in a pulled record (first byte), docs/JS_SERVERS.md "Wire format".
pub const ACT_HEAD: u8 = 1;
pub const ACT_BODY: u8 = 2;
pub const ACT_END: u8 = 3;
pub const ACT_RESET: u8 = 4;

/// What the handler needs from the JavaScript side. The wasm build implements it
/// with imported functions ([`Imports`]); none of them may suspend.
pub trait JsBridge {
    /// A request's header section (encoded as in [`encode_request`]).
    fn request(&mut self, conn: u32, stream: i64, head: &[u8], fin: bool);
    fn data(&mut self, conn: u32, stream: i64, data: &[u8]);
    fn end(&mut self, conn: u32, stream: i64);
    fn gone(&mut self, conn: u32, stream: i64);
    fn conn_closed(&mut self, conn: u32);
    /// The connection's peer moved (it migrated, or its NAT rebound): `peer` is the new `addr:port`.
    fn conn_path(&mut self, conn: u32, peer: &[u8]);
    /// JavaScript has new actions for this connection since its last tick; `clear` resets the mark.
    fn pending(&self, conn: u32, clear: bool) -> bool;
    /// The next action for `stream` into `buf` (0: none). Body bytes at most `max_body`.
    fn pull(&mut self, conn: u32, stream: i64, buf: &mut [u8], max_body: u64) -> usize;
    /// Bytes JavaScript holds for this connection (request bodies it has not read).
    fn buffered(&self, conn: u32) -> u64;
    /// Request body bytes of `stream` the JavaScript handler has read (or discarded) since the last call.
    fn take_read(&mut self, conn: u32, stream: i64) -> u64;
    /// Extended CONNECT webtransport (`head` as [`encode_request`]): JavaScript's session
    /// (src/app/js_wt.rs), or None without a 'webtransport' listener (404).
    fn webtransport(&mut self, _conn: u32, _head: &[u8]) -> Option<Box<dyn WebTransportHandler>> {
        None
    }
}

static NEXT_CONN: AtomicU32 = AtomicU32::new(1);

/// State of one request/response, by request stream id.
#[derive(Default)]
struct Pending {
    headed: bool,
    /// Request body bytes handed to JavaScript, and how many of them it read (stream credit given back).
    received: u64,
    credited: u64,
    /// Held (unread) bytes whose connection-level credit waits for the read, see [`JsHandler::on_data`].
    conn_owed: u64,
}

/// One per connection (like every [`Handler`]).
pub struct JsHandler<B: JsBridge> {
    bridge: B,
    conn: u32,
    /// The peer's address JavaScript was last told of (its requests carry it; `conn_path` when it moves).
    peer: super::js_wt::PeerWatch,
    /// Request streams JavaScript still owes (part of) an answer on.
    open: BTreeMap<i64, Pending>,
    /// Request body bytes JavaScript holds unread, over all streams (Σ received − credited).
    held: u64,
    buf: Vec<u8>,
    /// Request body bytes not yet handed to JavaScript: one `data` call per request and receive
    /// batch (one chunk for the body's reader), before any other call and at the tick.
    inbound: super::js_wt::Inbound,
}

impl<B: JsBridge> JsHandler<B> {
    /// Forgets `id`, crediting what JavaScript never read (the connection's window must not shrink).
    fn close_stream(&mut self, cx: &mut Ctx, id: i64) {
        if let Some(p) = self.open.remove(&id) {
            self.held -= p.received - p.credited;
            cx.credit_stream(id, p.received - p.credited);
            cx.credit_connection(p.conn_owed);
        }
    }

    pub fn new(bridge: B) -> Self {
        JsHandler {
            bridge,
            conn: NEXT_CONN.fetch_add(1, Ordering::Relaxed),
            peer: Default::default(),
            open: BTreeMap::new(),
            held: 0,
            buf: vec![0; PULL_BUFFER + 16],
            inbound: Default::default(),
        }
    }

    /// Hands JavaScript the request body bytes gathered since its last call, one per stream.
    fn flush_inbound(&mut self) {
        for (id, data) in self.inbound.take() {
            self.bridge.data(self.conn, id, &data);
        }
    }

    /// Applies one pulled action; returns the body bytes it queued, or None when the stream is done.
    fn apply(&mut self, cx: &mut Ctx, id: i64, n: usize) -> Option<u64> {
        let rec = &self.buf[..n];
        match rec[0] {
            ACT_HEAD if rec.len() >= 4 => {
                let has_body = rec[1] != 0;
                let status = u16::from_le_bytes([rec[2], rec[3]]).to_string();
                let Some(fields) = decode_fields(&rec[4..]) else {
                    log::warn!("js handler: malformed response head on stream {id}");
                    cx.respond_static(id, b"500", b"internal server error\n");
                    return None;
                };
                let mut hdrs: Vec<(&[u8], &[u8])> = vec![(b":status", status.as_bytes())];
                hdrs.extend(fields.iter().map(|(k, v)| (*k, *v)));
                if cx.respond(id, &hdrs, has_body).is_err() || !has_body {
                    return None;
                }
                if let Some(p) = self.open.get_mut(&id) {
                    p.headed = true;
                }
                Some(0)
            }
            ACT_BODY => {
                cx.push_body(id, rec[1..].to_vec());
                Some((n - 1) as u64)
            }
            ACT_END => {
                cx.end_body(id);
                None
            }
            ACT_RESET if rec.len() >= 9 => {
                let code = u64::from_le_bytes(rec[1..9].try_into().unwrap_or([0; 8]));
                cx.conn.stream_shutdown(id, code);
                None
            }
            k => {
                log::warn!("js handler: unknown action {k} ({n} bytes) on stream {id}");
                cx.conn.stream_shutdown(id, 0x102); // H3_INTERNAL_ERROR
                None
            }
        }
    }
}

impl<B: JsBridge> Drop for JsHandler<B> {
    fn drop(&mut self) {
        self.bridge.conn_closed(self.conn);
    }
}

/// Header fields: repeated (u16 LE name length, name, u32 LE value length, value).
pub fn encode_fields(out: &mut Vec<u8>, fields: &[(Vec<u8>, Vec<u8>)]) {
    for (k, v) in fields {
        out.extend_from_slice(&(k.len() as u16).to_le_bytes());
        out.extend_from_slice(k);
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
        out.extend_from_slice(v);
    }
}

pub fn decode_fields(mut b: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let mut v = Vec::new();
    while !b.is_empty() {
        let nl = u16::from_le_bytes(b.get(..2)?.try_into().ok()?) as usize;
        let name = b.get(2..2 + nl)?;
        b = &b[2 + nl..];
        let vl = u32::from_le_bytes(b.get(..4)?.try_into().ok()?) as usize;
        let value = b.get(4..4 + vl)?;
        b = &b[4 + vl..];
        v.push((name, value));
    }
    Some(v)
}

/// A request head for JavaScript: u16 LE peer length, peer ("addr:port"), then the fields
/// as received (pseudo-headers included).
pub fn encode_request(peer: &str, headers: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + headers.iter().map(|(k, v)| k.len() + v.len() + 6).sum::<usize>());
    out.extend_from_slice(&(peer.len() as u16).to_le_bytes());
    out.extend_from_slice(peer.as_bytes());
    encode_fields(&mut out, headers);
    out
}

impl<B: JsBridge> Handler for JsHandler<B> {
    fn on_request(&mut self, cx: &mut Ctx, req: Request) {
        // Extended CONNECT websocket (RFC 9220) goes to JavaScript like any request: it answers
        // 200 and the stream stays open, WebSocket frames as DATA both ways, or 501 when nothing
        // listens for 'websocket' (docs/JS_SERVERS.md, "WebSocket over HTTP/3").
        self.open.insert(req.id, Pending::default());
        self.flush_inbound();
        // The peer as it is now: a client that migrated or whose NAT rebound is at its new address.
        let head = encode_request(&cx.conn.remote_addr().to_string(), &req.headers);
        self.bridge.request(self.conn, req.id, &head, req.fin);
    }

    fn on_data(&mut self, cx: &mut Ctx, id: i64, data: Vec<u8>) {
        match self.open.get_mut(&id) {
            Some(p) => {
                // Stream credit is given back only as JavaScript reads (on_tick): backpressure
                // to the peer, at most one stream window held per request. Connection credit
                // goes back now while the bytes held stay under a quarter of the connection budget, so
                // handlers that read slowly do not close the connection's window on its other
                // requests (docs/JS_SERVERS.md "Request bodies held by JavaScript").
                let n = data.len() as u64;
                p.received += n;
                self.held += n;
                let cap = cx.conn.buffer_limit().map_or(u64::MAX, |l| l / 4);
                if self.held <= cap {
                    cx.credit_connection(n);
                } else {
                    p.conn_owed += n;
                }
                self.inbound.add(id, data);
            }
            // A stream JavaScript is done with (answered before reading the whole body).
            None => cx.credit(id, data.len() as u64),
        }
    }

    fn credits_body(&self) -> bool {
        true
    }

    fn on_webtransport(&mut self, cx: &mut Ctx, req: &Request) -> Option<Box<dyn WebTransportHandler>> {
        self.flush_inbound();
        self.bridge.webtransport(self.conn, &encode_request(&cx.conn.remote_addr().to_string(), &req.headers))
    }

    fn on_end(&mut self, _cx: &mut Ctx, id: i64) {
        if self.open.contains_key(&id) {
            self.flush_inbound();
            self.bridge.end(self.conn, id);
        }
    }

    fn on_gone(&mut self, cx: &mut Ctx, id: i64) {
        if self.open.contains_key(&id) {
            self.flush_inbound();
            self.close_stream(cx, id);
            self.bridge.gone(self.conn, id);
        }
    }

    fn on_tick(&mut self, cx: &mut Ctx) {
        self.flush_inbound();
        // A peer that moved: its open WebSockets' remoteAddress/remotePort follow it.
        if let Some(peer) = self.peer.moved(cx.conn.remote_addr()) {
            self.bridge.conn_path(self.conn, peer.to_string().as_bytes());
        }
        // Clears the mark: what JavaScript adds from now on marks it again.
        self.bridge.pending(self.conn, true);
        if self.open.is_empty() {
            return;
        }
        let mut room = cx.budget_room();
        let ids: Vec<i64> = self.open.keys().copied().collect();
        for id in ids {
            let read = self.bridge.take_read(self.conn, id);
            if let Some(p) = self.open.get_mut(&id) {
                let n = read.min(p.received - p.credited);
                p.credited += n;
                self.held -= n;
                cx.credit_stream(id, n);
                // The bytes still held keep at most their own connection credit owed.
                let c = p.conn_owed.saturating_sub(p.received - p.credited);
                p.conn_owed -= c;
                cx.credit_connection(c);
            }
            loop {
                let headed = self.open.get(&id).is_some_and(|p| p.headed);
                let max_body = if headed { RESPONSE_WINDOW.saturating_sub(cx.queued(id)).min(room).min(PULL_BUFFER as u64) } else { 0 };
                let mut buf = std::mem::take(&mut self.buf);
                let n = self.bridge.pull(self.conn, id, &mut buf, max_body);
                self.buf = buf;
                if n == 0 {
                    break;
                }
                match self.apply(cx, id, n.min(self.buf.len())) {
                    Some(used) => room = room.saturating_sub(used),
                    None => {
                        // Done, or refused by the session: either way JavaScript forgets it
                        // (a no-op when its last action already ended the stream there).
                        self.close_stream(cx, id);
                        self.bridge.gone(self.conn, id);
                        break;
                    }
                }
            }
        }
    }

    fn timeout(&self) -> Option<u64> {
        // "Now" while JavaScript has new actions for a stream it owes an answer on;
        // the driver asks again after JavaScript interrupts its poll.
        (!self.open.is_empty() && self.bridge.pending(self.conn, false)).then_some(0)
    }

    fn buffered(&self) -> u64 {
        self.bridge.buffered(self.conn)
    }
}

/// The wasm build's bridge: the imports of emscripten/src/lib/libjs_handler.js. None suspends.
#[cfg(target_os = "emscripten")]
pub mod imports {
    extern "C" {
        fn sjs_request(conn: u32, stream: f64, head: *const u8, len: usize, fin: i32);
        fn sjs_data(conn: u32, stream: f64, data: *const u8, len: usize);
        fn sjs_end(conn: u32, stream: f64);
        fn sjs_gone(conn: u32, stream: f64);
        fn sjs_conn_closed(conn: u32);
        fn sjs_conn_path(conn: u32, peer: *const u8, len: usize);
        fn sjs_pending(conn: u32, clear: i32) -> i32;
        fn sjs_pull(conn: u32, stream: f64, buf: *mut u8, cap: usize, max_body: f64) -> usize;
        fn sjs_buffered(conn: u32) -> f64;
        fn sjs_control(clear_woken: i32) -> i32;
        fn sjs_take_read(conn: u32, stream: f64) -> f64;
    }

    /// Bits of [`control`].
    pub const CONTROL_WOKEN: i32 = 1;
    pub const CONTROL_STOP: i32 = 2;
    /// JavaScript wants a new certificate (renewal; api/server_storage.js).
    pub const CONTROL_RENEW: i32 = 4;

    /// JavaScript asked the server to stop (`server.close()`).
    pub fn stop_requested() -> bool {
        // SAFETY: an imported function taking an int.
        unsafe { sjs_control(0) & CONTROL_STOP != 0 }
    }

    /// JavaScript woke the driver since the last call (clears the mark).
    pub fn woken() -> bool {
        // SAFETY: as above.
        unsafe { sjs_control(1) & CONTROL_WOKEN != 0 }
    }

    /// The control bits, clearing the woken and renew marks.
    pub fn take_control() -> i32 {
        // SAFETY: as above.
        unsafe { sjs_control(1) }
    }

    /// The [`super::JsBridge`] of the wasm build.
    #[derive(Default)]
    pub struct Imports;

    // SAFETY (all calls below): the imports read exactly `len` bytes at the pointer, or write
    // at most `cap` bytes into `buf`, and keep no pointer after returning.
    impl super::JsBridge for Imports {
        fn request(&mut self, conn: u32, stream: i64, head: &[u8], fin: bool) {
            unsafe { sjs_request(conn, stream as f64, head.as_ptr(), head.len(), fin as i32) }
        }
        fn data(&mut self, conn: u32, stream: i64, data: &[u8]) {
            unsafe { sjs_data(conn, stream as f64, data.as_ptr(), data.len()) }
        }
        fn end(&mut self, conn: u32, stream: i64) {
            unsafe { sjs_end(conn, stream as f64) }
        }
        fn gone(&mut self, conn: u32, stream: i64) {
            unsafe { sjs_gone(conn, stream as f64) }
        }
        fn conn_closed(&mut self, conn: u32) {
            unsafe { sjs_conn_closed(conn) }
        }
        fn conn_path(&mut self, conn: u32, peer: &[u8]) {
            unsafe { sjs_conn_path(conn, peer.as_ptr(), peer.len()) }
        }
        fn pending(&self, conn: u32, clear: bool) -> bool {
            unsafe { sjs_pending(conn, clear as i32) != 0 }
        }
        fn pull(&mut self, conn: u32, stream: i64, buf: &mut [u8], max_body: u64) -> usize {
            unsafe { sjs_pull(conn, stream as f64, buf.as_mut_ptr(), buf.len(), max_body as f64) }
        }
        fn buffered(&self, conn: u32) -> u64 {
            unsafe { sjs_buffered(conn) as u64 }
        }
        fn take_read(&mut self, conn: u32, stream: i64) -> u64 {
            unsafe { sjs_take_read(conn, stream as f64) as u64 }
        }
        fn webtransport(&mut self, conn: u32, head: &[u8]) -> Option<Box<dyn crate::h3::wt::WebTransportHandler>> {
            crate::app::js_wt::imports::accept(conn, head)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_truncation_is_refused() {
        let f = vec![(b"content-type".to_vec(), b"text/plain".to_vec()), (b"x".to_vec(), Vec::new())];
        let mut b = Vec::new();
        encode_fields(&mut b, &f);
        let d = decode_fields(&b).unwrap();
        assert_eq!(d, vec![(&b"content-type"[..], &b"text/plain"[..]), (&b"x"[..], &b""[..])]);
        assert!(decode_fields(&b[..b.len() - 1]).is_none());
        assert!(decode_fields(&b[..3]).is_none());
    }
}

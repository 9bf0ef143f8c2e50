//! The demo routes of `socket-iwa-server`'s HTTP/3 side, one [`Handler`] among others:
//! - `GET /` a small info page, `GET /bytes/N` N deterministic bytes
//!   (byte i = i*31 mod 251, streamed within a window and the connection's
//!   buffer budget), `POST /echo` the request body back as it arrives, other
//!   methods on those paths 405, other paths 404;
//! - WebTransport `/wt/echo` ([`EchoHandler`]); WebSocket over HTTP/3 `/ws/echo` (RFC 9220 echo);
//! - with [`DemoRoutes::with_static`] (`--static`), any other `GET`/`HEAD` is looked
//!   up in the static directories first ([`StaticFiles`]); the routes above always win,
//!   and a path with no file there falls back to the demo (the info page at `/`, else 404).

use crate::h3::handler::{Ctx, Handler, Request};
use crate::h3::ws::{self, WsEvent, WsParser};
use crate::h3::wt::{EchoHandler, WebTransportHandler};
use super::static_files::{StaticConfig, StaticFiles};
use std::collections::HashMap;
use std::sync::Arc;

/// Largest WebSocket message (also at most half the connection's buffer budget).
const MAX_BODY: usize = 16 << 20;
/// Largest `/bytes/N`.
const MAX_BYTES: u64 = 1 << 34;
/// Response bytes kept queued (HTTP/3 layer + QUIC unacked) per download.
const DOWNLOAD_WINDOW: u64 = 2 << 20;

/// Byte `i` of every `/bytes/N` body.
pub fn bytes_pattern(i: u64) -> u8 {
    (i.wrapping_mul(31) % 251) as u8
}

/// Bytes `off..off + n` of the pattern, copied from a precomputed stretch of it (the
/// pattern repeats every 251 bytes) rather than computed byte by byte: computing each
/// byte was a third of the server's CPU in a 32 MiB GET (docs/perf/native_io.md).
fn pattern_chunk(off: u64, n: usize) -> Vec<u8> {
    const STRETCH: usize = 64 * 1024 + 251;
    static PATTERN: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let pattern = PATTERN.get_or_init(|| (0..STRETCH as u64).map(bytes_pattern).collect());
    let start = (off % 251) as usize;
    if n <= STRETCH - 251 {
        return pattern[start..start + n].to_vec();
    }
    (off..off + n as u64).map(bytes_pattern).collect()
}

enum Req {
    /// `POST /echo`: the body streams back as it arrives (the 200 went out with the request headers).
    Echo,
    Ws { parser: WsParser, closed: bool },
    /// `GET /bytes/N`: next offset, total.
    Download { off: u64, total: u64 },
}

/// Per-connection state of the demo: the requests still being answered.
#[derive(Default)]
pub struct DemoRoutes {
    reqs: HashMap<i64, Req>,
    files: Option<StaticFiles>,
}

/// Paths the demo keeps for itself even when a static directory is mounted at `/`.
fn demo_route(route: &str) -> bool {
    route == "/echo" || route == "/bytes" || route.starts_with("/bytes/")
}

impl DemoRoutes {
    /// The demo routes plus static files from `cfg`'s mounts (no mounts: the plain demo).
    pub fn with_static(cfg: Arc<StaticConfig>) -> Self {
        DemoRoutes { reqs: HashMap::new(), files: (!cfg.is_empty()).then(|| StaticFiles::new(cfg)) }
    }

    fn top_up(&mut self, cx: &mut Ctx, id: i64, room: &mut u64) {
        let Some(Req::Download { off, total }) = self.reqs.get_mut(&id) else { return };
        while *off < *total && cx.queued(id) < DOWNLOAD_WINDOW {
            let n = (64 * 1024).min(*total - *off);
            if *room < n {
                break; // over the connection's buffer budget: resume as the peer acknowledges
            }
            *room -= n;
            let chunk = pattern_chunk(*off, n as usize);
            *off += n;
            cx.push_body(id, chunk);
        }
        if *off >= *total {
            cx.end_body(id);
            self.reqs.remove(&id);
        }
    }
}

impl Handler for DemoRoutes {
    fn on_request(&mut self, cx: &mut Ctx, req: Request) {
        let id = req.id;
        if req.method == "CONNECT" {
            // Only `:protocol = websocket` reaches a handler's on_request.
            if req.route() != "/ws/echo" {
                return cx.respond_static(id, b"404", b"no such WebSocket endpoint\n");
            }
            let hdrs: [(&[u8], &[u8]); 1] = [(b":status", b"200")];
            if cx.respond(id, &hdrs, true).is_ok() {
                let max = cx.conn.buffer_limit().map_or(MAX_BODY, |l| MAX_BODY.min((l / 2) as usize));
                self.reqs.insert(id, Req::Ws { parser: WsParser::new(max), closed: false });
            }
            return;
        }
        if let Some(files) = self.files.as_mut() {
            if !demo_route(req.route()) && files.try_serve(cx, &req) {
                return;
            }
        }
        match (req.method.as_str(), req.route()) {
            ("GET" | "HEAD", "/") => {
                let page = format!(
                    "<!doctype html><title>socket-iwa</title><h1>socket-iwa HTTP/3</h1>\
                     <p>Routes: GET /bytes/N, POST /echo, WebTransport /wt/echo, WebSocket over HTTP/3 /ws/echo.</p>\
                     <pre>{}</pre>\n",
                    crate::library_versions()
                );
                cx.respond_static(id, b"200", page.as_bytes());
            }
            ("GET", p) if p.starts_with("/bytes/") => match p["/bytes/".len()..].parse::<u64>() {
                Ok(n) if n <= MAX_BYTES => {
                    let len = n.to_string();
                    let hdrs: [(&[u8], &[u8]); 3] =
                        [(b":status", b"200"), (b"content-type", b"application/octet-stream"), (b"content-length", len.as_bytes())];
                    if cx.respond(id, &hdrs, n > 0).is_ok() && n > 0 {
                        self.reqs.insert(id, Req::Download { off: 0, total: n });
                        let mut room = cx.budget_room();
                        self.top_up(cx, id, &mut room);
                    }
                }
                _ => cx.respond_static(id, b"400", b"bad length\n"),
            },
            ("POST", "/echo") => {
                // Streamed back as it arrives, so memory is bounded by flow control
                // rather than by the body size (docs/LIMITS.md).
                let cl = req.header(b"content-length").filter(|v| !v.is_empty() && v.len() < 20 && v.iter().all(|b| b.is_ascii_digit()));
                let mut hdrs: Vec<(&[u8], &[u8])> =
                    vec![(b":status", b"200"), (b"server", b"socket-iwa"), (b"content-type", b"application/octet-stream")];
                if let Some(cl) = cl {
                    hdrs.push((b"content-length", cl));
                }
                if cx.respond(id, &hdrs, true).is_ok() {
                    self.reqs.insert(id, Req::Echo);
                    if req.fin {
                        self.on_end(cx, id);
                    }
                }
            }
            (_, "/" | "/echo") => cx.respond_static(id, b"405", b"method not allowed\n"),
            (_, p) if p.starts_with("/bytes/") => cx.respond_static(id, b"405", b"method not allowed\n"),
            _ => cx.respond_static(id, b"404", b"not found\n"),
        }
    }

    fn on_data(&mut self, cx: &mut Ctx, id: i64, data: Vec<u8>) {
        match self.reqs.get_mut(&id) {
            Some(Req::Echo) => cx.push_body(id, data),
            Some(Req::Ws { parser, closed }) => {
                let mut out = Vec::new();
                let mut end = false;
                for ev in parser.feed(&data) {
                    match ev {
                        WsEvent::Message { text, data } => out.extend(ws::frame(if text { ws::OP_TEXT } else { ws::OP_BINARY }, &data)),
                        WsEvent::Ping(p) => out.extend(ws::frame(ws::OP_PONG, &p)),
                        WsEvent::Pong(_) => {}
                        WsEvent::Close { code, reason } => {
                            out.extend(ws::close_frame(code, &reason));
                            end = true;
                        }
                        WsEvent::Fail { code, reason } => {
                            out.extend(ws::close_frame(code, reason));
                            end = true;
                        }
                    }
                }
                if end {
                    *closed = true;
                }
                cx.push_body(id, out);
                if end {
                    cx.end_body(id);
                }
            }
            _ => {}
        }
    }

    fn on_end(&mut self, cx: &mut Ctx, id: i64) {
        match self.reqs.get_mut(&id) {
            Some(Req::Echo) => {
                self.reqs.remove(&id);
                cx.end_body(id);
            }
            Some(Req::Ws { closed, .. }) if !*closed => {
                *closed = true;
                cx.end_body(id);
            }
            _ => {}
        }
    }

    fn on_gone(&mut self, _cx: &mut Ctx, id: i64) {
        self.reqs.remove(&id);
        if let Some(files) = self.files.as_mut() {
            files.gone(id);
        }
    }

    fn on_webtransport(&mut self, _cx: &mut Ctx, req: &Request) -> Option<Box<dyn WebTransportHandler>> {
        (req.route() == "/wt/echo").then(|| Box::new(EchoHandler::default()) as Box<dyn WebTransportHandler>)
    }

    fn on_tick(&mut self, cx: &mut Ctx) {
        if let Some(files) = self.files.as_mut() {
            files.tick(cx);
        }
        let ids: Vec<i64> = self.reqs.iter().filter(|(_, r)| matches!(r, Req::Download { .. })).map(|(&id, _)| id).collect();
        if !ids.is_empty() {
            let mut room = cx.budget_room();
            for id in ids {
                self.top_up(cx, id, &mut room);
            }
        }
    }

    fn buffered(&self) -> u64 {
        self.reqs.values().map(|r| if let Req::Ws { parser, .. } = r { parser.buffered() as u64 } else { 0 }).sum()
    }
}

#[cfg(test)]
mod pattern_tests {
    #[test]
    fn chunks_are_the_pattern() {
        for (off, n) in [(0u64, 0usize), (0, 1), (250, 2), (251, 251), (1000, 65536), (123_456_789, 70_000), (5_000_000_000, 65536)] {
            let want: Vec<u8> = (off..off + n as u64).map(super::bytes_pattern).collect();
            assert_eq!(super::pattern_chunk(off, n), want, "off {off} n {n}");
        }
    }
}

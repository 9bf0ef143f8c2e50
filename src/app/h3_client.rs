//! The HTTP/3 client (ALPN `h3`) used by tests and benchmarks: sends a list of
//! GET/POST requests over one connection (up to `concurrency` at a time),
//! verifies `/bytes/N` bodies against [`bytes_pattern`] and POST echoes
//! against what was sent, and reports statuses, bytes and throughput.

use super::h3::bytes_pattern;
use super::ConnectionApp;
use crate::h3::{H3Config, H3Conn, H3Event};
use crate::quic::{Connection, Event};
use std::collections::{HashMap, VecDeque};

#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub body: Option<Vec<u8>>,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ResponseReport {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub bytes: u64,
    /// `/bytes/N`: N bytes of the pattern; POST /echo: the body sent. Other paths: true when complete.
    pub verified: bool,
    pub ms: f64,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct H3Report {
    pub handshake_ms: Option<f64>,
    pub total_ms: f64,
    pub requests: usize,
    pub completed: usize,
    pub bytes_received: u64,
    /// Response body bytes / time from the first request to the last response (MB/s).
    pub throughput_mbps: f64,
    pub verified: bool,
    pub responses: Vec<ResponseReport>,
    pub error: Option<String>,
}

struct InFlight {
    idx: usize,
    started: u64,
    received: u64,
    ok: bool,
    status: u16,
    done: bool,
}

pub struct H3Client {
    authority: String,
    queue: VecDeque<(usize, Request)>,
    reqs: Vec<Request>,
    concurrency: usize,
    h3: Option<H3Conn>,
    inflight: HashMap<i64, InFlight>,
    start: u64,
    first_req: Option<u64>,
    last_resp: u64,
    pub report: H3Report,
    closed: bool,
}

impl H3Client {
    pub fn new(authority: &str, reqs: Vec<Request>, concurrency: usize, now: u64) -> Self {
        H3Client {
            authority: authority.to_string(),
            queue: reqs.iter().cloned().enumerate().collect(),
            report: H3Report { requests: reqs.len(), responses: vec![ResponseReport::default(); reqs.len()], ..Default::default() },
            reqs,
            concurrency: concurrency.max(1),
            h3: None,
            inflight: HashMap::new(),
            start: now,
            first_req: None,
            last_resp: now,
            closed: false,
        }
    }

    pub fn finished(&self) -> bool {
        self.closed
    }

    fn send_more(&mut self, conn: &mut Connection, now: u64) {
        let Some(h3) = self.h3.as_mut() else { return };
        while self.inflight.values().filter(|f| !f.done).count() < self.concurrency && conn.bidi_streams_left() > 0 {
            let Some((idx, r)) = self.queue.pop_front() else { break };
            let Ok(id) = conn.open_bidi() else {
                self.queue.push_front((idx, r));
                break;
            };
            let hdrs: [(&[u8], &[u8]); 5] = [
                (b":method", r.method.as_bytes()),
                (b":scheme", b"https"),
                (b":authority", self.authority.as_bytes()),
                (b":path", r.path.as_bytes()),
                (b"user-agent", b"socket-iwa"),
            ];
            if let Err(e) = h3.request(id, &hdrs, r.body.clone()) {
                self.report.error = Some(e.what);
                return;
            }
            self.first_req.get_or_insert(now);
            self.inflight.insert(id, InFlight { idx, started: now, received: 0, ok: true, status: 0, done: false });
        }
    }

    fn on_h3(&mut self, now: u64) {
        while let Some(ev) = self.h3.as_mut().and_then(|h| h.poll_event()) {
            match ev {
                H3Event::Headers { id, headers, fin, .. } => {
                    if let Some(f) = self.inflight.get_mut(&id) {
                        let st = headers.iter().find(|(k, _)| k == b":status").and_then(|(_, v)| std::str::from_utf8(v).ok()?.parse().ok());
                        f.status = st.unwrap_or(0);
                        if fin {
                            self.complete(id, now);
                        }
                    }
                }
                H3Event::Data { id, data } => {
                    if let Some(f) = self.inflight.get_mut(&id) {
                        let r = &self.reqs[f.idx];
                        if r.path.starts_with("/bytes/") {
                            f.ok &= data.iter().enumerate().all(|(i, &b)| b == bytes_pattern(f.received + i as u64));
                        } else if let Some(body) = &r.body {
                            let off = f.received as usize;
                            f.ok &= body.get(off..off + data.len()) == Some(&data[..]);
                        }
                        f.received += data.len() as u64;
                    }
                }
                H3Event::End { id } => self.complete(id, now),
                H3Event::Aborted { id, code } => {
                    self.report.error = Some(format!("stream {id} aborted with 0x{code:x}"));
                    self.complete(id, now);
                }
            }
        }
    }

    fn complete(&mut self, id: i64, now: u64) {
        let Some(f) = self.inflight.get_mut(&id) else { return };
        if f.done {
            return;
        }
        f.done = true;
        let r = &self.reqs[f.idx];
        let expect = if let Some(n) = r.path.strip_prefix("/bytes/").and_then(|n| n.parse::<u64>().ok()) {
            Some(n)
        } else {
            r.body.as_ref().map(|b| b.len() as u64)
        };
        let verified = f.status == 200 && f.ok && expect.is_none_or(|n| n == f.received);
        self.report.responses[f.idx] =
            ResponseReport { method: r.method.clone(), path: r.path.clone(), status: f.status, bytes: f.received, verified, ms: (now - f.started) as f64 / 1e6 };
        self.report.completed += 1;
        self.report.bytes_received += f.received;
        self.last_resp = now;
    }

    fn finish(&mut self, conn: &mut Connection, now: u64) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.report.total_ms = (now - self.start) as f64 / 1e6;
        self.report.verified = self.report.completed == self.report.requests && self.report.responses.iter().all(|r| r.verified);
        if let Some(t0) = self.first_req {
            let secs = (self.last_resp.saturating_sub(t0)) as f64 / 1e9;
            if secs > 0.0 {
                self.report.throughput_mbps = self.report.bytes_received as f64 / 1e6 / secs;
            }
        }
        if let Some(h3) = self.h3.as_mut() {
            h3.shutdown();
            let _ = h3.flush(conn);
        }
        conn.close(now, crate::h3::H3_NO_ERROR, "done");
    }
}

impl ConnectionApp for H3Client {
    fn on_event(&mut self, conn: &mut Connection, now: u64, ev: Event) {
        match ev {
            Event::HandshakeCompleted => {
                self.report.handshake_ms = Some((now - self.start) as f64 / 1e6);
                match H3Conn::client(conn, &H3Config { extra_settings: vec![], ..Default::default() }) {
                    Ok(h) => self.h3 = Some(h),
                    Err(e) => self.report.error = Some(e.what),
                }
                self.send_more(conn, now);
            }
            Event::BidiStreamsAvailable => self.send_more(conn, now),
            Event::StreamData { id, data, fin } => {
                let Some(h3) = self.h3.as_mut() else { return };
                if let Err(e) = h3.read(conn, id, &data, fin, now) {
                    self.report.error = Some(e.what);
                    conn.close(now, e.code, "h3 error");
                    return;
                }
                self.on_h3(now);
            }
            Event::StreamReset { id, code } => {
                if let Some(h3) = self.h3.as_mut() {
                    h3.peer_reset(id);
                }
                if self.inflight.contains_key(&id) {
                    self.report.error = Some(format!("stream {id} reset with 0x{code:x}"));
                    self.complete(id, now);
                }
            }
            Event::StreamClosed { id, code } => {
                if let Some(h3) = self.h3.as_mut() {
                    let _ = h3.stream_closed(id, code);
                }
            }
            _ => {}
        }
    }

    fn on_tick(&mut self, conn: &mut Connection, now: u64) {
        if self.closed {
            return;
        }
        if !conn.is_open() {
            self.report.error.get_or_insert_with(|| match conn.close_reason() {
                Some(r) => format!("connection closed: code 0x{:x} {}", r.code, r.reason),
                None => "connection closed".into(),
            });
            self.finish(conn, now);
            return;
        }
        self.send_more(conn, now);
        if let Some(h3) = self.h3.as_mut() {
            if let Err(e) = h3.flush(conn) {
                self.report.error = Some(e.what);
            }
        }
        if self.report.completed == self.report.requests || self.report.error.is_some() {
            self.finish(conn, now);
        }
    }
}

//! The scripted WebTransport session: Extended CONNECT with `:protocol =
//! webtransport`, N datagrams (at most [`DGRAM_WINDOW`] in flight), one
//! bidirectional stream (payload, FIN) echoed on itself and one unidirectional
//! stream whose answer comes on a server unidirectional stream, then
//! CLOSE_WEBTRANSPORT_SESSION; every echo is checked byte for byte.

use super::{Phase, CLOSE_REASON};
use socket_iwa::app::echo::pattern;
use socket_iwa::app::h3_client::ClientCtx;
use socket_iwa::h3::WtCloseCause;

/// WebTransport datagrams in flight at once (sent, not yet echoed).
pub const DGRAM_WINDOW: u64 = 32;
/// Datagrams not echoed after this long (ns) without any echo are counted lost.
const DGRAM_LOSS_NS: u64 = 300_000_000;
/// Close code our sessions end with.
pub const WT_CLOSE_CODE: u32 = 0;

#[derive(Clone, Debug)]
pub struct WtOptions {
    pub path: String,
    pub datagrams: u64,
    /// Datagram payload size (at least 8: an index; at most what the peer accepts).
    pub datagram_size: usize,
    /// Bytes sent on each of the two WebTransport streams.
    pub stream_bytes: u64,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct WtReport {
    pub path: String,
    pub status: u16,
    pub session_id: i64,
    /// From the CONNECT to the end of the session.
    pub ms: f64,
    pub datagrams_sent: u64,
    /// Echoes that matched a datagram we sent, byte for byte (each counted once).
    pub datagrams_echoed: u64,
    /// Echoes that did not match (wrong bytes or duplicates).
    pub datagrams_bad: u64,
    pub datagrams_lost: u64,
    pub datagram_size: usize,
    /// Echoed datagrams per second, first send to last echo.
    pub datagrams_per_sec: f64,
    pub bidi_bytes_sent: u64,
    pub bidi_bytes_echoed: u64,
    pub bidi_verified: bool,
    pub uni_bytes_sent: u64,
    pub uni_bytes_echoed: u64,
    pub uni_verified: bool,
    pub close_code: u32,
    /// We sent CLOSE_WEBTRANSPORT_SESSION and the server finished the CONNECT stream.
    pub closed: bool,
    pub verified: bool,
    pub error: Option<String>,
}

pub(super) struct Wt {
    pub(super) opts: WtOptions,
    r: WtReport,
    pub(super) phase: Phase,
    id: i64,
    started: u64,
    dg_size: usize,
    dg_seen: Vec<bool>,
    dg_outstanding: u64,
    dg_progress: u64,
    dg_first: Option<u64>,
    dg_last: u64,
    bidi: Option<i64>,
    bidi_fin: bool,
    bidi_ok: bool,
    uni_reply: Option<i64>,
    uni_fin: bool,
    uni_ok: bool,
}

/// Datagram `idx` of a session: the index (8 bytes, big endian) then pattern bytes.
fn datagram(idx: u64, size: usize) -> Vec<u8> {
    let mut d = idx.to_be_bytes().to_vec();
    d.extend((8..size as u64).map(|j| pattern(11 + idx, j)));
    d
}

impl Wt {
    pub(super) fn new(opts: WtOptions) -> Wt {
        let r = WtReport { path: opts.path.clone(), session_id: -1, close_code: WT_CLOSE_CODE, ..Default::default() };
        Wt {
            opts,
            r,
            phase: Phase::Idle,
            id: -1,
            started: 0,
            dg_size: 0,
            dg_seen: Vec::new(),
            dg_outstanding: 0,
            dg_progress: 0,
            dg_first: None,
            dg_last: 0,
            bidi: None,
            bidi_fin: false,
            bidi_ok: true,
            uni_reply: None,
            uni_fin: false,
            uni_ok: true,
        }
    }

    fn fail(&mut self, e: String) {
        self.r.error.get_or_insert(e);
    }

    pub(super) fn connecting(&mut self, id: i64, now: u64) {
        (self.id, self.started, self.phase) = (id, now, Phase::Connecting);
    }

    /// The server answered a CONNECT: true if it was ours.
    pub(super) fn headers(&mut self, cx: &mut ClientCtx, id: i64, status: u16) -> bool {
        if self.id != id || self.phase != Phase::Connecting {
            return false;
        }
        self.r.status = status;
        if status != 200 {
            self.fail(format!("CONNECT {} answered {status}", self.opts.path));
            self.phase = Phase::Done;
            cx.session.forget_webtransport(id);
            return true;
        }
        self.phase = Phase::Open;
        self.r.session_id = id;
        let max = cx.session.max_wt_datagram(cx.conn, id);
        self.dg_size = self.opts.datagram_size.clamp(8, max.max(8));
        self.r.datagram_size = self.dg_size;
        if self.opts.datagrams > 0 && max < 8 {
            self.fail("the server accepts no datagrams".into());
        }
        self.dg_seen = vec![false; self.opts.datagrams as usize];
        self.dg_progress = cx.now;
        // One bidirectional and one unidirectional stream, each carrying stream_bytes.
        let n = self.opts.stream_bytes;
        for uni in [false, true] {
            let sid = match cx.session.open_wt_stream(cx.conn, id, uni) {
                Ok(s) => s,
                Err(e) => {
                    self.fail(format!("cannot open a WebTransport stream: {e}"));
                    continue;
                }
            };
            let payload: Vec<u8> = (0..n).map(|i| pattern(if uni { 2 } else { 1 }, i)).collect();
            if let Err(e) = cx.conn.stream_send(sid, &payload, true) {
                self.fail(e.to_string());
            }
            if uni {
                self.r.uni_bytes_sent = n;
            } else {
                self.r.bidi_bytes_sent = n;
                self.bidi = Some(sid);
            }
        }
        true
    }

    /// The server finished or reset the CONNECT stream: true if it was ours.
    pub(super) fn end(&mut self, id: i64, now: u64, reset: Option<u64>) -> bool {
        if self.id != id || self.phase == Phase::Done {
            return false;
        }
        if let Some(code) = reset {
            self.fail(format!("CONNECT stream reset with 0x{code:x}"));
        } else if self.phase != Phase::Closing {
            self.fail("the server ended the session early".into());
        }
        self.r.closed = reset.is_none() && self.phase == Phase::Closing;
        self.phase = Phase::Done;
        self.r.ms = (now - self.started) as f64 / 1e6;
        true
    }

    /// The server ended the session before we closed it.
    pub(super) fn closed_by_peer(&mut self, id: i64, now: u64, cause: WtCloseCause) {
        if self.id != id {
            return;
        }
        match cause {
            WtCloseCause::Capsule { code, reason } => {
                if self.phase != Phase::Closing {
                    self.fail(format!("the server closed the session: {code} {reason}"));
                }
            }
            WtCloseCause::Malformed(e) => self.fail(format!("malformed capsule: {e}")),
            WtCloseCause::Fin => {
                self.end(id, now, None);
            }
            WtCloseCause::Reset(code) => {
                self.end(id, now, Some(code));
            }
        }
    }

    /// Bytes on our bidi stream or the server's reply stream; any other stream is refused.
    pub(super) fn stream_data(&mut self, cx: &mut ClientCtx, session: i64, stream: i64, data: &[u8], fin: bool) {
        if session != self.id {
            return;
        }
        let server_uni = stream & 3 == 3;
        if server_uni && self.uni_reply.is_none() {
            self.uni_reply = Some(stream);
        }
        let (k, rx, ok, done) = if Some(stream) == self.bidi {
            (1, &mut self.r.bidi_bytes_echoed, &mut self.bidi_ok, &mut self.bidi_fin)
        } else if Some(stream) == self.uni_reply {
            (2, &mut self.r.uni_bytes_echoed, &mut self.uni_ok, &mut self.uni_fin)
        } else {
            cx.conn.stream_stop_sending(stream, socket_iwa::h3::WT_BUFFERED_STREAM_REJECTED);
            return;
        };
        *ok &= data.iter().enumerate().all(|(i, &b)| b == pattern(k, *rx + i as u64));
        *rx += data.len() as u64;
        if fin {
            *done = true;
        }
    }

    pub(super) fn stream_reset(&mut self, stream: i64, code: u64) {
        let ours = Some(stream) == self.bidi || Some(stream) == self.uni_reply;
        if ours && self.phase == Phase::Open {
            self.fail(format!("WebTransport stream {stream} reset with 0x{code:x}"));
        }
    }

    pub(super) fn datagram(&mut self, session: i64, p: &[u8], now: u64) {
        if session != self.id {
            return;
        }
        let idx = p.get(..8).map(|b| u64::from_be_bytes(b.try_into().unwrap()));
        match idx {
            Some(i) if i < self.r.datagrams_sent && !self.dg_seen[i as usize] && p == datagram(i, self.dg_size) => {
                self.dg_seen[i as usize] = true;
                self.r.datagrams_echoed += 1;
                if self.dg_outstanding > 0 {
                    self.dg_outstanding -= 1;
                } else {
                    // Counted lost earlier, arrived late.
                    self.r.datagrams_lost = self.r.datagrams_lost.saturating_sub(1);
                }
                self.dg_progress = now;
                self.dg_last = now;
            }
            _ => self.r.datagrams_bad += 1,
        }
    }

    pub(super) fn timeout(&self) -> Option<u64> {
        (self.phase == Phase::Open && self.dg_outstanding > 0).then_some(self.dg_progress + DGRAM_LOSS_NS + 1)
    }

    /// Sends datagrams up to the window; closes the session once every echo is in.
    pub(super) fn pump(&mut self, cx: &mut ClientCtx) {
        if self.phase != Phase::Open {
            return;
        }
        let now = cx.now;
        let n = self.opts.datagrams;
        if self.dg_outstanding > 0 && now.saturating_sub(self.dg_progress) > DGRAM_LOSS_NS {
            self.r.datagrams_lost += self.dg_outstanding;
            self.dg_outstanding = 0;
        }
        if self.r.error.is_none() {
            while self.r.datagrams_sent < n && self.dg_outstanding < DGRAM_WINDOW {
                if let Err(e) = cx.session.send_wt_datagram(cx.conn, self.id, &datagram(self.r.datagrams_sent, self.dg_size)) {
                    self.fail(e.to_string());
                    break;
                }
                if self.dg_outstanding == 0 {
                    self.dg_progress = now;
                }
                self.dg_first.get_or_insert(now);
                self.r.datagrams_sent += 1;
                self.dg_outstanding += 1;
            }
        }
        let dg_done = self.r.datagrams_sent == n && self.dg_outstanding == 0;
        if (dg_done && self.bidi_fin && self.uni_fin) || self.r.error.is_some() {
            self.phase = Phase::Closing;
            cx.session.close_webtransport(self.id, WT_CLOSE_CODE, CLOSE_REASON);
        }
    }

    /// The final report (also for a session cut short).
    pub(super) fn report(&mut self) -> WtReport {
        if self.phase != Phase::Done {
            self.fail("session did not finish".into());
        }
        if self.bidi_fin && !self.bidi_ok {
            self.fail("bidirectional stream echo differs".into());
        }
        if self.uni_fin && !self.uni_ok {
            self.fail("unidirectional stream echo differs".into());
        }
        let r = &mut self.r;
        r.bidi_verified = self.bidi_fin && self.bidi_ok && r.bidi_bytes_echoed == r.bidi_bytes_sent;
        r.uni_verified = self.uni_fin && self.uni_ok && r.uni_bytes_echoed == r.uni_bytes_sent;
        if let Some(t0) = self.dg_first {
            let secs = self.dg_last.saturating_sub(t0) as f64 / 1e9;
            if secs > 0.0 {
                r.datagrams_per_sec = r.datagrams_echoed as f64 / secs;
            }
        }
        // Datagrams are unreliable: losses are reported, not failures; wrong bytes are.
        r.verified = r.error.is_none()
            && r.status == 200
            && r.closed
            && r.bidi_verified
            && r.uni_verified
            && r.datagrams_bad == 0
            && (self.opts.datagrams == 0 || r.datagrams_echoed > 0);
        r.clone()
    }
}

//! ALPN `echo`: every client-initiated bidirectional stream is echoed back byte
//! for byte and finished when the client finishes; DATAGRAM frames are echoed
//! when the peer negotiated them. Also the client side used by tests and benchmarks.

use super::ConnectionApp;
use crate::quic::{Connection, Event};
use crate::tls::EarlyData;
use std::collections::{HashMap, HashSet};

pub const ALPN: &str = "echo";

/// Application error code for STOP_SENDING and RESET_STREAM on an echo stream
/// refused because the server-wide buffer budget is used up ("BUSY" in ASCII).
/// The client may retry later. See docs/LIMITS.md.
pub const ECHO_SERVER_BUSY: u64 = 0x4255_5359;

/// Echoes client bidi streams. Memory per connection is bounded by the credit gate
/// of the server endpoint: stream credit is given back on receipt, connection credit
/// only as echoed bytes are acknowledged (docs/LIMITS.md), so a peer that does not
/// read its echo is stopped by QUIC flow control.
#[derive(Default)]
pub struct EchoServer {
    /// Client streams being echoed.
    open: HashSet<i64>,
    /// Client streams refused while the server was busy (their data is discarded).
    refused: HashSet<i64>,
}

fn client_bidi(id: i64) -> bool {
    id & 0x3 == 0
}

impl ConnectionApp for EchoServer {
    fn on_event(&mut self, conn: &mut Connection, _now: u64, ev: Event) {
        match ev {
            Event::StreamData { id, data, fin } => {
                let len = data.len() as u64;
                if !client_bidi(id) || self.refused.contains(&id) {
                    conn.consume(id, len);
                    return;
                }
                if !self.open.contains(&id) {
                    if conn.server_busy() {
                        self.refused.insert(id);
                        conn.consume(id, len);
                        conn.stream_stop_sending(id, ECHO_SERVER_BUSY);
                        conn.stream_reset_write(id, ECHO_SERVER_BUSY);
                        return;
                    }
                    self.open.insert(id);
                }
                if conn.stream_send(id, &data, fin).is_err() {
                    conn.stream_shutdown(id, 0);
                }
                conn.consume(id, len);
            }
            Event::StreamReset { id, code } => {
                conn.stream_shutdown(id, code);
            }
            Event::StreamClosed { id, .. } => {
                self.open.remove(&id);
                self.refused.remove(&id);
            }
            Event::Datagram(d) if conn.max_datagram_payload() >= d.len() => {
                let _ = conn.send_datagram_owned(d);
            }
            _ => {}
        }
    }
}

/// Deterministic stream content: byte `i` of stream number `k`.
pub fn pattern(k: u64, i: u64) -> u8 {
    (i.wrapping_mul(31).wrapping_add(k.wrapping_mul(7)) % 251) as u8
}

/// What the echo client measured.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct EchoReport {
    pub handshake_ms: Option<f64>,
    /// Time from connection start until the first echoed byte arrived.
    pub first_byte_ms: Option<f64>,
    pub total_ms: f64,
    pub resumed: bool,
    /// The negotiated TLS cipher suite (IANA name).
    pub cipher_suite: Option<String>,
    pub early_data: String,
    /// Negotiated QUIC version ("v1", "v2").
    pub quic_version: Option<String>,
    pub streams: u64,
    pub streams_completed: u64,
    /// The highest bidirectional stream limit the peer granted (its initial
    /// transport parameter, raised by MAX_STREAMS frames as streams close).
    pub peer_max_streams_bidi: u64,
    /// Times the client opened more streams because the peer raised the limit.
    pub stream_limit_raises: u64,
    pub bytes_sent: u64,
    pub bytes_echoed: u64,
    pub verified: bool,
    pub datagrams_sent: u64,
    pub datagrams_echoed: u64,
    /// With `--datagram-window`: windows sent anew because no echo came back for
    /// DGRAM_REFILL_NS (their datagrams were lost).
    pub datagram_refills: u64,
    /// Echoed datagrams per second, from the first send to the last echo.
    pub datagram_rate: f64,
    /// Megabytes (10^6 bytes) echoed per second.
    pub throughput_mb_s: f64,
    pub error: Option<String>,
    /// The server made this connection retry (a Retry packet, RFC 9000 8.1.2).
    pub retry: bool,
    /// The server's address on the connection's path at the end (after a move to its
    /// preferred address, RFC 9000 9.6, that address).
    pub server_addr: Option<String>,
}

struct StreamProgress {
    k: u64,
    received: u64,
    ok: bool,
    fin: bool,
}

/// A datagram window with no echo for this long is taken as lost and sent anew.
const DGRAM_REFILL_NS: u64 = 100_000_000;

/// Sends `streams` streams of `bytes` bytes each (plus `datagrams` datagrams)
/// and verifies every echoed byte.
pub struct EchoClient {
    streams: u64,
    bytes: u64,
    datagrams: u64,
    datagram_size: usize,
    opened: u64,
    progress: HashMap<i64, StreamProgress>,
    dgram_seen: Vec<bool>,
    dgram_window: Option<(u64, u64)>,
    /// At most this many datagrams unanswered (None: all at once); see [`EchoClient::datagram_window`].
    dgram_in_flight: Option<u64>,
    /// The next datagram sequence number to send.
    dgram_next: u64,
    /// When the last echo arrived (or the window was last refilled).
    dgram_last: u64,
    start: u64,
    streams_done_at: Option<u64>,
    /// How long to wait for datagram echoes and the session ticket after streams finish.
    linger_ns: u64,
    want_session: bool,
    pub session: Option<crate::tls::SavedSession>,
    pub report: EchoReport,
    closed: bool,
}

impl EchoClient {
    pub fn new(streams: u64, bytes: u64, datagrams: u64, want_session: bool, now: u64) -> Self {
        EchoClient {
            streams,
            bytes,
            datagrams,
            datagram_size: 64,
            opened: 0,
            progress: HashMap::new(),
            dgram_seen: vec![false; datagrams as usize],
            dgram_window: None,
            dgram_in_flight: None,
            dgram_next: 0,
            dgram_last: now,
            start: now,
            streams_done_at: None,
            linger_ns: 1_000_000_000,
            want_session,
            session: None,
            report: EchoReport { streams, ..Default::default() },
            closed: false,
        }
    }

    pub fn finished(&self) -> bool {
        self.closed
    }

    /// Sends datagrams of `n` bytes (default 64; at least 8, which hold the sequence number).
    pub fn datagram_size(mut self, n: usize) -> Self {
        self.datagram_size = n.max(8);
        self
    }

    /// Keeps at most `n` datagrams unanswered: one more goes out per echo, so a
    /// long run measures a steady echo rate instead of one burst (benchmarks).
    /// A window that loses its datagrams (they are unreliable) is refilled after
    /// DGRAM_REFILL_NS without an echo.
    pub fn datagram_window(mut self, n: u64) -> Self {
        self.dgram_in_flight = Some(n.max(1));
        self
    }

    fn open_more(&mut self, conn: &mut Connection) {
        let limit = self.opened + conn.bidi_streams_left();
        if self.report.peer_max_streams_bidi > 0 && limit > self.report.peer_max_streams_bidi && self.opened < self.streams {
            self.report.stream_limit_raises += 1;
        }
        self.report.peer_max_streams_bidi = self.report.peer_max_streams_bidi.max(limit);
        while self.opened < self.streams && conn.bidi_streams_left() > 0 {
            let Ok(id) = conn.open_bidi() else { break };
            let k = self.opened;
            self.opened += 1;
            let mut off = 0;
            const CHUNK: u64 = 64 * 1024;
            if self.bytes == 0 {
                let _ = conn.stream_send(id, &[], true);
            }
            while off < self.bytes {
                let n = CHUNK.min(self.bytes - off);
                let data: Vec<u8> = (off..off + n).map(|i| pattern(k, i)).collect();
                let _ = conn.stream_send(id, &data, off + n == self.bytes);
                off += n;
            }
            self.report.bytes_sent += self.bytes;
            self.progress.insert(id, StreamProgress { k, received: 0, ok: true, fin: false });
        }
    }

    fn send_datagrams(&mut self, conn: &mut Connection, now: u64) {
        if conn.max_datagram_payload() < self.datagram_size || self.datagrams == 0 {
            return;
        }
        self.dgram_window = Some((now, now));
        self.dgram_last = now;
        let first = self.dgram_in_flight.unwrap_or(self.datagrams).min(self.datagrams);
        self.send_more_datagrams(conn, first);
    }

    /// Sends the next `n` datagrams (fewer at the end of the run).
    fn send_more_datagrams(&mut self, conn: &mut Connection, n: u64) {
        let end = (self.dgram_next + n).min(self.datagrams);
        for seq in self.dgram_next..end {
            let mut d = vec![0u8; self.datagram_size];
            d[..8].copy_from_slice(&seq.to_be_bytes());
            for (i, b) in d[8..].iter_mut().enumerate() {
                *b = pattern(seq, i as u64);
            }
            if conn.send_datagram_owned(d).is_ok() {
                self.report.datagrams_sent += 1;
            }
        }
        self.dgram_next = end;
    }

    /// Counts a correct first echo; true when it was one.
    fn check_datagram(&mut self, d: &[u8], now: u64) -> bool {
        if d.len() != self.datagram_size {
            return false;
        }
        let seq = u64::from_be_bytes(d[..8].try_into().unwrap());
        let good = d[8..].iter().enumerate().all(|(i, &b)| b == pattern(seq, i as u64));
        if let Some(seen) = self.dgram_seen.get_mut(seq as usize) {
            if good && !*seen {
                *seen = true;
                self.report.datagrams_echoed += 1;
                if let Some(w) = self.dgram_window.as_mut() {
                    w.1 = now;
                }
                self.dgram_last = now;
                return true;
            }
        }
        false
    }

    /// When the wait for the last echoes starts: once the streams are done, or,
    /// with a datagram window, at its last echo or refill (a lossy run keeps going
    /// as long as its windows make progress, and the last window's echoes get the
    /// whole linger however long the run took before them).
    fn linger_from(&self, streams_done: u64) -> u64 {
        if self.dgram_in_flight.is_some() {
            streams_done.max(self.dgram_last)
        } else {
            streams_done
        }
    }

    fn all_done(&self) -> bool {
        self.report.streams_completed == self.streams
    }

    fn finish(&mut self, conn: &mut Connection, now: u64) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.report.total_ms = (now - self.start) as f64 / 1e6;
        self.report.verified = self.all_done()
            && self.progress.values().all(|p| p.ok && p.fin && p.received == self.bytes);
        self.report.bytes_echoed = self.progress.values().map(|p| p.received).sum();
        let secs = (self.streams_done_at.unwrap_or(now) - self.start) as f64 / 1e9;
        if secs > 0.0 {
            self.report.throughput_mb_s = self.report.bytes_echoed as f64 / 1e6 / secs;
        }
        if let Some((a, b)) = self.dgram_window {
            if b > a {
                self.report.datagram_rate = self.report.datagrams_echoed as f64 / ((b - a) as f64 / 1e9);
            }
        }
        self.report.resumed = conn.resumed();
        self.report.server_addr = Some(conn.remote_addr().to_string());
        self.report.cipher_suite = conn.cipher_suite();
        self.report.quic_version = Some(crate::quic::version_name(conn.quic_version()));
        self.report.early_data = match conn.early_data() {
            EarlyData::Accepted => "accepted",
            EarlyData::Rejected => "rejected",
            EarlyData::None => "none",
        }
        .into();
        if let Some(s) = conn.take_session(ALPN) {
            self.session = Some(s);
        }
        conn.close(now, 0, "done");
    }
}

impl ConnectionApp for EchoClient {
    fn on_start(&mut self, conn: &mut Connection, _now: u64) {
        self.open_more(conn);
    }

    fn on_event(&mut self, conn: &mut Connection, now: u64, ev: Event) {
        match ev {
            Event::HandshakeCompleted => {
                self.report.handshake_ms = Some((now - self.start) as f64 / 1e6);
                self.send_datagrams(conn, now);
                self.open_more(conn);
            }
            Event::BidiStreamsAvailable => self.open_more(conn),
            Event::EarlyDataRejected => {
                // Everything sent as 0-RTT is void: start the streams again over 1-RTT.
                self.opened = 0;
                self.progress.clear();
                self.report.bytes_sent = 0;
                self.report.streams_completed = 0;
                self.open_more(conn);
            }
            Event::StreamData { id, data, fin } => {
                conn.consume(id, data.len() as u64);
                if self.report.first_byte_ms.is_none() && !data.is_empty() {
                    self.report.first_byte_ms = Some((now - self.start) as f64 / 1e6);
                }
                if let Some(p) = self.progress.get_mut(&id) {
                    for (i, &b) in data.iter().enumerate() {
                        if b != pattern(p.k, p.received + i as u64) {
                            p.ok = false;
                            break;
                        }
                    }
                    p.received += data.len() as u64;
                    if fin && !p.fin {
                        p.fin = true;
                        self.report.streams_completed += 1;
                        if self.all_done() {
                            self.streams_done_at = Some(now);
                        }
                    }
                }
            }
            Event::StreamReset { id, code } => {
                self.report.error = Some(format!("stream {id} reset by peer with code {code}"));
            }
            Event::Datagram(d) => {
                let first_echo = self.check_datagram(&d, now);
                if first_echo && self.dgram_in_flight.is_some() {
                    self.send_more_datagrams(conn, 1);
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
            self.report.error.get_or_insert_with(|| conn.close_description());
            self.finish(conn, now);
            return;
        }
        if self.session.is_none() && self.want_session {
            self.session = conn.take_session(ALPN);
        }
        if let Some(w) = self.dgram_in_flight {
            if self.dgram_window.is_some() && self.dgram_next < self.datagrams && now >= self.dgram_last + DGRAM_REFILL_NS {
                // Nothing came back for a while: the unanswered ones are lost; send a new window.
                self.dgram_last = now;
                self.report.datagram_refills += 1;
                self.send_more_datagrams(conn, w);
            }
        }
        let Some(done_at) = self.streams_done_at else { return };
        let dgrams_done = self.report.datagrams_echoed == self.report.datagrams_sent;
        let session_done = !self.want_session || self.session.is_some();
        if (dgrams_done && session_done) || now >= self.linger_from(done_at) + self.linger_ns {
            self.finish(conn, now);
        }
    }

    fn timeout(&self) -> Option<u64> {
        let linger = self.streams_done_at.filter(|_| !self.closed).map(|t| self.linger_from(t) + self.linger_ns);
        let refill = (self.dgram_in_flight.is_some() && self.dgram_window.is_some() && self.dgram_next < self.datagrams && !self.closed)
            .then_some(self.dgram_last + DGRAM_REFILL_NS);
        match (linger, refill) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

//! The scripted WebSocket over HTTP/3 session (RFC 9220): Extended CONNECT with
//! `:protocol = websocket`, masked RFC 6455 frames (a text, a binary and a
//! fragmented message with a ping between its fragments, then a ping), echoes
//! and pongs checked, then the close handshake.

use super::{Phase, CLOSE_REASON};
use socket_iwa::app::echo::pattern;
use socket_iwa::app::h3_client::ClientCtx;
use socket_iwa::h3::ws::{self, WsEvent, WsParser};

/// Close code our sessions end with.
pub const WS_CLOSE_CODE: u16 = 1000;

#[derive(Clone, Debug)]
pub struct WsOptions {
    pub path: String,
    /// Size of the binary message.
    pub message_bytes: usize,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct WsReport {
    pub path: String,
    pub status: u16,
    pub ms: f64,
    pub messages_sent: u64,
    /// Echoed messages equal to the one sent in the same position.
    pub messages_echoed: u64,
    pub fragmented_sent: u64,
    pub bytes_echoed: u64,
    pub pings_sent: u64,
    /// Pongs carrying the payload of the ping in the same position.
    pub pongs_received: u64,
    pub close_code_sent: u16,
    pub close_code_received: Option<u16>,
    /// Close frames exchanged and the server finished the stream.
    pub closed: bool,
    pub verified: bool,
    pub error: Option<String>,
}

pub(super) struct Ws {
    pub(super) opts: WsOptions,
    r: WsReport,
    pub(super) phase: Phase,
    id: i64,
    started: u64,
    parser: WsParser,
    messages: Vec<(bool, Vec<u8>)>,
    pings: Vec<Vec<u8>>,
    close_sent: bool,
    ok: bool,
}

/// A masking key (RFC 6455 section 5.3 asks for a strong, unpredictable source): four bytes from wolfSSL's DRBG.
fn mask_key() -> [u8; 4] {
    let mut key = [0u8; 4];
    socket_iwa::tls::random_bytes(&mut key);
    key
}

impl Ws {
    pub(super) fn new(opts: WsOptions) -> Ws {
        let r = WsReport { path: opts.path.clone(), close_code_sent: WS_CLOSE_CODE, ..Default::default() };
        Ws {
            opts,
            r,
            phase: Phase::Idle,
            id: -1,
            started: 0,
            parser: WsParser::client(64 << 20),
            messages: Vec::new(),
            pings: Vec::new(),
            close_sent: false,
            ok: true,
        }
    }

    pub(super) fn connecting(&mut self, id: i64, now: u64) {
        (self.id, self.started, self.phase) = (id, now, Phase::Connecting);
    }

    /// The server answered a CONNECT: true if it was ours. On 200 the script's frames go out.
    pub(super) fn headers(&mut self, cx: &mut ClientCtx, id: i64, status: u16) -> bool {
        if self.id != id || self.phase != Phase::Connecting {
            return false;
        }
        self.r.status = status;
        if status != 200 {
            self.r.error = Some(format!("CONNECT {} answered {status}", self.opts.path));
            self.phase = Phase::Done;
            return true;
        }
        self.phase = Phase::Open;
        let text = b"hello over HTTP/3".to_vec();
        let binary: Vec<u8> = (0..self.opts.message_bytes as u64).map(|i| pattern(4, i)).collect();
        let frag: Vec<u8> = "fragmented text message, ".repeat(8).into_bytes();
        let (p1, p2) = (b"ping between fragments".to_vec(), b"ping".to_vec());
        let third = frag.len() / 3;
        let mut out = ws::masked_frame(true, ws::OP_TEXT, &text, mask_key());
        out.extend(ws::masked_frame(true, ws::OP_BINARY, &binary, mask_key()));
        out.extend(ws::masked_frame(false, ws::OP_TEXT, &frag[..third], mask_key()));
        out.extend(ws::masked_frame(true, ws::OP_PING, &p1, mask_key()));
        out.extend(ws::masked_frame(false, ws::OP_CONT, &frag[third..2 * third], mask_key()));
        out.extend(ws::masked_frame(true, ws::OP_CONT, &frag[2 * third..], mask_key()));
        out.extend(ws::masked_frame(true, ws::OP_PING, &p2, mask_key()));
        self.messages = vec![(true, text), (false, binary), (true, frag)];
        self.pings = vec![p1, p2];
        self.r.messages_sent = 3;
        self.r.fragmented_sent = 1;
        self.r.pings_sent = 2;
        cx.session.push_body(id, out);
        true
    }

    /// DATA on the CONNECT stream: true if it was ours.
    pub(super) fn data(&mut self, cx: &mut ClientCtx, id: i64, data: &[u8]) -> bool {
        if self.id != id {
            return false;
        }
        for ev in self.parser.feed(data) {
            match ev {
                WsEvent::Message { text, data } => {
                    let i = self.r.messages_echoed as usize;
                    if self.messages.get(i).is_some_and(|(t, d)| *t == text && *d == data) {
                        self.r.messages_echoed += 1;
                        self.r.bytes_echoed += data.len() as u64;
                    } else {
                        self.ok = false;
                        self.r.error.get_or_insert_with(|| format!("echo {i} differs from the message sent"));
                    }
                }
                WsEvent::Pong(p) => {
                    let i = self.r.pongs_received as usize;
                    if self.pings.get(i) == Some(&p) {
                        self.r.pongs_received += 1;
                    } else {
                        self.ok = false;
                        self.r.error.get_or_insert_with(|| format!("pong {i} differs from the ping sent"));
                    }
                }
                WsEvent::Ping(p) => cx.session.push_body(id, ws::masked_frame(true, ws::OP_PONG, &p, mask_key())),
                WsEvent::Close { code, .. } => self.r.close_code_received = Some(code),
                WsEvent::Fail { code, reason } => {
                    self.ok = false;
                    self.r.error.get_or_insert_with(|| format!("server frames break RFC 6455 ({code}): {reason}"));
                }
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
            self.r.error.get_or_insert_with(|| format!("CONNECT stream reset with 0x{code:x}"));
        }
        self.r.closed = reset.is_none() && self.close_sent && self.r.close_code_received.is_some();
        self.phase = Phase::Done;
        self.r.ms = (now - self.started) as f64 / 1e6;
        true
    }

    /// Starts the close handshake once every echo and pong is in (or something failed).
    pub(super) fn pump(&mut self, cx: &mut ClientCtx) {
        if self.phase != Phase::Open || self.close_sent {
            return;
        }
        let all_in = self.r.messages_echoed == self.r.messages_sent && self.r.pongs_received == self.r.pings_sent;
        if all_in || !self.ok {
            self.close_sent = true;
            self.phase = Phase::Closing;
            cx.session.push_body(self.id, ws::masked_close_frame(WS_CLOSE_CODE, CLOSE_REASON, mask_key()));
            cx.session.end_body(self.id);
        }
    }

    /// The final report (also for a session cut short).
    pub(super) fn report(&mut self) -> WsReport {
        let r = &mut self.r;
        if self.phase != Phase::Done {
            r.error.get_or_insert_with(|| "session did not finish".into());
        }
        r.verified = r.error.is_none()
            && self.ok
            && r.status == 200
            && r.closed
            && r.messages_echoed == r.messages_sent
            && r.pongs_received == r.pings_sent
            && r.close_code_received == Some(WS_CLOSE_CODE);
        r.clone()
    }
}

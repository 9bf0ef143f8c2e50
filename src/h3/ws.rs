//! RFC 6455 framing for WebSocket over HTTP/3 (RFC 9220): the server side of
//! one connection's message stream. Bytes in (the DATA payload of the
//! Extended CONNECT stream), frames out. Client frames must be masked;
//! fragmented messages are reassembled; pings are answered; the close
//! handshake echoes the peer's code. Protocol violations close with 1002,
//! invalid UTF-8 in text with 1007, oversized messages with 1009.

pub const OP_CONT: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xa;

/// A peer's violation of RFC 6455: the close code it earns and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, )]
pub enum WsError {
    ReservedBits,
    LengthTopBit,
    MaskedServerFrame,
    UnmaskedClientFrame,
    BadControlFrame,
    TooBig,
    OneByteClose,
    InvalidCloseCode,
    CloseReasonNotUtf8,
    MessageInterleaved,
    StrayContinuation,
    UnknownOpcode,
    TextNotUtf8,
}

impl WsError {
    /// The close code (RFC 6455 section 7.4.1): 1007 for bad UTF-8, 1009 for size, else 1002.
    pub fn close_code(self) -> u16 {
        match self {
            WsError::CloseReasonNotUtf8 | WsError::TextNotUtf8 => 1007,
            WsError::TooBig => 1009,
            _ => 1002,
        }
    }

    /// The close reason sent with [`close_code`](Self::close_code).
    pub fn reason(self) -> &'static str {
        match self {
            WsError::ReservedBits => "reserved bits set",
            WsError::LengthTopBit => "64-bit length with the top bit set",
            WsError::MaskedServerFrame => "server frames must not be masked",
            WsError::UnmaskedClientFrame => "client frames must be masked",
            WsError::BadControlFrame => "control frame fragmented or longer than 125 bytes",
            WsError::TooBig => "message too big",
            WsError::OneByteClose => "close payload of one byte",
            WsError::InvalidCloseCode => "invalid close code",
            WsError::CloseReasonNotUtf8 => "close reason is not UTF-8",
            WsError::MessageInterleaved => "new message before the previous one finished",
            WsError::StrayContinuation => "continuation without a message",
            WsError::UnknownOpcode => "unknown opcode",
            WsError::TextNotUtf8 => "text message is not UTF-8",
        }
    }
}

impl std::fmt::Display for WsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.reason(), self.close_code())
    }
}

impl std::error::Error for WsError {}

/// What the parser found.
#[derive(Debug, PartialEq)]
pub enum WsEvent {
    /// A complete message (`text` true for opcode 1).
    Message { text: bool, data: Vec<u8> },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// The peer's close frame (code 1005 when it carried none).
    Close { code: u16, reason: String },
    /// The peer broke the protocol: close with this code.
    Fail { code: u16, reason: &'static str },
}

pub struct WsParser {
    buf: Vec<u8>,
    msg: Option<(bool, Vec<u8>)>,
    max_message: usize,
    done: bool,
    /// Client side: the peer is a server, whose frames must not be masked.
    unmasked: bool,
}

impl WsParser {
    /// Server side: parses client frames (which must be masked).
    pub fn new(max_message: usize) -> Self {
        WsParser { buf: Vec::new(), msg: None, max_message, done: false, unmasked: false }
    }

    /// Client side: parses server frames (which must not be masked, RFC 6455 section 5.1).
    pub fn client(max_message: usize) -> Self {
        WsParser { unmasked: true, ..Self::new(max_message) }
    }

    /// Bytes held: an incomplete frame and the fragments of an unfinished message.
    pub fn buffered(&self) -> usize {
        self.buf.capacity() + self.msg.as_ref().map_or(0, |m| m.1.capacity())
    }

    /// Feeds bytes; returns the events completed by them. After a Close or Fail nothing more is parsed.
    pub fn feed(&mut self, data: &[u8]) -> Vec<WsEvent> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.extend_from_slice(data);
        let mut pos = 0;
        while !self.done {
            match self.one(&buf[pos..]) {
                Ok(None) => break,
                Ok(Some((used, ev))) => {
                    pos += used;
                    if let Some(ev) = ev {
                        if matches!(ev, WsEvent::Close { .. } | WsEvent::Fail { .. }) {
                            self.done = true;
                        }
                        out.push(ev);
                    }
                }
                Err(e) => {
                    self.done = true;
                    out.push(WsEvent::Fail { code: e.close_code(), reason: e.reason() });
                }
            }
        }
        buf.drain(..pos.min(buf.len()));
        self.buf = buf;
        out
    }

    fn one(&mut self, b: &[u8]) -> Result<Option<(usize, Option<WsEvent>)>, WsError> {
        if b.len() < 2 {
            return Ok(None);
        }
        let fin = b[0] & 0x80 != 0;
        if b[0] & 0x70 != 0 {
            return Err(WsError::ReservedBits);
        }
        let op = b[0] & 0x0f;
        let masked = b[1] & 0x80 != 0;
        let mut len = (b[1] & 0x7f) as u64;
        let mut p = 2;
        if len == 126 {
            if b.len() < 4 {
                return Ok(None);
            }
            len = u16::from_be_bytes([b[2], b[3]]) as u64;
            p = 4;
        } else if len == 127 {
            if b.len() < 10 {
                return Ok(None);
            }
            len = u64::from_be_bytes(b[2..10].try_into().unwrap());
            if len >> 63 != 0 {
                return Err(WsError::LengthTopBit);
            }
            p = 10;
        }
        if self.unmasked && masked {
            return Err(WsError::MaskedServerFrame);
        }
        if !self.unmasked && !masked {
            return Err(WsError::UnmaskedClientFrame);
        }
        let control = op & 0x8 != 0;
        if control && (len > 125 || !fin) {
            return Err(WsError::BadControlFrame);
        }
        // Compared as u64: on wasm32 `len as usize` would drop the high bits and
        // let a 2^32+n length pass as n, desynchronising the frame boundaries.
        if len > self.max_message as u64 {
            return Err(WsError::TooBig);
        }
        let key_len = if masked { 4 } else { 0 };
        if b.len() < p + key_len + len as usize {
            return Ok(None);
        }
        let key = if masked { [b[p], b[p + 1], b[p + 2], b[p + 3]] } else { [0; 4] };
        p += key_len;
        let payload: Vec<u8> = b[p..p + len as usize].iter().enumerate().map(|(i, &x)| x ^ key[i & 3]).collect();
        let used = p + len as usize;
        let ev = match op {
            OP_PING => Some(WsEvent::Ping(payload)),
            OP_PONG => Some(WsEvent::Pong(payload)),
            OP_CLOSE => {
                if payload.len() == 1 {
                    return Err(WsError::OneByteClose);
                }
                if payload.is_empty() {
                    Some(WsEvent::Close { code: 1005, reason: String::new() })
                } else {
                    let code = u16::from_be_bytes([payload[0], payload[1]]);
                    let valid = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
                    if !valid {
                        return Err(WsError::InvalidCloseCode);
                    }
                    match String::from_utf8(payload[2..].to_vec()) {
                        Ok(reason) => Some(WsEvent::Close { code, reason }),
                        Err(_) => return Err(WsError::CloseReasonNotUtf8),
                    }
                }
            }
            OP_TEXT | OP_BINARY => {
                if self.msg.is_some() {
                    return Err(WsError::MessageInterleaved);
                }
                if fin {
                    self.finish(op == OP_TEXT, payload)?
                } else {
                    self.msg = Some((op == OP_TEXT, payload));
                    None
                }
            }
            OP_CONT => {
                let Some((text, mut data)) = self.msg.take() else {
                    return Err(WsError::StrayContinuation);
                };
                if data.len() + payload.len() > self.max_message {
                    return Err(WsError::TooBig);
                }
                data.extend_from_slice(&payload);
                if fin {
                    self.finish(text, data)?
                } else {
                    self.msg = Some((text, data));
                    None
                }
            }
            _ => return Err(WsError::UnknownOpcode),
        };
        Ok(Some((used, ev)))
    }

    fn finish(&mut self, text: bool, data: Vec<u8>) -> Result<Option<WsEvent>, WsError> {
        if text && std::str::from_utf8(&data).is_err() {
            return Err(WsError::TextNotUtf8);
        }
        Ok(Some(WsEvent::Message { text, data }))
    }
}

/// One unmasked server frame with FIN set.
pub fn frame(op: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 10);
    f.push(0x80 | op);
    let n = payload.len();
    if n < 126 {
        f.push(n as u8);
    } else if n < 65536 {
        f.push(126);
        f.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        f.push(127);
        f.extend_from_slice(&(n as u64).to_be_bytes());
    }
    f.extend_from_slice(payload);
    f
}

/// One client frame, masked with `key` (RFC 6455 section 5.3); `fin` false for all but the last fragment.
pub fn masked_frame(fin: bool, op: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 14);
    f.push(if fin { 0x80 } else { 0 } | op);
    let n = payload.len();
    if n < 126 {
        f.push(0x80 | n as u8);
    } else if n < 65536 {
        f.push(0x80 | 126);
        f.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&(n as u64).to_be_bytes());
    }
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, &b)| b ^ key[i & 3]));
    f
}

/// A client close frame (masked) carrying `code` and `reason`.
pub fn masked_close_frame(code: u16, reason: &str, key: [u8; 4]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(&reason.as_bytes()[..reason.len().min(123)]);
    masked_frame(true, OP_CLOSE, &p, key)
}

pub fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    if code == 1005 {
        return frame(OP_CLOSE, &[]);
    }
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(&reason.as_bytes()[..reason.len().min(123)]);
    frame(OP_CLOSE, &p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(fin: bool, op: u8, payload: &[u8]) -> Vec<u8> {
        let key = [1u8, 2, 3, 4];
        let mut f = vec![(if fin { 0x80 } else { 0 }) | op];
        assert!(payload.len() < 126);
        f.push(0x80 | payload.len() as u8);
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, &b)| b ^ key[i & 3]));
        f
    }

    #[test]
    fn fragments_pings_and_close() {
        let mut p = WsParser::new(1 << 20);
        let mut bytes = masked(false, OP_TEXT, b"hel");
        bytes.extend(masked(true, OP_PING, b"p"));
        bytes.extend(masked(true, OP_CONT, b"lo"));
        bytes.extend(masked(true, OP_CLOSE, &[0x03, 0xe8, b'b', b'y']));
        // Byte by byte, to exercise partial frames.
        let mut evs = Vec::new();
        for b in &bytes {
            evs.extend(p.feed(std::slice::from_ref(b)));
        }
        assert_eq!(
            evs,
            vec![
                WsEvent::Ping(b"p".to_vec()),
                WsEvent::Message { text: true, data: b"hello".to_vec() },
                WsEvent::Close { code: 1000, reason: "by".into() }
            ]
        );
    }

    #[test]
    fn violations() {
        let unmasked = vec![0x82, 0x01, 0x00];
        assert!(matches!(WsParser::new(100).feed(&unmasked)[..], [WsEvent::Fail { code: 1002, .. }]));
        assert!(matches!(WsParser::new(100).feed(&masked(true, OP_TEXT, &[0xff]))[..], [WsEvent::Fail { code: 1007, .. }]));
        assert!(matches!(WsParser::new(100).feed(&masked(true, OP_CONT, b"x"))[..], [WsEvent::Fail { code: 1002, .. }]));
        assert!(matches!(WsParser::new(4).feed(&masked(true, OP_BINARY, b"12345"))[..], [WsEvent::Fail { code: 1009, .. }]));
        assert!(matches!(WsParser::new(100).feed(&masked(false, OP_PING, b""))[..], [WsEvent::Fail { code: 1002, .. }]));
        assert_eq!(frame(OP_BINARY, &[7; 200])[..4], [0x82, 126, 0, 200]);
    }

    #[test]
    fn oversized_64_bit_length_fails_on_every_target() {
        // 2^32 + 3: truncated to 32 bits it would read as a 3-byte payload.
        let mut f = vec![0x82, 0x80 | 127];
        f.extend_from_slice(&((1u64 << 32) + 3).to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 0, 1, 2, 3]);
        assert!(matches!(WsParser::new(100).feed(&f)[..], [WsEvent::Fail { code: 1009, .. }]));
        f[1] = 127;
        assert!(matches!(WsParser::client(100).feed(&f[..f.len()])[..], [WsEvent::Fail { code: 1009, .. }]));
    }

    #[test]
    fn client_side_round_trip() {
        // What a client masks, a server parser reads; what a server frames, a client parser reads.
        let big = vec![9u8; 70_000];
        let mut bytes = masked_frame(false, OP_BINARY, &big[..100], [5, 6, 7, 8]);
        bytes.extend(masked_frame(true, OP_CONT, &big[100..], [1, 1, 1, 1]));
        bytes.extend(masked_close_frame(4000, "done", [0, 9, 0, 9]));
        let evs = WsParser::new(1 << 20).feed(&bytes);
        assert_eq!(evs, vec![WsEvent::Message { text: false, data: big.clone() }, WsEvent::Close { code: 4000, reason: "done".into() }]);
        let mut c = WsParser::client(1 << 20);
        let mut s = frame(OP_BINARY, &big);
        s.extend(frame(OP_PONG, b"p"));
        assert_eq!(c.feed(&s), vec![WsEvent::Message { text: false, data: big }, WsEvent::Pong(b"p".to_vec())]);
        // A masked server frame is a protocol error for the client.
        assert!(matches!(WsParser::client(100).feed(&masked_frame(true, OP_TEXT, b"x", [1, 2, 3, 4]))[..], [WsEvent::Fail { code: 1002, .. }]));
    }
}

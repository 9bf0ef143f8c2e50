//! RFC 6455 frames, both roles (server parses masked client frames, client
//! parses unmasked server frames): same events whole or in pieces, events
//! within limits, every message re-framed parses back to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use socket_iwa::h3::ws::{frame, masked_frame, WsEvent, WsParser, OP_BINARY, OP_TEXT};

#[path = "common.rs"]
mod common;

const LIMITS: [usize; 6] = [0, 1, 125, 126, 65_536, 1 << 20];

fuzz_target!(|input: &[u8]| {
    let [sel, seed, data @ ..] = input else { return };
    let client = sel & 1 != 0;
    let max = LIMITS[(sel >> 1) as usize % LIMITS.len()];
    let make = || if client { WsParser::client(max) } else { WsParser::new(max) };
    let whole = make().feed(data);
    let mut p = make();
    let mut pieces = Vec::new();
    for c in common::chunks(data, *seed) {
        pieces.extend(p.feed(c));
    }
    assert_eq!(whole, pieces);
    for (i, ev) in whole.iter().enumerate() {
        let terminal = matches!(ev, WsEvent::Close { .. } | WsEvent::Fail { .. });
        assert!(!terminal || i == whole.len() - 1, "events after a close or failure");
        match ev {
            WsEvent::Message { text, data } => {
                assert!(data.len() <= max);
                assert!(!text || std::str::from_utf8(data).is_ok());
                let op = if *text { OP_TEXT } else { OP_BINARY };
                let f = if client { frame(op, data) } else { masked_frame(true, op, data, [*sel, *seed, 1, 2]) };
                assert_eq!(make().feed(&f), vec![ev.clone_event()]);
            }
            WsEvent::Ping(d) | WsEvent::Pong(d) => assert!(d.len() <= 125),
            WsEvent::Close { code, reason } => assert!(*code == 1005 || (reason.len() <= 123 && *code >= 1000)),
            WsEvent::Fail { code, .. } => assert!(matches!(code, 1002 | 1007 | 1009)),
        }
    }
});

trait CloneEvent {
    fn clone_event(&self) -> WsEvent;
}

impl CloneEvent for WsEvent {
    fn clone_event(&self) -> WsEvent {
        match self {
            WsEvent::Message { text, data } => WsEvent::Message { text: *text, data: data.clone() },
            WsEvent::Ping(d) => WsEvent::Ping(d.clone()),
            WsEvent::Pong(d) => WsEvent::Pong(d.clone()),
            WsEvent::Close { code, reason } => WsEvent::Close { code: *code, reason: reason.clone() },
            WsEvent::Fail { code, reason } => WsEvent::Fail { code: *code, reason },
        }
    }
}

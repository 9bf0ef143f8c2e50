//! Capsules on a WebTransport CONNECT stream (RFC 9297 3.2): the same bytes
//! fed at once or in arbitrary pieces give the same capsules; a parsed
//! CLOSE_WEBTRANSPORT_SESSION re-encodes to what it was.
#![no_main]
use libfuzzer_sys::fuzz_target;
use socket_iwa::h3::wt::{close_capsule, Capsule, SessionState};

#[path = "common.rs"]
mod common;

fuzz_target!(|input: &[u8]| {
    let Some((&seed, data)) = input.split_first() else { return };
    let whole = SessionState::default().feed_capsules(data);
    let mut st = SessionState::default();
    let mut got = Vec::new();
    let mut failed = false;
    for c in common::chunks(data, seed) {
        match st.feed_capsules(c) {
            Ok(caps) => got.extend(caps),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    match whole {
        Ok(caps) => {
            assert!(!failed, "chunked delivery failed where whole delivery parsed");
            assert_eq!(caps, got);
            for c in &caps {
                if let Capsule::Close { code, reason } = c {
                    if reason.len() <= 1024 && !reason.contains('\u{fffd}') {
                        let mut again = SessionState::default();
                        assert_eq!(again.feed_capsules(&close_capsule(*code, reason)), Ok(vec![Capsule::Close { code: *code, reason: reason.clone() }]));
                    }
                }
            }
        }
        Err(_) => assert!(failed, "whole delivery failed, chunked did not"),
    }
});

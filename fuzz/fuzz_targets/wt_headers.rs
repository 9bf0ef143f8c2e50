//! WebTransport stream headers (uni type 0x54 / bidi signal 0x41 + session ID)
//! and HTTP datagram prefixes (quarter stream ID). A stream is classified as
//! its bytes arrive, so once a prefix classifies, more bytes must not change it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use socket_iwa::h3::wt::{classify, parse_datagram, Kind};

fuzz_target!(|input: &[u8]| {
    let Some((&sel, data)) = input.split_first() else { return };
    let stream_id = (sel as i64) & 0xff;
    let full = classify(stream_id, data);
    if let Kind::WebTransport { session, header_len } = full {
        assert!(header_len <= data.len() && header_len >= 2);
        assert!(session >= 0);
    }
    for k in 0..data.len().min(20) {
        let p = classify(stream_id, &data[..k]);
        if p != Kind::Unknown {
            assert_eq!(p, full, "prefix of {k} bytes classified differently");
        }
    }
    if let Some((sid, payload)) = parse_datagram(data) {
        assert!(sid >= 0 && sid % 4 == 0, "session must be a client bidi stream: {sid}");
        assert!(data.ends_with(payload) && matches!(data.len() - payload.len(), 1 | 2 | 4 | 8));
    }
});

//! QUIC varints (RFC 9000 16): decode, re-encode, and the SETTINGS patcher
//! that parses the start of our control stream.
#![no_main]
use libfuzzer_sys::fuzz_target;
use socket_iwa::h3::{conn::patch_settings, varint};

fuzz_target!(|data: &[u8]| {
    match varint::decode(data) {
        Some((v, len)) => {
            assert!(matches!(len, 1 | 2 | 4 | 8) && len <= data.len());
            assert!(v < 1 << 62);
            assert_eq!(len, 1 << (data[0] >> 6));
            let e = varint::encoded(v);
            assert!(e.len() <= len, "shortest encoding is never longer");
            assert_eq!(varint::decode(&e), Some((v, e.len())));
        }
        None => assert!(data.is_empty() || data.len() < 1 << (data[0] >> 6)),
    }
    if data.len() >= 8 {
        let v = u64::from_be_bytes(data[..8].try_into().unwrap()) >> 2;
        let e = varint::encoded(v);
        assert_eq!(varint::decode(&e), Some((v, e.len())));
    }
    let patched = patch_settings(data, &[(0x2b60_3742, 1)]);
    if patched != data {
        // Patched: still a control stream starting with a SETTINGS frame.
        let (st, a) = varint::decode(&patched).unwrap();
        let (ft, _) = varint::decode(&patched[a..]).unwrap();
        assert_eq!((st, ft), (0, 4));
    }
});

//! QUIC variable-length integers (RFC 9000 section 16), used by HTTP/3 frames,
//! stream headers, capsules and HTTP datagrams.

/// Decodes a varint at the start of `b`: `(value, length)`, or `None` if `b` is too short.
pub fn decode(b: &[u8]) -> Option<(u64, usize)> {
    let first = *b.first()?;
    let len = 1usize << (first >> 6);
    if b.len() < len {
        return None;
    }
    let mut v = (first & 0x3f) as u64;
    for &x in &b[1..len] {
        v = (v << 8) | x as u64;
    }
    Some((v, len))
}

/// Appends the shortest encoding of `v` (which must be below 2^62).
pub fn encode(v: u64, out: &mut Vec<u8>) {
    if v < 1 << 6 {
        out.push(v as u8);
    } else if v < 1 << 14 {
        out.extend_from_slice(&((v as u16) | 0x4000).to_be_bytes());
    } else if v < 1 << 30 {
        out.extend_from_slice(&((v as u32) | 0x8000_0000).to_be_bytes());
    } else {
        out.extend_from_slice(&(v | 0xc000_0000_0000_0000).to_be_bytes());
    }
}

pub fn encoded(v: u64) -> Vec<u8> {
    let mut o = Vec::with_capacity(8);
    encode(v, &mut o);
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for v in [0u64, 63, 64, 16383, 16384, (1 << 30) - 1, 1 << 30, 0x2b603742, (1 << 62) - 1] {
            let e = encoded(v);
            assert_eq!(decode(&e), Some((v, e.len())));
            assert_eq!(decode(&e[..e.len() - 1]), None);
        }
        // RFC 9000 appendix A.1 examples.
        assert_eq!(decode(&[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c]), Some((151_288_809_941_952_652, 8)));
        assert_eq!(decode(&[0x9d, 0x7f, 0x3e, 0x7d]), Some((494_878_333, 4)));
        assert_eq!(decode(&[0x7b, 0xbd]), Some((15_293, 2)));
        assert_eq!(decode(&[0x25]), Some((37, 1)));
    }
}

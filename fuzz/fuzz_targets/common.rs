//! Helpers shared by the fuzz targets (included with `#[path]`).
#![allow(dead_code)]

/// Splits `data` into chunks whose sizes come from a small PRNG seeded by
/// `seed`, so one input also tests every way of delivering it in pieces.
pub fn chunks(data: &[u8], seed: u8) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut x = seed as u32 | 0x100;
    let mut rest = data;
    while !rest.is_empty() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let n = match x % 4 {
            0 => 1,
            1 => 1 + (x >> 8) as usize % 4,
            2 => 1 + (x >> 8) as usize % 32,
            _ => rest.len(),
        }
        .min(rest.len());
        out.push(&rest[..n]);
        rest = &rest[n..];
    }
    out
}

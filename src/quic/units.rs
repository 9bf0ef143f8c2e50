//! Parsers for the size flags of the QUIC layer (`--conn-buffer-limit`,
//! `--server-buffer-limit`, `--qlog-max-bytes`), shared by the server
//! ([`super::server`]) and the connection ([`super::connection`]) so neither
//! reaches into the other for them.

/// Parses a byte count: digits with an optional K, M or G suffix (powers of 1024), e.g. `4M`.
pub fn parse_byte_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mul) = match t.char_indices().last() {
        Some((i, c)) if c.eq_ignore_ascii_case(&'k') => (&t[..i], 1u64 << 10),
        Some((i, c)) if c.eq_ignore_ascii_case(&'m') => (&t[..i], 1 << 20),
        Some((i, c)) if c.eq_ignore_ascii_case(&'g') => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    let n: u64 = num.parse().map_err(|_| format!("'{s}' is not a byte count (digits with an optional K, M or G suffix)"))?;
    n.checked_mul(mul).filter(|&b| b < 1 << 62).ok_or_else(|| format!("'{s}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_byte_size;

    #[test]
    fn suffixes_are_powers_of_1024() {
        assert_eq!(parse_byte_size("4096"), Ok(4096));
        assert_eq!(parse_byte_size("64k"), Ok(64 << 10));
        assert_eq!(parse_byte_size("16M"), Ok(16 << 20));
        assert_eq!(parse_byte_size(" 2g "), Ok(2 << 30));
        assert_eq!(parse_byte_size("0"), Ok(0));
    }

    #[test]
    fn rejects_what_is_not_a_byte_count() {
        for s in ["", "M", "4MB", "-1", "1.5M", "4T", "k4"] {
            assert!(parse_byte_size(s).is_err(), "{s:?} accepted");
        }
        // 2^62 and above (and u64 overflow) are refused.
        assert!(parse_byte_size("4294967296G").is_err());
        assert!(parse_byte_size(&u64::MAX.to_string()).is_err());
        assert_eq!(parse_byte_size("4294967295G"), Ok(4294967295 << 30));
    }
}

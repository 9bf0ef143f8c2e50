//! Returning freed heap memory to the OS after many connections are reclaimed.
//!
//! Leak check (docs/LIMITS.md): 500 idle connections cost ~44 KB each; after the
//! idle timeout reclaims them, valgrind finds nothing lost, but glibc keeps the freed
//! chunks in its arenas, so RSS stayed at the peak (25 MB for 500). `malloc_trim(0)`
//! gives it back (5 MB). We trim when the number of live connections has fallen a lot
//! since its peak: cheap (one call per many closes) and only when there is something
//! to return. Separate from any trimming the endpoint does after Initial floods.

/// Tracks live connections and trims the heap after large drops.
#[derive(Debug, Default)]
pub struct Reclaimer {
    /// Most live connections seen since the last trim.
    peak: usize,
    /// Trims done (for tests and stats).
    pub trims: u64,
}

/// A drop of at least this many connections, to half the peak or less, triggers a trim.
const TRIM_AFTER: usize = 64;

impl Reclaimer {
    /// A connection was removed; `live` connections remain.
    pub fn connection_closed(&mut self, live: usize) {
        self.peak = self.peak.max(live + 1);
        let fell = self.peak - live;
        if (fell >= TRIM_AFTER && live <= self.peak / 2) || (live == 0 && fell >= 8) {
            trim();
            self.trims += 1;
            self.peak = live;
        }
    }
}

/// Gives free heap memory back to the OS where the allocator supports it.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_after_large_drops_only() {
        let mut r = Reclaimer::default();
        // 10 connections come and go one at a time: the last close empties the server.
        for _ in 0..10 {
            r.connection_closed(0);
        }
        assert_eq!(r.trims, 0, "a close from 1 to 0 is not a large drop");
        // 500 connections reclaimed together.
        for live in (0..500).rev() {
            r.connection_closed(live);
        }
        assert!(r.trims >= 2 && r.trims <= 6, "{}", r.trims);
        assert_eq!(r.peak, 0);
    }
}

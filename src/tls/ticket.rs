//! Session ticket sealing with a key that survives restarts (`--ticket-key FILE`).
//!
//! File format: 48 raw bytes, a 16-byte key name followed by a 32-byte
//! AES-256-GCM key. Created with fresh random bytes (mode 0600) when missing.
//! Ticket layout as wolfSSL frames it: key_name(16) | iv(16, first 12 used as
//! the GCM nonce) | ciphertext | mac(32: the 16-byte GCM tag, then zeros).
//! The key name and IV are authenticated as additional data.
//!
//! Opening a ticket is also where the 0-RTT anti-replay policy runs (see
//! [`AntiReplay`] and docs/TLS.md): a ClientHello whose random was already
//! seen inside the freshness window resumes, but its early data is refused.

use crate::error::{Error, Result};
use std::os::raw::{c_int, c_uchar, c_void};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use wolfssl_sys as w;

const NAME_LEN: usize = 16;
const KEY_LEN: usize = 32;
/// wolfCrypt's "no crypto device" id.
const INVALID_DEVID: i32 = -2;

/// The key that seals and opens session tickets.
pub struct TicketKey {
    name: [u8; NAME_LEN],
    key: [u8; KEY_LEN],
    replay: Arc<Mutex<AntiReplay>>,
}

impl TicketKey {
    /// A random key that lives as long as this process.
    /// Its anti-replay register lives in memory only: no earlier process can
    /// have accepted one of its tickets.
    pub fn ephemeral() -> Self {
        let mut raw = [0u8; NAME_LEN + KEY_LEN];
        super::random_bytes(&mut raw);
        Self::from_bytes(&raw, AntiReplay::in_memory())
    }

    fn from_bytes(raw: &[u8], replay: AntiReplay) -> Self {
        let mut name = [0u8; NAME_LEN];
        let mut key = [0u8; KEY_LEN];
        name.copy_from_slice(&raw[..NAME_LEN]);
        key.copy_from_slice(&raw[NAME_LEN..]);
        TicketKey { name, key, replay: Arc::new(Mutex::new(replay)) }
    }

    /// A 32-byte secret for another purpose, derived from this key with
    /// HKDF-SHA256 (`label` as the info): a key kept in a file across restarts
    /// keeps what is derived from it too (the server's stateless reset tokens).
    pub fn derive(&self, label: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        let mut ikm = [0u8; NAME_LEN + KEY_LEN];
        ikm[..NAME_LEN].copy_from_slice(&self.name);
        ikm[NAME_LEN..].copy_from_slice(&self.key);
        // SAFETY: every buffer is valid for the length passed with it.
        let rv = unsafe {
            w::wc_HKDF(w::WC_HASH_TYPE_SHA256 as c_int, ikm.as_ptr(), ikm.len() as u32, std::ptr::null(), 0,
                       label.as_ptr(), label.len() as u32, out.as_mut_ptr(), out.len() as u32)
        };
        // HKDF-SHA256 into 32 bytes from a 48-byte key cannot fail but for a broken build.
        assert_eq!(rv, 0, "wc_HKDF failed: {rv}");
        ikm.fill(0);
        out
    }

    /// The 0-RTT anti-replay register (for its counters).
    pub fn anti_replay(&self) -> Arc<Mutex<AntiReplay>> {
        self.replay.clone()
    }

    /// Loads the key from `path`, creating the file with a new key if it does not exist.
    /// The anti-replay register is kept beside it, in `<path>.replay`.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        let mut rp = path.as_os_str().to_owned();
        rp.push(".replay");
        let replay = AntiReplay::persistent(PathBuf::from(rp))?;
        match std::fs::read(path) {
            Ok(raw) if raw.len() == NAME_LEN + KEY_LEN => Ok(Self::from_bytes(&raw, replay)),
            Ok(raw) => Err(Error::file(
                path,
                format!("ticket key file must hold exactly {} bytes, found {}", NAME_LEN + KEY_LEN, raw.len()),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut raw = [0u8; NAME_LEN + KEY_LEN];
                super::random_bytes(&mut raw);
                write_private(path, &raw).map_err(|e| Error::file(path, format!("cannot create: {e}")))?;
                Ok(Self::from_bytes(&raw, replay))
            }
            Err(e) => Err(Error::file(path, e)),
        }
    }

    pub(super) unsafe fn install(&self, ctx: *mut w::WOLFSSL_CTX) -> Result<()> {
        if w::wolfSSL_CTX_set_TicketEncCb(ctx, Some(ticket_cb)) != w::WOLFSSL_SUCCESS as c_int
            || w::wolfSSL_CTX_set_TicketEncCtx(ctx, self as *const TicketKey as *mut c_void) != w::WOLFSSL_SUCCESS as c_int
        {
            return Err(Error::Tls("cannot install the session ticket key".into()));
        }
        Ok(())
    }

    /// Runs `op` with an AES-GCM context keyed with this key.
    fn with_gcm(&self, op: impl FnOnce(*mut w::Aes) -> c_int) -> bool {
        // SAFETY: the Aes context is zero-initialised, initialised, keyed, used
        // by `op` and freed here; it never escapes.
        unsafe {
            let mut aes: Box<w::Aes> = Box::new(std::mem::zeroed());
            if w::wc_AesInit(&mut *aes, std::ptr::null_mut(), INVALID_DEVID) != 0 {
                return false;
            }
            let ok = w::wc_AesGcmSetKey(&mut *aes, self.key.as_ptr(), KEY_LEN as u32) == 0 && op(&mut *aes) == 0;
            w::wc_AesFree(&mut *aes);
            ok
        }
    }

    /// Encrypts `data` in place; writes the 16-byte tag.
    fn seal(&self, nonce: &[u8], aad: &[u8], data: &mut [u8], tag: &mut [u8; 16]) -> bool {
        // SAFETY (inside op): buffers are valid for their lengths; wolfCrypt GCM works in place.
        self.with_gcm(|aes| unsafe {
            w::wc_AesGcmEncrypt(aes, data.as_mut_ptr(), data.as_ptr(), data.len() as u32, nonce.as_ptr(),
                nonce.len() as u32, tag.as_mut_ptr(), 16, aad.as_ptr(), aad.len() as u32)
        })
    }

    /// Decrypts `data` in place if `tag` authenticates it.
    fn open(&self, nonce: &[u8], aad: &[u8], data: &mut [u8], tag: &[u8]) -> bool {
        // SAFETY: as in `seal`.
        self.with_gcm(|aes| unsafe {
            w::wc_AesGcmDecrypt(aes, data.as_mut_ptr(), data.as_ptr(), data.len() as u32, nonce.as_ptr(),
                nonce.len() as u32, tag.as_ptr(), 16, aad.as_ptr(), aad.len() as u32)
        })
    }
}

#[cfg(unix)]
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(data)
}

#[cfg(not(unix))]
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, data)
}

unsafe extern "C" fn ticket_cb(
    ssl: *mut w::WOLFSSL,
    key_name: *mut c_uchar,
    iv: *mut c_uchar,
    mac: *mut c_uchar,
    enc: c_int,
    ticket: *mut c_uchar,
    in_len: c_int,
    out_len: *mut c_int,
    _user: *mut c_void,
) -> c_int {
    // SAFETY: wolfSSL passes fixed-size name (16), iv (16) and mac (32)
    // buffers and a ticket buffer of in_len bytes; the context's ticket
    // context pointer is the TicketKey owned by the TlsContext.
    let ctx = w::wolfSSL_get_SSL_CTX(ssl);
    let key = &*(w::wolfSSL_CTX_get_TicketEncCtx(ctx) as *const TicketKey);
    let name = std::slice::from_raw_parts_mut(key_name, NAME_LEN);
    let iv = std::slice::from_raw_parts_mut(iv, 16);
    let mac = std::slice::from_raw_parts_mut(mac, 32);
    let data = std::slice::from_raw_parts_mut(ticket, in_len.max(0) as usize);
    if enc != 0 {
        log::debug!("ticket: seal {} bytes", in_len);
        name.copy_from_slice(&key.name);
        super::random_bytes(iv);
        let aad: Vec<u8> = name.iter().chain(iv.iter()).copied().collect();
        let mut tag = [0u8; 16];
        if !key.seal(&iv[..12], &aad, data, &mut tag) {
            return w::WOLFSSL_TICKET_RET_FATAL;
        }
        mac[..16].copy_from_slice(&tag);
        mac[16..].fill(0);
        *out_len = in_len;
        w::WOLFSSL_TICKET_RET_OK as c_int
    } else {
        log::debug!("ticket: open {} bytes", in_len);
        if name != key.name || mac[16..].iter().any(|&b| b != 0) {
            log::debug!("ticket: sealed under another key");
            // Sealed under another key (for example before a key change): full handshake.
            return w::WOLFSSL_TICKET_RET_REJECT as c_int;
        }
        let aad: Vec<u8> = name.iter().chain(iv.iter()).copied().collect();
        if !key.open(&iv[..12], &aad, data, &mac[..16]) {
            log::debug!("ticket: authentication failed");
            return w::WOLFSSL_TICKET_RET_REJECT as c_int;
        }
        *out_len = in_len;
        // The ticket is good. May this ClientHello's early data be processed?
        let mut random = [0u8; RANDOM_LEN];
        let got = w::wolfSSL_get_client_random(ssl, random.as_mut_ptr(), RANDOM_LEN);
        let admit = match key.replay.lock() {
            Ok(mut r) if got == RANDOM_LEN => r.admit(&random, now_ms()),
            _ => false,
        };
        if !admit && w::socket_iwa_ticket_forbid_early_data(ticket, in_len) != 0 {
            // Cannot edit the ticket: refuse resumption altogether rather than risk a replay.
            return w::WOLFSSL_TICKET_RET_REJECT as c_int;
        }
        w::WOLFSSL_TICKET_RET_OK as c_int
    }
}

/// Milliseconds since the Unix epoch: the clock wolfSSL stamps tickets with
/// and checks ticket ages against (gettimeofday), so the register and
/// wolfSSL's freshness check agree on "now".
#[cfg(not(target_os = "emscripten"))]
fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The wasm build: `SystemTime` reads Emscripten 3.1.6's 32-bit `timespec` as a
/// 64-bit one (garbage, or a panic: docs/BRIDGE.md "time_t mismatch"), so the wall
/// clock comes from `Date.now()`. Before this, a wasm server given a ticket key file
/// with a register in it panicked at start.
#[cfg(target_os = "emscripten")]
fn now_ms() -> u64 {
    extern "C" {
        fn emscripten_date_now() -> f64;
    }
    // SAFETY: a JavaScript import returning Date.now().
    unsafe { emscripten_date_now() as u64 }
}

const RANDOM_LEN: usize = 32;

/// How long a ClientHello random stays in the register. wolfSSL resumes a
/// ticket only if the client's reported ticket age matches the server's view
/// within [-1 s, +11 s] (MAX_TICKET_AGE_DIFF 10 s + 1 s), so a ClientHello can
/// be accepted at most 12 s after its first acceptable arrival; 15 s adds margin.
pub const REPLAY_WINDOW_MS: u64 = 15_000;
/// Live entries the register holds; when full, 0-RTT is refused (fail closed)
/// until entries expire. 65,536 covers ~4,000 0-RTT handshakes per second.
pub const REPLAY_MAX_ENTRIES: usize = 65_536;
/// One file record: expiry (ms since the epoch, big-endian u64) | client random.
const RECORD_LEN: usize = 8 + RANDOM_LEN;

/// Counters of the 0-RTT policy.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct ZeroRttStats {
    /// Resumptions whose early data the policy allowed.
    pub admitted: u64,
    /// Early data refused: this ClientHello was seen before (a replay).
    pub refused_replay: u64,
    /// Early data refused: the register is full or could not be persisted.
    pub refused_unavailable: u64,
}

/// A strike register of ClientHello randoms (RFC 8446 8.2), kept for
/// [`REPLAY_WINDOW_MS`]. With `--ticket-key FILE` it is persisted in
/// `FILE.replay` before any early data is admitted, so a server restarted
/// inside the window still knows what it accepted.
pub struct AntiReplay {
    seen: HashMap<[u8; RANDOM_LEN], u64>,
    order: VecDeque<(u64, [u8; RANDOM_LEN])>,
    file: Option<PathBuf>,
    records_in_file: usize,
    pub stats: ZeroRttStats,
}

impl AntiReplay {
    fn in_memory() -> Self {
        AntiReplay { seen: HashMap::new(), order: VecDeque::new(), file: None, records_in_file: 0, stats: ZeroRttStats::default() }
    }

    /// Loads the unexpired entries of `path` (missing: empty register).
    fn persistent(path: PathBuf) -> Result<Self> {
        let mut me = Self::in_memory();
        match std::fs::read(&path) {
            Ok(raw) => {
                let now = now_ms();
                // A torn last record (crash mid-write) is ignored.
                for rec in raw.chunks_exact(RECORD_LEN) {
                    let expiry = u64::from_be_bytes(rec[..8].try_into().unwrap());
                    let random: [u8; RANDOM_LEN] = rec[8..].try_into().unwrap();
                    me.records_in_file += 1;
                    if expiry > now && expiry <= now + REPLAY_WINDOW_MS * 2 {
                        me.remember(random, expiry);
                    }
                }
                me.order.make_contiguous().sort_by_key(|e| e.0);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::file(&path, format!("cannot read the 0-RTT anti-replay register: {e}"))),
        }
        me.file = Some(path);
        me.compact();
        Ok(me)
    }

    fn remember(&mut self, random: [u8; RANDOM_LEN], expiry: u64) {
        self.seen.insert(random, expiry);
        self.order.push_back((expiry, random));
    }

    fn expire(&mut self, now: u64) {
        while let Some(&(expiry, random)) = self.order.front() {
            if expiry > now {
                break;
            }
            self.order.pop_front();
            if self.seen.get(&random) == Some(&expiry) {
                self.seen.remove(&random);
            }
        }
    }

    /// Records `random`; true if its early data may be processed (first
    /// sighting, and the record is stored where a restart will find it).
    pub fn admit(&mut self, random: &[u8; RANDOM_LEN], now: u64) -> bool {
        self.expire(now);
        if self.seen.contains_key(random) {
            self.stats.refused_replay += 1;
            log::info!("0-RTT refused: ClientHello replayed within the anti-replay window");
            return false;
        }
        if self.seen.len() >= REPLAY_MAX_ENTRIES {
            self.stats.refused_unavailable += 1;
            log::warn!("0-RTT refused: anti-replay register full ({REPLAY_MAX_ENTRIES} entries in {REPLAY_WINDOW_MS} ms)");
            return false;
        }
        let expiry = now + REPLAY_WINDOW_MS;
        if let Some(path) = &self.file {
            let mut rec = [0u8; RECORD_LEN];
            rec[..8].copy_from_slice(&expiry.to_be_bytes());
            rec[8..].copy_from_slice(random);
            if let Err(e) = append(path, &rec) {
                self.stats.refused_unavailable += 1;
                log::warn!("0-RTT refused: cannot write {}: {e}", path.display());
                return false;
            }
            self.records_in_file += 1;
        }
        self.remember(*random, expiry);
        self.stats.admitted += 1;
        if self.records_in_file > 4096 && self.records_in_file > 2 * self.seen.len() {
            self.compact();
        }
        true
    }

    /// Rewrites the file with the live entries only (write + rename).
    fn compact(&mut self) {
        let Some(path) = &self.file else { return };
        let mut out = Vec::with_capacity(self.order.len() * RECORD_LEN);
        for (expiry, random) in &self.order {
            if self.seen.get(random) == Some(expiry) {
                out.extend_from_slice(&expiry.to_be_bytes());
                out.extend_from_slice(random);
            }
        }
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        match std::fs::write(&tmp, &out).and_then(|_| std::fs::rename(&tmp, path)) {
            Ok(()) => self.records_in_file = out.len() / RECORD_LEN,
            Err(e) => log::warn!("cannot compact {}: {e}", path.display()),
        }
    }
}

fn append(path: &Path, rec: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).create(true).open(path)?;
    f.write_all(rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_refuses_a_random_seen_inside_the_window_and_survives_reload() {
        let dir = std::env::temp_dir().join(format!("siwa-replay-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let a = [1u8; RANDOM_LEN];
        let b = [2u8; RANDOM_LEN];
        let now = now_ms();
        let mut r = AntiReplay::persistent(dir.clone()).unwrap();
        assert!(r.admit(&a, now));
        assert!(!r.admit(&a, now + 1000));
        assert!(r.admit(&b, now + 1000));
        // A new process (restart) reads the file: both still refused.
        let mut r2 = AntiReplay::persistent(dir.clone()).unwrap();
        assert!(!r2.admit(&a, now + 2000));
        assert!(!r2.admit(&b, now + 2000));
        // After the window the entry is gone (wolfSSL's age check refuses such a ClientHello).
        assert!(r2.admit(&a, now + REPLAY_WINDOW_MS + 1));
        assert_eq!(r2.stats.refused_replay, 2);
        std::fs::remove_file(&dir).unwrap();
    }
}

//! Session ticket sealing with a key that survives restarts (`--ticket-key FILE`).
//!
//! File format: 48 raw bytes, a 16-byte key name followed by a 32-byte
//! AES-256-GCM key. Created with fresh random bytes (mode 0600) when missing.
//! Ticket layout as wolfSSL frames it: key_name(16) | iv(16, first 12 used as
//! the GCM nonce) | ciphertext | mac(32: the 16-byte GCM tag, then zeros).
//! The key name and IV are authenticated as additional data.

use crate::error::{Error, Result};
use std::os::raw::{c_int, c_uchar, c_void};
use std::path::Path;
use wolfssl_sys as w;

const NAME_LEN: usize = 16;
const KEY_LEN: usize = 32;
/// wolfCrypt's "no crypto device" id.
const INVALID_DEVID: i32 = -2;

/// The key that seals and opens session tickets.
pub struct TicketKey {
    name: [u8; NAME_LEN],
    key: [u8; KEY_LEN],
}

impl TicketKey {
    /// A random key that lives as long as this process.
    pub fn ephemeral() -> Self {
        let mut raw = [0u8; NAME_LEN + KEY_LEN];
        super::random_bytes(&mut raw);
        Self::from_bytes(&raw)
    }

    fn from_bytes(raw: &[u8]) -> Self {
        let mut name = [0u8; NAME_LEN];
        let mut key = [0u8; KEY_LEN];
        name.copy_from_slice(&raw[..NAME_LEN]);
        key.copy_from_slice(&raw[NAME_LEN..]);
        TicketKey { name, key }
    }

    /// Loads the key from `path`, creating the file with a new key if it does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        match std::fs::read(path) {
            Ok(raw) if raw.len() == NAME_LEN + KEY_LEN => Ok(Self::from_bytes(&raw)),
            Ok(raw) => Err(Error::file(
                path,
                format!("ticket key file must hold exactly {} bytes, found {}", NAME_LEN + KEY_LEN, raw.len()),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut raw = [0u8; NAME_LEN + KEY_LEN];
                super::random_bytes(&mut raw);
                write_private(path, &raw).map_err(|e| Error::file(path, format!("cannot create: {e}")))?;
                Ok(Self::from_bytes(&raw))
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
        w::WOLFSSL_TICKET_RET_OK as c_int
    }
}

//! Client-side resumption state: the TLS session (with its ticket) and the
//! server's transport parameters that 0-RTT must remember (RFC 9000 7.4.1).
//! Stored as a small JSON document (`--session FILE`).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::os::raw::c_int;
use std::path::Path;
use wolfssl_sys as w;

/// What a client keeps between connections to resume with 0-RTT.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedSession {
    pub version: u32,
    /// ALPN of the connection that produced the ticket (0-RTT must reuse it).
    pub alpn: String,
    /// wolfSSL session, DER (i2d) encoding, hex.
    pub tls_session: String,
    /// ngtcp2-encoded 0-RTT transport parameters, hex.
    pub transport_params: String,
    /// How the server was authenticated when this ticket was issued
    /// ([`super::Verification::binding`]). A resumed handshake presents no
    /// certificate, so a session is only resumed under the same verification.
    #[serde(default)]
    pub verification: String,
    /// Address validation token from the server's NEW_TOKEN frame, hex; lets
    /// the next connection skip a Retry. Absent in older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl SavedSession {
    pub fn load(path: &Path) -> Result<Option<Self>> {
        match std::fs::read(path) {
            Ok(raw) => Self::from_json(&raw).map(Some).map_err(|e| Error::file(path, format!("not a session file: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::file(path, e)),
        }
    }

    /// Parses the JSON document [`load`](Self::load) reads (also the fuzz target's entry point).
    pub fn from_json(raw: &[u8]) -> std::result::Result<Self, serde_json::Error> {
        serde_json::from_slice(raw)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("serialisable");
        std::fs::write(path, text).map_err(|e| Error::file(path, e))
    }

    /// The session file's encoding of a NEW_TOKEN token.
    pub fn token_hex(token: &[u8]) -> String {
        hex(token)
    }

    pub fn transport_params(&self) -> Result<Vec<u8>> {
        unhex(&self.transport_params).ok_or(Error::Session("bad transport_params"))
    }

    /// Installs the session on `ssl`; returns whether it permits 0-RTT.
    pub(super) fn apply(&self, ssl: *mut w::WOLFSSL) -> Result<bool> {
        let der = unhex(&self.tls_session).ok_or(Error::Session("bad tls_session"))?;
        // SAFETY: d2i reads der.len() bytes; the session reference is released
        // after wolfSSL_set_session copied it into ssl.
        unsafe {
            let mut p = der.as_ptr();
            let sess = w::wolfSSL_d2i_SSL_SESSION(std::ptr::null_mut(), &mut p, der.len() as _);
            if sess.is_null() {
                return Err(Error::Session("wolfSSL cannot decode the TLS session"));
            }
            let early = w::wolfSSL_SESSION_get_max_early_data(sess) == u32::MAX;
            let ok = w::wolfSSL_set_session(ssl, sess) == w::WOLFSSL_SUCCESS as c_int;
            w::wolfSSL_SESSION_free(sess);
            if !ok {
                // A well-formed session wolfSSL will not resume: it has outlived its
                // timeout (wolfSSL's default 500 s after it was issued). A stale
                // session file is normal: connect with a full handshake.
                log::warn!("session file: the TLS session has expired; full handshake");
                return Ok(false);
            }
            if early {
                w::wolfSSL_set_quic_early_data_enabled(ssl, 1);
            }
            Ok(early)
        }
    }
}

/// The ex-data slot of a client `WOLFSSL` that points at its [`super::Tls`]'s
/// captured-session cell. Slot 0 is wolfSSL's "app data", which
/// ngtcp2_crypto_wolfssl reads as the connection reference; 1 is ours
/// (wolfSSL's MAX_EX_DATA is 5).
pub(super) const SESSION_EX_INDEX: c_int = 1;

/// wolfSSL's new-session callback: serialises the ticket-bearing session into
/// the capture cell of the `Tls` that owns `ssl` (its ex-data slot
/// [`SESSION_EX_INDEX`]); the connection collects it with [`super::Tls::take_session`].
pub(super) unsafe extern "C" fn new_session_cb(ssl: *mut w::WOLFSSL, sess: *mut w::WOLFSSL_SESSION) -> c_int {
    // SAFETY: i2d with a null output pointer returns the length; then writes
    // into a buffer of that size. Returning 0 lets wolfSSL drop its reference.
    let len = w::wolfSSL_i2d_SSL_SESSION(sess, std::ptr::null_mut());
    if len <= 0 {
        return 0;
    }
    let mut buf = vec![0u8; len as usize];
    let mut p = buf.as_mut_ptr();
    if w::wolfSSL_i2d_SSL_SESSION(sess, &mut p) != len {
        return 0;
    }
    let cell = w::wolfSSL_get_ex_data(ssl, SESSION_EX_INDEX) as *mut Option<Vec<u8>>;
    if !cell.is_null() {
        // SAFETY: the cell is owned by the `Tls` wrapping `ssl` and outlives it (see `Tls::drop`).
        *cell = Some(buf);
    }
    0
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

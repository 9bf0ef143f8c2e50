//! How a client authenticates the server (docs/TLS.md, "Certificate verification"):
//!
//! - `Ca`: the chain must lead to one of the given roots (Debian's system bundle
//!   by default, or `--ca FILE`) and the leaf must name the server (a DNS name,
//!   or an IP address SAN when the server name is an IP literal);
//! - `Pin`: the SHA-256 of the leaf certificate's DER must equal the pin (what
//!   browsers take in `serverCertificateHashes` and our server prints as
//!   `cert_sha256`); chain and name are not consulted, validity dates are;
//! - `Insecure`: nothing is checked (an explicit opt-out; the binaries warn).

use crate::error::{Error, Result};
use std::ffi::CString;
use std::net::IpAddr;
use std::os::raw::{c_int, c_long, c_void};
use std::path::Path;
use std::sync::{Arc, Mutex};
use wolfssl_sys as w;

/// Debian's (ca-certificates) bundle of system roots.
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// How the client checks the server's certificate.
#[derive(Clone, Debug)]
pub enum Verification {
    /// Chain to these PEM roots, plus the name check.
    Ca { roots_pem: Vec<u8>, source: String },
    /// SHA-256 of the server's leaf certificate (DER): any of these (a server renewing
    /// its certificate is pinned by the old and the new hash, as with `serverCertificateHashes`).
    Pin(Vec<[u8; 32]>),
    /// No verification at all.
    Insecure,
}

impl Verification {
    /// The name the JSON output gives this mode: "ca", "pin" or "insecure".
    pub fn mode(&self) -> &'static str {
        match self {
            Verification::Ca { .. } => "ca",
            Verification::Pin(_) => "pin",
            Verification::Insecure => "insecure",
        }
    }

    /// What a session file records about how its server was authenticated:
    /// "pin:HEX", "ca:SHA-256 of the roots" or "insecure".
    pub fn binding(&self) -> String {
        match self {
            Verification::Ca { roots_pem, .. } => format!("ca:{}", super::hex(&super::identity::sha256(roots_pem))),
            Verification::Pin(p) => format!("pin:{}", p.iter().map(|h| super::hex(h)).collect::<Vec<_>>().join(",")),
            Verification::Insecure => "insecure".into(),
        }
    }

    /// Whether a session obtained under `binding` may be resumed now. A
    /// resumed handshake shows no certificate; the ticket proves the peer is
    /// the server (or holds the ticket key of the server) that passed
    /// verification when the ticket was issued. So a session from a verified
    /// handshake (any mode: a server restarted with the same --ticket-key and
    /// a new generated certificate keeps resuming) is usable, one from an
    /// `--insecure` run (or an older file that does not say) only by `--insecure` runs.
    pub fn may_resume(&self, binding: &str) -> bool {
        matches!(self, Verification::Insecure) || (!binding.is_empty() && binding != "insecure")
    }

    /// Roots from a PEM file (one or more CERTIFICATE blocks).
    pub fn ca_file(path: &Path) -> Result<Self> {
        let pem = std::fs::read(path).map_err(|e| Error::file(path, e))?;
        if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
            return Err(Error::file(path, "no PEM CERTIFICATE block"));
        }
        Ok(Verification::Ca { roots_pem: pem, source: path.display().to_string() })
    }

    /// The system roots ([`SYSTEM_CA_BUNDLE`]).
    pub fn system_roots() -> Result<Self> {
        let path = Path::new(SYSTEM_CA_BUNDLE);
        match std::fs::read(path) {
            Ok(pem) => Ok(Verification::Ca { roots_pem: pem, source: SYSTEM_CA_BUNDLE.into() }),
            Err(e) => Err(Error::BadInput(format!(
                "no system CA certificates ({SYSTEM_CA_BUNDLE}: {e}); pass --ca FILE, --cert-hash HEX or --insecure"
            ))),
        }
    }

    /// Pins given as 64 hex digits each (colons allowed between bytes), comma-separated.
    pub fn pin_hex(text: &str) -> Result<Self> {
        let pins = text
            .split(',')
            .map(|one| {
                let clean: String = one.trim().chars().filter(|&c| c != ':').collect();
                super::session::unhex(&clean.to_ascii_lowercase())
                    .filter(|b| b.len() == 32)
                    .map(|b| <[u8; 32]>::try_from(b).unwrap())
                    .ok_or_else(|| Error::BadInput(format!("--cert-hash: expected 64 hex digits (SHA-256), got {one:?}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Verification::Pin(pins))
    }

    /// The mode the client flags ask for: `--insecure`, `--cert-hash`, `--ca`,
    /// else the system roots. Flags are mutually exclusive (clap enforces it).
    pub fn from_flags(ca: Option<&Path>, cert_hash: Option<&str>, insecure: bool) -> Result<Self> {
        if insecure {
            Ok(Verification::Insecure)
        } else if let Some(h) = cert_hash {
            Self::pin_hex(h)
        } else if let Some(p) = ca {
            Self::ca_file(p)
        } else {
            Self::system_roots()
        }
    }
}

/// The certificate flags every client binary takes (`#[command(flatten)]`).
#[derive(clap::Args, Debug, Clone)]
pub struct VerifyArgs {
    /// PEM file of CA certificates to verify the server against (default: the system roots).
    #[arg(long, conflicts_with_all = ["cert_hash", "insecure"])]
    pub ca: Option<std::path::PathBuf>,
    /// Accept exactly the server certificate with this SHA-256 (hex of its DER; the server prints it as
    /// cert_sha256); several, comma-separated, accept any of them.
    #[arg(long, conflicts_with = "insecure")]
    pub cert_hash: Option<String>,
    /// Do not verify the server's certificate at all (unsafe; logged on stderr).
    #[arg(long)]
    pub insecure: bool,
}

impl VerifyArgs {
    /// The verification these flags ask for; `--insecure` is announced on stderr as `program`.
    pub fn verification(&self, program: &str) -> Result<Verification> {
        let v = Verification::from_flags(self.ca.as_deref(), self.cert_hash.as_deref(), self.insecure)?;
        if self.insecure {
            eprintln!("{program}: WARNING: --insecure: the server's certificate is NOT verified; anyone on the path can impersonate it");
        }
        Ok(v)
    }
}

/// The verify callback's context: the mode and the reason of the last failure.
pub(super) struct VerifyState {
    pin: Option<Vec<[u8; 32]>>,
    error: Mutex<Option<String>>,
}

impl VerifyState {
    pub(super) fn checks_name(&self) -> bool {
        self.pin.is_none()
    }

    pub(super) fn take_error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|mut e| e.take())
    }

    fn fail(&self, why: String) {
        if let Ok(mut e) = self.error.lock() {
            *e = Some(why);
        }
    }
}

/// Configures `ctx` for `v`; returns the state the callback reads (kept alive by
/// the context and by every connection made from it).
pub(super) unsafe fn install(ctx: *mut w::WOLFSSL_CTX, v: &Verification) -> Result<Option<Arc<VerifyState>>> {
    let pin = match v {
        Verification::Insecure => {
            w::wolfSSL_CTX_set_verify(ctx, w::WOLFSSL_VERIFY_NONE as c_int, None);
            return Ok(None);
        }
        Verification::Pin(p) => Some(p.clone()),
        Verification::Ca { roots_pem, source } => {
            // A system bundle may hold roots wolfSSL cannot parse (unsupported
            // algorithms); skip those instead of refusing the whole bundle.
            let rv = w::wolfSSL_CTX_load_verify_buffer_ex(
                ctx,
                roots_pem.as_ptr(),
                roots_pem.len() as c_long,
                w::WOLFSSL_FILETYPE_PEM as c_int,
                0,
                w::WOLFSSL_LOAD_FLAG_IGNORE_ERR,
            );
            if rv != w::WOLFSSL_SUCCESS as c_int {
                return Err(Error::BadInput(format!("{source}: no usable CA certificate")));
            }
            None
        }
    };
    let state = Arc::new(VerifyState { pin, error: Mutex::new(None) });
    w::wolfSSL_CTX_set_verify(ctx, w::WOLFSSL_VERIFY_PEER as c_int, Some(verify_cb));
    w::wolfSSL_CTX_SetCertCbCtx(ctx, &*state as *const VerifyState as *mut c_void);
    Ok(Some(state))
}

/// Makes `ssl` require `name` in the server's certificate: an IP address SAN
/// for IP literals, else a DNS name (SAN, or CN when there is no SAN).
pub(super) fn expect_name(ssl: *mut w::WOLFSSL, name: &str) -> Result<()> {
    let ip = name.parse::<IpAddr>().ok();
    // wolfSSL renders IPv6 SANs as eight 4-digit upper-case hex groups and
    // (with our own I/O layer) compares them as text: give it the same form.
    let text = match ip {
        Some(IpAddr::V6(a)) => a.segments().iter().map(|g| format!("{g:04X}")).collect::<Vec<_>>().join(":"),
        _ => name.to_string(),
    };
    let c = CString::new(text).map_err(|_| Error::BadInput(format!("bad server name {name:?}")))?;
    // SAFETY: ssl is valid; wolfSSL copies the string.
    let rv = unsafe {
        if ip.is_some() {
            w::wolfSSL_check_ip_address(ssl, c.as_ptr())
        } else {
            w::wolfSSL_check_domain_name(ssl, c.as_ptr())
        }
    };
    if rv != w::WOLFSSL_SUCCESS as c_int {
        return Err(Error::BadInput(format!("server name {name:?} is neither a DNS name nor an IP address")));
    }
    Ok(())
}

fn describe(err: c_int) -> String {
    match err {
        -151 => "certificate has expired".into(),                 // ASN_AFTER_DATE_E
        -150 => "certificate is not yet valid".into(),            // ASN_BEFORE_DATE_E
        -188 => "certificate is not signed by a trusted CA".into(), // ASN_NO_SIGNER_E
        -275 => "self-signed certificate".into(),                 // ASN_SELF_SIGNED_E
        -155 => "certificate signature does not verify".into(),   // ASN_SIG_CONFIRM_E
        -322 => "certificate does not name the server (DNS name mismatch)".into(), // DOMAIN_NAME_MISMATCH
        -325 => "certificate does not name the server (IP address mismatch)".into(), // IPADDR_MISMATCH
        e => {
            // SAFETY: wolfSSL returns a static string.
            let s = unsafe { std::ffi::CStr::from_ptr(w::wolfSSL_ERR_reason_error_string(e as _)) };
            format!("{} ({e})", s.to_string_lossy())
        }
    }
}

unsafe extern "C" fn verify_cb(preverify: c_int, store: *mut w::WOLFSSL_X509_STORE_CTX) -> c_int {
    // SAFETY: wolfSSL hands us the store it is verifying with; userCtx is the
    // VerifyState installed with the context, which every connection keeps alive.
    let st = &*((*store).userCtx as *const VerifyState);
    let depth = w::wolfSSL_X509_STORE_CTX_get_error_depth(store);
    let err = w::wolfSSL_X509_STORE_CTX_get_error(store);
    let Some(pin) = &st.pin else {
        if preverify != 0 {
            return 1;
        }
        st.fail(format!("{} (depth {depth})", describe(err)));
        return 0;
    };
    // Pinned: the chain does not matter, only the leaf (depth 0).
    if depth != 0 {
        return 1;
    }
    let x509 = w::wolfSSL_X509_STORE_CTX_get_current_cert(store);
    let mut len: c_int = 0;
    let der = if x509.is_null() { std::ptr::null() } else { w::wolfSSL_X509_get_der(x509, &mut len) };
    if der.is_null() || len <= 0 {
        st.fail("no server certificate to compare with --cert-hash".into());
        return 0;
    }
    let got = super::identity::sha256(std::slice::from_raw_parts(der, len as usize));
    if !pin.contains(&got) {
        st.fail(format!(
            "server certificate SHA-256 {} does not match --cert-hash {}",
            super::hex(&got),
            pin.iter().map(|h| super::hex(h)).collect::<Vec<_>>().join(",")
        ));
        return 0;
    }
    // As with browsers' serverCertificateHashes, a pinned certificate must be in its validity period.
    let not_before = w::wolfSSL_X509_get_notBefore(x509);
    let not_after = w::wolfSSL_X509_get_notAfter(x509);
    if err == -151 || (!not_after.is_null() && w::wolfSSL_X509_cmp_current_time(not_after) < 0) {
        st.fail("pinned certificate has expired".into());
        return 0;
    }
    if err == -150 || (!not_before.is_null() && w::wolfSSL_X509_cmp_current_time(not_before) > 0) {
        st.fail("pinned certificate is not yet valid".into());
        return 0;
    }
    1
}

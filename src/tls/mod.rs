//! Safe wrappers over wolfSSL for QUIC: contexts for each side, the server's
//! identity (PEM files or a generated short-lived certificate), the session
//! ticket key, and resumable client sessions.
//!
//! Invariant for every `unsafe` block here: the wolfSSL object pointers are
//! owned by the wrapper that created them and freed exactly once in `Drop`.

mod identity;
mod session;
mod ticket;
mod verify;

pub use identity::{Identity, MAX_GENERATED_DAYS_VALID};
pub use session::SavedSession;
pub use ticket::{AntiReplay, TicketKey, ZeroRttStats, REPLAY_WINDOW_MS};
pub(crate) use session::{hex, unhex};
pub use verify::{Verification, VerifyArgs, SYSTEM_CA_BUNDLE};

use crate::error::{Error, Result};
use std::os::raw::{c_int, c_uint};
use std::cell::Cell;
use std::sync::{Arc, Mutex, Once};
use wolfssl_sys as w;

static INIT: Once = Once::new();

/// `SOCKET_IWA_WOLFSSL_AVX2=on`: keep wolfSSL's own choice of code paths (see [`init`]).
fn keep_wolfssl_avx2() -> bool {
    std::env::var_os("SOCKET_IWA_WOLFSSL_AVX2").is_some_and(|v| v == "on")
}

pub(crate) fn init() {
    // SAFETY: both are called once, before any other wolfSSL call.
    INIT.call_once(|| unsafe {
        // wolfSSL's AVX2 P-256 code leaves the upper YMM state dirty, which made the key
        // schedule after it ~100x slower on our machines (csrc/cpu.c, docs/HANDSHAKE.md).
        if !keep_wolfssl_avx2() {
            w::socket_iwa_wolfssl_skip_avx2();
        }
        w::wolfSSL_Init();
    });
}

/// Fills `buf` from wolfSSL's DRBG.
pub fn random_bytes(buf: &mut [u8]) {
    init();
    // SAFETY: buf is valid for buf.len() writable bytes.
    let rv = unsafe { w::wolfSSL_RAND_bytes(buf.as_mut_ptr(), buf.len() as c_int) };
    assert_eq!(rv, w::WOLFSSL_SUCCESS as c_int, "wolfSSL RNG failure");
}

/// Which side of the handshake a context serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

/// A wolfSSL context configured for QUIC.
pub struct TlsContext {
    /// The current wolfSSL context (replaced, for new handshakes only, by `replace_identity`).
    ctx: Cell<*mut w::WOLFSSL_CTX>,
    side: Side,
    /// ALPN protocols the server accepts, comma-separated in preference order
    /// (wolfSSL's list format). A client offering none of them gets
    /// no_application_protocol, as RFC 9001 8.1 requires.
    server_alpns: String,
    _ticket_key: Option<Box<TicketKey>>,
    /// Client: how the server's certificate is checked (its state is the verify callback's context).
    /// Shared with every connection's `Tls`, so it outlives them all whatever the drop order.
    verify: Option<Arc<verify::VerifyState>>,
    /// Server: an identity waiting to replace the current one before the next handshake.
    next_identity: IdentitySwap,
}

/// A slot for the next identity of a server context ([`TlsContext::identity_swap`]):
/// whoever holds it may put an [`Identity`] there; the context takes it before
/// making its next connection.
#[derive(Clone, Default)]
pub struct IdentitySwap(Arc<Mutex<Option<Identity>>>);

impl IdentitySwap {
    /// Offers `identity` for the handshakes that start after this call.
    pub fn put(&self, identity: Identity) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(identity);
        }
    }

    fn take(&self) -> Option<Identity> {
        self.0.lock().ok().and_then(|mut s| s.take())
    }
}

impl Drop for TlsContext {
    fn drop(&mut self) {
        // SAFETY: ctx was created by wolfSSL_CTX_new and is freed once (connections
        // still holding a reference keep wolfSSL's copy alive until they are freed).
        unsafe { w::wolfSSL_CTX_free(self.ctx.get()) }
    }
}

impl TlsContext {
    /// A server context presenting `identity`, accepting `alpns`, issuing
    /// session tickets sealed with `ticket_key` and allowing 0-RTT.
    pub fn server(identity: &Identity, alpns: &[&str], ticket_key: TicketKey) -> Result<Self> {
        init();
        let key = Box::new(ticket_key);
        let ctx = Self::server_ctx(identity, &key)?;
        Ok(TlsContext {
            ctx: Cell::new(ctx),
            side: Side::Server,
            server_alpns: alpns.join(","),
            _ticket_key: Some(key),
            verify: None,
            next_identity: IdentitySwap::default(),
        })
    }

    /// Server: a secret derived from the ticket key (see [`TicketKey::derive`]); None on a client context.
    pub fn derive_secret(&self, label: &[u8]) -> Option<[u8; 32]> {
        self._ticket_key.as_ref().map(|k| k.derive(label))
    }

    /// A wolfSSL server context presenting `identity`, sealing tickets with `key`
    /// (which must outlive it and every connection made from it).
    fn server_ctx(identity: &Identity, key: &TicketKey) -> Result<*mut w::WOLFSSL_CTX> {
        // SAFETY: plain constructor calls; every pointer is checked before use;
        // on error the half-built context is freed here.
        unsafe {
            let ctx = w::wolfSSL_CTX_new(w::wolfTLSv1_3_server_method());
            if ctx.is_null() {
                return Err(Error::Tls("wolfSSL_CTX_new failed".into()));
            }
            let fail = |e: Error| {
                w::wolfSSL_CTX_free(ctx);
                Err(e)
            };
            if ngtcp2_sys::ngtcp2_crypto_wolfssl_configure_server_context(ctx.cast()) != 0 {
                return fail(Error::Tls("cannot install the QUIC method on the server context".into()));
            }
            // One DRBG shared by every connection of this context, instead of a
            // fresh, health-tested one per wolfSSL_new (SINGLE_THREADED build: one
            // event loop owns every TLS object). See docs/HANDSHAKE.md.
            if w::wolfSSL_CTX_new_rng(ctx) != w::WOLFSSL_SUCCESS as c_int {
                return fail(Error::Tls("cannot create the server context's random generator".into()));
            }
            if let Err(e) = identity.install(ctx) {
                return fail(e);
            }
            if let Err(e) = set_suite_order(ctx) {
                return fail(e);
            }
            // The wasm server chooses by its own order (ChaCha20 first: it has no
            // AES instructions). The native server follows the client's order, as
            // BoringSSL and GnuTLS servers do by default: every TLS 1.3 suite is
            // strong, and a client that puts ChaCha20-Poly1305 first (our wasm
            // client, a device without AES instructions) is the one that knows AES
            // is slow for it. docs/TLS.md "Cipher suites".
            if !cfg!(target_family = "wasm") && w::wolfSSL_CTX_UseClientSuites(ctx) != 0 {
                return fail(Error::Tls("cannot let the client's cipher suite order decide".into()));
            }
            if let Err(e) = key.install(ctx) {
                return fail(e);
            }
            // 0-RTT anti-replay is our ticket callback's job (docs/TLS.md): its
            // strike register survives restarts, so wolfSSL's own checks, which
            // refuse every ticket minted before this context existed and need
            // the ticket's session in the in-memory cache, are switched off.
            // With no internal store and a removal callback, wolfSSL's
            // single-use eviction reports success; the server keeps no sessions.
            if w::wolfSSL_CTX_no_early_data_fresh_start_check(ctx) != 0 {
                return fail(Error::Tls("cannot configure 0-RTT anti-replay".into()));
            }
            w::wolfSSL_CTX_set_session_cache_mode(ctx, (w::WOLFSSL_SESS_CACHE_SERVER | w::WOLFSSL_SESS_CACHE_NO_INTERNAL_STORE) as _);
            w::wolfSSL_CTX_sess_set_remove_cb(ctx, Some(session_removed_cb));
            Ok(ctx)
        }
    }

    /// Server: where to put an identity for the handshakes that start from now on
    /// (certificate renewal without a restart, docs/JS_SERVERS.md "Renewal").
    /// Connections already made keep theirs: each wolfSSL object holds a reference
    /// on the context it was made from, and every context seals and opens tickets
    /// with the same [`TicketKey`], so sessions resume across the change.
    pub fn identity_swap(&self) -> IdentitySwap {
        self.next_identity.clone()
    }

    /// Server: present `identity` from the next handshake on (see [`Self::identity_swap`]).
    pub fn replace_identity(&self, identity: &Identity) -> Result<()> {
        let key = self._ticket_key.as_ref().ok_or_else(|| Error::Tls("not a server context".into()))?;
        let ctx = Self::server_ctx(identity, key)?;
        let old = self.ctx.replace(ctx);
        // SAFETY: `old` was ours; wolfSSL frees it once the connections made from it
        // (each holding a reference, wolfSSL_new -> SetSSL_CTX) are gone too.
        unsafe { w::wolfSSL_CTX_free(old) };
        log::info!("new identity for new handshakes: {}", identity.source);
        Ok(())
    }

    /// A client context that checks the server's certificate as `verification`
    /// says (chain + name, a SHA-256 pin, or nothing); resumption state is
    /// captured per connection.
    pub fn client(verification: &Verification) -> Result<Self> {
        init();
        // SAFETY: as above.
        unsafe {
            let ctx = w::wolfSSL_CTX_new(w::wolfTLSv1_3_client_method());
            if ctx.is_null() {
                return Err(Error::Tls("wolfSSL_CTX_new failed".into()));
            }
            let mut me = TlsContext {
                ctx: Cell::new(ctx),
                side: Side::Client,
                server_alpns: String::new(),
                _ticket_key: None,
                verify: None,
                next_identity: IdentitySwap::default(),
            };
            if ngtcp2_sys::ngtcp2_crypto_wolfssl_configure_client_context(ctx.cast()) != 0 {
                return Err(Error::Tls("cannot install the QUIC method on the client context".into()));
            }
            set_suite_order(ctx)?;
            me.verify = verify::install(ctx, verification)?;
            w::wolfSSL_CTX_set_session_cache_mode(
                ctx,
                (w::WOLFSSL_SESS_CACHE_CLIENT | w::WOLFSSL_SESS_CACHE_NO_INTERNAL_STORE) as _,
            );
            w::wolfSSL_CTX_sess_set_new_cb(ctx, Some(session::new_session_cb));
            Ok(me)
        }
    }

    /// Client: why the last certificate check failed, if it did (one line).
    pub fn take_verify_error(&self) -> Option<String> {
        self.verify.as_ref().and_then(|v| v.take_error())
    }

    /// A new TLS object for one connection.
    pub fn new_tls(&self) -> Result<Tls> {
        if self.side == Side::Server {
            if let Some(id) = self.next_identity.take() {
                // A bad identity keeps the current one: the server goes on serving.
                if let Err(e) = self.replace_identity(&id) {
                    log::warn!("identity not replaced: {e}");
                }
            }
        }
        // SAFETY: ctx is valid; the returned object is owned by `Tls`.
        let ssl = unsafe { w::wolfSSL_new(self.ctx.get()) };
        if ssl.is_null() {
            return Err(Error::Tls("wolfSSL_new failed".into()));
        }
        let check_name = self.verify.as_ref().is_some_and(|v| v.checks_name());
        let session = Box::into_raw(Box::new(None));
        let tls = Tls { ssl, check_name, _verify: self.verify.clone(), session };
        if self.side == Side::Client {
            // SAFETY: ssl is valid; the cell lives until `Tls::drop`, after wolfSSL_free.
            if unsafe { w::wolfSSL_set_ex_data(ssl, session::SESSION_EX_INDEX, session.cast()) } != w::WOLFSSL_SUCCESS as c_int {
                return Err(Error::Tls("cannot attach the session capture to the TLS object".into()));
            }
        }
        if self.side == Side::Server {
            // SAFETY: ssl is valid; wolfSSL copies the ALPN list.
            unsafe {
                // Enables 0-RTT (max_early_data 0xffffffff in the tickets we issue).
                w::wolfSSL_set_quic_early_data_enabled(ssl, 1);
                let list = &self.server_alpns;
                if w::wolfSSL_UseALPN(ssl, list.as_ptr() as *mut _, list.len() as c_uint, w::WOLFSSL_ALPN_FAILED_ON_MISMATCH as u8)
                    != w::WOLFSSL_SUCCESS as c_int
                {
                    return Err(Error::Tls("cannot set the server's ALPN list".into()));
                }
            }
        }
        Ok(tls)
    }
}

/// The TLS 1.3 cipher suites in our order of preference. Where there are no AES
/// instructions (wasm), ChaCha20-Poly1305 (ChaCha20 in wasm SIMD, docs/ARCHITECTURE.md)
/// costs a fraction of AES-GCM in portable code (about 5x less CPU per byte under
/// Node 26), so it goes first there; natively AES-NI wins.
const SUITE_ORDER: &[u8] = if cfg!(target_family = "wasm") {
    b"TLS13-CHACHA20-POLY1305-SHA256:TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384\0"
} else {
    b"TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:TLS13-CHACHA20-POLY1305-SHA256\0"
};

/// Offers (client) or prefers (wasm server) the suites in [`SUITE_ORDER`].
///
/// # Safety
/// `ctx` is a valid wolfSSL context.
unsafe fn set_suite_order(ctx: *mut w::WOLFSSL_CTX) -> Result<()> {
    if w::wolfSSL_CTX_set_cipher_list(ctx, SUITE_ORDER.as_ptr().cast()) != w::WOLFSSL_SUCCESS as c_int {
        return Err(Error::Tls("cannot set the cipher suite order".into()));
    }
    Ok(())
}

/// wolfSSL's session removal callback: the server keeps no sessions (tickets
/// carry them), so there is nothing to remove.
unsafe extern "C" fn session_removed_cb(_ctx: *mut w::WOLFSSL_CTX, _sess: *mut w::WOLFSSL_SESSION) {}

/// One connection's TLS object.
pub struct Tls {
    ssl: *mut w::WOLFSSL,
    /// Client verifying against CAs: the server name must match the certificate.
    check_name: bool,
    /// The verify callback's context, kept alive while wolfSSL may call back with it.
    _verify: Option<Arc<verify::VerifyState>>,
    /// Client: the latest resumable session (DER) wolfSSL handed to the
    /// new-session callback, which finds this cell through the SSL's ex-data.
    /// Heap-allocated so its address is stable; freed after the SSL object.
    session: *mut Option<Vec<u8>>,
}

impl Drop for Tls {
    fn drop(&mut self) {
        // SAFETY: ssl was created by wolfSSL_new and is freed once; the session
        // cell was leaked from a Box in `new_tls` and nothing refers to it once
        // the SSL object is gone.
        unsafe {
            w::wolfSSL_free(self.ssl);
            drop(Box::from_raw(self.session));
        }
    }
}

impl Tls {
    pub fn as_ptr(&self) -> *mut w::WOLFSSL {
        self.ssl
    }

    /// Client: offer these ALPN protocols.
    pub fn set_alpn(&self, alpns: &[&str]) -> Result<()> {
        let mut wire = Vec::new();
        for a in alpns {
            // RFC 7301 3.1: each name is 1-255 bytes (a longer one's length byte would wrap).
            if a.is_empty() || a.len() > 255 {
                return Err(Error::BadInput(format!("ALPN protocol names are 1-255 bytes; got {} bytes", a.len())));
            }
            wire.push(a.len() as u8);
            wire.extend_from_slice(a.as_bytes());
        }
        // SAFETY: wire is valid for its length during the call; wolfSSL copies it.
        // Without WOLFSSL_ERROR_CODE_OPENSSL this returns WOLFSSL_SUCCESS, not OpenSSL's 0.
        let rv = unsafe { w::wolfSSL_set_alpn_protos(self.ssl, wire.as_ptr(), wire.len() as c_uint) };
        if rv != w::WOLFSSL_SUCCESS as c_int {
            return Err(Error::Tls("cannot set ALPN".into()));
        }
        Ok(())
    }

    /// Client: send this server name (SNI) and, when verifying against CAs,
    /// require the certificate to carry it (a DNS name, or an IP address SAN).
    pub fn set_server_name(&self, name: &str) -> Result<()> {
        // SAFETY: name is valid for its length during the call; wolfSSL copies it.
        let rv = unsafe {
            w::wolfSSL_UseSNI(self.ssl, w::WOLFSSL_SNI_HOST_NAME as u8, name.as_ptr().cast(), name.len() as u16)
        };
        if rv != w::WOLFSSL_SUCCESS as c_int {
            return Err(Error::Tls("cannot set SNI".into()));
        }
        if self.check_name {
            verify::expect_name(self.ssl, name)?;
        }
        Ok(())
    }

    /// The negotiated ALPN protocol, once the ClientHello has been processed.
    pub fn alpn(&self) -> Option<Vec<u8>> {
        let mut name: *const u8 = std::ptr::null();
        let mut len: c_uint = 0;
        // SAFETY: wolfSSL points `name` into its own storage, valid while ssl lives.
        unsafe { w::wolfSSL_get0_alpn_selected(self.ssl, &mut name, &mut len) };
        if name.is_null() || len == 0 {
            return None;
        }
        // SAFETY: name is valid for len bytes (see above); copied out immediately.
        Some(unsafe { std::slice::from_raw_parts(name, len as usize) }.to_vec())
    }

    /// Client: what happened to 0-RTT data, once the handshake completed.
    pub fn early_data_status(&self) -> EarlyData {
        // SAFETY: ssl is valid.
        match unsafe { w::wolfSSL_get_early_data_status(self.ssl) } as u32 {
            w::WOLFSSL_EARLY_DATA_ACCEPTED => EarlyData::Accepted,
            w::WOLFSSL_EARLY_DATA_REJECTED => EarlyData::Rejected,
            _ => EarlyData::None,
        }
    }

    /// The negotiated cipher suite by its IANA name (e.g. `TLS_CHACHA20_POLY1305_SHA256`),
    /// once the handshake has chosen one.
    pub fn cipher_suite(&self) -> Option<String> {
        // SAFETY: ssl is valid; the suite is (first byte << 8) | second byte, or
        // negative before one is chosen; the name is a static string or null.
        unsafe {
            let suite = w::wolfSSL_get_current_cipher_suite(self.ssl);
            if suite <= 0 {
                return None;
            }
            let name = w::wolfSSL_get_cipher_name_iana_from_suite((suite >> 8) as u8, suite as u8);
            (!name.is_null()).then(|| std::ffi::CStr::from_ptr(name).to_string_lossy().into_owned())
        }
    }

    /// Whether this handshake resumed a session.
    pub fn resumed(&self) -> bool {
        // SAFETY: ssl is valid.
        unsafe { w::wolfSSL_session_reused(self.ssl) == 1 }
    }

    /// Client: the resumable session (DER) the server's latest ticket produced, once.
    pub fn take_session(&mut self) -> Option<Vec<u8>> {
        // SAFETY: the cell is valid while self lives; wolfSSL writes it only
        // inside calls made through this object (the handshake), never concurrently.
        unsafe { (*self.session).take() }
    }

    /// Client: resume `session`; returns whether 0-RTT may be attempted.
    pub fn resume(&self, session: &SavedSession) -> Result<bool> {
        session.apply(self.ssl)
    }
}

/// Fate of 0-RTT data on a client connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EarlyData {
    None,
    Accepted,
    Rejected,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// init() leaves wolfSSL without its AVX2 code paths (docs/HANDSHAKE.md "The AVX2
    /// table lookup") and with every other x86 feature as the CPU reports it: clearing
    /// the bit before detection once left all flags set, features this CPU lacks included.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn wolfssl_runs_without_avx2_and_with_the_cpus_other_features() {
        init();
        // SAFETY: reads (and, on first use, detects) wolfSSL's CPU flags.
        let flags = unsafe { w::socket_iwa_wolfssl_cpu_flags() };
        let expect_avx2 = keep_wolfssl_avx2() && std::is_x86_feature_detected!("avx2");
        assert_eq!(flags & w::CPUID_AVX2 != 0, expect_avx2, "AVX2 flag, flags {flags:#x}");
        let features = [
            (w::CPUID_AVX1, "avx", std::is_x86_feature_detected!("avx")),
            (w::CPUID_AESNI, "aes", std::is_x86_feature_detected!("aes")),
            (w::CPUID_SHA, "sha", std::is_x86_feature_detected!("sha")),
            (w::CPUID_BMI1, "bmi1", std::is_x86_feature_detected!("bmi1")),
            (w::CPUID_BMI2, "bmi2", std::is_x86_feature_detected!("bmi2")),
            (w::CPUID_ADX, "adx", std::is_x86_feature_detected!("adx")),
            (w::CPUID_RDRAND, "rdrand", std::is_x86_feature_detected!("rdrand")),
            (w::CPUID_RDSEED, "rdseed", std::is_x86_feature_detected!("rdseed")),
            (w::CPUID_MOVBE, "movbe", std::is_x86_feature_detected!("movbe")),
            (w::CPUID_SSSE3, "ssse3", std::is_x86_feature_detected!("ssse3")),
            (w::CPUID_VAES, "vaes", std::is_x86_feature_detected!("vaes")),
            (w::CPUID_AVX512, "avx512f", std::is_x86_feature_detected!("avx512f")),
        ];
        // One vendor at most: undetected flags (all ones) claim both.
        let both = w::CPUID_INTEL | w::CPUID_AMD;
        assert_ne!(flags & both, both, "wolfSSL's flags name two CPU vendors: never detected, flags {flags:#x}");
        for (bit, name, present) in features {
            assert_eq!(flags & bit != 0, present, "wolfSSL's {name} flag vs the CPU's, flags {flags:#x}");
        }
    }

    #[test]
    fn alpn_names_must_be_1_to_255_bytes() {
        let ctx = TlsContext::client(&Verification::Insecure).unwrap();
        let tls = ctx.new_tls().unwrap();
        assert!(tls.set_alpn(&["h3", "echo"]).is_ok());
        assert!(tls.set_alpn(&[&"a".repeat(255)]).is_ok());
        // 258 bytes: a u8 length byte wraps to 2 and the list reads as three
        // other names ("h3" and two 127-byte ones), silently offered.
        let wrapped = format!("h3\x7f{}\x7f{}", "x".repeat(127), "y".repeat(127));
        assert_eq!(wrapped.len(), 258);
        let e = tls.set_alpn(&[&wrapped]).unwrap_err().to_string();
        assert!(e.contains("1-255 bytes"), "{e}");
        assert!(tls.set_alpn(&[""]).is_err());
    }
}

//! The server's certificate and private key: loaded from PEM files, or a fresh
//! self-signed ECDSA P-256 certificate (valid for 10 days, or as many as asked
//! up to 13) whose SHA-256 digest is what browsers' `serverCertificateHashes` expects.

use crate::error::{Error, Result};
use std::os::raw::{c_int, c_long};
use std::path::Path;
use wolfssl_sys as w;

/// Certificate chain and key, as wolfSSL loads them.
pub struct Identity {
    cert: Vec<u8>,
    key: Vec<u8>,
    format: c_int,
    /// SHA-256 of the leaf certificate's DER encoding.
    pub cert_sha256: [u8; 32],
    /// Where the identity came from, for logs.
    pub source: String,
}

/// Validity of generated certificates. Chromium's `serverCertificateHashes`
/// accepts at most 14 days; wolfSSL back-dates notBefore by a day.
pub const GENERATED_DAYS_VALID: c_int = 10;
/// Longest validity [`Identity::generate_days`] accepts: wolfSSL's notBefore is one
/// day back and notAfter `days` ahead (one `time()` reading for both), so 13 days
/// makes a span of exactly 14 days, which Chromium's WebTransport fingerprint
/// verifier still accepts (`validity_end - validity_start <= 14 days`).
pub const MAX_GENERATED_DAYS_VALID: u32 = 13;

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::file(path, e))
}

impl Identity {
    /// Loads a PEM certificate chain and PEM private key, checking both parse.
    pub fn from_pem_files(cert_path: &Path, key_path: &Path) -> Result<Self> {
        let cert = read(cert_path)?;
        let key = read(key_path)?;
        let der = pem_first_der(&cert).ok_or_else(|| Error::file(cert_path, "no PEM CERTIFICATE block"))?;
        let me = Identity {
            cert,
            key,
            format: w::WOLFSSL_FILETYPE_PEM as c_int,
            cert_sha256: sha256(&der),
            source: format!("{} + {}", cert_path.display(), key_path.display()),
        };
        // Validate now so a bad file is reported by name, not at first handshake.
        super::init();
        // SAFETY: a scratch context, freed below.
        unsafe {
            let ctx = w::wolfSSL_CTX_new(w::wolfTLSv1_3_server_method());
            let r1 = w::wolfSSL_CTX_use_certificate_chain_buffer_format(
                ctx,
                me.cert.as_ptr(),
                me.cert.len() as c_long,
                me.format,
            );
            let r2 = w::wolfSSL_CTX_use_PrivateKey_buffer(ctx, me.key.as_ptr(), me.key.len() as c_long, me.format);
            let r3 = if r1 == 1 && r2 == 1 { w::wolfSSL_CTX_check_private_key(ctx) } else { 0 };
            w::wolfSSL_CTX_free(ctx);
            if r1 != w::WOLFSSL_SUCCESS as c_int {
                return Err(Error::file(cert_path, "not a usable PEM certificate"));
            }
            if r2 != w::WOLFSSL_SUCCESS as c_int {
                return Err(Error::file(key_path, "not a usable PEM private key"));
            }
            if r3 != w::WOLFSSL_SUCCESS as c_int {
                return Err(Error::file(key_path, "private key does not match the certificate"));
            }
        }
        Ok(me)
    }

    /// Generates a self-signed ECDSA P-256 certificate for `localhost`,
    /// `127.0.0.1` and `::1`, valid for [`GENERATED_DAYS_VALID`] days.
    pub fn generate() -> Result<Self> {
        Self::generate_days(GENERATED_DAYS_VALID as u32)
    }

    /// [`Identity::generate`] valid for `days` (1..=[`MAX_GENERATED_DAYS_VALID`]) days.
    pub fn generate_days(days: u32) -> Result<Self> {
        if !(1..=MAX_GENERATED_DAYS_VALID).contains(&days) {
            return Err(Error::BadInput(format!("generated certificates are valid 1-{MAX_GENERATED_DAYS_VALID} days, not {days}")));
        }
        super::init();
        // SAFETY: all wolfCrypt objects live on this stack frame (boxed where
        // large) and are initialised before use and freed before return.
        unsafe {
            let mut rng: Box<w::WC_RNG> = Box::new(std::mem::zeroed());
            if w::wc_InitRng(&mut *rng) != 0 {
                return Err(Error::Tls("RNG init failed".into()));
            }
            let mut key: Box<w::ecc_key> = Box::new(std::mem::zeroed());
            w::wc_ecc_init(&mut *key);
            let result = (|| {
                if w::wc_ecc_make_key_ex(&mut *rng, 32, &mut *key, w::ECC_SECP256R1 as c_int) != 0 {
                    return Err(Error::Tls("P-256 key generation failed".into()));
                }
                let mut cert: Box<w::Cert> = Box::new(std::mem::zeroed());
                if w::wc_InitCert(&mut *cert) != 0 {
                    return Err(Error::Tls("wc_InitCert failed".into()));
                }
                copy_cstr(&mut cert.subject.commonName, "Socket.IWA");
                copy_cstr(&mut cert.subject.org, "Socket.IWA");
                cert.daysValid = days as c_int;
                cert.isCA = 0;
                cert.selfSigned = 1;
                cert.sigType = w::CTC_SHA256wECDSA as c_int;
                let san = subject_alt_names();
                cert.altNames[..san.len()].copy_from_slice(&san);
                cert.altNamesSz = san.len() as c_int;

                let mut der = vec![0u8; 4096];
                let body = w::wc_MakeCert(&mut *cert, der.as_mut_ptr(), der.len() as u32, std::ptr::null_mut(), &mut *key, &mut *rng);
                if body < 0 {
                    return Err(Error::Tls(format!("wc_MakeCert failed ({body})")));
                }
                let len = w::wc_SignCert(cert.bodySz, cert.sigType, der.as_mut_ptr(), der.len() as u32, std::ptr::null_mut(), &mut *key, &mut *rng);
                if len < 0 {
                    return Err(Error::Tls(format!("wc_SignCert failed ({len})")));
                }
                der.truncate(len as usize);
                let mut kder = vec![0u8; 512];
                let klen = w::wc_EccKeyToDer(&mut *key, kder.as_mut_ptr(), kder.len() as u32);
                if klen < 0 {
                    return Err(Error::Tls(format!("wc_EccKeyToDer failed ({klen})")));
                }
                kder.truncate(klen as usize);
                Ok(Identity {
                    cert_sha256: sha256(&der),
                    cert: der,
                    key: kder,
                    format: w::WOLFSSL_FILETYPE_ASN1 as c_int,
                    source: format!("generated ECDSA P-256, valid {days} days"),
                })
            })();
            w::wc_ecc_free(&mut *key);
            w::wc_FreeRng(&mut *rng);
            result
        }
    }

    /// The certificate as PEM text (for handing to a browser or another client).
    pub fn cert_pem(&self) -> String {
        if self.format == w::WOLFSSL_FILETYPE_PEM as c_int {
            return String::from_utf8_lossy(&self.cert).into_owned();
        }
        pem_encode("CERTIFICATE", &self.cert)
    }

    /// The private key as PEM text (`EC PRIVATE KEY` for a generated one, else as loaded).
    pub fn key_pem(&self) -> String {
        if self.format == w::WOLFSSL_FILETYPE_PEM as c_int {
            return String::from_utf8_lossy(&self.key).into_owned();
        }
        pem_encode("EC PRIVATE KEY", &self.key)
    }

    /// The leaf certificate's notAfter, in seconds since the Unix epoch (`None` if
    /// its DER cannot be walked or the time is malformed).
    pub fn not_after(&self) -> Option<i64> {
        let der = if self.format == w::WOLFSSL_FILETYPE_PEM as c_int { pem_first_der(&self.cert)? } else { self.cert.clone() };
        not_after_of(&der)
    }

    /// The certificate's SHA-256 as lowercase hex.
    pub fn cert_sha256_hex(&self) -> String {
        crate::tls::session::hex(&self.cert_sha256)
    }

    /// SHA-256 of the leaf certificate's SubjectPublicKeyInfo (DER), base64: the form
    /// Chromium's `--ignore-certificate-errors-spki-list` takes. `None` if the
    /// certificate's DER cannot be walked.
    pub fn spki_sha256_base64(&self) -> Option<String> {
        let der = if self.format == w::WOLFSSL_FILETYPE_PEM as c_int { pem_first_der(&self.cert)? } else { self.cert.clone() };
        Some(base64(&sha256(spki_of(&der)?)))
    }

    pub(super) unsafe fn install(&self, ctx: *mut w::WOLFSSL_CTX) -> Result<()> {
        let r1 = w::wolfSSL_CTX_use_certificate_chain_buffer_format(ctx, self.cert.as_ptr(), self.cert.len() as c_long, self.format);
        let r2 = w::wolfSSL_CTX_use_PrivateKey_buffer(ctx, self.key.as_ptr(), self.key.len() as c_long, self.format);
        if r1 != w::WOLFSSL_SUCCESS as c_int || r2 != w::WOLFSSL_SUCCESS as c_int {
            return Err(Error::Tls(format!("cannot load identity ({})", self.source)));
        }
        Ok(())
    }
}

fn copy_cstr(dst: &mut [std::os::raw::c_char], s: &str) {
    for (d, b) in dst.iter_mut().zip(s.bytes()) {
        *d = b as std::os::raw::c_char;
    }
    dst[s.len().min(dst.len() - 1)] = 0;
}

/// DER `GeneralNames`: dNSName "localhost", iPAddress 127.0.0.1, iPAddress ::1.
fn subject_alt_names() -> Vec<u8> {
    let mut names = Vec::new();
    names.push(0x82); // [2] dNSName
    names.push(9);
    names.extend_from_slice(b"localhost");
    names.extend_from_slice(&[0x87, 4, 127, 0, 0, 1]); // [7] iPAddress
    names.push(0x87);
    names.push(16);
    names.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
    let mut out = vec![0x30, names.len() as u8];
    out.extend_from_slice(&names);
    out
}

pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // SAFETY: data and out are valid for their lengths.
    let rv = unsafe { w::wc_Sha256Hash(data.as_ptr(), data.len() as u32, out.as_mut_ptr()) };
    assert_eq!(rv, 0, "SHA-256 failed");
    out
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// One DER element at the start of `d`: (whole element, contents, rest).
fn der_element(d: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let (&_tag, rest) = d.split_first()?;
    let (&l0, rest) = rest.split_first()?;
    let (len, rest) = if l0 < 0x80 {
        (l0 as usize, rest)
    } else {
        let n = (l0 & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        (rest[..n].iter().fold(0usize, |a, &b| a << 8 | b as usize), &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    let head = d.len() - rest.len();
    Some((&d[..head + len], &rest[..len], &rest[len..]))
}

/// The SubjectPublicKeyInfo element of a DER certificate (RFC 5280 4.1: the
/// seventh field of tbsCertificate when the `[0]` version is present, else the sixth).
fn spki_of(cert: &[u8]) -> Option<&[u8]> {
    let (_, cert_body, _) = der_element(cert)?;
    let (_, mut tbs, _) = der_element(cert_body)?;
    if tbs.first() == Some(&0xa0) {
        tbs = der_element(tbs)?.2; // version
    }
    for _ in 0..5 {
        tbs = der_element(tbs)?.2; // serial, signature, issuer, validity, subject
    }
    let (spki, _, _) = der_element(tbs)?;
    (spki.first() == Some(&0x30)).then_some(spki)
}

/// notAfter of a DER certificate (RFC 5280 4.1.2.5: UTCTime YYMMDDHHMMSSZ, years
/// 50-99 meaning 19xx, or GeneralizedTime YYYYMMDDHHMMSSZ), as Unix seconds.
fn not_after_of(cert: &[u8]) -> Option<i64> {
    let (_, cert_body, _) = der_element(cert)?;
    let (_, mut tbs, _) = der_element(cert_body)?;
    if tbs.first() == Some(&0xa0) {
        tbs = der_element(tbs)?.2; // version
    }
    for _ in 0..3 {
        tbs = der_element(tbs)?.2; // serial, signature, issuer
    }
    let (_, validity, _) = der_element(tbs)?;
    let (_, _, rest) = der_element(validity)?; // notBefore
    let (el, t, _) = der_element(rest)?;
    let t = std::str::from_utf8(t).ok()?;
    let digits = |s: &str| -> Option<i64> { s.bytes().all(|b| b.is_ascii_digit()).then(|| s.parse().ok())? };
    let (year, rest) = match el[0] {
        0x17 if t.len() == 13 => {
            let y = digits(&t[..2])?;
            (if y >= 50 { 1900 + y } else { 2000 + y }, &t[2..])
        }
        0x18 if t.len() == 15 => (digits(&t[..4])?, &t[4..]),
        _ => return None,
    };
    if !rest.ends_with('Z') {
        return None;
    }
    let (mo, d, h, mi, s) = (digits(&rest[0..2])?, digits(&rest[2..4])?, digits(&rest[4..6])?, digits(&rest[6..8])?, digits(&rest[8..10])?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + s)
}

fn base64(data: &[u8]) -> String {
    let mut b64 = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.len();
        let v = (chunk[0] as u32) << 16 | (*chunk.get(1).unwrap_or(&0) as u32) << 8 | *chunk.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= n {
                b64.push(B64[((v >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    b64
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The DER bytes of the first `CERTIFICATE` block in a PEM file.
fn pem_first_der(pem: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(pem).ok()?;
    let start = text.find("-----BEGIN CERTIFICATE-----")? + "-----BEGIN CERTIFICATE-----".len();
    let end = start + text[start..].find("-----END CERTIFICATE-----")?;
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text[start..end].bytes() {
        let v = match B64.iter().position(|&b| b == c) {
            Some(v) => v as u32,
            None if c == b'=' || c.is_ascii_whitespace() => continue,
            None => return None,
        };
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_identity_round_trips_through_pem() {
        let id = Identity::generate().unwrap();
        let pem = id.cert_pem();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert_eq!(pem_first_der(pem.as_bytes()).unwrap(), id.cert);
        assert_eq!(sha256(&id.cert), id.cert_sha256);
        // The SPKI is an ECDSA P-256 key: SEQUENCE { AlgorithmIdentifier, BIT STRING (65-byte point) }.
        let spki = spki_of(&id.cert).unwrap();
        assert_eq!(spki.len(), 91);
        assert_eq!(&spki[spki.len() - 66..spki.len() - 64], &[0x00, 0x04]);
        assert_eq!(id.spki_sha256_base64().unwrap().len(), 44);
        assert!(id.key_pem().starts_with("-----BEGIN EC PRIVATE KEY-----\n"));
    }

    #[test]
    fn generated_validity_is_the_days_asked_and_at_most_13() {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let id = Identity::generate_days(13).unwrap();
        let na = id.not_after().unwrap();
        assert!((na - (now + 13 * 86_400)).abs() < 120, "notAfter {na}, now {now}");
        assert!(Identity::generate_days(14).is_err());
        assert!(Identity::generate_days(0).is_err());
        assert!((Identity::generate().unwrap().not_after().unwrap() - (now + 10 * 86_400)).abs() < 120);
    }
}

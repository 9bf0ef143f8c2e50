//! The AEAD of our ngtcp2 crypto backend (crypto/wolfssl_backend.c) for
//! ChaCha20-Poly1305, through the functions ngtcp2 calls for every packet.
//!
//! Natively this is wolfSSL's EVP path; built for wasm32 it is our own
//! ChaCha20-Poly1305 (crypto/chacha20_simd.c: ChaCha20 in wasm SIMD, Poly1305
//! in base 2^32 computed between its rounds), so the same checks run there too
//! (scripts/test.d/20-wasm-link.sh runs this test under Node 26). Checked:
//! RFC 8439's AEAD test vector, agreement with wolfSSL's own one-shot
//! ChaCha20-Poly1305 for every length up to 1,600 bytes and a few larger ones
//! (in place and not) and for all-0xff inputs (the largest carries), and that a
//! changed byte anywhere in the ciphertext or tag, or in the associated data,
//! is refused.

use ngtcp2_sys as n;
use std::ptr;
use wolfssl_sys as w;

struct Aead {
    aead: n::ngtcp2_crypto_aead,
    enc: n::ngtcp2_crypto_aead_ctx,
    dec: n::ngtcp2_crypto_aead_ctx,
}

impl Aead {
    fn chacha20_poly1305(key: &[u8; 32]) -> Aead {
        let mut a = Aead {
            aead: n::ngtcp2_crypto_aead { native_handle: unsafe { w::wolfSSL_EVP_chacha20_poly1305() } as *mut _, max_overhead: 16 },
            enc: n::ngtcp2_crypto_aead_ctx { native_handle: ptr::null_mut() },
            dec: n::ngtcp2_crypto_aead_ctx { native_handle: ptr::null_mut() },
        };
        unsafe {
            assert_eq!(n::ngtcp2_crypto_aead_ctx_encrypt_init(&mut a.enc, &a.aead, key.as_ptr(), 12), 0);
            assert_eq!(n::ngtcp2_crypto_aead_ctx_decrypt_init(&mut a.dec, &a.aead, key.as_ptr(), 12), 0);
        }
        a
    }

    fn seal(&self, nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; plaintext.len() + 16];
        let rv = unsafe {
            n::ngtcp2_crypto_encrypt(out.as_mut_ptr(), &self.aead, &self.enc, plaintext.as_ptr(), plaintext.len(), nonce.as_ptr(), 12, aad.as_ptr(), aad.len())
        };
        assert_eq!(rv, 0);
        out
    }

    /// Encrypts in place: buf holds the plaintext and room for the tag.
    fn seal_in_place(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) {
        let len = buf.len() - 16;
        let p = buf.as_mut_ptr();
        let rv = unsafe { n::ngtcp2_crypto_encrypt(p, &self.aead, &self.enc, p, len, nonce.as_ptr(), 12, aad.as_ptr(), aad.len()) };
        assert_eq!(rv, 0);
    }

    fn open(&self, nonce: &[u8; 12], aad: &[u8], ciphertext: &[u8]) -> Option<Vec<u8>> {
        let mut out = vec![0u8; ciphertext.len().saturating_sub(16)];
        let rv = unsafe {
            n::ngtcp2_crypto_decrypt(out.as_mut_ptr(), &self.aead, &self.dec, ciphertext.as_ptr(), ciphertext.len(), nonce.as_ptr(), 12, aad.as_ptr(), aad.len())
        };
        if rv != 0 && cfg!(target_arch = "wasm32") {
            // Our wasm AEAD decrypts and checks in one pass, so it must leave
            // nothing of a refused packet behind.
            assert!(out.iter().all(|&b| b == 0), "a refused packet left plaintext in dest");
        }
        (rv == 0).then_some(out)
    }

    /// Decrypts in place; false (and the buffer is not trusted) when refused.
    fn open_in_place(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> bool {
        let p = buf.as_mut_ptr();
        unsafe { n::ngtcp2_crypto_decrypt(p, &self.aead, &self.dec, p, buf.len(), nonce.as_ptr(), 12, aad.as_ptr(), aad.len()) == 0 }
    }
}

impl Drop for Aead {
    fn drop(&mut self) {
        unsafe {
            n::ngtcp2_crypto_aead_ctx_free(&mut self.enc);
            n::ngtcp2_crypto_aead_ctx_free(&mut self.dec);
        }
    }
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// wolfSSL's own one-shot ChaCha20-Poly1305 (wolfcrypt/src/chacha20_poly1305.c).
fn reference_seal(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; plaintext.len() + 16];
    let (ct, tag) = out.split_at_mut(plaintext.len());
    let rv = unsafe {
        w::wc_ChaCha20Poly1305_Encrypt(key.as_ptr(), nonce.as_ptr(), aad.as_ptr(), aad.len() as u32, plaintext.as_ptr(), plaintext.len() as u32, ct.as_mut_ptr(), tag.as_mut_ptr())
    };
    assert_eq!(rv, 0);
    out
}

/// A small deterministic generator, so a failure names a reproducible case.
struct Xorshift(u64);
impl Xorshift {
    fn fill(&mut self, b: &mut [u8]) {
        for x in b {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            *x = self.0 as u8;
        }
    }
}

#[test]
fn rfc8439_aead_test_vector() {
    // RFC 8439 section 2.8.2.
    let key: [u8; 32] = hex("80 81 82 83 84 85 86 87 88 89 8a 8b 8c 8d 8e 8f 90 91 92 93 94 95 96 97 98 99 9a 9b 9c 9d 9e 9f").try_into().unwrap();
    let nonce: [u8; 12] = hex("07 00 00 00 40 41 42 43 44 45 46 47").try_into().unwrap();
    let aad = hex("50 51 52 53 c0 c1 c2 c3 c4 c5 c6 c7");
    let plaintext = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
    let expected = hex(
        "d3 1a 8d 34 64 8e 60 db 7b 86 af bc 53 ef 7e c2 a4 ad ed 51 29 6e 08 fe a9 e2 b5 a7 36 ee 62 d6
         3d be a4 5e 8c a9 67 12 82 fa fb 69 da 92 72 8b 1a 71 de 0a 9e 06 0b 29 05 d6 a5 b6 7e cd 3b 36
         92 dd bd 7f 2d 77 8b 8c 98 03 ae e3 28 09 1b 58 fa b3 24 e4 fa d6 75 94 55 85 80 8b 48 31 d7 bc
         3f f4 de f0 8e 4b 7a 9d e5 76 d2 65 86 ce c6 4b 61 16
         1a e1 0b 59 4f 09 e2 6a 7e 90 2e cb d0 60 06 91",
    );
    let a = Aead::chacha20_poly1305(&key);
    assert_eq!(a.seal(&nonce, &aad, plaintext), expected);
    assert_eq!(a.open(&nonce, &aad, &expected).as_deref(), Some(&plaintext[..]));
}

#[test]
fn agrees_with_wolfssl_for_every_length() {
    let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15);
    let mut key = [0u8; 32];
    let mut nonce = [0u8; 12];
    let mut aad = [0u8; 21];
    let mut data = vec![0u8; 70_000];
    rng.fill(&mut key);
    rng.fill(&mut data);
    let a = Aead::chacha20_poly1305(&key);
    let lengths = (0..=1600).chain([4095, 4096, 4097, 16_384, 65_527, 70_000]);
    for len in lengths {
        rng.fill(&mut nonce);
        rng.fill(&mut aad);
        let aad = &aad[..len % 22];
        let pt = &data[..len];
        let expected = reference_seal(&key, &nonce, aad, pt);
        assert_eq!(a.seal(&nonce, aad, pt), expected, "sealed {len} bytes with {} bytes of aad", aad.len());
        let mut buf = pt.to_vec();
        buf.extend_from_slice(&[0u8; 16]);
        a.seal_in_place(&nonce, aad, &mut buf);
        assert_eq!(buf, expected, "sealed {len} bytes in place");
        assert_eq!(a.open(&nonce, aad, &expected).as_deref(), Some(pt), "opened {len} bytes");
        assert!(a.open_in_place(&nonce, aad, &mut buf), "opened {len} bytes in place");
        assert_eq!(&buf[..len], pt, "opened {len} bytes in place");
    }
}

/// The carries of the wasm build's own Poly1305 (base 2^32 limbs, chacha20_simd.c) at
/// their largest: every byte of key, nonce, associated data and plaintext 0xff (and 0x00
/// beside them), for 0-40 bytes of associated data and 0-600 bytes of plaintext, against
/// wolfSSL's one-shot AEAD. Random inputs rarely bring the accumulator near 2^130 - 5.
#[test]
fn extreme_values_agree_with_wolfssl() {
    for (k, d) in [(0xffu8, 0xffu8), (0xff, 0x00), (0x00, 0xff)] {
        let key = [k; 32];
        let nonce = [k; 12];
        let a = Aead::chacha20_poly1305(&key);
        for aad_len in 0..=40 {
            let aad = vec![d; aad_len];
            for len in (0..=600).step_by(if aad_len % 8 == 0 { 1 } else { 7 }) {
                let pt = vec![d; len];
                let expected = reference_seal(&key, &nonce, &aad, &pt);
                assert_eq!(a.seal(&nonce, &aad, &pt), expected, "key {k:#x}, data {d:#x}: {len} bytes, {aad_len} of aad");
                assert_eq!(a.open(&nonce, &aad, &expected).as_deref(), Some(&pt[..]), "opened {len} bytes, {aad_len} of aad");
            }
        }
    }
}

/// The wasm build's Poly1305 on its own (crypto/chacha20_simd.c), on the whole-block test
/// vectors of RFC 8439 appendix A.3 (#1, #5-#11) that lead a partly reduced accumulator to
/// the edges of the final reduction (a result of exactly 2^130 - 5 or - 6, a 131-bit
/// intermediate, an overflowing `s`), which an AEAD's random keys practically never reach;
/// and against wolfSSL's Poly1305 for all-0xff messages of 1-64 blocks under random keys.
#[cfg(target_arch = "wasm32")]
#[test]
fn poly1305_edge_cases() {
    extern "C" {
        fn siwa_poly1305_blocks_mac(key: *const u8, m: *const u8, blocks: usize, tag: *mut u8);
    }
    let ours = |key: &[u8], m: &[u8]| {
        assert_eq!((key.len(), m.len() % 16), (32, 0));
        let mut tag = [0u8; 16];
        unsafe { siwa_poly1305_blocks_mac(key.as_ptr(), m.as_ptr(), m.len() / 16, tag.as_mut_ptr()) };
        tag.to_vec()
    };
    let vectors = [
        ("#1", "00".repeat(32), "00".repeat(64), "00".repeat(16)),
        ("#5", format!("02{}", "00".repeat(31)), "ff".repeat(16), format!("03{}", "00".repeat(15))),
        ("#6", format!("02{}{}", "00".repeat(15), "ff".repeat(16)), format!("02{}", "00".repeat(15)), format!("03{}", "00".repeat(15))),
        ("#7", format!("01{}", "00".repeat(31)), format!("{}f0{}11{}", "ff".repeat(16), "ff".repeat(15), "00".repeat(15)), format!("05{}", "00".repeat(15))),
        ("#8", format!("01{}", "00".repeat(31)), format!("{}fb{}{}", "ff".repeat(16), "fe".repeat(15), "01".repeat(16)), "00".repeat(16)),
        ("#9", format!("02{}", "00".repeat(31)), format!("fd{}", "ff".repeat(15)), format!("fa{}", "ff".repeat(15))),
        (
            "#10",
            format!("01{}04{}", "00".repeat(7), "00".repeat(23)),
            format!("e33594d7505e43b9{}3394d7505e4379cd01{}{}01{}", "00".repeat(8), "00".repeat(7), "00".repeat(16), "00".repeat(15)),
            format!("14{}55{}", "00".repeat(7), "00".repeat(7)),
        ),
        (
            "#11",
            format!("01{}04{}", "00".repeat(7), "00".repeat(23)),
            format!("e33594d7505e43b9{}3394d7505e4379cd01{}{}", "00".repeat(8), "00".repeat(7), "00".repeat(16)),
            format!("13{}", "00".repeat(15)),
        ),
    ];
    for (name, key, msg, tag) in &vectors {
        assert_eq!(ours(&hex(key), &hex(msg)), hex(tag), "RFC 8439 A.3 test vector {name}");
    }
    let mut rng = Xorshift(0x2545_f491_4f6c_dd1d);
    let mut key = [0u8; 32];
    for blocks in 1..=64 {
        rng.fill(&mut key);
        let m = vec![0xffu8; 16 * blocks];
        let mut want = [0u8; 16];
        unsafe {
            let mut p: w::Poly1305 = std::mem::zeroed();
            assert_eq!(w::wc_Poly1305SetKey(&mut p, key.as_ptr(), 32), 0);
            assert_eq!(w::wc_Poly1305Update(&mut p, m.as_ptr(), m.len() as u32), 0);
            assert_eq!(w::wc_Poly1305Final(&mut p, want.as_mut_ptr()), 0);
        }
        assert_eq!(ours(&key, &m), want, "{blocks} blocks of 0xff");
    }
}

#[test]
fn refuses_any_changed_byte() {
    let key = [7u8; 32];
    let nonce = [9u8; 12];
    let aad = b"short header";
    let pt: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    let a = Aead::chacha20_poly1305(&key);
    let sealed = a.seal(&nonce, aad, &pt);
    for i in 0..sealed.len() {
        let mut bad = sealed.clone();
        bad[i] ^= 0x01;
        assert!(a.open(&nonce, aad, &bad).is_none(), "byte {i} of {} changed, still opened", sealed.len());
        assert!(!a.open_in_place(&nonce, aad, &mut bad), "byte {i} changed, still opened in place");
    }
    let mut bad_aad = aad.to_vec();
    bad_aad[0] ^= 0x80;
    assert!(a.open(&nonce, &bad_aad, &sealed).is_none(), "changed associated data opened");
    let mut bad_nonce = nonce;
    bad_nonce[11] ^= 1;
    assert!(a.open(&bad_nonce, aad, &sealed).is_none(), "wrong nonce opened");
    assert!(a.open(&nonce, aad, &sealed[..15]).is_none(), "shorter than a tag opened");
    assert!(a.open(&nonce, aad, &sealed[..16]).is_none(), "a bare tag of another message opened");
}

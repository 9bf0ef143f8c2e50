//! Builds wolfSSL 5.9.4 (TLS 1.3 + QUIC) from the pinned upstream tree with
//! `cc` for the current target (gcc natively, emcc for wasm32-unknown-emscripten),
//! configured by `include/user_settings.h`, and generates bindings with bindgen.

use std::env;
use std::path::PathBuf;

const VERSION: &str = "5.3.0"; // crates.io wolfssl-sys package carrying wolfSSL 5.9.4

const SSL_SOURCES: &[&str] = &["ssl.c", "internal.c", "keys.c", "tls.c", "tls13.c", "quic.c", "wolfio.c"];

const CRYPT_SOURCES: &[&str] = &[
    "aes.c", "chacha.c", "chacha20_poly1305.c", "poly1305.c", "sha.c", "sha256.c", "sha512.c",
    "hmac.c", "kdf.c", "hash.c", "random.c", "ecc.c", "curve25519.c", "fe_operations.c", "ge_operations.c",
    "rsa.c", "sp_int.c", "wolfmath.c", "asn.c", "coding.c", "memory.c", "logging.c", "error.c",
    "wc_port.c", "signature.c", "wc_encrypt.c", "md5.c",
];

fn main() {
    let tree = socket_iwa_build::vendor_tree("wolfssl-sys", VERSION).join("wolfssl-src");
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let ours = manifest.join("include");
    println!("cargo:rerun-if-changed={}", ours.display());
    println!("cargo:rerun-if-changed=wrapper.h");

    let mut build = cc::Build::new();
    build
        .include(&ours) // first: our options.h shadows the configure-generated one
        .include(&tree)
        .define("WOLFSSL_USER_SETTINGS", None)
        .warnings(false)
        .opt_level(2);
    // x86_64 natively: AES-NI + PCLMULQDQ assembly, chosen at run time by
    // wolfSSL's cpuid.c (the C code stays as the fallback). wasm32 builds the
    // portable C code only.
    if env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64") {
        // WOLFSSL_AESNI itself is set in user_settings.h, so bindgen sees the same struct layouts.
        build.flag("-maes").flag("-msse4.2").flag("-mpclmul");
        // SP ECC (WOLFSSL_SP_X86_64_ASM) and USE_INTEL_SPEEDUP (X25519, SHA-2,
        // ChaCha20, Poly1305), also set in user_settings.h.
        for f in [
            "aes_x86_64_asm.S", "aes_gcm_asm.S", "cpuid.c", "sp_x86_64.c", "sp_x86_64_asm.S",
            "fe_x25519_asm.S", "sha256_asm.S", "sha512_asm.S", "chacha_asm.S", "poly1305_asm.S",
        ] {
            build.file(tree.join("wolfcrypt/src").join(f));
        }
    } else {
        // Portable single-precision ECC for wasm32 (SP_WORD_SIZE 32 in user_settings.h).
        build.file(tree.join("wolfcrypt/src/sp_c32.c"));
    }
    for f in SSL_SOURCES {
        build.file(tree.join("src").join(f));
    }
    for f in CRYPT_SOURCES {
        build.file(tree.join("wolfcrypt").join("src").join(f));
    }
    build.file(manifest.join("csrc/seed.c"));
    build.file(manifest.join("csrc/ticket.c"));
    println!("cargo:rerun-if-changed=csrc/seed.c");
    println!("cargo:rerun-if-changed=csrc/ticket.c");
    build.compile("wolfssl");

    // Dependants (our ngtcp2 crypto backend) compile against the same headers.
    println!("cargo:include={}", env::join_paths([&ours, &tree]).unwrap().to_string_lossy());
    println!("cargo:root={}", tree.display());

    let bindings = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_arg(format!("-I{}", ours.display()))
        .clang_arg(format!("-I{}", tree.display()))
        .clang_arg("-DWOLFSSL_USER_SETTINGS")
        .clang_args(socket_iwa_build::bindgen_target_args())
        .allowlist_function("wolf.*|wc_.*|socket_iwa_.*")
        .allowlist_type("WOLFSSL_.*|wolfssl_.*|Cert|ecc_key|RsaKey|WC_RNG|Aes|wc_Sha256|Ctc_SigType|ecc_curve_id|TicketEncRet")
        .prepend_enum_name(false)
        .allowlist_var("WOLFSSL_.*|SSL_.*|CTC_.*|ECC_.*|AES_.*|WC_.*|ECC_SECP256R1|.*_TYPE|GCM_NONCE_MID_SZ|WC_SHA256_DIGEST_SIZE")
        .layout_tests(false)
        .generate_comments(false)
        .generate()
        .expect("bindgen failed on wolfSSL headers");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    bindings.write_to_file(out.join("bindings.rs")).unwrap();
}

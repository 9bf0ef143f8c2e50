//! Builds wolfSSL (TLS 1.3 + QUIC; the version in vendor/pins.txt) from the
//! pinned upstream tree with `cc` for the current target (gcc natively, emcc
//! for wasm32-unknown-emscripten), configured by `include/user_settings.h`, and
//! generates bindings with bindgen.
//!
//! SOCKET_IWA_SYSTEM_WOLFSSL=1 links the system wolfSSL found by pkg-config
//! (`wolfssl`, at least the pinned version) instead. Such an install is
//! configured by its own `wolfssl/options.h`, not our user_settings.h, so it
//! must have been built with the features the stack uses; the build checks
//! its options.h for them ([`REQUIRED_OPTIONS`]) and names what is missing.
//! Debian's libwolfssl-dev (5.5.4, no QUIC) does not qualify. See docs/SYS_CRATES.md.

use std::env;
use std::path::{Path, PathBuf};

/// Macros a system wolfSSL's options.h must define (./configure --enable-quic
/// --enable-session-ticket --enable-opensslextra --enable-aesgcm --enable-chacha
/// --enable-curve25519 --enable-ecc --enable-keying-material --enable-alpn --enable-sni).
const REQUIRED_OPTIONS: &[&str] = &[
    "WOLFSSL_QUIC", "HAVE_SESSION_TICKET", "OPENSSL_EXTRA", "WOLFSSL_TLS13", "HAVE_AESGCM", "HAVE_CHACHA",
    "HAVE_POLY1305", "HAVE_CURVE25519", "HAVE_ECC", "HAVE_ALPN", "HAVE_SNI",
];

const SSL_SOURCES: &[&str] = &["ssl.c", "internal.c", "keys.c", "tls.c", "tls13.c", "quic.c", "wolfio.c"];

const CRYPT_SOURCES: &[&str] = &[
    "aes.c", "chacha.c", "chacha20_poly1305.c", "poly1305.c", "sha.c", "sha256.c", "sha512.c",
    "hmac.c", "kdf.c", "hash.c", "random.c", "ecc.c", "curve25519.c", "fe_operations.c", "ge_operations.c",
    "rsa.c", "sp_int.c", "wolfmath.c", "asn.c", "coding.c", "memory.c", "logging.c", "error.c",
    "wc_port.c", "signature.c", "wc_encrypt.c", "md5.c",
];

fn main() {
    socket_iwa_build::declare_tool_env();
    let pin = socket_iwa_build::pin("wolfssl");
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    println!("cargo:rerun-if-changed=csrc/seed.c");
    println!("cargo:rerun-if-changed=csrc/ticket.c");
    println!("cargo:rerun-if-changed=csrc/cpu.c");
    println!("cargo:rerun-if-changed=wrapper.h");
    if let Some(lib) = socket_iwa_build::system_library(&pin, "wolfssl") {
        check_system_options(&lib.include_paths);
        // Our helpers (seed, ticket, cpu) are compiled against the system headers.
        let mut build = cc::Build::new();
        for inc in &lib.include_paths {
            build.include(inc);
        }
        build.define("WOLFSSL_USE_OPTIONS_H", None); // settings.h then reads the install's options.h
        build.file(manifest.join("csrc/seed.c")).file(manifest.join("csrc/ticket.c")).file(manifest.join("csrc/cpu.c")).warnings(false).opt_level(2);
        build.compile("socket_iwa_wolfssl_helpers");
        println!("cargo:include={}", env::join_paths(&lib.include_paths).unwrap().to_string_lossy());
        println!("cargo:user_settings=0");
        println!("cargo:system=1");
        let args = lib.include_paths.iter().map(|p| format!("-I{}", p.display())).collect();
        bindings(args);
        return;
    }
    let tree = socket_iwa_build::vendor_tree(&pin);
    socket_iwa_build::check_tree_version(&pin, &tree.join("wolfssl/version.h"), "#define LIBWOLFSSL_VERSION_STRING \"{}\"");
    let ours = manifest.join("include");
    println!("cargo:rerun-if-changed={}", ours.display());

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
    build.file(manifest.join("csrc/cpu.c"));
    build.compile("wolfssl");

    // Dependants (our ngtcp2 crypto backend) compile against the same headers.
    println!("cargo:include={}", env::join_paths([&ours, &tree]).unwrap().to_string_lossy());
    println!("cargo:root={}", tree.display());
    println!("cargo:user_settings=1");
    println!("cargo:system=0");
    bindings(vec![format!("-I{}", ours.display()), format!("-I{}", tree.display()), "-DWOLFSSL_USER_SETTINGS".into()]);
}

/// Fails with the list of missing features when a system wolfSSL lacks one we use.
fn check_system_options(include_paths: &[PathBuf]) {
    let Some(options) = include_paths.iter().map(|p| p.join("wolfssl/options.h")).find(|p| p.is_file()) else {
        panic!("SOCKET_IWA_SYSTEM_WOLFSSL=1: no wolfssl/options.h under {include_paths:?}");
    };
    let text = std::fs::read_to_string(&options).unwrap();
    let defined = |m: &str| text.lines().any(|l| l.split_whitespace().take(2).eq(["#define", m]));
    let missing: Vec<&str> = REQUIRED_OPTIONS.iter().copied().filter(|m| !defined(m)).collect();
    if !missing.is_empty() {
        panic!(
            "\n\nSOCKET_IWA_SYSTEM_WOLFSSL=1: {} was built without {} (see REQUIRED_OPTIONS in sys/wolfssl-sys/build.rs).\nUnset SOCKET_IWA_SYSTEM_WOLFSSL to build the pinned tree with our user_settings.h.\n",
            Path::new(&options).display(),
            missing.join(", ")
        );
    }
}

fn bindings(clang_args: Vec<String>) {
    let bindings = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_args(clang_args)
        .clang_args(socket_iwa_build::bindgen_target_args())
        .allowlist_function("wolf.*|wc_.*|socket_iwa_.*")
        .allowlist_type("WOLFSSL_.*|wolfssl_.*|Cert|ecc_key|RsaKey|WC_RNG|Aes|wc_Sha256|Ctc_SigType|ecc_curve_id|TicketEncRet")
        .prepend_enum_name(false)
        .allowlist_var("CPUID_.*|WOLFSSL_.*|SSL_.*|CTC_.*|ECC_.*|AES_.*|WC_.*|ECC_SECP256R1|.*_TYPE|GCM_NONCE_MID_SZ|WC_SHA256_DIGEST_SIZE")
        .layout_tests(false)
        .generate_comments(false)
        .generate()
        .expect("bindgen failed on wolfSSL headers");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    bindings.write_to_file(out.join("bindings.rs")).unwrap();
}

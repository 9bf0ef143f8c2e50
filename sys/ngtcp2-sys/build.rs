//! Builds ngtcp2 (the version in vendor/pins.txt, from the pinned crates.io
//! carrier package that vendor/fetch.sh extracted) plus ngtcp2's shared crypto
//! code and our wolfSSL crypto backend (`crypto/wolfssl_backend.c`), for the
//! current target, and generates bindings.
//!
//! With SOCKET_IWA_SYSTEM_NGTCP2=1 the ngtcp2 core library comes from the
//! system (pkg-config `libngtcp2`, at least the pinned version) and only the
//! crypto layer is compiled here: no distribution ships an ngtcp2 crypto
//! backend for wolfSSL built with our settings, so `crypto/shared.c` (from the
//! pinned tree, which therefore must still be fetched) and our backend are
//! built against the system headers.

use std::env;
use std::path::PathBuf;

fn main() {
    socket_iwa_build::declare_tool_env();
    let pin = socket_iwa_build::pin("ngtcp2");
    let system = socket_iwa_build::system_library(&pin, "libngtcp2");
    let tree = socket_iwa_build::vendor_tree(&pin);
    socket_iwa_build::check_tree_version(&pin, &tree.join("CMakeLists.txt"), "project(ngtcp2 VERSION {} ");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let gen = out.join("include");
    socket_iwa_build::write_posix_config_header(&gen.join("config.h"));
    println!("cargo:rerun-if-changed=crypto/wolfssl_backend.c");
    println!("cargo:rerun-if-changed=crypto/chacha20_simd.c");
    println!("cargo:rerun-if-changed=crypto/chacha20_simd.h");
    println!("cargo:rerun-if-changed=wrapper.h");

    let wolfssl_includes: Vec<PathBuf> = env::split_paths(&socket_iwa_build::env_var("DEP_WOLFSSL_INCLUDE").expect("DEP_WOLFSSL_INCLUDE from wolfssl-sys")).collect();
    // wolfssl-sys says whether its headers are configured by our user_settings.h
    // (the pinned build) or by the system install's own options.h.
    let wolfssl_user_settings = socket_iwa_build::env_var("DEP_WOLFSSL_USER_SETTINGS").as_deref() != Some("0");

    // Public headers: the system's, or the pinned tree's plus a generated version.h.
    let public: Vec<PathBuf> = match &system {
        Some(lib) => lib.include_paths.clone(),
        None => {
            socket_iwa_build::write_version_header(&tree.join("lib/includes/ngtcp2/version.h.in"), &gen.join("ngtcp2/version.h"), &pin.version);
            vec![gen.clone(), tree.join("lib/includes")]
        }
    };

    let mut build = cc::Build::new();
    for inc in &public {
        build.include(inc);
    }
    build
        .include(&gen)
        .include(tree.join("lib"))
        .include(tree.join("crypto/includes"))
        .include(tree.join("crypto"))
        .define("HAVE_CONFIG_H", "1")
        .warnings(false)
        .opt_level(2);
    if system.is_none() {
        build.define("NGTCP2_STATICLIB", None);
        for f in socket_iwa_build::c_files(&tree.join("lib")) {
            build.file(f);
        }
    }
    if wolfssl_user_settings {
        build.define("WOLFSSL_USER_SETTINGS", None);
    }
    for inc in &wolfssl_includes {
        build.include(inc);
    }
    build.file(tree.join("crypto/shared.c"));
    build.file("crypto/wolfssl_backend.c");
    // wasm32: ChaCha20 for ChaCha20-Poly1305 packets in wasm SIMD, four blocks
    // at a time (crypto/chacha20_simd.c); wolfSSL has only portable C there.
    // Only that file is built with -msimd128 (Node 26 and Chromium run wasm
    // SIMD). Natively wolfSSL's AVX2 assembly stays.
    let wasm_simd = env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32");
    if wasm_simd {
        build.define("SOCKET_IWA_CHACHA20_SIMD", None);
    }
    build.compile("ngtcp2");
    if wasm_simd {
        // tests/aead.rs runs under Node (scripts/test.d/20-wasm-link.sh): one
        // self-contained .js (Node 26 cannot fetch a file: URL for the .wasm).
        println!("cargo:rustc-link-arg-tests=-sSINGLE_FILE=1");
        println!("cargo:rustc-link-arg-tests=-sEXIT_RUNTIME=1");
        cc::Build::new().file("crypto/chacha20_simd.c").flag("-msimd128").warnings(false).opt_level(2).compile("socket_iwa_chacha20_simd");
    }

    let mut exported = public.clone();
    exported.push(tree.join("crypto/includes"));
    println!("cargo:include={}", env::join_paths(&exported).unwrap().to_string_lossy());
    println!("cargo:system={}", if system.is_some() { 1 } else { 0 });

    let mut b = bindgen::Builder::default().header("wrapper.h");
    for inc in &exported {
        b = b.clang_arg(format!("-I{}", inc.display()));
    }
    if system.is_none() {
        b = b.clang_arg("-DNGTCP2_STATICLIB");
    }
    if wolfssl_user_settings {
        b = b.clang_arg("-DWOLFSSL_USER_SETTINGS");
    }
    b = b.clang_args(socket_iwa_build::bindgen_target_args());
    for inc in &wolfssl_includes {
        b = b.clang_arg(format!("-I{}", inc.display()));
    }
    let bindings = b
        .allowlist_function("ngtcp2_.*")
        .allowlist_type("ngtcp2_.*")
        .allowlist_var("NGTCP2_.*")
        // wolfSSL types come from wolfssl-sys; keep them opaque here.
        .blocklist_type("WOLFSSL.*|wolfssl_.*")
        .raw_line("#[allow(unused_imports)]\nuse wolfssl_sys::{WOLFSSL, WOLFSSL_CTX, WOLFSSL_ENCRYPTION_LEVEL};")
        .layout_tests(false)
        .generate_comments(false)
        .prepend_enum_name(false)
        .generate()
        .expect("bindgen failed on ngtcp2 headers");
    bindings.write_to_file(out.join("bindings.rs")).unwrap();
}

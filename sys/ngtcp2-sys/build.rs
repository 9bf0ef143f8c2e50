//! Builds ngtcp2 1.25.0 (from the pinned crates.io carrier package) plus
//! ngtcp2's shared crypto code and our wolfSSL crypto backend
//! (`crypto/wolfssl_backend.c`), for the current target, and generates bindings.

use std::env;
use std::path::PathBuf;

const CARRIER_VERSION: &str = "0.2.0";
const NGTCP2_VERSION: &str = "1.25.0";

fn main() {
    let tree = socket_iwa_build::vendor_tree("ngtcp2-sys", CARRIER_VERSION).join("deps").join("ngtcp2");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let gen = out.join("include");
    socket_iwa_build::write_version_header(
        &tree.join("lib/includes/ngtcp2/version.h.in"),
        &gen.join("ngtcp2/version.h"),
        NGTCP2_VERSION,
    );
    socket_iwa_build::write_posix_config_header(&gen.join("config.h"));
    println!("cargo:rerun-if-changed=crypto/wolfssl_backend.c");
    println!("cargo:rerun-if-changed=wrapper.h");

    let wolfssl_includes: Vec<PathBuf> =
        env::split_paths(&env::var_os("DEP_WOLFSSL_INCLUDE").expect("DEP_WOLFSSL_INCLUDE from wolfssl-sys")).collect();

    let mut build = cc::Build::new();
    build
        .include(&gen)
        .include(tree.join("lib/includes"))
        .include(tree.join("lib"))
        .include(tree.join("crypto/includes"))
        .include(tree.join("crypto"))
        .define("HAVE_CONFIG_H", "1")
        .define("NGTCP2_STATICLIB", None)
        .define("WOLFSSL_USER_SETTINGS", None)
        .warnings(false)
        .opt_level(2);
    for inc in &wolfssl_includes {
        build.include(inc);
    }
    for f in socket_iwa_build::c_files(&tree.join("lib")) {
        build.file(f);
    }
    build.file(tree.join("crypto/shared.c"));
    build.file("crypto/wolfssl_backend.c");
    build.compile("ngtcp2");

    println!(
        "cargo:include={}",
        env::join_paths([gen.clone(), tree.join("lib/includes"), tree.join("crypto/includes")]).unwrap().to_string_lossy()
    );

    let mut b = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_arg(format!("-I{}", gen.display()))
        .clang_arg(format!("-I{}", tree.join("lib/includes").display()))
        .clang_arg(format!("-I{}", tree.join("crypto/includes").display()))
        .clang_arg("-DNGTCP2_STATICLIB")
        .clang_arg("-DWOLFSSL_USER_SETTINGS")
        .clang_args(socket_iwa_build::bindgen_target_args());
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

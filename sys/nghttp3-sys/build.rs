//! Builds nghttp3 1.18.0 (from the pinned crates.io carrier package) for the
//! current target and generates bindings.

use std::env;
use std::path::PathBuf;

const CARRIER_VERSION: &str = "0.2.0";
const NGHTTP3_VERSION: &str = "1.18.0";

fn main() {
    let tree = socket_iwa_build::vendor_tree("nghttp3-sys", CARRIER_VERSION).join("deps").join("nghttp3");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let gen = out.join("include");
    socket_iwa_build::write_version_header(
        &tree.join("lib/includes/nghttp3/version.h.in"),
        &gen.join("nghttp3/version.h"),
        NGHTTP3_VERSION,
    );
    socket_iwa_build::write_posix_config_header(&gen.join("config.h"));

    let mut build = cc::Build::new();
    build
        .include(&gen)
        .include(tree.join("lib/includes"))
        .include(tree.join("lib"))
        .include(tree.join("lib/sfparse"))
        .define("HAVE_CONFIG_H", "1")
        .define("NGHTTP3_STATICLIB", None)
        .warnings(false)
        .opt_level(2);
    for f in socket_iwa_build::c_files(&tree.join("lib")) {
        build.file(f);
    }
    build.file(tree.join("lib/sfparse/sfparse.c"));
    build.compile("nghttp3");

    println!("cargo:include={}", env::join_paths([gen.clone(), tree.join("lib/includes")]).unwrap().to_string_lossy());

    let bindings = bindgen::Builder::default()
        .header_contents("wrapper.h", "#include <nghttp3/nghttp3.h>\n")
        .clang_arg(format!("-I{}", gen.display()))
        .clang_arg(format!("-I{}", tree.join("lib/includes").display()))
        .clang_arg("-DNGHTTP3_STATICLIB")
        .clang_args(socket_iwa_build::bindgen_target_args())
        .allowlist_function("nghttp3_.*")
        .allowlist_type("nghttp3_.*")
        .allowlist_var("NGHTTP3_.*")
        .layout_tests(false)
        .generate_comments(false)
        .prepend_enum_name(false)
        .generate()
        .expect("bindgen failed on nghttp3 headers");
    bindings.write_to_file(out.join("bindings.rs")).unwrap();
}

//! Builds nghttp3 (the version in vendor/pins.txt, from the pinned crates.io
//! carrier package that vendor/fetch.sh extracted) for the current target and
//! generates bindings; or, with SOCKET_IWA_SYSTEM_NGHTTP3=1, links the system
//! libnghttp3 that pkg-config finds (at least the pinned version).

use std::env;
use std::path::PathBuf;

fn main() {
    socket_iwa_build::declare_tool_env();
    let pin = socket_iwa_build::pin("nghttp3");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    if let Some(lib) = socket_iwa_build::system_library(&pin, "libnghttp3") {
        println!("cargo:include={}", env::join_paths(&lib.include_paths).unwrap().to_string_lossy());
        println!("cargo:system=1");
        // For this crate's own link test: which nghttp3 it must find at run time.
        println!("cargo:rustc-env=SOCKET_IWA_NGHTTP3_EXPECTED={}", lib.version);
        bindings(lib.include_paths.iter().map(|p| format!("-I{}", p.display())).collect(), &out);
        return;
    }
    let tree = socket_iwa_build::vendor_tree(&pin);
    socket_iwa_build::check_tree_version(&pin, &tree.join("CMakeLists.txt"), "project(nghttp3 VERSION {} ");
    let gen = out.join("include");
    socket_iwa_build::write_version_header(
        &tree.join("lib/includes/nghttp3/version.h.in"),
        &gen.join("nghttp3/version.h"),
        &pin.version,
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
    println!("cargo:system=0");
    println!("cargo:rustc-env=SOCKET_IWA_NGHTTP3_EXPECTED={}", pin.version);
    bindings(
        vec![format!("-I{}", gen.display()), format!("-I{}", tree.join("lib/includes").display()), "-DNGHTTP3_STATICLIB".into()],
        &out,
    );
}

fn bindings(clang_args: Vec<String>, out: &std::path::Path) {
    let bindings = bindgen::Builder::default()
        .header_contents("wrapper.h", "#include <nghttp3/nghttp3.h>\n")
        .clang_args(clang_args)
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

//! The test kit's binaries (socket-iwa-h3-client, ...) link the Direct Sockets bridge for
//! `wasm32-unknown-emscripten` like the root crate's (build.rs there): the socket loop they
//! share calls the bridge's imports (e.g. `ds_yield`). Native builds need nothing here.

include!("../emscripten/build_support.rs");

fn main() {
    let root = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("..");
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("TARGET").as_deref() != Ok("wasm32-unknown-emscripten") {
        return;
    }
    for path in emscripten_link_inputs(&root) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    for arg in emscripten_link_args(&root, &EmscriptenLinkOptions::default()) {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
}

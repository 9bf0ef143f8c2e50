//! Root build script. Native builds need nothing here. For
//! `wasm32-unknown-emscripten` it links every binary through the Direct Sockets
//! bridge (emscripten/build_support.rs: libdirectsockets.js, the JSPI pre-js,
//! an ES-module factory), so the same Rust server runs under Node 26 and in an IWA.

include!("emscripten/build_support.rs");

fn main() {
    let root = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
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

//! Root build script. Native builds need nothing here. For
//! `wasm32-unknown-emscripten` it links every binary through the Direct Sockets
//! bridge (emscripten/build_support.rs: libdirectsockets.js, the JSPI pre-js,
//! an ES-module factory), so the same Rust server runs under Node 26 and in an IWA.

include!("emscripten/build_support.rs");

fn main() {
    emscripten_link_bins(&std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()));
}

//! The test kit's binaries (socket-iwa-h3-client, ...) link the Direct Sockets bridge for
//! `wasm32-unknown-emscripten` like the root crate's (build.rs there): the socket loop they
//! share calls the bridge's imports (e.g. `ds_yield`). Native builds need nothing here.

include!("../emscripten/build_support.rs");

fn main() {
    emscripten_link_bins(&std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join(".."));
}

// Links the probe through the Direct Sockets bridge when building for
// wasm32-unknown-emscripten, using the same helper the root build.rs includes.
include!("../build_support.rs");

fn main() {
    let manifest = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.parent().unwrap().parent().unwrap().to_path_buf();
    for path in emscripten_link_inputs(&root) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    if std::env::var("TARGET").as_deref() == Ok("wasm32-unknown-emscripten") {
        let opts = EmscriptenLinkOptions {
            export_name: "createProbe".to_string(),
            exported_functions: vec!["_probe_close".to_string()],
            ..EmscriptenLinkOptions::default()
        };
        for arg in emscripten_link_args(&root, &opts) {
            println!("cargo:rustc-link-arg={arg}");
        }
    }
}

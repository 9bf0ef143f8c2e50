// emscripten/build_support.rs: the emcc link arguments that put a Rust
// program for wasm32-unknown-emscripten on the Direct Sockets bridge.
//
// Plain Rust with no dependencies, meant to be `include!`d by a build script:
//
//     include!(concat!(env!("CARGO_MANIFEST_DIR"), "/emscripten/build_support.rs"));
//     fn main() {
//         if std::env::var("TARGET").as_deref() == Ok("wasm32-unknown-emscripten") {
//             let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
//             for arg in emscripten_link_args(root, &EmscriptenLinkOptions::default()) {
//                 println!("cargo:rustc-link-arg={arg}");
//             }
//             for path in emscripten_link_inputs(root) {
//                 println!("cargo:rerun-if-changed={}", path.display());
//             }
//         }
//     }
//
// What the arguments do (docs/BRIDGE.md has the full story):
// - `.../syscall_shims.c`: setsockopt/shutdown/pselect/ppoll, which 3.1.6 stubs in C,
//   forwarded to the bridge (compiled by emcc as part of the link).
// - `--js-library .../libdirectsockets.js`: socket syscalls -> Direct Sockets.
// - `--pre-js .../jspi_pre.js`: JSPI wiring through Module.instantiateWasm.
// - `-lexports.js`: keeps wasm import/export names at -O2 so the hook finds them.
// - `-sMODULARIZE -sEXPORT_ES6 -sEXPORT_NAME=...`: an ES-module factory
//   (`import create from './x.js'; const m = await create({...})`), which is
//   what an IWA page (CSP: script-src 'self') and Node 26 both load.
// - `-sENVIRONMENT=web,worker`: no Node-specific glue; under Node the caller
//   passes `wasmBinary` and installs the Node Direct Sockets on globalThis.
// - `-sINVOKE_RUN=0`: main is started by `await Module.runMain(args)`.
// - `-sALLOW_MEMORY_GROWTH`, `-sEXIT_RUNTIME=0`: a long-running server.

/// Options for [`emscripten_link_args`].
#[allow(dead_code)]
#[derive(Debug, Clone)]
pub struct EmscriptenLinkOptions {
    /// Name of the factory function the ES module exports by default.
    pub export_name: String,
    /// Extra exported C functions (with leading underscore, e.g. `_probe_close`).
    pub exported_functions: Vec<String>,
    /// Initial memory in bytes (must be a multiple of 64 KiB).
    pub initial_memory: u32,
}

impl Default for EmscriptenLinkOptions {
    fn default() -> Self {
        EmscriptenLinkOptions {
            export_name: "createModule".to_string(),
            exported_functions: Vec::new(),
            initial_memory: 32 * 1024 * 1024,
        }
    }
}

/// Files the link depends on (for `cargo:rerun-if-changed`).
#[allow(dead_code)]
pub fn emscripten_link_inputs(repo_root: &std::path::Path) -> Vec<std::path::PathBuf> {
    vec![
        repo_root.join("emscripten/src/lib/libdirectsockets.js"),
        repo_root.join("emscripten/src/lib/libds_txq.js"),
        repo_root.join("emscripten/src/jspi_pre.js"),
        repo_root.join("emscripten/src/syscall_shims.c"),
        repo_root.join("emscripten/build_support.rs"),
    ]
}

/// The emcc link arguments, one per element, for `cargo:rustc-link-arg=`.
#[allow(dead_code)]
pub fn emscripten_link_args(repo_root: &std::path::Path, opts: &EmscriptenLinkOptions) -> Vec<String> {
    let lib = repo_root.join("emscripten/src/lib/libdirectsockets.js");
    let txq = repo_root.join("emscripten/src/lib/libds_txq.js");
    let pre = repo_root.join("emscripten/src/jspi_pre.js");
    let shims = repo_root.join("emscripten/src/syscall_shims.c");
    let mut exported = vec!["_main".to_string()];
    exported.extend(opts.exported_functions.iter().cloned());
    vec![
        shims.display().to_string(),
        "--js-library".to_string(),
        lib.display().to_string(),
        "--js-library".to_string(),
        txq.display().to_string(),
        "--pre-js".to_string(),
        pre.display().to_string(),
        "-lexports.js".to_string(),
        "-sMODULARIZE=1".to_string(),
        "-sEXPORT_ES6=1".to_string(),
        format!("-sEXPORT_NAME={}", opts.export_name),
        "-sENVIRONMENT=web,worker".to_string(),
        "-sINVOKE_RUN=0".to_string(),
        "-sEXIT_RUNTIME=0".to_string(),
        "-sALLOW_MEMORY_GROWTH=1".to_string(),
        format!("-sINITIAL_MEMORY={}", opts.initial_memory),
        format!("-sEXPORTED_FUNCTIONS={}", exported.join(",")),
        "-sEXPORTED_RUNTIME_METHODS=FS".to_string(),
    ]
}

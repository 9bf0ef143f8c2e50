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
// - `--js-library <OUT_DIR>/libds_shared.js`: the plain ES modules the bridge shares
//   with api/ (EMSCRIPTEN_SHARED_MODULES), generated here.
// - `--js-library .../libds_txq.js`: the TCP send queue (Chromium write-loss guard).
// - `--js-library .../libds_ops.js`, `.../libds_poll.js`: per-kind socket operations
//   (udp, tcp, tcp-listen) and poll/select + iovec helpers; `.../libds_addr.js`:
//   constants and the sockaddr codec.
// - `--js-library .../libjs_handler.js`: the JavaScript HTTP/3 handler's imports
//   (src/app/js_handler.rs, used by `socket-iwa-server --js-handler` only);
//   `.../libjs_wt.js`: those of its WebTransport sessions (src/app/js_wt.rs).
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

/// Plain ES modules shared by the bridge and the JavaScript API (repo-relative
/// path, exported object name). Each is one `export const NAME = { ... };`
/// whose members are `name: function` / plain data and refer to nothing but
/// `NAME`, globals and other shared modules (`import { NAME } from './x.js';`,
/// dropped here), so Emscripten can serialise the object as a library item
/// `$NAME` (docs/BRIDGE.md, "Shared with the JavaScript API").
#[allow(dead_code)]
pub const EMSCRIPTEN_SHARED_MODULES: &[(&str, &str)] = &[
    ("api/buffer_source.js", "BUFFER_SOURCE"),
    ("api/codes.js", "DS_CODES"),
    ("api/ssm_probe.js", "SSM_PROBE"),
    ("api/tcp_write_guard.js", "TCP_WRITE_GUARD"),
];

/// Files the link depends on (for `cargo:rerun-if-changed`).
#[allow(dead_code)]
pub fn emscripten_link_inputs(repo_root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v = vec![
        repo_root.join("emscripten/src/lib/libdirectsockets.js"),
        repo_root.join("emscripten/src/lib/libds_txq.js"),
        repo_root.join("emscripten/src/lib/libds_ops.js"),
        repo_root.join("emscripten/src/lib/libds_addr.js"),
        repo_root.join("emscripten/src/lib/libds_poll.js"),
        repo_root.join("emscripten/src/lib/libjs_handler.js"),
        repo_root.join("emscripten/src/lib/libjs_wt.js"),
        repo_root.join("emscripten/src/jspi_pre.js"),
        repo_root.join("emscripten/src/syscall_shims.c"),
        repo_root.join("emscripten/src/bulk_memory.c"),
        repo_root.join("emscripten/build_support.rs"),
    ];
    v.extend(EMSCRIPTEN_SHARED_MODULES.iter().map(|(p, _)| repo_root.join(p)));
    v
}

/// Writes the Emscripten library for the shared modules into `out_dir`
/// (`export ` dropped, then `mergeInto(LibraryManager.library, { $NAME: NAME })`)
/// and returns its path. Panics with the file's name when a module is missing
/// or lacks its `export const NAME`.
#[allow(dead_code)]
pub fn emscripten_shared_library(repo_root: &std::path::Path, out_dir: &std::path::Path) -> std::path::PathBuf {
    let mut text = String::from("// Generated by emscripten/build_support.rs from the modules below; do not edit.\n");
    for (rel, name) in EMSCRIPTEN_SHARED_MODULES {
        let path = repo_root.join(rel);
        let src = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let decl = format!("export const {name} = ");
        if !src.contains(&decl) {
            panic!("{}: no `{decl}...` (see EMSCRIPTEN_SHARED_MODULES)", path.display());
        }
        text.push_str(&format!("// ---- {rel}\n"));
        let mut deps = Vec::new();
        for line in src.lines() {
            if line.starts_with("import ") {
                // Only other shared modules (all end up in this one library).
                let dep = EMSCRIPTEN_SHARED_MODULES.iter().find(|(p, n)| {
                    let file = p.rsplit('/').next().unwrap_or(p);
                    line == format!("import {{ {n} }} from './{file}';")
                });
                match dep {
                    Some((_, n)) => deps.push(format!("'${n}'")),
                    None => panic!("{}: a shared module imports only other shared modules ({line})", path.display()),
                }
                continue;
            }
            text.push_str(line.strip_prefix("export ").unwrap_or(line));
            text.push('\n');
        }
        text.push_str(&format!(
            "mergeInto(LibraryManager.library, {{ ${name}: {name}, ${name}__deps: [{}] }});\n",
            deps.join(", ")
        ));
    }
    std::fs::create_dir_all(out_dir).unwrap_or_else(|e| panic!("{}: {e}", out_dir.display()));
    let out = out_dir.join("libds_shared.js");
    std::fs::write(&out, text).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    out
}

/// The emcc link arguments, one per element, for `cargo:rustc-link-arg=`.
#[allow(dead_code)]
pub fn emscripten_link_args(repo_root: &std::path::Path, opts: &EmscriptenLinkOptions) -> Vec<String> {
    let lib = repo_root.join("emscripten/src/lib/libdirectsockets.js");
    let txq = repo_root.join("emscripten/src/lib/libds_txq.js");
    let ops = repo_root.join("emscripten/src/lib/libds_ops.js");
    let poll = repo_root.join("emscripten/src/lib/libds_poll.js");
    let addr = repo_root.join("emscripten/src/lib/libds_addr.js");
    // Build scripts have OUT_DIR; elsewhere a per-process temporary folder.
    let out_dir = std::env::var_os("OUT_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("socket-iwa-emscripten-{}", std::process::id())));
    let shared = emscripten_shared_library(repo_root, &out_dir);
    let pre = repo_root.join("emscripten/src/jspi_pre.js");
    let shims = repo_root.join("emscripten/src/syscall_shims.c");
    // siwa_raise_if_handled (syscall_shims.c): run-node.mjs delivers SIGTERM/SIGINT.
    let mut exported = vec!["_main".to_string(), "_siwa_raise_if_handled".to_string()];
    exported.extend(opts.exported_functions.iter().cloned());
    vec![
        shims.display().to_string(),
        repo_root.join("emscripten/src/bulk_memory.c").display().to_string(),
        // bulk_memory.c's memcpy/memmove/memset are memory.copy/memory.fill (Rust's code already uses them).
        "-mbulk-memory".to_string(),
        "--js-library".to_string(),
        lib.display().to_string(),
        "--js-library".to_string(),
        shared.display().to_string(),
        "--js-library".to_string(),
        txq.display().to_string(),
        "--js-library".to_string(),
        ops.display().to_string(),
        "--js-library".to_string(),
        poll.display().to_string(),
        "--js-library".to_string(),
        addr.display().to_string(),
        "--js-library".to_string(),
        repo_root.join("emscripten/src/lib/libjs_handler.js").display().to_string(),
        "--js-library".to_string(),
        repo_root.join("emscripten/src/lib/libjs_wt.js").display().to_string(),
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
        // ENV: emscripten/run-node.mjs hands the program RUST_LOG and SOCKET_IWA_* from Node's environment.
        "-sEXPORTED_RUNTIME_METHODS=FS,ENV".to_string(),
    ]
}

/// The whole of a crate's build script for `wasm32-unknown-emscripten` binaries: rerun when a
/// bridge input changes, and link every binary through the bridge (nothing natively).
/// Used by the root crate's build.rs and testkit/build.rs.
#[allow(dead_code)]
pub fn emscripten_link_bins(repo_root: &std::path::Path) {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("TARGET").as_deref() != Ok("wasm32-unknown-emscripten") {
        return;
    }
    for path in emscripten_link_inputs(repo_root) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    for arg in emscripten_link_args(repo_root, &EmscriptenLinkOptions::default()) {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
}

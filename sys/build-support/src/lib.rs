//! Helpers for the build scripts of Socket.IWA's `-sys` crates, in the manner
//! of openssl-sys / libz-sys (docs/SYS_CRATES.md):
//!
//! - Versions live in one place, `vendor/pins.txt`; [`pin`] reads it.
//! - Build scripts never reach the network. `vendor/fetch.sh` (run by
//!   `scripts/setup.sh` and `docker/build-wasm.sh`) downloads the pinned
//!   crates.io carrier packages and extracts the C trees into `vendor/src/`
//!   (git-ignored); [`vendor_tree`] only looks there and names the command to
//!   run when a tree is missing.
//! - Every environment variable a build script reads goes through [`env_var`],
//!   which prints `cargo:rerun-if-env-changed` for it.
//! - `SOCKET_IWA_SYSTEM_<LIB>=1` links a system library found by pkg-config
//!   instead of building the pinned tree ([`system_library`]).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Reads an environment variable and tells Cargo to rerun the build script when it changes.
pub fn env_var(name: &str) -> Option<String> {
    println!("cargo:rerun-if-env-changed={name}");
    env::var(name).ok()
}

/// Environment variables that bindgen (through clang-sys) and the C compiler
/// driver read on our behalf; declared so a change reruns the build script.
pub fn declare_tool_env() {
    let target = env::var("TARGET").expect("TARGET");
    let t = target.replace('-', "_");
    for v in ["BINDGEN_EXTRA_CLANG_ARGS", "LIBCLANG_PATH", "LLVM_CONFIG_PATH", "CLANG_PATH", "PKG_CONFIG_PATH", "EM_CONFIG", "EMCC_CFLAGS"] {
        env_var(v);
    }
    env_var(&format!("BINDGEN_EXTRA_CLANG_ARGS_{target}"));
    env_var(&format!("BINDGEN_EXTRA_CLANG_ARGS_{t}"));
}

/// The repository root (the folder above `sys/` that holds `vendor/pins.txt`).
pub fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .find(|p| p.join("vendor").join("pins.txt").is_file())
        .map(Path::to_path_buf)
        .expect("could not find the repository root (vendor/pins.txt) above CARGO_MANIFEST_DIR")
}

/// One line of `vendor/pins.txt`.
#[derive(Debug, Clone)]
pub struct Pin {
    /// crates.io package that carries the C sources, e.g. `ngtcp2-sys`.
    pub carrier: String,
    pub carrier_version: String,
    /// Upstream library name, e.g. `ngtcp2`.
    pub library: String,
    /// Upstream library version, as `x.y.z`.
    pub version: String,
    /// Folder of the C tree inside the carrier package.
    pub tree: String,
}

/// The pin of upstream `library` (`ngtcp2`, `nghttp3`, `wolfssl`) from `vendor/pins.txt`.
pub fn pin(library: &str) -> Pin {
    let path = repo_root().join("vendor").join("pins.txt");
    println!("cargo:rerun-if-changed={}", path.display());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let [carrier, carrier_version, _sum, lib_ver, tree] = f[..] else {
            panic!("{}: malformed line (want: carrier version sha256 library=version tree): {line}", path.display());
        };
        let (lib, version) = lib_ver.split_once('=').unwrap_or_else(|| panic!("{}: no library=version in: {line}", path.display()));
        if lib == library {
            return Pin {
                carrier: carrier.into(),
                carrier_version: carrier_version.into(),
                library: lib.into(),
                version: version.into(),
                tree: tree.into(),
            };
        }
    }
    panic!("{}: no pin for library {library}", path.display());
}

/// The extracted C tree of `pin` under `vendor/src/` (or `$SOCKET_IWA_VENDOR_DIR`,
/// which vendor/fetch.sh also honours). Never downloads: a missing tree is an
/// error that names `vendor/fetch.sh`.
pub fn vendor_tree(pin: &Pin) -> PathBuf {
    let src = match env_var("SOCKET_IWA_VENDOR_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => repo_root().join("vendor").join("src"),
    };
    let dir = src.join(format!("{}-{}", pin.carrier, pin.carrier_version));
    let stamp = dir.join(".socket-iwa-verified");
    println!("cargo:rerun-if-changed={}", stamp.display());
    if !stamp.is_file() {
        panic!(
            "\n\n{} {} sources are not in {} (build scripts never download).\n\
             Run `bash vendor/fetch.sh` (scripts/setup.sh runs it) to fetch the pinned, checksum-verified\n\
             crates.io package {} {}, or set SOCKET_IWA_SYSTEM_{}=1 to use a system library (docs/SYS_CRATES.md).\n",
            pin.library,
            pin.version,
            dir.display(),
            pin.carrier,
            pin.carrier_version,
            pin.library.to_uppercase()
        );
    }
    dir.join(&pin.tree)
}

/// Checks that `file` in an upstream tree names `pin.version` (e.g. the
/// `project(... VERSION x.y.z)` line of CMakeLists.txt), so a tree and its pin cannot drift apart.
pub fn check_tree_version(pin: &Pin, file: &Path, needle: &str) {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    let want = needle.replace("{}", &pin.version);
    assert!(
        text.contains(&want),
        "{} does not contain `{want}`: the tree does not match vendor/pins.txt ({} {})",
        file.display(),
        pin.library,
        pin.version
    );
}

/// A system library to link instead of the pinned tree, or `None` to build the
/// tree. Chosen by `SOCKET_IWA_SYSTEM_<LIB>=1` (e.g. `SOCKET_IWA_SYSTEM_NGTCP2`);
/// found with pkg-config module `module`, which must be at least the pinned
/// version (the bindings and our code are written against it). Not available
/// for wasm32-unknown-emscripten: there is no system library to link there.
pub fn system_library(pin: &Pin, module: &str) -> Option<pkg_config::Library> {
    let var = format!("SOCKET_IWA_SYSTEM_{}", pin.library.to_uppercase());
    match env_var(&var).as_deref() {
        None | Some("") | Some("0") => return None,
        Some("1") => {}
        Some(other) => panic!("{var}={other}: want 1 (use the system {}) or 0/unset (build the pinned tree)", pin.library),
    }
    if is_emscripten() {
        panic!("{var}=1: there is no system {} for wasm32-unknown-emscripten; unset it for wasm builds", pin.library);
    }
    match pkg_config::Config::new().atleast_version(&pin.version).cargo_metadata(true).probe(module) {
        Ok(lib) => Some(lib),
        Err(e) => {
            let found = pkg_config::Config::new().cargo_metadata(false).probe(module).map(|l| l.version).ok();
            let what = match found {
                Some(v) => format!("pkg-config finds {module} {v}, older than the pinned {}", pin.version),
                None => format!("pkg-config does not find {module}: {e}"),
            };
            panic!("\n\n{var}=1: {what}.\nInstall {} >= {} where pkg-config sees it (PKG_CONFIG_PATH), or unset {var} to build the pinned tree (docs/SYS_CRATES.md).\n", pin.library, pin.version);
        }
    }
}

/// True when building for `wasm32-unknown-emscripten`.
pub fn is_emscripten() -> bool {
    env::var("CARGO_CFG_TARGET_OS").map(|os| os == "emscripten").unwrap_or(false)
}

/// Extra clang arguments bindgen needs to parse headers as the target sees them.
/// For Emscripten this is the sysroot and defines that `emcc --cflags` reports.
pub fn bindgen_target_args() -> Vec<String> {
    if !is_emscripten() {
        return Vec::new();
    }
    let out = Command::new("emcc")
        .arg("--cflags")
        .env("NODE_PATH", env_var("NODE_PATH").unwrap_or_else(|| "/usr/share/nodejs".into()))
        .output()
        .expect("emcc not found: install Debian's emscripten package (scripts/setup.sh does)");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut args = Vec::new();
    let mut words = text.split_whitespace();
    while let Some(w) = words.next() {
        match w {
            // Backend options mean nothing to a header parse; drop them with their value.
            "-mllvm" => {
                words.next();
            }
            "-target" => {
                if let Some(t) = words.next() {
                    args.push(format!("--target={t}"));
                }
            }
            "-Xclang" => {
                if let Some(v) = words.next() {
                    args.push("-Xclang".into());
                    args.push(v.into());
                }
            }
            w if w.starts_with("-D") || w.starts_with("--sysroot") || w.starts_with("-fvisibility") => {
                args.push(w.into())
            }
            _ => {}
        }
    }
    args
}

/// A `cc::Build`-independent list of warnings we silence for third-party C.
pub const QUIET_FLAGS: &[&str] = &["-Wno-unused-parameter", "-Wno-sign-compare", "-Wno-unused-function"];

/// Writes `version.h` from an upstream `version.h.in` template.
pub fn write_version_header(template: &Path, out: &Path, version: &str) {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().expect("numeric version"));
    let (major, minor, patch) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    let text = std::fs::read_to_string(template)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", template.display()))
        .replace("@PACKAGE_VERSION@", version)
        .replace("@PACKAGE_VERSION_NUM@", &format!("0x{major:02x}{minor:02x}{patch:02x}"));
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    std::fs::write(out, text).unwrap();
}

/// The `config.h` that ngtcp2's and nghttp3's CMake would generate, for the
/// two targets we build (glibc Linux and Emscripten's musl): both have the same
/// POSIX headers, `endian.h` with `be64toh`, `byteswap.h` and `explicit_bzero`.
pub fn write_posix_config_header(out: &Path) {
    let text = "\
/* Generated by socket-iwa-build for Linux (glibc) and Emscripten (musl). */
#define HAVE_ARPA_INET_H 1
#define HAVE_NETINET_IN_H 1
#define HAVE_NETINET_IP_H 1
#define HAVE_UNISTD_H 1
#define HAVE_ENDIAN_H 1
#define HAVE_BYTESWAP_H 1
#define HAVE_DECL_BE64TOH 1
#define HAVE_DECL_BSWAP_64 1
#define HAVE_EXPLICIT_BZERO 1
";
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    std::fs::write(out, text).unwrap();
}

/// Every `*.c` file directly inside `dir`, sorted.
pub fn c_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    files.sort();
    files
}

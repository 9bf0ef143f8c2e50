//! The layering of docs/ARCHITECTURE.md, read from the source: each top-level
//! module of `src/` may refer (`crate::X`, outside comments) only to the
//! modules its row allows, so the imports have no cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Which layer may refer to which (docs/ARCHITECTURE.md, "Layers").
const ALLOWED: &[(&str, &[&str])] = &[
    ("error", &[]),
    ("time", &[]),
    ("log", &[]),
    ("sockaddr", &[]),
    ("tls", &["error"]),
    ("quic", &["tls", "error", "sockaddr"]),
    ("io", &["quic", "tls", "time", "error", "sockaddr"]),
    ("h3", &["quic", "tls", "error"]),
    ("app", &["io", "h3", "quic", "tls", "time", "error", "library_versions"]),
];

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `crate::X` references of the module `name` (file `src/name.rs` or folder `src/name/`).
fn references(src: &Path, name: &str) -> BTreeSet<String> {
    let mut files = Vec::new();
    let dir = src.join(name);
    if dir.is_dir() {
        sources(&dir, &mut files);
    }
    let file = src.join(format!("{name}.rs"));
    if file.is_file() {
        files.push(file);
    }
    let mut refs = BTreeSet::new();
    for f in files {
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            let code = line.split("//").next().unwrap();
            let mut rest = code;
            while let Some(i) = rest.find("crate::") {
                rest = &rest[i + "crate::".len()..];
                let m: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                // The crate root re-exports `error::Error` as `crate::Error`.
                let m = if m == "Error" { "error".to_string() } else { m };
                if m != name {
                    refs.insert(m);
                }
            }
        }
    }
    refs
}

#[test]
fn layers_refer_only_downwards() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut bad = Vec::new();
    for (&layer, ok) in &allowed {
        for r in references(&src, layer) {
            if !ok.contains(&r.as_str()) {
                bad.push(format!("{layer} -> {r}"));
            }
        }
    }
    assert!(bad.is_empty(), "references against docs/ARCHITECTURE.md's layering: {bad:?}");
    // Every module in src/ has a row (a new module must be placed in the table).
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
        if stem == "lib" || stem == "bin" {
            continue;
        }
        assert!(allowed.contains_key(stem.as_str()), "src/{stem} is not in the layering table");
    }
}

//! Static files over HTTP/3: a [`Handler`] that answers `GET`/`HEAD` from
//! directories mounted at URL prefixes (`socket-iwa-server --static [PREFIX=]DIR`).
//! The demo IWA serves its "join from another browser" page this way from the
//! module's memory file system. Policy (docs/H3.md, "Static files"):
//! - a request path maps to a file only through its `/`-separated segments,
//!   each percent-decoded on its own; `.` / `..` (also encoded, `%2e%2e`), an
//!   encoded `/` or `\`, NUL, empty segments (`//`), invalid percent escapes and
//!   paths not starting with `/` are refused with 400, never resolved;
//! - segments starting with `.` (dotfiles, `.git`) are 404;
//! - the file's canonical path (symlinks resolved) must lie inside the mount's
//!   canonical directory, otherwise 404: a symlink out of DIR is not followed;
//! - a directory answers its `index.html` when the path ends with `/`, and a
//!   redirect (301) to the path with `/` otherwise;
//! - `Content-Type` by file extension (`mime_guess`), `Content-Length` from the
//!   file's size; bodies are read and sent in 64 KiB chunks while the stream's
//!   queued + unacknowledged bytes stay under 1 MiB and the connection's buffer
//!   budget has room, so a file of any size costs at most that much memory.

use crate::h3::handler::{Ctx, Handler, Request};
use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bytes read from a file at a time.
const CHUNK: u64 = 64 * 1024;
/// Response bytes kept queued (HTTP/3 layer + QUIC unacked) per file being sent.
const FILE_WINDOW: u64 = 1 << 20;

/// One directory served under a URL prefix.
#[derive(Clone, Debug)]
pub struct Mount {
    /// `""` for `/`, else `/a/b` (no trailing slash).
    prefix: String,
    /// The directory, canonical (symlinks resolved) at start.
    root: PathBuf,
}

impl Mount {
    /// Parses `--static` values: `DIR` (mounted at `/`) or `PREFIX=DIR` with
    /// PREFIX starting with `/` (e.g. `/join=./site`). The directory must exist.
    pub fn parse(spec: &str) -> Result<Mount, crate::error::Error> {
        let bad = |why: String| crate::error::Error::BadInput(format!("--static {spec:?}: {why}"));
        let (prefix, dir) = match spec.split_once('=') {
            Some((p, d)) if p.starts_with('/') => (p, d),
            _ => ("/", spec),
        };
        if dir.is_empty() {
            return Err(bad("no directory given (use DIR or /PREFIX=DIR)".into()));
        }
        let prefix = prefix.trim_end_matches('/');
        if prefix.split('/').skip(1).any(|s| s.is_empty() || s == "." || s == ".." || s.contains(['%', '?', '#', '\\'])) {
            return Err(bad(format!("the URL prefix {prefix:?} must be plain /segments (no empty, . or .. segment, no %, ?, #, \\)")));
        }
        let root = std::fs::canonicalize(dir).map_err(|e| bad(format!("cannot use directory {dir:?}: {e}")))?;
        if !matches!(stat(&root), Some(Kind::Dir)) {
            return Err(bad(format!("{dir:?} is not a directory")));
        }
        Ok(Mount { prefix: prefix.to_string(), root })
    }

    pub fn prefix(&self) -> &str {
        if self.prefix.is_empty() {
            "/"
        } else {
            &self.prefix
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// What a request path is, for the static handler.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Under no mount.
    NotMine,
    /// A path we refuse to resolve (400): the reason.
    Bad(&'static str),
    /// Nothing (servable) there (404).
    NotFound,
    /// A directory named without its trailing `/`: redirect here (301).
    Redirect(String),
    /// A regular file inside the mount, canonical path and size.
    File(PathBuf, u64),
}

/// The mounts of a server, longest prefix first. Shared by every connection.
#[derive(Clone, Debug, Default)]
pub struct StaticConfig {
    mounts: Vec<Mount>,
}

impl StaticConfig {
    pub fn new(mut mounts: Vec<Mount>) -> Self {
        mounts.sort_by_key(|m| std::cmp::Reverse(m.prefix.len()));
        StaticConfig { mounts }
    }

    pub fn is_empty(&self) -> bool {
        self.mounts.is_empty()
    }

    pub fn mounts(&self) -> &[Mount] {
        &self.mounts
    }

    /// Maps a request's `:path` (query allowed) to a file, applying the policy of the module docs.
    pub fn lookup(&self, path: &str) -> Lookup {
        let route = path.split(['?', '#']).next().unwrap_or("");
        if !route.starts_with('/') {
            return Lookup::Bad("the path must start with /");
        }
        let Some(m) = self
            .mounts
            .iter()
            .find(|m| route == m.prefix || route.strip_prefix(m.prefix.as_str()).is_some_and(|r| r.starts_with('/')))
        else {
            return Lookup::NotMine;
        };
        let rest = &route[m.prefix.len()..];
        if rest.is_empty() {
            return Lookup::Redirect(format!("{}/", m.prefix));
        }
        let segs: Vec<&str> = rest[1..].split('/').collect();
        let mut file = m.root.clone();
        let last = segs.len() - 1;
        for (i, raw) in segs.iter().enumerate() {
            if raw.is_empty() {
                if i == last {
                    break; // trailing slash: the directory itself
                }
                return Lookup::Bad("empty path segment");
            }
            let Some(seg) = decode_segment(raw) else { return Lookup::Bad("invalid percent-encoding") };
            if seg == "." || seg == ".." {
                return Lookup::Bad("dot segment");
            }
            if seg.contains(['/', '\\', '\0']) {
                return Lookup::Bad("encoded separator or NUL in a segment");
            }
            if seg.starts_with('.') {
                return Lookup::NotFound; // dotfiles are not served
            }
            file.push(seg);
        }
        let dir_wanted = route.ends_with('/');
        if dir_wanted {
            file.push("index.html");
        }
        // Symlinks are allowed only when they stay inside the mount.
        let Ok(real) = std::fs::canonicalize(&file) else { return Lookup::NotFound };
        if !real.starts_with(&m.root) {
            log::debug!("static: {route} resolves to {} outside {}: refused", real.display(), m.root.display());
            return Lookup::NotFound;
        }
        match stat(&real) {
            Some(Kind::File(len)) => Lookup::File(real, len),
            Some(Kind::Dir) if !dir_wanted => Lookup::Redirect(format!("{route}/")),
            _ => Lookup::NotFound,
        }
    }
}

enum Kind {
    File(u64),
    Dir,
    Other,
}

/// What `path` is, by `stat(2)` through the `libc` crate rather than `std::fs::metadata`:
/// Rust's prebuilt `std` for wasm32-unknown-emscripten assumes the `struct stat` layout
/// of Emscripten >= 3.1.42 and misreads `st_mode`/`st_size` under Debian's emcc 3.1.6,
/// while the `libc` crate, built here, detects the emcc version and uses the old layout.
fn stat(path: &Path) -> Option<Kind> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: `c` is a NUL-terminated path, `st` a properly sized out-parameter.
    let st = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::stat(c.as_ptr(), &mut st) != 0 {
            return None;
        }
        st
    };
    Some(match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => Kind::File(st.st_size as u64),
        libc::S_IFDIR => Kind::Dir,
        _ => Kind::Other,
    })
}

/// One `/`-free path segment, percent-decoded; `None` if an escape is invalid or the result is not UTF-8.
fn decode_segment(raw: &str) -> Option<String> {
    let b = raw.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'%' && !(i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit()) {
            return None;
        }
    }
    percent_encoding::percent_decode_str(raw).decode_utf8().ok().map(|s| s.into_owned())
}

/// `Content-Type` for a file name: by extension, `application/octet-stream` if unknown; text types in UTF-8.
pub fn content_type(path: &Path) -> String {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let mime = match ext.as_str() {
        // mime_guess says application/javascript; the HTML standard's choice is text/javascript.
        "js" | "mjs" => "text/javascript",
        "wasm" => "application/wasm",
        _ => mime_guess::from_ext(&ext).first_raw().unwrap_or("application/octet-stream"),
    };
    if mime.starts_with("text/") || mime == "application/json" || mime == "image/svg+xml" || mime == "application/manifest+json" {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    }
}

/// A file body being sent.
struct Sending {
    file: File,
    off: u64,
    total: u64,
}

/// The static-file handler of one connection (the mounts are shared).
pub struct StaticFiles {
    cfg: Arc<StaticConfig>,
    sending: HashMap<i64, Sending>,
}

impl StaticFiles {
    pub fn new(cfg: Arc<StaticConfig>) -> Self {
        StaticFiles { cfg, sending: HashMap::new() }
    }

    /// Answers `req` if it is a `GET`/`HEAD` under a mount that names a file,
    /// a directory or a refused path; returns false (nothing sent) for other
    /// methods, paths under no mount and paths with nothing there, so a
    /// handler that embeds this one can answer those itself.
    pub fn try_serve(&mut self, cx: &mut Ctx, req: &Request) -> bool {
        if req.method != "GET" && req.method != "HEAD" {
            return false;
        }
        let id = req.id;
        match self.cfg.lookup(&req.path) {
            Lookup::NotMine | Lookup::NotFound => false,
            Lookup::Bad(why) => {
                cx.respond_static(id, b"400", format!("bad path: {why}\n").as_bytes());
                true
            }
            Lookup::Redirect(to) => {
                let hdrs: [(&[u8], &[u8]); 3] = [(b":status", b"301"), (b"location", to.as_bytes()), (b"content-length", b"0")];
                let _ = cx.respond(id, &hdrs, false);
                true
            }
            Lookup::File(path, len) => {
                let file = match File::open(&path) {
                    Ok(f) => f,
                    Err(e) => {
                        log::warn!("static: cannot open {}: {e}", path.display());
                        cx.respond_static(id, b"404", b"not found\n");
                        return true;
                    }
                };
                let ct = content_type(&path);
                let cl = len.to_string();
                let hdrs: [(&[u8], &[u8]); 6] = [
                    (b":status", b"200"),
                    (b"server", b"socket-iwa"),
                    (b"content-type", ct.as_bytes()),
                    (b"content-length", cl.as_bytes()),
                    (b"cache-control", b"no-cache"),
                    (b"x-content-type-options", b"nosniff"),
                ];
                let body = req.method == "GET" && len > 0;
                if cx.respond(id, &hdrs, body).is_ok() && body {
                    self.sending.insert(id, Sending { file, off: 0, total: len });
                    let mut room = cx.budget_room();
                    self.top_up(cx, id, &mut room);
                }
                true
            }
        }
    }

    fn top_up(&mut self, cx: &mut Ctx, id: i64, room: &mut u64) {
        let Some(s) = self.sending.get_mut(&id) else { return };
        let mut short = false;
        while s.off < s.total && cx.queued(id) < FILE_WINDOW {
            let n = CHUNK.min(s.total - s.off);
            if *room < n {
                break; // over the connection's buffer budget: resume as the peer acknowledges
            }
            let mut buf = vec![0u8; n as usize];
            let got = read_full(&mut s.file, &mut buf);
            if got == 0 {
                short = true;
                break;
            }
            buf.truncate(got);
            *room -= got as u64;
            s.off += got as u64;
            cx.push_body(id, buf);
        }
        if short {
            // The file shrank after its size was announced: the body ends short, which
            // the client sees as a response shorter than its Content-Length (an error).
            log::warn!("static: file for stream {id} ended at {} of {} bytes", s.off, s.total);
        }
        if short || s.off >= s.total {
            cx.end_body(id);
            self.sending.remove(&id);
        }
    }

    /// Continues the bodies being sent (call from the embedding handler's `on_tick`).
    pub fn tick(&mut self, cx: &mut Ctx) {
        if self.sending.is_empty() {
            return;
        }
        let ids: Vec<i64> = self.sending.keys().copied().collect();
        let mut room = cx.budget_room();
        for id in ids {
            self.top_up(cx, id, &mut room);
        }
    }

    /// Forgets a request stream (reset, stopped or closed).
    pub fn gone(&mut self, id: i64) {
        self.sending.remove(&id);
    }
}

fn read_full(f: &mut File, buf: &mut [u8]) -> usize {
    let mut got = 0;
    while got < buf.len() {
        match f.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    got
}

/// Standalone: a server that serves only files (404 for the rest, 405 for other methods).
impl Handler for StaticFiles {
    fn on_request(&mut self, cx: &mut Ctx, req: Request) {
        if !self.try_serve(cx, &req) {
            let (st, body): (&[u8], &[u8]) =
                if req.method == "GET" || req.method == "HEAD" { (b"404", b"not found\n") } else { (b"405", b"method not allowed\n") };
            cx.respond_static(req.id, st, body);
        }
    }

    fn on_gone(&mut self, _cx: &mut Ctx, id: i64) {
        self.gone(id);
    }

    fn on_tick(&mut self, cx: &mut Ctx) {
        self.tick(cx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_decode_strictly() {
        assert_eq!(decode_segment("a%20b").as_deref(), Some("a b"));
        assert_eq!(decode_segment("%2e%2E").as_deref(), Some(".."));
        assert_eq!(decode_segment("%2"), None);
        assert_eq!(decode_segment("%zz"), None);
        assert_eq!(decode_segment("%ff"), None); // not UTF-8
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type(Path::new("a/join.html")), "text/html; charset=utf-8");
        assert_eq!(content_type(Path::new("join.JS")), "text/javascript; charset=utf-8");
        assert_eq!(content_type(Path::new("x.wasm")), "application/wasm");
        assert_eq!(content_type(Path::new("x.png")), "image/png");
        assert_eq!(content_type(Path::new("noext")), "application/octet-stream");
    }

    #[test]
    fn prefixes_parse() {
        let d = std::env::temp_dir();
        assert_eq!(Mount::parse(d.to_str().unwrap()).unwrap().prefix(), "/");
        assert_eq!(Mount::parse(&format!("/join/={}", d.display())).unwrap().prefix(), "/join");
        assert!(Mount::parse(&format!("/a/../b={}", d.display())).is_err());
        assert!(Mount::parse("/no/such/dir/here").is_err());
        assert!(Mount::parse("/x=").is_err());
    }
}

//! Static files over HTTP/3 (`socket-iwa-server --static`, `app::h3::static_files`)
//! in one process: a raw HTTP/3 client (paths sent exactly as written, no
//! normalisation a browser or URL library would apply) against the demo routes
//! with a directory mounted, over the in-memory link of [`harness`]. Checks
//! files, HEAD, Content-Type/-Length, directories, streaming of a file larger
//! than the send window over a lossy link, that the demo routes keep
//! precedence, and that no traversal (`..`, `%2e%2e`, encoded `/`, symlinks out
//! of the directory) reaches a file outside it. See docs/H3.md, "Static files".

mod harness;

use harness::*;
use socket_iwa::app::h3::demo::DemoRoutes;
use socket_iwa::app::h3::static_files::{Lookup, Mount, StaticConfig};
use socket_iwa::app::h3_client::{ClientCtx, ClientHandler, H3ClientApp};
use socket_iwa::app::{server_factory_with, SERVER_ALPNS};
use socket_iwa::h3::SessionEvent;
use socket_iwa::io::ServerHost;
use socket_iwa::quic::{ConnectionConfig, ServerConfig, ServerEndpoint};
use socket_iwa::tls::{TicketKey, TlsContext};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

const SECRET: &[u8] = b"TOP SECRET outside the served directory";

#[derive(Debug, Default, Clone)]
struct Got {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    ended: bool,
    reset: bool,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Sends each (method, path) as written, all at once, and keeps what comes back.
struct Fetch {
    reqs: Vec<(String, String)>,
    ids: HashMap<i64, usize>,
    got: Vec<Got>,
}

impl Fetch {
    fn new(reqs: &[(&str, &str)]) -> Self {
        Fetch { reqs: reqs.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect(), ids: HashMap::new(), got: vec![Got::default(); reqs.len()] }
    }
}

impl ClientHandler for Fetch {
    fn on_ready(&mut self, cx: &mut ClientCtx) {
        for (i, (m, p)) in self.reqs.iter().enumerate() {
            let hdrs: [(&[u8], &[u8]); 4] =
                [(b":method", m.as_bytes()), (b":scheme", b"https"), (b":authority", b"localhost"), (b":path", p.as_bytes())];
            let body = (m == "POST").then(|| b"posted body".to_vec());
            let id = cx.session.request(cx.conn, &hdrs, body).unwrap();
            self.ids.insert(id, i);
        }
    }

    fn on_event(&mut self, _cx: &mut ClientCtx, ev: SessionEvent) {
        let slot = |ids: &HashMap<i64, usize>, id: i64| ids.get(&id).copied();
        match ev {
            SessionEvent::Headers { id, headers, fin } => {
                if let Some(i) = slot(&self.ids, id) {
                    let g = &mut self.got[i];
                    for (k, v) in headers {
                        let (k, v) = (String::from_utf8_lossy(&k).into_owned(), String::from_utf8_lossy(&v).into_owned());
                        if k == ":status" {
                            g.status = v.parse().unwrap();
                        } else {
                            g.headers.push((k, v));
                        }
                    }
                    g.ended |= fin;
                }
            }
            SessionEvent::Data { id, data } => {
                if let Some(i) = slot(&self.ids, id) {
                    self.got[i].body.extend(data);
                }
            }
            SessionEvent::End { id } => {
                if let Some(i) = slot(&self.ids, id) {
                    self.got[i].ended = true;
                }
            }
            SessionEvent::Reset { id, .. } => {
                if let Some(i) = slot(&self.ids, id) {
                    self.got[i].reset = true;
                }
            }
            _ => {}
        }
    }

    fn on_tick(&mut self, _cx: &mut ClientCtx) -> bool {
        !self.ids.is_empty() && self.got.iter().all(|g| g.ended || g.reset)
    }
}

/// A fresh tree: `site/` (served) and `outside/` (holds the secret), with symlinks in and out.
struct Tree {
    base: PathBuf,
}

impl Tree {
    fn new(name: &str) -> Tree {
        let base = std::env::temp_dir().join(format!("socket-iwa-h3-static-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let site = base.join("site");
        for d in ["sub", "bytes", "deep/er"] {
            std::fs::create_dir_all(site.join(d)).unwrap();
        }
        std::fs::create_dir_all(base.join("outside")).unwrap();
        std::fs::write(base.join("outside/secret.txt"), SECRET).unwrap();
        std::fs::write(base.join("secret.txt"), SECRET).unwrap();
        std::fs::write(site.join("join.html"), "<!doctype html><title>join</title>").unwrap();
        std::fs::write(site.join("join.js"), "console.log('join');\n").unwrap();
        std::fs::write(site.join("sub/index.html"), "<p>sub index</p>").unwrap();
        std::fs::write(site.join("deep/er/a b.txt"), "spaced").unwrap();
        std::fs::write(site.join("bytes/100"), "a file where the demo route is").unwrap();
        std::fs::write(site.join(".hidden"), SECRET).unwrap();
        std::fs::write(site.join("empty.txt"), "").unwrap();
        std::fs::write(site.join("big.bin"), big()).unwrap();
        std::os::unix::fs::symlink(base.join("outside/secret.txt"), site.join("link-out")).unwrap();
        std::os::unix::fs::symlink(base.join("outside"), site.join("dir-out")).unwrap();
        std::os::unix::fs::symlink("../secret.txt", site.join("rel-out")).unwrap();
        std::os::unix::fs::symlink("join.html", site.join("link-in")).unwrap();
        Tree { base }
    }

    fn site(&self) -> PathBuf {
        self.base.join("site")
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// 3 MiB + 7: three times the handler's 1 MiB send window, not a multiple of its 64 KiB chunks.
fn big() -> Vec<u8> {
    (0..(3 << 20) + 7u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect()
}

fn server_for(mounts: &[&str]) -> ServerHost {
    let cfg = Arc::new(StaticConfig::new(mounts.iter().map(|m| Mount::parse(m).unwrap()).collect()));
    let tls = TlsContext::server(identity(), SERVER_ALPNS, TicketKey::ephemeral()).unwrap();
    let factory = server_factory_with(Box::new(move || Box::new(DemoRoutes::with_static(cfg.clone()))));
    ServerHost::server(ServerEndpoint::new(tls, ServerConfig::default()), factory)
}

fn fetch(server: ServerHost, reqs: &[(&str, &str)], link: LinkConfig, seed: u64) -> Vec<Got> {
    fetch_peak(server, reqs, link, seed).0
}

/// Also the most the server held buffered at once (QUIC send buffers + the HTTP/3 layer).
fn fetch_peak(server: ServerHost, reqs: &[(&str, &str)], link: LinkConfig, seed: u64) -> (Vec<Got>, u64) {
    let app = H3ClientApp::new(Fetch::new(reqs));
    let c = client("h3", None, &ConnectionConfig::default(), T0, app);
    let mut sim = Sim::symmetric(server, c, T0, link, seed);
    sim.run_client(120 * SEC).unwrap_or_else(|e| panic!("seed {seed}: {e:?}"));
    (sim.client.app().handler.got.clone(), sim.server.current_stats().peak_buffered)
}

#[test]
fn files_head_types_directories_and_the_demo_routes() {
    let t = Tree::new("files");
    let reqs = [
        ("GET", "/join.html"),
        ("HEAD", "/join.js"),
        ("GET", "/join.js?cache=1"),
        ("GET", "/sub"),
        ("GET", "/sub/"),
        ("GET", "/deep/er/a%20b.txt"),
        ("GET", "/empty.txt"),
        ("GET", "/link-in"),
        ("GET", "/missing.html"),
        ("GET", "/"),
        ("GET", "/bytes/100"),
        ("POST", "/echo"),
        ("POST", "/join.html"),
        ("GET", "/big.bin"),
    ];
    let got = fetch(server_for(&[t.site().to_str().unwrap()]), &reqs, LinkConfig::lossy(0.02), 11);
    let status: Vec<u16> = got.iter().map(|g| g.status).collect();
    assert_eq!(status, [200, 200, 200, 301, 200, 200, 200, 200, 404, 200, 200, 200, 404, 200], "{got:?}");
    assert!(got.iter().all(|g| g.ended && !g.reset), "{got:?}");
    // A file: its bytes, type by extension, length.
    assert_eq!(got[0].body, b"<!doctype html><title>join</title>");
    assert_eq!(got[0].header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(got[0].header("content-length"), Some("34"));
    // HEAD: the same headers, no body.
    assert_eq!(got[1].header("content-type"), Some("text/javascript; charset=utf-8"));
    assert_eq!(got[1].header("content-length"), Some("21"));
    assert!(got[1].body.is_empty());
    assert_eq!(got[2].body, b"console.log('join');\n");
    // Directories: a redirect to the slash form, then index.html.
    assert_eq!(got[3].header("location"), Some("/sub/"));
    assert_eq!(got[4].body, b"<p>sub index</p>");
    assert_eq!(got[5].body, b"spaced");
    assert_eq!((got[6].header("content-length"), got[6].body.len()), (Some("0"), 0));
    assert_eq!(got[7].body, b"<!doctype html><title>join</title>"); // a symlink that stays inside
    // No file: the demo answers (404 here, its info page at /); its routes win over files.
    assert!(String::from_utf8_lossy(&got[9].body).contains("socket-iwa HTTP/3"));
    assert_eq!(got[10].body, (0..100u64).map(socket_iwa::app::h3::bytes_pattern).collect::<Vec<u8>>());
    assert_eq!(got[11].body, b"posted body");
    // Larger than the send window, over a lossy link: every byte, in order.
    assert_eq!(got[13].header("content-length"), Some(((3 << 20) + 7).to_string().as_str()));
    assert_eq!(got[13].header("content-type"), Some("application/octet-stream"));
    assert!(got[13].body == big(), "big.bin: {} bytes back", got[13].body.len());
}

#[test]
fn a_big_file_is_streamed_not_loaded() {
    // 3 MiB + 7 over a clean link: the server never holds more than the 1 MiB send window
    // plus a chunk and the headers (a handler that queued the whole file would hold 3 MiB).
    let t = Tree::new("big");
    let (got, peak) = fetch_peak(server_for(&[t.site().to_str().unwrap()]), &[("GET", "/big.bin")], LinkConfig::clean(), 14);
    assert!(got[0].status == 200 && got[0].body == big(), "{} bytes back", got[0].body.len());
    assert!(peak > 512 << 10 && peak < (1 << 20) + (256 << 10), "peak buffered {peak}");
}

#[test]
fn no_path_reaches_outside_the_directory() {
    let t = Tree::new("traversal");
    let bad = [
        "/../secret.txt",
        "/../outside/secret.txt",
        "/sub/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/outside/secret.txt",
        "/sub/%2e%2e/%2e%2e/secret.txt",
        "/.%2e/secret.txt",
        "/%2e%2e%2fsecret.txt",
        "/..%2f..%2fsecret.txt",
        "/sub%2f..%2f..%2fsecret.txt",
        "/..%5csecret.txt",
        "/..\\secret.txt",
        "//secret.txt",
        "/%2fsecret.txt",
        "/link-out",
        "/dir-out/secret.txt",
        "/rel-out",
        "/.hidden",
        "/%2ehidden",
        "/sub/%00",
        "/%zz",
        "/./join.html",
    ];
    let reqs: Vec<(&str, &str)> = bad.iter().map(|p| ("GET", *p)).collect();
    let got = fetch(server_for(&[t.site().to_str().unwrap()]), &reqs, LinkConfig::clean(), 12);
    for (p, g) in bad.iter().zip(&got) {
        // 400/404 from the handler, or a stream nghttp3 itself refused as malformed.
        assert!(g.status == 400 || g.status == 404 || (g.status == 0 && g.reset), "{p}: {g:?}");
        assert!(!g.body.windows(SECRET.len()).any(|w| w == SECRET), "{p} leaked the secret");
    }
    // The same decisions without a connection (the refusal reason, not just "no 200").
    let cfg = StaticConfig::new(vec![Mount::parse(t.site().to_str().unwrap()).unwrap()]);
    for p in ["/%2e%2e/secret.txt", "/..%2fsecret.txt", "//secret.txt", "/sub/%00", "/./join.html"] {
        assert!(matches!(cfg.lookup(p), Lookup::Bad(_)), "{p}: {:?}", cfg.lookup(p));
    }
    for p in ["/link-out", "/dir-out/secret.txt", "/rel-out", "/.hidden"] {
        assert_eq!(cfg.lookup(p), Lookup::NotFound, "{p}");
    }
    assert!(matches!(cfg.lookup("/join.html"), Lookup::File(_, 34)));
    assert_eq!(cfg.lookup("no-slash"), Lookup::Bad("the path must start with /"));
}

#[test]
fn a_mount_under_a_prefix() {
    let t = Tree::new("prefix");
    let site = t.site();
    let reqs = [("GET", "/join/join.html"), ("GET", "/join"), ("GET", "/join/"), ("GET", "/joinx/join.html"), ("GET", "/join.html"), ("GET", "/join/sub/")];
    let got = fetch(server_for(&[&format!("/join={}", site.display())]), &reqs, LinkConfig::clean(), 13);
    let status: Vec<u16> = got.iter().map(|g| g.status).collect();
    // /join/ has no index.html: the demo's 404. Outside the prefix: the demo's 404 too.
    assert_eq!(status, [200, 301, 404, 404, 404, 200], "{got:?}");
    assert_eq!(got[1].header("location"), Some("/join/"));
    assert_eq!(got[5].body, b"<p>sub index</p>");
}

#[test]
fn bad_mounts_are_refused_by_name() {
    let e = Mount::parse("/definitely/not/here").unwrap_err().to_string();
    assert!(e.starts_with("--static \"/definitely/not/here\": cannot use directory"), "{e}");
    let t = Tree::new("badmount");
    let file = t.site().join("join.html");
    let e = Mount::parse(file.to_str().unwrap()).unwrap_err().to_string();
    assert!(e.contains("is not a directory"), "{e}");
    assert!(Mount::parse(&format!("/a/../b={}", t.site().display())).is_err());
}

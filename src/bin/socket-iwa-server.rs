//! socket-iwa-server: the QUIC server (ALPNs `echo` and `h3`: echo, HTTP/3, WebTransport, WebSocket over HTTP/3, static files), natively or as wasm.

use clap::Parser;
use socket_iwa::app::h3::demo::DemoRoutes;
use socket_iwa::app::h3::static_files::{Mount, StaticConfig};
use socket_iwa::app::{server_factory_with, SERVER_ALPNS};
use socket_iwa::io::{run_woken, ServerHost, UdpSocket};
use socket_iwa::quic::{ServerConfig, ServerEndpoint};
use socket_iwa::tls::{Identity, IdentitySwap, TicketKey, TlsContext, MAX_GENERATED_DAYS_VALID};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Parser, Debug)]
#[command(name = "socket-iwa-server", version, about = "Socket.IWA QUIC server (ALPNs echo and h3: echo, HTTP/3, WebTransport, WebSocket over HTTP/3)")]
struct Args {
    /// Address to listen on (IPv4 or [IPv6]:port).
    #[arg(long, default_value = "127.0.0.1:4433")]
    listen: SocketAddr,
    /// PEM certificate chain (with --key). Default: a fresh self-signed ECDSA P-256 certificate.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// PEM private key for --cert.
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Session ticket key file (created if missing) so restarts still accept old tickets.
    #[arg(long)]
    ticket_key: Option<PathBuf>,
    /// Write the certificate (PEM) here, for clients that want to pin it.
    #[arg(long)]
    write_cert: Option<PathBuf>,
    /// Write the private key (PEM, mode 0600) here: with --write-cert, a generated
    /// identity can be kept and passed back with --cert/--key next time.
    #[arg(long, value_name = "FILE")]
    write_key: Option<PathBuf>,
    /// Validity of a generated certificate, in days (at most 13: Chromium's
    /// serverCertificateHashes takes at most 14, and wolfSSL back-dates by one).
    #[arg(long, value_name = "DAYS", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=MAX_GENERATED_DAYS_VALID as i64))]
    cert_days: u32,
    /// Maximum established connections (newcomers beyond get CONNECTION_REFUSED).
    #[arg(long, default_value_t = 4096)]
    max_connections: usize,
    /// Validate every new client address with a Retry (a NEW_TOKEN token skips it).
    #[arg(long)]
    retry: bool,
    /// Retry unvalidated clients automatically while this many handshakes are in progress.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    retry_threshold: u32,
    /// Maximum handshakes in progress (half-open connections).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    max_half_open: u32,
    /// Unvalidated handshakes one source (IPv4 address or IPv6 /64) may hold before it gets a Retry.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    max_half_open_per_source: u32,
    /// With --json: print the server's counters as a `stats` event every MS milliseconds (0: never).
    #[arg(long, default_value_t = 0, value_name = "MS")]
    stats_interval: u64,
    /// With --json: print every live connection (peer, ALPN, age, RTT, packets and bytes each
    /// way) and running totals as a `connections` event every MS milliseconds (0: never).
    /// One line per interval that grows with the connection count: for monitoring UIs.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    connections_interval: u64,
    /// Bytes one connection may make the server buffer (K/M/G suffixes); see docs/LIMITS.md.
    #[arg(long, value_name = "BYTES", value_parser = socket_iwa::quic::parse_byte_size,
          default_value_t = socket_iwa::quic::server::DEFAULT_CONN_BUFFER_LIMIT)]
    conn_buffer_limit: u64,
    /// Bytes all connections together may make the server buffer (K/M/G suffixes).
    #[arg(long, value_name = "BYTES", value_parser = socket_iwa::quic::parse_byte_size,
          default_value_t = socket_iwa::quic::server::DEFAULT_SERVER_BUFFER_LIMIT)]
    server_buffer_limit: u64,
    /// Idle timeout of connections, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout_ms: u64,
    /// Received ack-eliciting packets that make the server ACK at once (ngtcp2's ack_thresh;
    /// 0: its default, 2). Fewer ACK-only packets on uploads; docs/PERF_IWA.md.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1000))]
    ack_thresh: u32,
    /// Initiate one key update (RFC 9001 6) on each connection once it received this many
    /// stream bytes (0: only ngtcp2's own, before an AEAD's confidentiality limit).
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    key_update_after: u64,
    /// Offer ADDR:PORT to clients as the server's preferred address (RFC 9000 9.6), to
    /// which they move after the handshake; at most one IPv4 and one IPv6. Needs
    /// --listen on 0.0.0.0 / [::] with the same port (natively), so the same socket
    /// receives what is sent there. docs/ARCHITECTURE.md "Preferred address".
    #[arg(long, value_name = "ADDR:PORT")]
    preferred_address: Vec<std::net::SocketAddr>,
    /// Largest UDP payload to send once Path MTU Discovery confirms it (1200..=1472;
    /// 0: ngtcp2's default, 1452). docs/PERF_IWA.md.
    #[arg(long, default_value_t = 0, value_parser = parse_max_udp_payload)]
    max_udp_payload: u32,
    /// Write each connection's qlog (JSON-SEQ, what qvis reads) to DIR/<odcid>.server.sqlog,
    /// mode 0600. Native builds only. docs/ARCHITECTURE.md "qlog".
    #[arg(long, value_name = "DIR", value_parser = socket_iwa::quic::parse_qlog_dir)]
    qlog_dir: Option<PathBuf>,
    /// With --qlog-dir: qlog files (one per accepted connection) to write at most; later
    /// connections are not logged (one warning).
    #[arg(long, value_name = "N", requires = "qlog_dir", default_value_t = socket_iwa::quic::server::DEFAULT_QLOG_MAX_FILES,
          value_parser = clap::value_parser!(u64).range(1..))]
    qlog_max_files: u64,
    /// With --qlog-dir: bytes one connection's qlog file may reach (K/M/G suffixes); the rest
    /// of that connection is not logged (one warning naming the file).
    #[arg(long, value_name = "BYTES", requires = "qlog_dir", value_parser = socket_iwa::quic::parse_qlog_max_bytes,
          default_value_t = socket_iwa::quic::DEFAULT_QLOG_MAX_BYTES)]
    qlog_max_bytes: u64,
    /// In a browser (Chromium's UDPSocket sends one datagram at a time): send through N sockets
    /// sharing the listening port, N datagrams in flight. In wasm it turns address sharing on for
    /// the port (under Node that is all it does); natively nothing changes. docs/PERF_IWA.md.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=8))]
    udp_send_sockets: u32,
    /// Stop gracefully (GOAWAY, then close) once this file exists; checked every 100 ms.
    /// The demo IWA stops its wasm servers this way (a file in the module's memory file system).
    #[arg(long, value_name = "PATH")]
    stop_file: Option<PathBuf>,
    /// Serve the files of DIR over HTTP/3 (GET/HEAD) at `/`, or at PREFIX with `/PREFIX=DIR`;
    /// repeatable. The demo routes (/bytes/N, /echo, /wt/echo, /ws/echo) keep precedence
    /// (docs/H3.md, "Static files").
    #[arg(long = "static", value_name = "[/PREFIX=]DIR")]
    static_dirs: Vec<String>,
    /// The HTTP/3 handler is JavaScript's (wasm only: started by api/h3_server.js,
    /// `SocketIWA.createHttp3Server`; docs/JS_SERVERS.md). Also stops when JavaScript asks.
    #[arg(long)]
    js_handler: bool,
    /// Raw QUIC whose logic is JavaScript's, for these ALPN protocols (comma-separated,
    /// preference order; wasm only: started by api/quic_server.js, `SocketIWA.createQuicServer`;
    /// docs/JS_SERVERS.md "Raw QUIC servers"). Replaces `echo`/`h3`; a client offering none of
    /// them is refused (no_application_protocol). Also stops when JavaScript asks.
    #[arg(long, value_name = "ALPN[,ALPN]", value_parser = parse_alpns)]
    js_quic: Option<String>,
    /// One JSON object per line on stdout (events) and stderr (logs).
    #[arg(long)]
    json: bool,
    /// Debug logging.
    #[arg(short, long)]
    verbose: bool,
}

/// Longest wait of an idle --js-handler server's loop: a backstop only, JavaScript wakes it.
const JS_MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// `--js-quic`: 1-255 byte names, comma-separated, no duplicates.
fn parse_alpns(s: &str) -> Result<String, String> {
    let list: Vec<&str> = s.split(',').collect();
    for (i, a) in list.iter().enumerate() {
        if a.is_empty() || a.len() > 255 {
            return Err(format!("ALPN protocol names are 1-255 bytes; got {} bytes in {s:?}", a.len()));
        }
        if list[..i].contains(a) {
            return Err(format!("ALPN {a:?} is listed twice"));
        }
    }
    Ok(s.to_owned())
}

fn main() {
    let args = Args::parse();
    socket_iwa::log::init(args.json, args.verbose);
    if let Err(e) = serve(&args) {
        eprintln!("socket-iwa-server: {e}");
        std::process::exit(1);
    }
}

fn serve(args: &Args) -> Result<(), socket_iwa::Error> {
    let identity = match (&args.cert, &args.key) {
        (Some(c), Some(k)) => Identity::from_pem_files(c, k)?,
        _ => Identity::generate_days(args.cert_days)?,
    };
    let ticket_key = match &args.ticket_key {
        Some(p) => TicketKey::load_or_create(p)?,
        None => TicketKey::ephemeral(),
    };
    write_identity(args, &identity)?;
    let mounts = args.static_dirs.iter().map(|d| Mount::parse(d)).collect::<Result<Vec<_>, _>>()?;
    let files = std::sync::Arc::new(StaticConfig::new(mounts));
    let replay = ticket_key.anti_replay();
    let alpns: Vec<&str> = match &args.js_quic {
        Some(list) => list.split(',').collect(),
        None => SERVER_ALPNS.to_vec(),
    };
    let tls = TlsContext::server(&identity, &alpns, ticket_key)?;
    let swap = tls.identity_swap();
    let sock = UdpSocket::bind_sending(args.listen, args.udp_send_sockets as usize)
        .map_err(|e| socket_iwa::Error::Bind { addr: args.listen, source: e })?;
    let mut cfg = ServerConfig {
        max_connections: args.max_connections,
        retry: args.retry,
        retry_threshold: args.retry_threshold as usize,
        max_half_open: args.max_half_open as usize,
        max_half_open_per_source: args.max_half_open_per_source as usize,
        conn_buffer_limit: args.conn_buffer_limit,
        server_buffer_limit: args.server_buffer_limit,
        qlog_max_files: args.qlog_max_files,
        ..Default::default()
    };
    cfg.conn.idle_timeout_ms = args.idle_timeout_ms;
    cfg.conn.ack_thresh = args.ack_thresh as usize;
    cfg.conn.key_update_after = args.key_update_after;
    cfg.conn.max_udp_payload = args.max_udp_payload as usize;
    cfg.conn.qlog_dir = args.qlog_dir.clone();
    cfg.conn.qlog_max_bytes = args.qlog_max_bytes;
    check_preferred_addresses(&args.preferred_address, &sock).map_err(socket_iwa::Error::BadInput)?;
    cfg.conn.preferred_addresses = args.preferred_address.clone();
    cfg.check_limits().map_err(socket_iwa::Error::BadInput)?;
    let h3_files = files.clone();
    let js = args.js_handler || args.js_quic.is_some();
    let factory = if let Some(list) = &args.js_quic {
        js_quic_factory(list.split(',').map(str::to_owned).collect())?
    } else if args.js_handler {
        js_factory()?
    } else {
        server_factory_with(Box::new(move || Box::new(DemoRoutes::with_static(h3_files.clone()))))
    };
    let mut server = ServerHost::server(ServerEndpoint::new(tls, cfg), factory);
    server.yield_after_receive = js;
    let json = args.json;
    if args.stats_interval > 0 {
        server.set_stats_interval(socket_iwa::time::now_ns(), args.stats_interval * 1_000_000);
        server.on_stats = Some(Box::new(move |s| {
            socket_iwa::log::event(json, serde_json::json!({ "event": "stats", "stats": s }));
        }));
    }
    server.on_close = Some(Box::new(move |c| {
        let reason = c.close_reason().cloned();
        socket_iwa::log::event(json, serde_json::json!({
            "event": "connection_closed",
            "peer": c.remote_addr().to_string(),
            "local": c.local_addr().to_string(),
            "alpn": c.alpn().map(|a| String::from_utf8_lossy(&a).into_owned()),
            "resumed": c.resumed(),
            "cipher_suite": c.cipher_suite(),
            "early_data_bytes": c.early_data_bytes(),
            "quic_version": socket_iwa::quic::version_name(c.quic_version()),
            "close": reason,
            // The connection's final counters: packets and bytes each way, packets ngtcp2 declared lost.
            "path": c.path_stats(),
        }));
    }));
    if json && args.connections_interval > 0 {
        server.set_connections_interval(socket_iwa::time::now_ns(), args.connections_interval * 1_000_000);
        server.on_connections = Some(Box::new(|list, totals| {
            let list: Vec<_> = list.iter().map(|c| serde_json::json!({
                "peer": c.peer, "alpn": c.alpn, "established": c.established, "resumed": c.resumed,
                "cipher_suite": c.cipher_suite,
                "age_ms": c.age_ms, "rtt_ms": c.path.rtt_us as f64 / 1000.0,
                "packets_in": c.path.packets_in, "packets_out": c.path.packets_out,
                "bytes_in": c.path.bytes_in, "bytes_out": c.path.bytes_out, "packets_lost": c.path.packets_lost,
            })).collect();
            socket_iwa::log::event(true, serde_json::json!({
                "event": "connections", "connections": list, "totals": {
                    "packets_in": totals.packets_in, "packets_out": totals.packets_out,
                    "bytes_in": totals.bytes_in, "bytes_out": totals.bytes_out, "packets_lost": totals.packets_lost,
                },
            }));
        }));
    }
    #[cfg(unix)]
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    socket_iwa::log::event(args.json, serde_json::json!({
        "event": "listening",
        "addr": sock.local_addr().to_string(),
        "alpn": alpns,
        "cert_sha256": identity.cert_sha256_hex(),
        // Unix seconds: when a generated certificate is due for renewal (api/server_storage.js).
        "not_after": identity.not_after(),
        // For Chromium's --ignore-certificate-errors-spki-list (loading pages such as /join.html over HTTP/3).
        "spki_sha256_base64": identity.spki_sha256_base64(),
        "static": files.mounts().iter().map(|m| serde_json::json!({ "prefix": m.prefix(), "dir": m.root().display().to_string() })).collect::<Vec<_>>(),
        "cert": identity.source,
        "libraries": socket_iwa::library_versions(),
    }));
    let last_check = std::cell::Cell::new(0u64);
    let stop = || {
        if STOP.load(Ordering::Relaxed) || (js && js_stop()) {
            return true;
        }
        let Some(path) = &args.stop_file else { return false };
        let now = socket_iwa::time::now_ns();
        if now.saturating_sub(last_check.get()) < 100_000_000 {
            return false;
        }
        last_check.set(now);
        path.exists()
    };
    // With --js-handler, server.close() interrupts the wait itself: an idle server
    // sleeps until a datagram, a timer or JavaScript (docs/JS_SERVERS.md, "Idle").
    let max_wait = if js && args.stop_file.is_none() { JS_MAX_WAIT } else { std::time::Duration::from_millis(100) };
    let woken = || {
        if !js {
            return false;
        }
        let bits = js_control();
        if bits & CONTROL_RENEW != 0 {
            renew(args, &swap);
        }
        bits & CONTROL_WOKEN != 0
    };
    run_woken(&sock, &mut server, &stop, &woken, max_wait)?;
    socket_iwa::log::event(args.json, serde_json::json!({ "event": "stopped", "stats": server.current_stats(),
        "zero_rtt": replay.lock().map(|r| r.stats).unwrap_or_default() }));
    Ok(())
}

/// `--write-cert` / `--write-key`: the identity in PEM (the key file mode 0600).
fn write_identity(args: &Args, identity: &Identity) -> Result<(), socket_iwa::Error> {
    let file_err = |p: &PathBuf, e: std::io::Error| socket_iwa::Error::File { path: p.clone(), reason: e.to_string() };
    if let Some(p) = &args.write_key {
        write_private(p, identity.key_pem().as_bytes()).map_err(|e| file_err(p, e))?;
    }
    if let Some(p) = &args.write_cert {
        std::fs::write(p, identity.cert_pem()).map_err(|e| file_err(p, e))?;
    }
    Ok(())
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(data)
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, data)
}

/// JavaScript asked for a new certificate (renewal, docs/JS_SERVERS.md): generate it,
/// write it where --write-cert/--write-key say, announce it (`certificate` event) and
/// hand it to the TLS context for the handshakes that start from now on.
fn renew(args: &Args, swap: &IdentitySwap) {
    let result = Identity::generate_days(args.cert_days).and_then(|id| write_identity(args, &id).map(|_| id));
    match result {
        Ok(id) => {
            socket_iwa::log::event(args.json, serde_json::json!({
                "event": "certificate",
                "cert_sha256": id.cert_sha256_hex(),
                "not_after": id.not_after(),
                "spki_sha256_base64": id.spki_sha256_base64(),
            }));
            swap.put(id);
        }
        Err(e) => {
            log::warn!("certificate renewal failed: {e}");
            socket_iwa::log::event(args.json, serde_json::json!({ "event": "certificate_error", "error": e.to_string() }));
        }
    }
}

#[cfg(target_os = "emscripten")]
fn js_factory() -> Result<socket_iwa::app::AppFactory, socket_iwa::Error> {
    use socket_iwa::app::js_handler::{imports::Imports, JsHandler};
    Ok(server_factory_with(Box::new(|| Box::new(JsHandler::new(Imports)))))
}

#[cfg(not(target_os = "emscripten"))]
fn js_factory() -> Result<socket_iwa::app::AppFactory, socket_iwa::Error> {
    Err(socket_iwa::Error::BadInput("--js-handler: only the wasm build has a JavaScript handler (SocketIWA.createHttp3Server starts it)".into()))
}

#[cfg(target_os = "emscripten")]
fn js_quic_factory(alpns: Vec<String>) -> Result<socket_iwa::app::AppFactory, socket_iwa::Error> {
    Ok(socket_iwa::app::js_quic::factory(alpns))
}

#[cfg(not(target_os = "emscripten"))]
fn js_quic_factory(_alpns: Vec<String>) -> Result<socket_iwa::app::AppFactory, socket_iwa::Error> {
    Err(socket_iwa::Error::BadInput("--js-quic: only the wasm build has JavaScript connections (SocketIWA.createQuicServer starts it)".into()))
}

#[cfg(target_os = "emscripten")]
fn js_stop() -> bool {
    socket_iwa::app::js_handler::imports::stop_requested()
}

#[cfg(target_os = "emscripten")]
use socket_iwa::app::js_handler::imports::{CONTROL_RENEW, CONTROL_WOKEN};
#[cfg(not(target_os = "emscripten"))]
const CONTROL_WOKEN: i32 = 1;
#[cfg(not(target_os = "emscripten"))]
const CONTROL_RENEW: i32 = 4;

/// JavaScript's control bits since the last call (clears woken and renew).
#[cfg(target_os = "emscripten")]
fn js_control() -> i32 {
    socket_iwa::app::js_handler::imports::take_control()
}

#[cfg(not(target_os = "emscripten"))]
fn js_stop() -> bool {
    false
}

#[cfg(not(target_os = "emscripten"))]
fn js_control() -> i32 {
    0
}

/// `--max-udp-payload`: 0 (ngtcp2's default) or 1200..=1472.
/// `--preferred-address`: each must reach this very socket (a wildcard bind that reports
/// each datagram's local address, the same port), be a specific address of a family the
/// socket receives, and be the only one of its family.
fn check_preferred_addresses(addrs: &[std::net::SocketAddr], sock: &UdpSocket) -> Result<(), String> {
    let listen = sock.local_addr();
    for (i, a) in addrs.iter().enumerate() {
        let why = if !listen.ip().is_unspecified() {
            Some(format!("needs --listen on 0.0.0.0 or [::] (the same socket must receive there), not {listen}"))
        } else if !sock.pktinfo() {
            Some("this socket cannot tell which local address a datagram reached (in wasm neither Direct Sockets nor node:dgram say)".into())
        } else if a.port() != listen.port() {
            Some(format!("must use the listening port {}", listen.port()))
        } else if a.ip().is_unspecified() || a.ip().is_multicast() {
            Some("must be a specific unicast address".into())
        } else if a.is_ipv6() && listen.is_ipv4() {
            Some(format!("is IPv6 but the server listens on {listen}"))
        } else if addrs[..i].iter().any(|b| b.is_ipv4() == a.is_ipv4()) {
            Some("one IPv4 and one IPv6 preferred address at most".into())
        } else {
            None
        };
        if let Some(why) = why {
            return Err(format!("--preferred-address {a}: {why}"));
        }
    }
    Ok(())
}

fn parse_max_udp_payload(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(v) if v == 0 || (1200..=1472).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not 0 or a size in 1200..=1472")),
    }
}

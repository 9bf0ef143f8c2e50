//! socket-iwa-server: the QUIC server (ALPN `echo`), natively or as wasm.

use clap::Parser;
use socket_iwa::app::{server_factory, SERVER_ALPNS};
use socket_iwa::io::{run, UdpSocket};
use socket_iwa::quic::connection::PathStats;
use socket_iwa::quic::{Endpoint, ServerConfig, ServerEndpoint};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use socket_iwa::tls::{Identity, TicketKey, TlsContext};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Parser, Debug)]
#[command(name = "socket-iwa-server", version, about = "Socket.IWA QUIC server (ALPN echo)")]
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
    #[arg(long, value_name = "BYTES", value_parser = socket_iwa::quic::server::parse_byte_size,
          default_value_t = socket_iwa::quic::server::DEFAULT_CONN_BUFFER_LIMIT)]
    conn_buffer_limit: u64,
    /// Bytes all connections together may make the server buffer (K/M/G suffixes).
    #[arg(long, value_name = "BYTES", value_parser = socket_iwa::quic::server::parse_byte_size,
          default_value_t = socket_iwa::quic::server::DEFAULT_SERVER_BUFFER_LIMIT)]
    server_buffer_limit: u64,
    /// Idle timeout of connections, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout_ms: u64,
    /// Stop gracefully (GOAWAY, then close) once this file exists; checked every 100 ms.
    /// The demo IWA stops its wasm servers this way (a file in the module's memory file system).
    #[arg(long, value_name = "PATH")]
    stop_file: Option<PathBuf>,
    /// One JSON object per line on stdout (events) and stderr (logs).
    #[arg(long)]
    json: bool,
    /// Debug logging.
    #[arg(short, long)]
    verbose: bool,
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
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
        _ => Identity::generate()?,
    };
    let ticket_key = match &args.ticket_key {
        Some(p) => TicketKey::load_or_create(p)?,
        None => TicketKey::ephemeral(),
    };
    if let Some(p) = &args.write_cert {
        std::fs::write(p, identity.cert_pem()).map_err(|e| socket_iwa::Error::File { path: p.clone(), reason: e.to_string() })?;
    }
    let replay = ticket_key.anti_replay();
    let tls = TlsContext::server(&identity, SERVER_ALPNS, ticket_key)?;
    let sock = UdpSocket::bind(args.listen)
        .map_err(|e| socket_iwa::Error::Other(format!("cannot listen on {}: {e}", args.listen)))?;
    let mut cfg = ServerConfig {
        max_connections: args.max_connections,
        retry: args.retry,
        retry_threshold: args.retry_threshold as usize,
        max_half_open: args.max_half_open as usize,
        max_half_open_per_source: args.max_half_open_per_source as usize,
        conn_buffer_limit: args.conn_buffer_limit,
        server_buffer_limit: args.server_buffer_limit,
        ..Default::default()
    };
    cfg.conn.idle_timeout_ms = args.idle_timeout_ms;
    cfg.check_limits().map_err(socket_iwa::Error::Other)?;
    let mut server = ServerEndpoint::new(tls, cfg, server_factory());
    let json = args.json;
    if args.stats_interval > 0 {
        server.set_stats_interval(socket_iwa::time::now_ns(), args.stats_interval * 1_000_000);
        server.on_stats = Some(Box::new(move |s| {
            socket_iwa::log::event(json, serde_json::json!({ "event": "stats", "stats": s }));
        }));
    }
    // Path counters of closed connections, so the `connections` totals never go down.
    let closed_totals = Rc::new(RefCell::new(PathStats::default()));
    let closed = closed_totals.clone();
    server.on_close = Some(Box::new(move |c| {
        add_path_stats(&mut closed.borrow_mut(), &c.path_stats());
        let reason = c.close_reason().cloned();
        socket_iwa::log::event(json, serde_json::json!({
            "event": "connection_closed",
            "peer": c.remote_addr().to_string(),
            "alpn": c.alpn().map(|a| String::from_utf8_lossy(&a).into_owned()),
            "resumed": c.resumed(),
            "early_data_bytes": c.early_data_bytes(),
            "quic_version": socket_iwa::quic::version_name(c.quic_version()),
            "close": reason,
        }));
    }));
    #[cfg(unix)]
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    socket_iwa::log::event(args.json, serde_json::json!({
        "event": "listening",
        "addr": sock.local_addr().to_string(),
        "alpn": SERVER_ALPNS,
        "cert_sha256": identity.cert_sha256_hex(),
        "cert": identity.source,
        "libraries": socket_iwa::library_versions(),
    }));
    let last_check = std::cell::Cell::new(0u64);
    let stop = || {
        if STOP.load(Ordering::Relaxed) {
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
    if json && args.connections_interval > 0 {
        let every = args.connections_interval * 1_000_000;
        let mut watched = Watched {
            server: &mut server,
            every,
            next: socket_iwa::time::now_ns() + every,
            first_seen: HashMap::new(),
            closed_totals,
        };
        run(&sock, &mut watched, &stop)?;
    } else {
        run(&sock, &mut server, &stop)?;
    }
    socket_iwa::log::event(args.json, serde_json::json!({ "event": "stopped", "stats": server.current_stats(),
        "zero_rtt": replay.lock().map(|r| r.stats).unwrap_or_default() }));
    Ok(())
}

fn add_path_stats(sum: &mut PathStats, p: &PathStats) {
    sum.packets_in += p.packets_in;
    sum.packets_out += p.packets_out;
    sum.bytes_in += p.bytes_in;
    sum.bytes_out += p.bytes_out;
    sum.packets_lost += p.packets_lost;
}

/// The server plus a sampler that prints a `connections` event (every live
/// connection's peer, ALPN, age, RTT, packets and bytes, and running totals)
/// every `every` ns; the demo IWA draws its connection table and charts from it.
/// Age counts from the first sample that saw the connection (a resolution of one interval).
struct Watched<'a> {
    server: &'a mut ServerEndpoint,
    every: u64,
    next: u64,
    first_seen: HashMap<String, u64>,
    closed_totals: Rc<RefCell<PathStats>>,
}

impl Watched<'_> {
    fn sample(&mut self, now: u64) {
        let mut totals = *self.closed_totals.borrow();
        let mut list = Vec::new();
        let mut seen = HashMap::new();
        for c in self.server.connections() {
            let p = c.path_stats();
            add_path_stats(&mut totals, &p);
            let peer = c.remote_addr().to_string();
            let first = *self.first_seen.get(&peer).unwrap_or(&now);
            seen.insert(peer.clone(), first);
            list.push(serde_json::json!({
                "peer": peer,
                "alpn": c.alpn().map(|a| String::from_utf8_lossy(&a).into_owned()),
                "established": c.handshake_completed(),
                "resumed": c.resumed(),
                "age_ms": (now - first) / 1_000_000,
                "rtt_ms": p.rtt_us as f64 / 1000.0,
                "packets_in": p.packets_in,
                "packets_out": p.packets_out,
                "bytes_in": p.bytes_in,
                "bytes_out": p.bytes_out,
                "packets_lost": p.packets_lost,
            }));
        }
        self.first_seen = seen;
        socket_iwa::log::event(true, serde_json::json!({
            "event": "connections", "connections": list, "totals": {
                "packets_in": totals.packets_in, "packets_out": totals.packets_out,
                "bytes_in": totals.bytes_in, "bytes_out": totals.bytes_out, "packets_lost": totals.packets_lost,
            },
        }));
    }
}

impl Endpoint for Watched<'_> {
    fn handle_datagram(&mut self, now: u64, local: SocketAddr, remote: SocketAddr, data: &[u8]) {
        self.server.handle_datagram(now, local, remote, data)
    }
    fn timeout(&self) -> Option<u64> {
        Some(self.server.timeout().map_or(self.next, |t| t.min(self.next)))
    }
    fn on_timeout(&mut self, now: u64) {
        self.server.on_timeout(now);
        if now >= self.next {
            self.next = now + self.every;
            self.sample(now);
        }
    }
    fn flush(&mut self, now: u64, send: &mut dyn FnMut(&[u8], SocketAddr) -> bool) -> bool {
        self.server.flush(now, send)
    }
    fn is_done(&self) -> bool {
        self.server.is_done()
    }
    fn begin_shutdown(&mut self, now: u64) {
        self.server.begin_shutdown(now)
    }
    fn goodbyes_delivered(&self) -> bool {
        self.server.goodbyes_delivered()
    }
    fn finish_shutdown(&mut self, now: u64) {
        self.server.finish_shutdown(now)
    }
    fn wants_new_socket(&mut self) -> Option<SocketAddr> {
        self.server.wants_new_socket()
    }
    fn rebound(&mut self, now: u64, bound: std::io::Result<SocketAddr>) -> bool {
        self.server.rebound(now, bound)
    }
}

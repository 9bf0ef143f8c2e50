//! quinn-peer: an echo client and server on quinn (rustls + ring), the second
//! independent QUIC implementation in Socket.IWA's interop matrix.
//!
//! ALPN `echo`, the same behaviour as Socket.IWA's server (src/app/echo.rs):
//! every client bidirectional stream is echoed byte for byte and finished when
//! the client finishes it; DATAGRAM frames are echoed. The client sends the
//! same deterministic pattern as `socket-iwa-client`, verifies every echoed
//! byte and prints one JSON object. The server prints one JSON object per line
//! (listening, retry_sent, connection_closed).
//!
//! With `--qlog-dir DIR` (both roles) each connection's qlog, as quinn writes
//! it (JSON-SEQ, qlog crate 0.15), goes to a file of its own in DIR named
//! `<original DCID in hex>.<server|client>.sqlog`, the name Socket.IWA uses.

use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ALPN: &[u8] = b"echo";

#[derive(Parser)]
#[command(name = "quinn-peer", about = "quinn echo client/server for Socket.IWA's interop tests")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Echo server.
    Server(ServerArgs),
    /// Echo client: sends streams and datagrams, verifies the echo.
    Client(ClientArgs),
}

#[derive(Args)]
struct ServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4433")]
    listen: SocketAddr,
    /// PEM certificate chain (with --key). Default: a fresh self-signed certificate for localhost.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, SEC1 or PKCS#1) for --cert.
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Validate every new client address with a Retry.
    #[arg(long)]
    retry: bool,
    /// Offer only TLS_CHACHA20_POLY1305_SHA256.
    #[arg(long)]
    chacha20: bool,
    /// Initiate a key update once a connection has received this many stream bytes.
    #[arg(long)]
    key_update_after: Option<u64>,
    /// TLS 1.3 session tickets sent after each handshake (rustls issues them with 32-byte nonces).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=16))]
    tickets: u32,
    /// Concurrent bidirectional streams the client may open (raised as streams close).
    #[arg(long, default_value_t = 100)]
    max_streams: u32,
    /// Write each connection's qlog to DIR/<original DCID hex>.server.sqlog.
    #[arg(long, value_name = "DIR")]
    qlog_dir: Option<PathBuf>,
    /// Send disable_active_migration (RFC 9000 18.2): clients may not migrate.
    #[arg(long)]
    no_migration: bool,
    /// HMAC key (64 hex digits) for stateless reset tokens, with unsigned connection IDs.
    /// Default: a random key. A server restarted with the same key resets its
    /// predecessor's connections.
    #[arg(long, value_name = "HEX", value_parser = parse_reset_key)]
    reset_key: Option<[u8; 32]>,
    /// Offer this IPv4 address as the server's preferred address (RFC 9000 9.6); the
    /// endpoint must receive on it too (--listen 0.0.0.0 with the same port).
    #[arg(long, value_name = "ADDR:PORT")]
    preferred_address: Option<std::net::SocketAddrV4>,
}

/// Random 8-byte connection IDs, each one possibly ours to a restarted endpoint too.
struct PlainCids;

impl quinn::ConnectionIdGenerator for PlainCids {
    fn generate_cid(&mut self) -> quinn::ConnectionId {
        let mut b = [0u8; 8];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).expect("system random");
        quinn::ConnectionId::new(&b)
    }
    fn cid_len(&self) -> usize {
        8
    }
    fn cid_lifetime(&self) -> Option<Duration> {
        None
    }
}

fn parse_reset_key(s: &str) -> Result<[u8; 32], String> {
    let b = (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect::<Option<Vec<u8>>>()
        .ok_or("not hex")?;
    b.try_into().map_err(|_| "want 64 hex digits (32 bytes)".to_string())
}

#[derive(Args)]
struct ClientArgs {
    /// Server address.
    #[arg(long)]
    connect: SocketAddr,
    /// TLS server name (SNI).
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// Pin the SHA-256 (hex) of the server's end-entity certificate (DER).
    #[arg(long, conflicts_with = "insecure", required_unless_present = "insecure")]
    cert_hash: Option<String>,
    /// Accept any server certificate (test use only).
    #[arg(long)]
    insecure: bool,
    /// Bidirectional streams per connection.
    #[arg(long, default_value_t = 1)]
    streams: u64,
    /// Bytes sent (and expected back) on each stream.
    #[arg(long, default_value_t = 1024)]
    bytes: u64,
    /// DATAGRAM frames (64 bytes each) per connection.
    #[arg(long, default_value_t = 0)]
    datagrams: u64,
    /// Connections in a row on one endpoint; later ones resume with the session ticket.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    connections: u32,
    /// Connections after the first send their streams as 0-RTT early data.
    #[arg(long)]
    zero_rtt: bool,
    /// Offer only TLS_CHACHA20_POLY1305_SHA256.
    #[arg(long)]
    chacha20: bool,
    /// Initiate a key update once half of the echo has come back.
    #[arg(long)]
    key_update: bool,
    /// Move to a new UDP socket (new local port) once this many bytes have come back.
    #[arg(long)]
    rebind_after: Option<u64>,
    /// Give up on a connection after this many seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Write each connection's qlog to DIR/<original DCID hex>.client.sqlog.
    #[arg(long, value_name = "DIR")]
    qlog_dir: Option<PathBuf>,
}

fn main() {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let code = match cli.mode {
        Mode::Server(a) => rt.block_on(server(a)).map(|_| 0),
        Mode::Client(a) => rt.block_on(client(a)).map(|ok| if ok { 0 } else { 2 }),
    };
    match code {
        Ok(c) => std::process::exit(c),
        Err(e) => {
            eprintln!("quinn-peer: {e}");
            std::process::exit(1);
        }
    }
}

type Res<T> = Result<T, String>;

fn emit(v: Value) {
    println!("{v}");
}

fn pattern(k: u64, i: u64) -> u8 {
    (i.wrapping_mul(31).wrapping_add(k.wrapping_mul(7)) % 251) as u8
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn sha256(b: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, b).as_ref().to_vec()
}

fn provider(chacha20: bool) -> CryptoProvider {
    let mut p = rustls::crypto::ring::default_provider();
    if chacha20 {
        p.cipher_suites = vec![rustls::crypto::ring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256];
    }
    p
}

/// QUIC Initial packets always use AES-128-GCM (RFC 9001 5.2), whatever TLS negotiates.
fn initial_suite() -> rustls::quic::Suite {
    rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256
        .tls13()
        .and_then(|s| s.quic_suite())
        .expect("AES-128-GCM QUIC suite")
}

/// --qlog-dir must name an existing directory (checked at startup, named in the error).
fn check_qlog_dir(dir: &Option<PathBuf>) -> Res<()> {
    match dir {
        Some(d) if !d.is_dir() => Err(format!("--qlog-dir {}: {}", d.display(), match std::fs::metadata(d) {
            Ok(_) => "not a directory".to_string(),
            Err(e) => e.to_string(),
        })),
        _ => Ok(()),
    }
}

/// A qlog stream for one connection, written to DIR/<odcid hex>.<role>.sqlog (mode 0600).
/// The file is unbuffered: every event is written at once, so nothing is lost
/// when the process exits without running destructors.
fn qlog_stream(dir: &std::path::Path, odcid: &quinn::ConnectionId, role: &str) -> Res<quinn::QlogStream> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(format!("{odcid}.{role}.sqlog"));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("qlog {}: {e}", path.display()))?;
    let mut q = quinn::QlogConfig::default();
    q.writer(Box::new(file))
        .title(Some(format!("quinn-peer {role}")))
        .description(Some(format!("quinn 0.11 {role}, original DCID {odcid}")));
    q.into_stream().ok_or_else(|| format!("qlog {}: cannot start the log", path.display()))
}

fn stats_json(c: &quinn::Connection) -> Value {
    let s = c.stats();
    json!({
        "udp_tx_bytes": s.udp_tx.bytes, "udp_rx_bytes": s.udp_rx.bytes,
        "udp_tx_datagrams": s.udp_tx.datagrams, "udp_rx_datagrams": s.udp_rx.datagrams,
        "path_challenge_tx": s.frame_tx.path_challenge, "path_challenge_rx": s.frame_rx.path_challenge,
        "path_response_tx": s.frame_tx.path_response, "path_response_rx": s.frame_rx.path_response,
        "max_streams_bidi_tx": s.frame_tx.max_streams_bidi, "max_streams_bidi_rx": s.frame_rx.max_streams_bidi,
        "new_token_rx": s.frame_rx.new_token,
        "lost_packets": s.path.lost_packets, "rtt_ms": s.path.rtt.as_secs_f64() * 1e3,
    })
}

// ---- server ---------------------------------------------------------------------

async fn server(a: ServerArgs) -> Res<()> {
    check_qlog_dir(&a.qlog_dir)?;
    let (certs, key) = match (&a.cert, &a.key) {
        (Some(c), Some(k)) => {
            let certs = CertificateDer::pem_file_iter(c)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("--cert {}: {e}", c.display()))?;
            if certs.is_empty() {
                return Err(format!("--cert {}: no certificate in file", c.display()));
            }
            let key = PrivateKeyDer::from_pem_file(k).map_err(|e| format!("--key {}: {e}", k.display()))?;
            (certs, key)
        }
        _ => {
            let ck = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into(), "::1".into()])
                .map_err(|e| format!("certificate generation: {e}"))?;
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der()));
            (vec![ck.cert.der().clone()], key)
        }
    };
    let cert_sha256 = hex(&sha256(&certs[0]));
    let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(provider(a.chacha20)))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate/key: {e}"))?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.max_early_data_size = u32::MAX; // quinn's value for "0-RTT enabled"
    tls.send_tls13_tickets = a.tickets as usize;
    let crypto = QuicServerConfig::with_initial(Arc::new(tls), initial_suite()).map_err(|e| e.to_string())?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let max_streams = a.max_streams;
    let server_transport = move || {
        let mut transport = quinn::TransportConfig::default();
        transport.max_concurrent_bidi_streams(max_streams.into());
        transport.max_idle_timeout(Some(Duration::from_secs(30).try_into().unwrap()));
        transport
    };
    cfg.transport_config(Arc::new(server_transport()));
    cfg.migration(!a.no_migration);
    cfg.preferred_address_v4(a.preferred_address);
    let ep = match a.reset_key {
        None => quinn::Endpoint::server(cfg.clone(), a.listen),
        Some(k) => {
            let mut ep_cfg = quinn::EndpointConfig::new(Arc::new(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &k)));
            // quinn resets only packets whose connection ID its generator recognises: its
            // default signs them with a per-process key, so a restarted server would not.
            ep_cfg.cid_generator(|| Box::new(PlainCids));
            std::net::UdpSocket::bind(a.listen).and_then(|sock| {
                quinn::Endpoint::new(ep_cfg, Some(cfg.clone()), sock, Arc::new(quinn::TokioRuntime))
            })
        }
    }
    .map_err(|e| format!("cannot listen on {}: {e}", a.listen))?;
    emit(json!({
        "event": "listening",
        "addr": ep.local_addr().map_err(|e| e.to_string())?.to_string(),
        "cert_sha256": cert_sha256,
        "implementation": "quinn 0.11 (rustls, ring)",
        "retry": a.retry, "chacha20": a.chacha20,
    }));
    let key_update_after = a.key_update_after;
    while let Some(incoming) = ep.accept().await {
        if a.retry && !incoming.remote_address_validated() {
            let peer = incoming.remote_address();
            match incoming.retry() {
                Ok(()) => emit(json!({ "event": "retry_sent", "peer": peer.to_string() })),
                Err(e) => {
                    emit(json!({ "event": "retry_failed", "peer": peer.to_string() }));
                    e.into_incoming().refuse();
                }
            }
            continue;
        }
        let validated = incoming.remote_address_validated();
        // With --qlog-dir: the endpoint's configuration (same token key) with a
        // transport of its own that carries this connection's qlog stream.
        let own_cfg = match &a.qlog_dir {
            Some(dir) => {
                let mut transport = server_transport();
                match qlog_stream(dir, &incoming.orig_dst_cid(), "server") {
                    Ok(q) => {
                        transport.qlog_stream(Some(q));
                    }
                    Err(e) => emit(json!({ "event": "qlog_failed", "peer": incoming.remote_address().to_string(), "error": e })),
                }
                let mut c = cfg.clone();
                c.transport_config(Arc::new(transport));
                Some(Arc::new(c))
            }
            None => None,
        };
        tokio::spawn(serve_connection(incoming, validated, key_update_after, own_cfg));
    }
    Ok(())
}

async fn serve_connection(incoming: quinn::Incoming, validated: bool, key_update_after: Option<u64>, cfg: Option<Arc<quinn::ServerConfig>>) {
    let peer = incoming.remote_address();
    let accepted = match cfg {
        Some(c) => incoming.accept_with(c),
        None => incoming.accept(),
    };
    let conn = match accepted {
        Ok(c) => c.await,
        Err(e) => Err(e),
    };
    let conn = match conn {
        Ok(c) => c,
        Err(e) => {
            emit(json!({ "event": "handshake_failed", "peer": peer.to_string(), "error": e.to_string() }));
            return;
        }
    };
    let received = Arc::new(AtomicU64::new(0));
    let key_updated = Arc::new(AtomicBool::new(false));
    let streams = Arc::new(AtomicU64::new(0));
    let dgrams = Arc::new(AtomicU64::new(0));
    {
        let conn = conn.clone();
        let dgrams = dgrams.clone();
        tokio::spawn(async move {
            while let Ok(d) = conn.read_datagram().await {
                if conn.send_datagram(d).is_ok() {
                    dgrams.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    {
        let conn = conn.clone();
        tokio::spawn(async move {
            while let Ok(mut r) = conn.accept_uni().await {
                tokio::spawn(async move { while let Ok(Some(_)) = r.read_chunk(65536, true).await {} });
            }
        });
    }
    {
        let conn = conn.clone();
        let (received, key_updated, streams) = (received.clone(), key_updated.clone(), streams.clone());
        tokio::spawn(async move {
            while let Ok((mut s, mut r)) = conn.accept_bi().await {
                let (conn, received, key_updated, streams) = (conn.clone(), received.clone(), key_updated.clone(), streams.clone());
                tokio::spawn(async move {
                    loop {
                        match r.read_chunk(65536, true).await {
                            Ok(Some(chunk)) => {
                                let n = chunk.bytes.len() as u64;
                                let total = received.fetch_add(n, Ordering::Relaxed) + n;
                                if let Some(t) = key_update_after {
                                    if total >= t && !key_updated.swap(true, Ordering::Relaxed) {
                                        conn.force_key_update();
                                    }
                                }
                                if s.write_all(&chunk.bytes).await.is_err() {
                                    return;
                                }
                            }
                            Ok(None) => {
                                let _ = s.finish();
                                streams.fetch_add(1, Ordering::Relaxed);
                                return;
                            }
                            Err(_) => {
                                let _ = s.reset(0u32.into());
                                return;
                            }
                        }
                    }
                });
            }
        });
    }
    let reason = conn.closed().await;
    emit(json!({
        "event": "connection_closed",
        "peer": peer.to_string(),
        "final_peer": conn.remote_address().to_string(),
        // The local address the client's packets last reached (IP_PKTINFO): the
        // preferred address once a client moved there.
        "final_local_ip": conn.local_ip().map(|ip| ip.to_string()),
        "address_validated_by_token": validated,
        "streams_echoed": streams.load(Ordering::Relaxed),
        "bytes_echoed": received.load(Ordering::Relaxed),
        "datagrams_echoed": dgrams.load(Ordering::Relaxed),
        "key_update_forced": key_updated.load(Ordering::Relaxed),
        "close": reason.to_string(),
        "stats": stats_json(&conn),
    }));
}

// ---- client ---------------------------------------------------------------------

/// Certificate check for the test client: the SHA-256 pin of the end-entity
/// certificate (what browsers take in serverCertificateHashes), or nothing
/// with --insecure. Handshake signatures are always verified.
#[derive(Debug)]
struct PinVerifier {
    pin: Option<Vec<u8>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(&self, end_entity: &CertificateDer<'_>, _: &[CertificateDer<'_>], _: &ServerName<'_>, _: &[u8], _: UnixTime) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(pin) = &self.pin {
            let got = sha256(end_entity);
            if &got != pin {
                return Err(rustls::Error::General(format!("certificate pin mismatch: server certificate sha256 is {}", hex(&got))));
            }
        }
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.provider.signature_verification_algorithms)
    }
    fn verify_tls13_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.provider.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

fn parse_pin(s: &str) -> Res<Vec<u8>> {
    let s: String = s.chars().filter(|c| *c != ':').collect();
    if s.len() != 64 || !s.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("--cert-hash {s:?}: expected 64 hex digits (SHA-256)"));
    }
    Ok((0..32).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect())
}

async fn client(a: ClientArgs) -> Res<bool> {
    check_qlog_dir(&a.qlog_dir)?;
    let pin = a.cert_hash.as_deref().map(parse_pin).transpose()?;
    if a.insecure {
        eprintln!("quinn-peer: WARNING --insecure: the server certificate is not verified");
    }
    let prov = Arc::new(provider(a.chacha20));
    let verifier = Arc::new(PinVerifier { pin, provider: prov.clone() });
    let mut tls = rustls::ClientConfig::builder_with_provider(prov)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.enable_early_data = true;
    let crypto = QuicClientConfig::with_initial(Arc::new(tls), initial_suite()).map_err(|e| e.to_string())?;
    let mut cfg = quinn::ClientConfig::new(Arc::new(crypto));
    cfg.transport_config(Arc::new(client_transport(&a)));
    let bind: SocketAddr = if a.connect.is_ipv6() { "[::1]:0".parse().unwrap() } else { "127.0.0.1:0".parse().unwrap() };
    let mut ep = quinn::Endpoint::client(bind).map_err(|e| format!("cannot bind {bind}: {e}"))?;
    ep.set_default_client_config(cfg.clone());
    let ep = Arc::new(ep);
    let mut reports = Vec::new();
    let mut all_ok = true;
    for i in 0..a.connections {
        let early = a.zero_rtt && i > 0;
        let r = match tokio::time::timeout(Duration::from_secs(a.timeout), connect_once(&a, &ep, &cfg, early)).await {
            Ok(r) => r,
            Err(_) => json!({ "verified": false, "error": format!("timed out after {} s", a.timeout) }),
        };
        all_ok &= r["verified"].as_bool() == Some(true) && r["error"].is_null();
        reports.push(r);
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), ep.wait_idle()).await;
    emit(json!({ "event": "client_done", "implementation": "quinn 0.11 (rustls, ring)", "ok": all_ok, "connections": reports }));
    Ok(all_ok)
}

fn client_transport(a: &ClientArgs) -> quinn::TransportConfig {
    let mut transport = quinn::TransportConfig::default();
    transport.max_idle_timeout(Some(Duration::from_secs(a.timeout.max(1)).try_into().unwrap()));
    transport
}

/// With --qlog-dir: the endpoint's client configuration (same TLS config, so
/// the same session tickets, and the same validation token store) with the
/// original DCID chosen here, so that the connection's qlog file can be named
/// by it, and a transport carrying that qlog stream.
fn qlog_client_config(a: &ClientArgs, base: &quinn::ClientConfig, dir: &std::path::Path) -> Res<(quinn::ClientConfig, String)> {
    let mut raw = [0u8; 20]; // quinn's default length for the original DCID (MAX_CID_SIZE)
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw).map_err(|_| "random connection ID".to_string())?;
    let odcid = quinn::ConnectionId::new(&raw);
    let mut transport = client_transport(a);
    transport.qlog_stream(Some(qlog_stream(dir, &odcid, "client")?));
    let mut cfg = base.clone();
    cfg.transport_config(Arc::new(transport));
    cfg.initial_dst_cid_provider(Arc::new(move || odcid));
    Ok((cfg, odcid.to_string()))
}

async fn connect_once(a: &ClientArgs, ep: &Arc<quinn::Endpoint>, base: &quinn::ClientConfig, early: bool) -> Value {
    let start = Instant::now();
    let mut rep = json!({ "verified": false, "error": null, "streams": a.streams, "early_data": "none" });
    let connecting = match &a.qlog_dir {
        Some(dir) => match qlog_client_config(a, base, dir) {
            Ok((cfg, odcid)) => {
                rep["original_dcid"] = json!(odcid);
                ep.connect_with(cfg, a.connect, &a.server_name)
            }
            Err(e) => {
                rep["error"] = json!(e);
                return rep;
            }
        },
        None => ep.connect(a.connect, &a.server_name),
    };
    let connecting = match connecting {
        Ok(c) => c,
        Err(e) => {
            rep["error"] = json!(format!("connect: {e}"));
            return rep;
        }
    };
    let mut zero_rtt = None;
    let conn = if early {
        match connecting.into_0rtt() {
            Ok((c, accepted)) => {
                zero_rtt = Some(accepted);
                c
            }
            Err(connecting) => {
                rep["early_data"] = json!("not attempted (no resumable session)");
                match connecting.await {
                    Ok(c) => c,
                    Err(e) => {
                        rep["error"] = json!(format!("handshake: {e}"));
                        return rep;
                    }
                }
            }
        }
    } else {
        match connecting.await {
            Ok(c) => c,
            Err(e) => {
                rep["error"] = json!(format!("handshake: {e}"));
                return rep;
            }
        }
    };
    if zero_rtt.is_none() {
        rep["handshake_ms"] = json!(start.elapsed().as_secs_f64() * 1e3);
    }
    let echoed = Arc::new(AtomicU64::new(0));
    let total = a.streams * a.bytes;
    // Key update and rebinding, triggered by echo progress.
    let watcher = {
        let (conn, echoed, ep) = (conn.clone(), echoed.clone(), ep.clone());
        let (ku, rebind) = (a.key_update, a.rebind_after);
        tokio::spawn(async move {
            let mut ku_done = !ku;
            let mut rebind_done = rebind.is_none();
            let mut out = json!({ "key_update_forced": false, "rebound_to": null });
            while !(ku_done && rebind_done) {
                let got = echoed.load(Ordering::Relaxed);
                if !ku_done && got >= (total / 2).max(1) {
                    conn.force_key_update();
                    out["key_update_forced"] = json!(true);
                    ku_done = true;
                }
                if !rebind_done && got >= rebind.unwrap() {
                    let local = if conn.remote_address().is_ipv6() { "[::1]:0" } else { "127.0.0.1:0" };
                    match std::net::UdpSocket::bind(local).and_then(|s| ep.rebind(s).map(|_| ())) {
                        Ok(()) => out["rebound_to"] = json!(ep.local_addr().map(|a| a.to_string()).unwrap_or_default()),
                        Err(e) => out["rebind_error"] = json!(e.to_string()),
                    }
                    rebind_done = true;
                }
                if conn.close_reason().is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            out
        })
    };
    // Datagrams: sent once the connection can carry them, echoes counted.
    let dgram_ok = Arc::new(AtomicU64::new(0));
    let mut dgram_sent = 0u64;
    let dgram_reader = {
        let (conn, dgram_ok) = (conn.clone(), dgram_ok.clone());
        let n = a.datagrams;
        tokio::spawn(async move {
            let mut seen = vec![false; n as usize];
            while let Ok(d) = conn.read_datagram().await {
                if d.len() == 64 {
                    let seq = u64::from_be_bytes(d[..8].try_into().unwrap());
                    let good = d[8..].iter().enumerate().all(|(i, &b)| b == pattern(seq, i as u64));
                    if good && (seq as usize) < seen.len() && !seen[seq as usize] {
                        seen[seq as usize] = true;
                        dgram_ok.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
    };
    let mut set = tokio::task::JoinSet::new();
    for k in 0..a.streams {
        let (conn, echoed, bytes) = (conn.clone(), echoed.clone(), a.bytes);
        set.spawn(async move { echo_stream(conn, k, bytes, echoed).await });
    }
    let mut completed = 0u64;
    let mut first_err: Option<String> = None;
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(())) => completed += 1,
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(e) => {
                first_err.get_or_insert(e.to_string());
            }
        }
    }
    if let Some(acc) = zero_rtt {
        let accepted = acc.await;
        rep["early_data"] = json!(if accepted { "accepted" } else { "rejected" });
        rep["handshake_ms"] = json!(start.elapsed().as_secs_f64() * 1e3);
    }
    if a.datagrams > 0 {
        if conn.max_datagram_size().is_some_and(|m| m >= 64) {
            for seq in 0..a.datagrams {
                let mut d = vec![0u8; 64];
                d[..8].copy_from_slice(&seq.to_be_bytes());
                for (i, b) in d[8..].iter_mut().enumerate() {
                    *b = pattern(seq, i as u64);
                }
                if conn.send_datagram(Bytes::from(d)).is_ok() {
                    dgram_sent += 1;
                }
            }
        }
        let deadline = Instant::now() + Duration::from_secs(1);
        while dgram_ok.load(Ordering::Relaxed) < dgram_sent && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    // Let the session ticket (sent with the handshake) be processed before closing.
    if a.connections > 1 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stats = stats_json(&conn);
    let closed_early = conn.close_reason().map(|r| r.to_string());
    conn.close(0u32.into(), b"done");
    dgram_reader.abort();
    watcher.abort();
    let w = watcher.await.unwrap_or_else(|_| json!({}));
    let echoed = echoed.load(Ordering::Relaxed);
    rep["total_ms"] = json!(start.elapsed().as_secs_f64() * 1e3);
    rep["streams_completed"] = json!(completed);
    rep["bytes_sent"] = json!(total);
    rep["bytes_echoed"] = json!(echoed);
    rep["datagrams_sent"] = json!(dgram_sent);
    rep["datagrams_echoed"] = json!(dgram_ok.load(Ordering::Relaxed));
    rep["key_update_forced"] = w.get("key_update_forced").cloned().unwrap_or(json!(a.key_update));
    rep["rebound_to"] = w.get("rebound_to").cloned().unwrap_or(Value::Null);
    rep["stats"] = stats;
    // How the connection ended before we closed it ("reset by peer": a Stateless Reset).
    rep["close_reason"] = json!(closed_early);
    rep["verified"] = json!(completed == a.streams && echoed == total && first_err.is_none());
    if let Some(e) = first_err.or(closed_early) {
        rep["error"] = json!(e);
    }
    rep
}

/// Sends `bytes` bytes of pattern `k` on a new stream, finishes it, and checks
/// the echo byte for byte while it arrives.
async fn echo_stream(conn: quinn::Connection, k: u64, bytes: u64, echoed: Arc<AtomicU64>) -> Res<()> {
    let (mut s, mut r) = conn.open_bi().await.map_err(|e| format!("open stream {k}: {e}"))?;
    let writer = async move {
        let mut off = 0u64;
        const CHUNK: u64 = 64 * 1024;
        while off < bytes {
            let n = CHUNK.min(bytes - off);
            let data: Vec<u8> = (off..off + n).map(|i| pattern(k, i)).collect();
            s.write_all(&data).await.map_err(|e| format!("stream {k} write: {e}"))?;
            off += n;
        }
        s.finish().map_err(|e| format!("stream {k} finish: {e}"))?;
        Ok::<(), String>(())
    };
    let reader = async move {
        let mut got = 0u64;
        loop {
            match r.read_chunk(65536, true).await {
                Ok(Some(c)) => {
                    for (i, &b) in c.bytes.iter().enumerate() {
                        if b != pattern(k, got + i as u64) {
                            return Err(format!("stream {k}: wrong byte at offset {}", got + i as u64));
                        }
                    }
                    got += c.bytes.len() as u64;
                    echoed.fetch_add(c.bytes.len() as u64, Ordering::Relaxed);
                }
                Ok(None) => break,
                Err(e) => return Err(format!("stream {k} read: {e}")),
            }
        }
        if got != bytes {
            return Err(format!("stream {k}: {got} bytes echoed, {bytes} sent"));
        }
        Ok(())
    };
    let (w, r) = tokio::join!(writer, reader);
    w.and(r)
}

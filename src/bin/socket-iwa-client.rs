//! socket-iwa-client: connects, sends streams and datagrams, verifies the echo,
//! and reports timings; with --session it stores a ticket and resumes with 0-RTT.

use clap::Parser;
use socket_iwa::app::echo::{EchoClient, ALPN};
use socket_iwa::io::{dial_and_run, Dial, Rebind};
use socket_iwa::quic::{ClientConnArgs, Versions};
use socket_iwa::tls::{SavedSession, TlsContext, Verification, VerifyArgs};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "socket-iwa-client", version, about = "Socket.IWA QUIC echo client")]
struct Args {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:4433")]
    connect: SocketAddr,
    /// ALPN to offer.
    #[arg(long, default_value = ALPN)]
    alpn: String,
    /// TLS server name (SNI).
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// Session file: read to resume (0-RTT), written with the new ticket.
    #[arg(long)]
    session: Option<PathBuf>,
    /// Number of bidirectional streams.
    #[arg(long, default_value_t = 1)]
    streams: u64,
    /// Bytes sent (and expected back) on each stream.
    #[arg(long, default_value_t = 1024)]
    bytes: u64,
    /// DATAGRAM frames to send (64 bytes each) once the handshake completes.
    #[arg(long, default_value_t = 0)]
    datagrams: u64,
    /// Keep at most this many datagrams unanswered (one more per echo; a window
    /// with no echo for 100 ms counts as lost and is sent anew): a steady echo
    /// rate over a long run. Without it all are sent at once.
    #[arg(long, requires = "datagrams", value_parser = clap::value_parser!(u64).range(1..))]
    datagram_window: Option<u64>,
    /// Connect this many times in a row; each connection resumes with the
    /// ticket of the previous one (so 2 shows full handshake, then 0-RTT).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    connections: u32,
    /// Migrate deliberately once this many echoed bytes have arrived: bind a
    /// new UDP socket (new port) and move the connection onto it.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    rebind_after: Option<u64>,
    /// With --rebind-after: bind the new socket on this local IP (an address change).
    #[arg(long, requires = "rebind_after")]
    rebind_addr: Option<IpAddr>,
    /// Give up on a connection after this many seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// QUIC version: auto (first Initial in v1, v2 offered and preferred: RFC 9368
    /// compatible negotiation), v1 or v2 (only that version, nothing else offered).
    #[arg(long, default_value = "auto", value_parser = Versions::parse)]
    quic_version: Versions,
    #[command(flatten)]
    conn: ClientConnArgs,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    verify: VerifyArgs,
    /// JavaScript's connection (wasm only; `SocketIWA.createQuic` starts it): `--alpn` is a
    /// comma-separated list, streams and datagrams are JavaScript's, and the run lasts until
    /// the connection closes (docs/JS_SERVERS.md, "QUIC clients").
    #[arg(long, hide = true, conflicts_with_all = ["streams", "bytes", "datagrams", "datagram_window", "connections", "rebind_after", "qlog_dir"])]
    js_quic: bool,
    #[arg(short, long)]
    verbose: bool,
}

fn main() {
    let args = Args::parse();
    let body: fn(&Args) -> Result<bool, socket_iwa::Error> = if args.js_quic { js_quic } else { connect };
    socket_iwa::log::client_main("socket-iwa-client", args.json, args.verbose, || body(&args));
}

/// A saved session, if this run may resume it: verified under the same mode ([`Verification::may_resume`])
/// and for one of the ALPNs offered (0-RTT must reuse the ticket's). Says why on stderr when not.
fn resumable(saved: Option<SavedSession>, args: &Args, verification: &Verification, alpns: &[&str]) -> Option<SavedSession> {
    let (s, p) = (saved?, args.session.as_ref()?);
    if !verification.may_resume(&s.verification) {
        eprintln!("socket-iwa-client: {}: session obtained without certificate verification; not resuming", p.display());
        return None;
    }
    if !alpns.contains(&s.alpn.as_str()) {
        eprintln!("socket-iwa-client: {}: session is for ALPN {:?}, not offered now; not resuming", p.display(), s.alpn);
        return None;
    }
    Some(s)
}

/// `--js-quic`: one connection whose application is JavaScript's (src/app/js_quic.rs). Prints
/// `{"event":"closed", ...}` at the end, with the verification error when the handshake failed on it.
#[cfg(target_os = "emscripten")]
fn js_quic(args: &Args) -> Result<bool, socket_iwa::Error> {
    use socket_iwa::app::js_handler::imports as js;
    let alpns: Vec<&str> = args.alpn.split(',').collect();
    let verification = args.verify.verification("socket-iwa-client")?;
    let tls = TlsContext::client(&verification)?;
    let saved = match &args.session {
        Some(p) => SavedSession::load(p)?,
        None => None,
    };
    let saved = resumable(saved, args, &verification, &alpns);
    let dial = Dial { remote: args.connect, alpns: &alpns, server_name: &args.server_name, session: saved.as_ref(), timeout_secs: args.timeout, rebind: None, conn: args.conn.config(args.quic_version) };
    let binding = verification.binding();
    // JavaScript's conn.close() closes the connection (the run ends when it is done); a stop
    // request (the page going away) ends the loop at once.
    let ep = socket_iwa::io::dial_and_run_woken(&tls, &dial, |_| socket_iwa::app::js_quic::client_app(binding), &js::stop_requested,
        &|| js::take_control() & js::CONTROL_WOKEN != 0, std::time::Duration::from_secs(60))?;
    let verify_error = tls.take_verify_error().map(|why| format!("certificate verification failed ({}): {why}", verification.mode()));
    let close = ep.conn.close_reason().cloned();
    socket_iwa::log::event(args.json, serde_json::json!({
        "event": "closed",
        "established": ep.conn.handshake_completed(),
        "verify_error": verify_error,
        "close": close,
    }));
    Ok(true)
}

#[cfg(not(target_os = "emscripten"))]
fn js_quic(_args: &Args) -> Result<bool, socket_iwa::Error> {
    Err(socket_iwa::Error::BadInput("--js-quic: only the wasm build has JavaScript connections (SocketIWA.createQuic starts it)".into()))
}

fn connect(args: &Args) -> Result<bool, socket_iwa::Error> {
    let saved = match &args.session {
        Some(p) => SavedSession::load(p)?,
        None => None,
    };
    let verification = args.verify.verification("socket-iwa-client")?;
    let tls = TlsContext::client(&verification)?;
    // A resumed handshake shows no certificate: a verifying run resumes only
    // sessions whose server passed verification (docs/TLS.md).
    let mut saved = resumable(saved, args, &verification, &[&args.alpn]);
    let mut all_ok = true;
    for _ in 0..args.connections {
        let (ok, session) = connect_once(args, &tls, &verification, saved.as_ref())?;
        all_ok &= ok;
        if let Some(mut s) = session {
            s.verification = verification.binding();
            if let Some(path) = &args.session {
                s.save(path)?;
            }
            saved = Some(s);
        }
    }
    Ok(all_ok)
}

/// One connection: returns whether the echo verified and the new session, if any.
fn connect_once(args: &Args, tls: &TlsContext, verification: &Verification, saved: Option<&SavedSession>) -> Result<(bool, Option<SavedSession>), socket_iwa::Error> {
    let want_session = args.session.is_some() || args.connections > 1;
    let rebind = args.rebind_after.map(|after_bytes| Rebind { after_bytes, addr: args.rebind_addr });
    let dial = Dial { remote: args.connect, alpns: &[&args.alpn], server_name: &args.server_name, session: saved, timeout_secs: args.timeout, rebind, conn: args.conn.config(args.quic_version) };
    let mut ep = dial_and_run(tls, &dial, |now| {
        let c = EchoClient::new(args.streams, args.bytes, args.datagrams, want_session, now);
        match args.datagram_window {
            Some(w) => c.datagram_window(w),
            None => c,
        }
    })?;
    let timed_out = !ep.app.finished();
    let mut report = ep.app.report.clone();
    if let Some(why) = tls.take_verify_error() {
        let msg = format!("certificate verification failed ({}): {why}", verification.mode());
        eprintln!("socket-iwa-client: {msg}");
        report.error = Some(msg);
    }
    if timed_out {
        report.error.get_or_insert_with(|| format!("timed out after {} s", args.timeout));
    }
    report.retry = ep.conn.retried();
    let mut ok = report.verified && report.error.is_none();
    let mut out = serde_json::to_value(&report).unwrap();
    out["verification"] = verification.mode().into();
    if args.rebind_after.is_some() {
        // A requested migration that did not happen is a failure, not a footnote.
        let m = ep.migration.clone().unwrap_or_else(|| socket_iwa::io::MigrationReport {
            error: Some("the migration point was never reached".into()),
            ..Default::default()
        });
        ok &= m.migrated;
        out["migration"] = serde_json::to_value(&m).unwrap();
        out["local_addr"] = ep.conn.local_addr().to_string().into();
    }
    socket_iwa::log::event(args.json, out);
    let mut session = ep.app.session.take();
    if let Some(s) = session.as_mut() {
        // NEW_TOKEN may arrive after the ticket was taken; keep the newest token.
        if let Some(t) = ep.conn.new_token() {
            s.token = Some(socket_iwa::tls::SavedSession::token_hex(&t));
        }
    }
    Ok((ok, session))
}

//! socket-iwa-h3-client: HTTP/3 GET/POST over our QUIC core and nghttp3;
//! verifies `/bytes/N` and `POST /echo` bodies and reports timings and throughput.
//! `--webtransport PATH` and `--websocket PATH` also run a WebTransport and a
//! WebSocket over HTTP/3 session against an echo endpoint on the same connection.
//! The client logic is the `testkit` crate's, the same the in-process tests run.

use clap::Parser;
use testkit::h3::{H3Client, Request, WsOptions, WtOptions};
use socket_iwa::io::{dial_and_run, Dial};
use socket_iwa::time::now_ns;
use socket_iwa::tls::{TlsContext, VerifyArgs};
use std::net::SocketAddr;

#[derive(Parser, Debug)]
#[command(name = "socket-iwa-h3-client", version, about = "Socket.IWA HTTP/3 client")]
struct Args {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:4433")]
    connect: SocketAddr,
    /// TLS server name (SNI) and :authority.
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// GET this path (repeatable).
    #[arg(long)]
    get: Vec<String>,
    /// POST a body of --post-bytes deterministic bytes to this path (repeatable).
    #[arg(long)]
    post: Vec<String>,
    #[arg(long, default_value_t = 1024)]
    post_bytes: usize,
    /// Send the whole list this many times.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    repeat: u32,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Run a WebTransport session (Extended CONNECT) to this echo path, e.g. /wt/echo.
    #[arg(long)]
    webtransport: Option<String>,
    /// WebTransport datagrams to send (at most 32 in flight).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    wt_datagrams: u64,
    /// WebTransport datagram payload size (8 up to what the server accepts).
    #[arg(long, default_value_t = 64)]
    wt_datagram_size: usize,
    /// Bytes sent on the WebTransport bidirectional stream and on the unidirectional one.
    #[arg(long, default_value_t = 65536, value_parser = clap::value_parser!(u64).range(0..=1 << 30))]
    wt_stream_bytes: u64,
    /// Run a WebSocket over HTTP/3 session (RFC 9220) to this echo path, e.g. /ws/echo.
    #[arg(long)]
    websocket: Option<String>,
    /// Size of the binary WebSocket message.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(0..=16 << 20))]
    ws_message_bytes: u64,
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    #[command(flatten)]
    conn: socket_iwa::quic::ClientConnArgs,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    verify: VerifyArgs,
    #[arg(short, long)]
    verbose: bool,
}

fn main() {
    let args = Args::parse();
    socket_iwa::log::client_main("socket-iwa-h3-client", args.json, args.verbose, || fetch(&args));
}

fn fetch(args: &Args) -> Result<bool, socket_iwa::Error> {
    let mut reqs = Vec::new();
    for _ in 0..args.repeat {
        for p in &args.get {
            reqs.push(Request { method: "GET".into(), path: p.clone(), body: None });
        }
        for p in &args.post {
            let body: Vec<u8> = (0..args.post_bytes as u64).map(|i| socket_iwa::app::echo::pattern(3, i)).collect();
            reqs.push(Request { method: "POST".into(), path: p.clone(), body: Some(body) });
        }
    }
    if reqs.is_empty() && args.webtransport.is_none() && args.websocket.is_none() {
        reqs.push(Request { method: "GET".into(), path: "/".into(), body: None });
    }
    let verification = args.verify.verification("socket-iwa-h3-client")?;
    let tls = TlsContext::client(&verification)?;
    let dial = Dial { remote: args.connect, alpns: &["h3"], server_name: &args.server_name, session: None, timeout_secs: args.timeout, rebind: None, conn: args.conn.config(Default::default()) };
    let mut ep = dial_and_run(&tls, &dial, |now| {
        let mut app = H3Client::new(&args.server_name, reqs, args.concurrency, now);
        if let Some(path) = &args.webtransport {
            app = app.with_webtransport(WtOptions {
                path: path.clone(),
                datagrams: args.wt_datagrams,
                datagram_size: args.wt_datagram_size,
                stream_bytes: args.wt_stream_bytes,
            });
        }
        if let Some(path) = &args.websocket {
            app = app.with_websocket(WsOptions { path: path.clone(), message_bytes: args.ws_message_bytes as usize });
        }
        app
    })?;
    if !ep.app.finished() {
        ep.app.fill_report(now_ns());
    }
    let mut report = ep.app.report.clone();
    if let Some(why) = tls.take_verify_error() {
        let msg = format!("certificate verification failed ({}): {why}", verification.mode());
        eprintln!("socket-iwa-h3-client: {msg}");
        report.error = Some(msg);
    }
    if !ep.app.finished() {
        report.error.get_or_insert_with(|| format!("timed out after {} s", args.timeout));
    }
    let ok = report.verified && report.error.is_none();
    if args.json {
        let mut value = serde_json::to_value(&report).unwrap();
        value["verification"] = verification.mode().into();
        println!("{}", serde_json::to_string(&value).unwrap());
    } else {
        println!("verification: {}", verification.mode());
        for r in &report.responses {
            println!("{} {} -> {} ({} bytes, {:.1} ms){}", r.method, r.path, r.status, r.bytes, r.ms, if r.verified { "" } else { " NOT VERIFIED" });
        }
        if let Some(w) = &report.webtransport {
            println!(
                "WebTransport {} -> {}: datagrams {}/{} echoed ({} lost, {} bad, {:.0}/s), bidi {}/{} bytes, uni {}/{} bytes, closed {}{}",
                w.path, w.status, w.datagrams_echoed, w.datagrams_sent, w.datagrams_lost, w.datagrams_bad, w.datagrams_per_sec,
                w.bidi_bytes_echoed, w.bidi_bytes_sent, w.uni_bytes_echoed, w.uni_bytes_sent, w.closed,
                if w.verified { "" } else { " NOT VERIFIED" }
            );
        }
        if let Some(w) = &report.websocket {
            println!(
                "WebSocket {} -> {}: messages {}/{} echoed, pongs {}/{}, close {} -> {:?}{}",
                w.path, w.status, w.messages_echoed, w.messages_sent, w.pongs_received, w.pings_sent, w.close_code_sent,
                w.close_code_received, if w.verified { "" } else { " NOT VERIFIED" }
            );
        }
        println!("{} of {} completed, {:.1} MB/s{}", report.completed, report.requests, report.throughput_mb_s,
                 report.error.as_ref().map(|e| format!(", error: {e}")).unwrap_or_default());
    }
    Ok(ok)
}

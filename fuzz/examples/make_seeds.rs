//! Writes the committed corpus seeds in fuzz/seeds/<target>/: small,
//! meaningful inputs made by the project's own encoders and, for the session
//! file, the ticket and the endpoint, captured from a real in-memory
//! handshake between our client and server (the server sealing tickets with
//! the fixed test key fuzz/ticket.key, as the ticket target does).
//! Run: `fuzz/make_seeds.sh` (after `cargo fuzz build -a`).
use socket_iwa::app::echo::EchoClient;
use socket_iwa::app::{server_factory, SERVER_ALPNS};
use socket_iwa::h3::{varint, wt, ws};
use socket_iwa::io::{ClientHost, ServerHost};
use socket_iwa::quic::{Connection, ConnectionConfig, ServerConfig, ServerEndpoint};
use socket_iwa::tls::{Identity, TicketKey, TlsContext, Verification};
use std::net::SocketAddr;
use std::path::Path;
use wolfssl_sys as w;

fn put(target: &str, name: &str, data: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), data).unwrap();
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// QPACK prefixed integer (RFC 9204 4.1.1) with `prefix` bits, OR-ed into `first`.
fn qint(first: u8, prefix: u32, mut v: usize, out: &mut Vec<u8>) {
    let max = (1usize << prefix) - 1;
    if v < max {
        out.push(first | v as u8);
        return;
    }
    out.push(first | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    out.push(v as u8);
}

/// A HEADERS frame: static-table entries by index, then literal name/value pairs.
fn headers(indexed: &[usize], literals: &[(&str, &str)]) -> Vec<u8> {
    let mut block = vec![0, 0];
    for &i in indexed {
        qint(0xc0, 6, i, &mut block);
    }
    for (n, v) in literals {
        qint(0x20, 3, n.len(), &mut block);
        block.extend_from_slice(n.as_bytes());
        qint(0, 7, v.len(), &mut block);
        block.extend_from_slice(v.as_bytes());
    }
    frame(1, &block)
}

fn frame(ty: u64, payload: &[u8]) -> Vec<u8> {
    let mut f = varint::encoded(ty);
    varint::encode(payload.len() as u64, &mut f);
    f.extend_from_slice(payload);
    f
}

/// An endpoint client-mode op sending `data` with FIN on stream index `idx` (len <= 255).
fn send(idx: u8, data: &[u8], fin: bool) -> Vec<u8> {
    assert!(data.len() <= 255);
    cat(&[&[if fin { 3 } else { 2 }, idx, data.len() as u8], data])
}

fn pump(client: &mut ClientHost<EchoClient>, server: &mut ServerHost, c: SocketAddr, s: SocketAddr, mut now: u64, log: &mut Vec<Vec<u8>>) -> u64 {
    for _ in 0..100_000 {
        if client.is_done() {
            return now;
        }
        let mut to_server = Vec::new();
        client.flush(now, &mut |p, t| {
            to_server.push((p.to_vec(), t.ecn));
            true
        });
        for (p, ecn) in to_server {
            log.push(p.clone());
            server.handle_datagram(now, s, c, ecn, &p);
        }
        let mut to_client = Vec::new();
        server.flush(now, &mut |p, t| {
            to_client.push((p.to_vec(), t.ecn));
            true
        });
        let idle = to_client.is_empty();
        for (p, ecn) in to_client {
            client.handle_datagram(now, c, s, ecn, &p);
        }
        if idle {
            let next = [client.timeout(), server.timeout()].into_iter().flatten().min().unwrap_or(now + 1_000_000);
            now = now.max(next);
            if client.timeout().is_some_and(|t| t <= now) {
                client.on_timeout(now);
            }
            if server.timeout().is_some_and(|t| t <= now) {
                server.on_timeout(now);
            }
        }
    }
    panic!("no progress");
}

fn main() {
    // --- varint: RFC 9000 A.1 examples and our own control stream start.
    put("varint", "rfc9000_8byte", &[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c]);
    put("varint", "rfc9000_4byte", &[0x9d, 0x7f, 0x3e, 0x7d]);
    put("varint", "rfc9000_2byte", &[0x7b, 0xbd]);
    let settings = cat(&[&[0], &frame(4, &cat(&[&varint::encoded(0x33), &[1], &varint::encoded(0x08), &[1]]))]);
    put("varint", "control_stream_settings", &settings);

    // --- capsules: byte 0 seeds the chunking.
    put("capsules", "close", &cat(&[&[7], &wt::close_capsule(4000, "bye")]));
    put("capsules", "datagram_then_close", &cat(&[&[1], &frame(0, b"\x00hello"), &wt::close_capsule(0, "")]));
    put("capsules", "unknown_types", &cat(&[&[200], &frame(0x2843_0000, b"x"), &frame(0x17, &[]), &wt::close_capsule(1, "ok")]));

    // --- wt_headers: byte 0 is the stream ID.
    put("wt_headers", "uni_stream", &cat(&[&[2], &varint::encoded(0x54), &varint::encoded(0), b"payload"]));
    put("wt_headers", "bidi_stream", &cat(&[&[4], &varint::encoded(0x41), &varint::encoded(4), b"x"]));
    put("wt_headers", "control_stream", &[2, 0, 4, 0]);
    put("wt_headers", "headers_frame", &cat(&[&[0], &headers(&[17, 23, 1], &[])]));
    put("wt_headers", "datagram_q1", &cat(&[&[0], &varint::encoded(1), b"dgram"]));

    // --- ws_frames: byte 0 = role (bit 0: client) and limit (bits 1..), byte 1 seeds the chunking.
    let key = [1, 2, 3, 4];
    let client_frames = cat(&[
        &ws::masked_frame(false, ws::OP_TEXT, b"hel", key),
        &ws::masked_frame(true, ws::OP_PING, b"p", key),
        &ws::masked_frame(true, ws::OP_CONT, b"lo", key),
        &ws::masked_frame(true, ws::OP_BINARY, &[0xab; 300], key),
        &ws::masked_close_frame(1000, "bye", key),
    ]);
    put("ws_frames", "server_role", &cat(&[&[10, 3], &client_frames]));
    put("ws_frames", "server_role_small_limit", &cat(&[&[4, 9], &client_frames]));
    let server_frames = cat(&[&ws::frame(ws::OP_TEXT, "héllo".as_bytes()), &ws::frame(ws::OP_BINARY, &[7; 200][..]), &[0x82, 127, 0, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3], &ws::frame(ws::OP_PONG, b"p"), &ws::close_frame(1001, "away")]);
    put("ws_frames", "client_role", &cat(&[&[11, 5], &server_frames]));

    // --- a real handshake: session file, ticket, endpoint datagrams.
    let c: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let s: SocketAddr = "127.0.0.2:4433".parse().unwrap();
    let identity = Identity::generate().unwrap();
    let key = TicketKey::load_or_create(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/ticket.key"))).unwrap();
    let tls = TlsContext::server(&identity, SERVER_ALPNS, key).unwrap();
    let mut server = ServerHost::server(ServerEndpoint::new(tls, ServerConfig::default()), server_factory());
    let ctls = TlsContext::client(&Verification::Insecure).unwrap();
    let cfg = ConnectionConfig::default();
    let now = 1_000_000_000u64;
    let conn = Connection::connect(&ctls, c, s, &["echo"], "localhost", None, &cfg, now).unwrap();
    let mut client = ClientHost::client(conn, EchoClient::new(1, 1000, 1, true, now), now);
    let mut log = Vec::new();
    let now = pump(&mut client, &mut server, c, s, now, &mut log);
    assert!(client.app().report.verified);
    let session = client.app().session.clone().expect("a session ticket");
    let json = serde_json::to_string_pretty(&session).unwrap();
    put("session_file", "real_session.json", json.as_bytes());
    let der = unhex(&session.tls_session);
    let tp = unhex(&session.transport_params);
    put("session_file", "real_session_binary", &cat(&[&[0], &(der.len() as u16).to_be_bytes(), &der, &tp]));

    // The ticket inside that session, as the client would present it.
    let ticket = unsafe {
        let t = ctls.new_tls().unwrap();
        let mut p = der.as_ptr();
        let sess = w::wolfSSL_d2i_SSL_SESSION(std::ptr::null_mut(), &mut p, der.len() as _);
        assert!(!sess.is_null());
        assert_eq!(w::wolfSSL_set_session(t.as_ptr(), sess), w::WOLFSSL_SUCCESS as i32);
        w::wolfSSL_SESSION_free(sess);
        let mut buf = vec![0u8; 4096];
        let mut len = buf.len() as u32;
        assert_eq!(w::wolfSSL_get_SessionTicket(t.as_ptr(), buf.as_mut_ptr(), &mut len), w::WOLFSSL_SUCCESS as i32);
        buf.truncate(len as usize);
        buf
    };
    put("ticket", "real_ticket", &ticket);

    // Resume with 0-RTT to capture a ClientHello carrying that ticket.
    let conn = Connection::connect(&ctls, c, s, &["echo"], "localhost", Some(&session), &cfg, now).unwrap();
    let mut client = ClientHost::client(conn, EchoClient::new(1, 100, 0, false, now), now);
    let mut log2 = Vec::new();
    pump(&mut client, &mut server, c, s, now, &mut log2);
    assert!(client.app().report.resumed);

    let rec = |peer: u8, d: &[u8]| cat(&[&[peer], &(d.len() as u16).to_be_bytes(), d]);
    put("endpoint", "raw_initial", &cat(&[&[0], &rec(0, &log[0])]));
    put("endpoint", "raw_0rtt_initial", &cat(&[&[0], &rec(0, &log2[0])]));
    put("endpoint", "raw_initial_then_flight", &cat(&[&[0], &rec(0, &log[0]), &rec(3, &log[1]), &rec(1, &log[0][..40])]));
    let mut vn = log[0].clone();
    vn[1..5].copy_from_slice(&[0x1a, 0x2a, 0x3a, 0x4a]);
    put("endpoint", "raw_unknown_version", &cat(&[&[0], &rec(0, &vn)]));

    // Client mode (byte 0 odd; bit 1: echo instead of h3). Stream indices count opened streams in order.
    put("endpoint", "echo_stream", &cat(&[&[3], &[0], &send(0, b"hello echo", true), &[4, 2], b"dgramdgr"]));
    let get = headers(&[17, 23, 1], &[(":authority", "localhost")]);
    let control = cat(&[&[0], &frame(4, &cat(&[&varint::encoded(0x33), &[1], &varint::encoded(0x08), &[1], &varint::encoded(0x2b60_3742), &[1]]))]);
    put("endpoint", "h3_get", &cat(&[&[1], &[1], &send(0, &control, false), &[0], &send(1, &get, true)]));
    let post = cat(&[&headers(&[20, 23], &[(":path", "/echo"), (":authority", "localhost")]), &frame(0, b"body bytes")]);
    put("endpoint", "h3_post_echo", &cat(&[&[1], &[1], &send(0, &control, false), &[0], &send(1, &post, true)]));
    let connect_wt = headers(&[15, 23], &[(":protocol", "webtransport"), (":path", "/wt/echo"), (":authority", "localhost")]);
    // The CONNECT goes on the first client bidi stream, ID 0: the session ID (quarter stream ID 0 in datagrams).
    let wt_bidi = cat(&[&varint::encoded(0x41), &varint::encoded(0), b"wt data"]);
    let wt_uni = cat(&[&varint::encoded(0x54), &varint::encoded(0), b"wt uni"]);
    let wt_dgram = cat(&[&varint::encoded(0), b"wtdg"]);
    put("endpoint", "h3_webtransport", &cat(&[
        &[1], &[1], &send(0, &control, false), &[0], &send(1, &connect_wt, false),
        &[0], &send(2, &wt_bidi, true), &[1], &send(3, &wt_uni, true), &[4, 2], &wt_dgram, &[0; 4],
        &send(1, &frame(0, &wt::close_capsule(0, "done")), true),
    ]));
    let connect_ws = headers(&[15, 23], &[(":protocol", "websocket"), (":path", "/ws/echo"), (":authority", "localhost")]);
    let ws_data = frame(0, &cat(&[&ws::masked_frame(true, ws::OP_TEXT, b"ws hi", [9, 8, 7, 6]), &ws::masked_close_frame(1000, "", [1, 1, 1, 1])]));
    put("endpoint", "h3_websocket", &cat(&[&[1], &[1], &send(0, &control, false), &[0], &send(1, &connect_ws, false), &send(1, &ws_data, true)]));
    put("endpoint", "lossy_link", &cat(&[&[5], &[6, 1, 7, 2, 0], &send(0, b"through loss", true), &[8, 0, 30, 9, 0, 5, 0x40, 11, 1, 11, 200]]));
    println!("seeds written to {}", Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds").display());
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

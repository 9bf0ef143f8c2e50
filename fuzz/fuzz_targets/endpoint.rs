//! The server endpoint's datagram intake, `ServerEndpoint::handle_datagram`,
//! with a real TLS context and identity, both apps (echo, h3) behind it.
//!
//! Input byte 0 picks the mode:
//! - even: raw datagrams. Records of [peer, u16 length, bytes] are delivered
//!   in order from one of a few addresses (the peer byte's top two bits are
//!   the datagram's ECN codepoint), with the server's timers run and
//!   its output drained between them (header parsing, routing, accept,
//!   Version Negotiation, stray and truncated packets).
//! - odd: a real in-process client (our QUIC client, ALPN "h3" or "echo")
//!   completes a handshake with the server; the rest of the input is a
//!   program of operations on that client and the link between them: open
//!   streams, send fuzzed bytes on them (so HTTP/3 frames, WebTransport
//!   headers, capsules and WebSocket frames reach the server's apps
//!   encrypted as real QUIC would carry them), send datagrams, resets,
//!   drop / duplicate / truncate / corrupt the client's packets, inject raw
//!   datagrams, change the client's port, advance the clock.
//! Everything is bounded in rounds and virtual time.
#![no_main]
use libfuzzer_sys::fuzz_target;
use socket_iwa::app::{server_factory, ConnectionApp, SERVER_ALPNS};
use socket_iwa::io::{ClientHost, ServerHost};
use socket_iwa::quic::{Connection, ConnectionConfig, Event, ServerConfig, ServerEndpoint};
use socket_iwa::tls::{Identity, TicketKey, TlsContext, Verification};
use std::net::SocketAddr;

thread_local! {
    static IDENTITY: Identity = Identity::generate().expect("identity");
    // The target fuzzes the server's intake: the in-memory client does not check the certificate.
    static CLIENT_TLS: TlsContext = TlsContext::client(&Verification::Insecure).expect("client context");
}

const MS: u64 = 1_000_000;

fn server() -> ServerHost {
    let tls = IDENTITY.with(|id| TlsContext::server(id, SERVER_ALPNS, TicketKey::ephemeral())).expect("server context");
    ServerHost::server(ServerEndpoint::new(tls, ServerConfig { max_connections: 8, ..ServerConfig::default() }), server_factory())
}

fn s_addr() -> SocketAddr {
    "127.0.0.2:4433".parse().unwrap()
}

/// Reads the input front to back; past the end it yields zeros.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map(|(b, r)| (*b, r)).unwrap_or((0, &[]));
        self.0 = rest;
        b
    }
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
    fn done(&self) -> bool {
        self.0.is_empty()
    }
}

fn drain_server(server: &mut ServerHost, now: u64) -> Vec<(Vec<u8>, SocketAddr, u8)> {
    let mut out = Vec::new();
    server.flush(now, &mut |p, t| {
        out.push((p.to_vec(), t.to, t.ecn));
        out.len() < 256
    });
    out
}

fn raw_mode(mut inp: Input) {
    let mut server = server();
    let mut now = 1_000 * MS;
    for _ in 0..64 {
        if inp.done() {
            break;
        }
        let peer = inp.byte();
        let len = u16::from_be_bytes([inp.byte(), inp.byte()]) as usize % 2048;
        let data = inp.bytes(len);
        let remote: SocketAddr = format!("127.0.0.{}:{}", 1 + peer % 3, 5000 + (peer as u16 / 3) % 2).parse().unwrap();
        // Any ECN codepoint, as the socket would report it (the top bits of the peer byte).
        server.handle_datagram(now, s_addr(), remote, peer >> 6, data);
        drain_server(&mut server, now);
        now += (peer as u64 % 16) * 10 * MS;
        if server.timeout().is_some_and(|t| t <= now) {
            server.on_timeout(now);
            drain_server(&mut server, now);
        }
    }
    assert!(server.connection_count() <= 8);
}

/// The fuzzed client's app: takes what arrives and gives the credit back.
struct Sink;

impl ConnectionApp for Sink {
    fn on_event(&mut self, conn: &mut Connection, _now: u64, ev: Event) {
        if let Event::StreamData { id, data, .. } = ev {
            conn.consume(id, data.len() as u64);
        }
    }
}

struct Link {
    drop_next: u32,
    dup_next: u32,
    truncate_next: Option<usize>,
    flip_next: Option<(usize, u8)>,
}

fn pump(client: &mut ClientHost<Sink>, server: &mut ServerHost, c_addr: SocketAddr, link: &mut Link, now: &mut u64, rounds: usize) {
    for _ in 0..rounds {
        let mut to_server = Vec::new();
        client.flush(*now, &mut |p, t| {
            to_server.push((p.to_vec(), t.ecn));
            to_server.len() < 256
        });
        for (mut p, ecn) in to_server {
            if link.drop_next > 0 {
                link.drop_next -= 1;
                continue;
            }
            if let Some(n) = link.truncate_next.take() {
                p.truncate(n % (p.len() + 1));
            }
            if let Some((at, x)) = link.flip_next.take() {
                if !p.is_empty() {
                    let i = at % p.len();
                    p[i] ^= x | 1;
                }
            }
            server.handle_datagram(*now, s_addr(), c_addr, ecn, &p);
            if link.dup_next > 0 {
                link.dup_next -= 1;
                // A router's CE mark on the copy.
                server.handle_datagram(*now, s_addr(), c_addr, if ecn != 0 { 3 } else { 0 }, &p);
            }
        }
        let to_client = drain_server(server, *now);
        let idle = to_client.is_empty();
        for (p, to, ecn) in to_client {
            if to == c_addr {
                client.handle_datagram(*now, c_addr, s_addr(), ecn, &p);
            }
        }
        if idle {
            let next = [client.timeout(), server.timeout()].into_iter().flatten().min();
            match next {
                Some(t) if t <= *now + 2_000 * MS => *now = (*now).max(t),
                _ => return,
            }
            if client.timeout().is_some_and(|t| t <= *now) {
                client.on_timeout(*now);
            }
            if server.timeout().is_some_and(|t| t <= *now) {
                server.on_timeout(*now);
            }
        }
        if client.is_done() {
            return;
        }
    }
}

fn client_mode(sel: u8, mut inp: Input) {
    let mut server = server();
    let mut now = 1_000 * MS;
    let mut c_addr: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let alpn = if sel & 2 != 0 { "echo" } else { "h3" };
    let conn = CLIENT_TLS
        .with(|t| Connection::connect(t, c_addr, s_addr(), &[alpn], "localhost", None, &ConnectionConfig::default(), now))
        .expect("client connection");
    let mut client = ClientHost::client(conn, Sink, now);
    let mut link = Link { drop_next: 0, dup_next: 0, truncate_next: None, flip_next: None };
    // With bit 2 set, the link ops below also act during the handshake.
    if sel & 4 == 0 {
        pump(&mut client, &mut server, c_addr, &mut link, &mut now, 200);
    }
    let mut streams: Vec<i64> = Vec::new();
    for _ in 0..128 {
        if inp.done() || client.is_done() {
            break;
        }
        let op = inp.byte();
        let pick = |streams: &Vec<i64>, b: u8| streams.get(b as usize % streams.len().max(1)).copied();
        match op % 12 {
            0 => {
                if let Ok(id) = client.conn.open_bidi() {
                    streams.push(id);
                }
            }
            1 => {
                if let Ok(id) = client.conn.open_uni() {
                    streams.push(id);
                }
            }
            2 | 3 => {
                let b = inp.byte();
                let len = inp.byte() as usize * if op & 0x80 != 0 { 16 } else { 1 };
                let data = inp.bytes(len);
                if let Some(id) = pick(&streams, b) {
                    let _ = client.conn.stream_send(id, data, op % 12 == 3);
                }
            }
            4 => {
                let len = inp.byte() as usize * 4;
                let data = inp.bytes(len);
                let _ = client.conn.send_datagram(data);
            }
            5 => {
                let b = inp.byte();
                if let Some(id) = pick(&streams, b) {
                    if b & 1 != 0 {
                        client.conn.stream_reset_write(id, inp.byte() as u64);
                    } else {
                        client.conn.stream_stop_sending(id, inp.byte() as u64);
                    }
                }
            }
            6 => link.drop_next = (inp.byte() % 4) as u32,
            7 => link.dup_next = (inp.byte() % 4) as u32,
            8 => link.truncate_next = Some(u16::from_be_bytes([inp.byte(), inp.byte()]) as usize),
            9 => link.flip_next = Some((u16::from_be_bytes([inp.byte(), inp.byte()]) as usize, inp.byte())),
            10 => {
                let ecn = inp.byte() & 3;
                let len = u16::from_be_bytes([inp.byte(), inp.byte()]) as usize % 1500;
                let data = inp.bytes(len);
                server.handle_datagram(now, s_addr(), c_addr, ecn, data);
            }
            _ => {
                let b = inp.byte();
                if b & 1 != 0 {
                    // NAT rebinding: the client's port changes.
                    c_addr.set_port(c_addr.port().wrapping_add(1).max(1024));
                } else {
                    now += (b as u64) * 10 * MS;
                }
            }
        }
        pump(&mut client, &mut server, c_addr, &mut link, &mut now, 20);
    }
    pump(&mut client, &mut server, c_addr, &mut link, &mut now, 100);
    assert!(server.connection_count() <= 8);
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    if sel & 1 == 0 {
        raw_mode(Input(rest));
    } else {
        client_mode(sel, Input(rest));
    }
});

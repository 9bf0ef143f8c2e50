//! quinn-proto style: a client and a server endpoint exchanging datagrams in
//! memory, with no sockets, driven by a virtual clock. Deterministic apart
//! from TLS randomness.

use socket_iwa::app::echo::EchoClient;
use socket_iwa::app::{server_factory, SERVER_ALPNS};
use socket_iwa::quic::{ClientEndpoint, Connection, ConnectionConfig, Endpoint, ServerConfig, ServerEndpoint};
use socket_iwa::tls::{Identity, TicketKey, TlsContext, Verification};
use std::net::SocketAddr;

fn pump(client: &mut ClientEndpoint<EchoClient>, server: &mut ServerEndpoint, c_addr: SocketAddr, s_addr: SocketAddr, mut now: u64) -> u64 {
    for _ in 0..100_000 {
        if client.is_done() {
            return now;
        }
        let mut to_server = Vec::new();
        client.flush(now, &mut |p, _| {
            to_server.push(p.to_vec());
            true
        });
        for p in to_server {
            server.handle_datagram(now, s_addr, c_addr, &p);
        }
        let mut to_client = Vec::new();
        server.flush(now, &mut |p, _| {
            to_client.push(p.to_vec());
            true
        });
        let idle = to_client.is_empty();
        for p in to_client {
            client.handle_datagram(now, c_addr, s_addr, &p);
        }
        if idle {
            // Nothing in flight: jump the virtual clock to the next timer.
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
    panic!("no progress after 100000 rounds");
}

#[test]
fn echo_and_0rtt_resumption_in_memory() {
    let c_addr: SocketAddr = "10.0.0.1:5000".parse().unwrap();
    let s_addr: SocketAddr = "10.0.0.2:4433".parse().unwrap();
    let identity = Identity::generate().unwrap();
    let tls = TlsContext::server(&identity, SERVER_ALPNS, TicketKey::ephemeral()).unwrap();
    let mut server = ServerEndpoint::new(tls, ServerConfig::default(), server_factory());
    let ctls = TlsContext::client(&Verification::Pin(identity.cert_sha256)).unwrap();
    let cfg = ConnectionConfig::default();

    let mut now = 1_000_000_000u64;
    let conn = Connection::connect(&ctls, c_addr, s_addr, &["echo"], "localhost", None, &cfg, now).unwrap();
    let mut client = ClientEndpoint::new(conn, EchoClient::new(4, 100_000, 3, true, now), now);
    now = pump(&mut client, &mut server, c_addr, s_addr, now);
    let r = &client.app.report;
    assert!(r.verified, "{r:?}");
    assert_eq!(r.bytes_echoed, 400_000);
    assert_eq!(r.datagrams_echoed, 3);
    assert!(!r.resumed);
    let session = client.app.session.clone().expect("a session ticket");

    let conn = Connection::connect(&ctls, c_addr, s_addr, &["echo"], "localhost", Some(&session), &cfg, now).unwrap();
    let mut client = ClientEndpoint::new(conn, EchoClient::new(1, 1000, 0, false, now), now);
    pump(&mut client, &mut server, c_addr, s_addr, now);
    let r = &client.app.report;
    assert!(r.verified, "{r:?}");
    assert!(r.resumed);
    assert_eq!(r.early_data, "accepted");
}

//! Unit tests of the server endpoint, driven without a host or applications.

use super::admission::Source;
use super::tokens::TokenCheck;
use super::*;
use crate::tls::{Identity, TicketKey};
use crate::quic::Transmit;

fn endpoint() -> ServerEndpoint {
    endpoint_with(ServerConfig::default())
}

fn endpoint_with(cfg: ServerConfig) -> ServerEndpoint {
    let id = Identity::generate().unwrap();
    let tls = TlsContext::server(&id, &["echo", "h3"], TicketKey::ephemeral()).unwrap();
    ServerEndpoint::new(tls, cfg)
}

fn header(dcid: &[u8]) -> n::ngtcp2_pkt_hd {
    // SAFETY: plain data; the fields used are set below.
    let mut hd: n::ngtcp2_pkt_hd = unsafe { std::mem::zeroed() };
    hd.version = super::super::QUIC_V1;
    hd.dcid = super::super::connection::cid(dcid);
    hd
}

const T0: u64 = 5_000_000_000;

/// What a host does with the endpoint's events, without applications.
fn pump(ep: &mut ServerEndpoint, now: u64) {
    while let Some(ev) = ep.poll_event() {
        if let EndpointEvent::Ready(k) = ev {
            if let Some(c) = ep.connection_for_app(k) {
                while c.poll_event().is_some() {}
            }
            ep.processed(k, now, 0);
        }
    }
}

/// What a host's flush does (bursts per sendable connection); returns the packets written.
fn flush(ep: &mut ServerEndpoint, now: u64) -> usize {
    let mut sent = 0;
    while ep.poll_stateless().is_some() {
        sent += 1;
    }
    let mut buf = vec![0u8; 1500];
    for key in ep.take_sendable() {
        let Some(c) = ep.connection_mut(key) else { continue };
        let mut drained = false;
        for _ in 0..c.burst_limit() {
            if c.poll_transmit(now, &mut buf).is_none() {
                drained = true;
                break;
            }
            sent += 1;
        }
        c.burst_done(now);
        ep.flushed(key, drained, false);
    }
    ep.flush_done();
    pump(ep, now);
    sent
}

/// Real client Initials from our own client connections, fed in memory.
fn client_initial(tls: &TlsContext, local: SocketAddr, server: SocketAddr, now: u64) -> Vec<u8> {
    let mut c = Connection::connect(tls, local, server, &["echo"], "localhost", None, &ConnectionConfig::default(), now).unwrap();
    let mut buf = vec![0u8; 1500];
    let len = c.poll_transmit(now, &mut buf).unwrap().len;
    buf.truncate(len);
    buf
}

#[test]
fn flush_and_timers_cost_does_not_grow_with_connections() {
    // Retry off (by its threshold) so every Initial becomes a connection.
    let mut ep = endpoint_with(ServerConfig { retry_threshold: 1000, max_half_open: 1000, ..Default::default() });
    let ctls = TlsContext::client(&crate::tls::Verification::Insecure).unwrap();
    let server: SocketAddr = "127.0.0.1:4433".parse().unwrap();
    let n = 150u16;
    let mut now = T0;
    let mut first = Vec::new();
    for i in 0..n {
        // One source address each, so neither the per-source quota nor Retry interferes.
        let client = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, (i >> 8) as u8, i as u8)), 5000);
        let d = client_initial(&ctls, "0.0.0.0:5000".parse().unwrap(), server, now);
        ep.handle_datagram(now, server, client, 0, &d);
        pump(&mut ep, now);
        if i == 0 {
            first = d;
        }
        now += 1_000;
    }
    assert_eq!(ep.stats.accepted, n as u64);
    let sent = flush(&mut ep, now);
    assert!(sent >= n as usize);
    // The heap's earliest deadline equals the earliest of all connections.
    let brute = ep.slots.values().filter_map(|s| s.conn.timeout()).min();
    assert_eq!(ep.timers.peek().map(|r| r.0 .0), brute);
    assert!(ep.timeout() <= brute);
    // One more datagram for one connection: the next flush visits that one only.
    let before = ep.flush_visits;
    let c0 = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 0)), 5000);
    ep.handle_datagram(now, server, c0, 0, &first);
    pump(&mut ep, now);
    flush(&mut ep, now);
    assert_eq!(ep.flush_visits - before, 1, "flush must visit only connections with something to send");
    // Nothing else due: a flush with no input visits nobody.
    let before = ep.flush_visits;
    flush(&mut ep, now);
    assert_eq!(ep.flush_visits, before);
    // Timers fire only for due connections; after their PTOs fire, the heap still matches.
    let t = ep.timeout().unwrap();
    ep.on_timeout(t);
    pump(&mut ep, t);
    ep.maintain(t);
    pump(&mut ep, t);
    let brute = ep.slots.values().filter_map(|s| s.conn.timeout()).min();
    assert_eq!(ep.timers.peek().map(|r| r.0 .0), brute);
    assert!(ep.timers.len() <= 2 * ep.slots.len() + 64);
}

#[test]
fn sources_are_ipv4_addresses_and_ipv6_slash_64s() {
    let s = |a: &str| Source::of(&a.parse().unwrap());
    assert_eq!(s("192.0.2.1:1"), s("192.0.2.1:2"));
    assert_ne!(s("192.0.2.1:1"), s("192.0.2.2:1"));
    assert_eq!(s("[::ffff:192.0.2.1]:1"), s("192.0.2.1:9"));
    assert_ne!(s("[::ffff:192.0.2.1]:1"), s("[::ffff:192.0.2.2]:1"));
    assert_eq!(s("[2001:db8:1:2::1]:1"), s("[2001:db8:1:2:ffff::9]:1"));
    assert_ne!(s("[2001:db8:1:2::1]:1"), s("[2001:db8:1:3::1]:1"));
}

#[test]
fn retry_token_is_bound_to_address_dcid_and_lifetime() {
    let mut ep = endpoint();
    let client: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let odcid = super::super::connection::cid(&[7u8; 8]);
    let retry_scid = [9u8; SCID_LEN];
    let hd = header(&retry_scid);
    let tok = ep.mint_retry_token(&client, hd.version, &hd.dcid, &odcid, T0).unwrap();
    assert_eq!(tok[0] as u32, n::NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY2);
    match ep.check_token_bytes(T0 + RETRY_TOKEN_LIFETIME_NS - 1, &client, &hd, &tok) {
        TokenCheck::Retry(c) => assert_eq!(c.data[..c.datalen], [7u8; 8]),
        _ => panic!("a fresh Retry token from the same address must verify"),
    }
    let expired = ep.check_token_bytes(T0 + RETRY_TOKEN_LIFETIME_NS + 1, &client, &hd, &tok);
    assert!(matches!(expired, TokenCheck::BadRetry), "an expired Retry token must not verify");
    let other_port: SocketAddr = "127.0.0.1:5001".parse().unwrap();
    assert!(matches!(ep.check_token_bytes(T0, &other_port, &hd, &tok), TokenCheck::BadRetry));
    let other_dcid = header(&[8u8; SCID_LEN]);
    assert!(matches!(ep.check_token_bytes(T0, &client, &other_dcid, &tok), TokenCheck::BadRetry));
    let mut forged = tok.clone();
    forged[10] ^= 1;
    assert!(matches!(ep.check_token_bytes(T0, &client, &hd, &forged), TokenCheck::BadRetry));
    // Another server process (another secret) cannot read it.
    let mut other = endpoint();
    assert!(matches!(other.check_token_bytes(T0, &client, &hd, &tok), TokenCheck::BadRetry));
    assert_eq!(ep.stats.retry_tokens_ok, 1);
    assert_eq!(ep.stats.retry_tokens_bad, 4);
}

#[test]
fn new_token_is_bound_to_ip_not_port_and_expires() {
    let mut ep = endpoint();
    let client: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let hd = header(&[1u8; 8]);
    let tok = ep.mint_new_token(&client, T0).unwrap();
    let later: SocketAddr = "127.0.0.1:6000".parse().unwrap();
    assert!(matches!(ep.check_token_bytes(T0 + NEW_TOKEN_LIFETIME_NS - 1, &later, &hd, &tok), TokenCheck::NewToken));
    let other_ip: SocketAddr = "127.0.0.2:5000".parse().unwrap();
    assert!(matches!(ep.check_token_bytes(T0, &other_ip, &hd, &tok), TokenCheck::None));
    assert!(matches!(ep.check_token_bytes(T0 + NEW_TOKEN_LIFETIME_NS + 1, &client, &hd, &tok), TokenCheck::None));
    assert!(matches!(ep.check_token_bytes(T0, &client, &hd, b"not a token"), TokenCheck::None));
    assert_eq!((ep.stats.new_tokens_ok, ep.stats.new_tokens_bad), (1, 3));
}

#[test]
fn every_datagram_is_counted_in_exactly_one_class() {
    let ctls = TlsContext::client(&crate::tls::Verification::Insecure).unwrap();
    let server: SocketAddr = "127.0.0.1:4433".parse().unwrap();
    let client: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let mut ep = endpoint();
    let now = T0;
    let initial = client_initial(&ctls, client, server, now);
    // Empty, and bytes that decode as no QUIC header at all (a long header bit with a truncated header).
    ep.handle_datagram(now, server, client, 0, &[]);
    ep.handle_datagram(now, server, client, 0, &[0xc0, 0, 0]);
    // An unknown version: answered when it could be an Initial (>= 1200 bytes), dropped when shorter.
    let mut vn = initial.clone();
    vn[1..5].copy_from_slice(&0x1a2a_3a4au32.to_be_bytes());
    ep.handle_datagram(now, server, client, 0, &vn);
    ep.handle_datagram(now, server, client, 0, &vn[..100]);
    // A short header for a connection that does not exist.
    let mut short = vec![0x40u8; 60];
    short[1..1 + SCID_LEN].copy_from_slice(&[7u8; SCID_LEN]);
    ep.handle_datagram(now, server, client, 0, &short);
    // A real Initial becomes a connection; the same datagram again is routed to it.
    ep.handle_datagram(now, server, client, 0, &initial);
    pump(&mut ep, now);
    ep.handle_datagram(now, server, client, 0, &initial);
    pump(&mut ep, now);
    let p = ep.stats.packets.clone();
    assert_eq!((p.garbage, p.version_negotiation, p.unknown_cid, p.new_connection, p.to_connection), (3, 1, 1, 1, 1), "{p:?}");
    assert_eq!(p.datagrams, 7);
    assert_eq!(p.bytes, (3 + vn.len() + 100 + short.len() + 2 * initial.len()) as u64);

    // With --retry every new Initial is answered with a Retry; with no room for an established
    // connection, a validated one is refused.
    let mut ep = endpoint_with(ServerConfig { retry: true, ..Default::default() });
    ep.handle_datagram(now, server, client, 0, &client_initial(&ctls, client, server, now));
    let mut full = endpoint_with(ServerConfig { max_connections: 0, ..Default::default() });
    full.handle_datagram(now, server, client, 0, &client_initial(&ctls, client, server, now));
    assert_eq!((ep.stats.packets.retry, ep.stats.packets.datagrams), (1, 1));
    assert_eq!((full.stats.packets.refused, full.stats.initials_dropped.server_full), (1, 1));
    for s in [&p, &ep.stats.packets, &full.stats.packets] {
        let classes = s.to_connection + s.new_connection + s.retry + s.version_negotiation + s.refused + s.unknown_cid + s.garbage;
        assert_eq!(classes, s.datagrams, "{s:?}");
    }
}

#[test]
fn stateless_answers_have_a_budget_per_peer_and_in_all() {
    use super::tokens::{STATELESS_BURST, STATELESS_PEER_BURST, STATELESS_PEER_RATE};
    // With --retry every new Initial costs a Retry. A flood from one address and port gets
    // at most its burst; a newcomer from another port at the same moment still gets its
    // Retry; the budget refills at its rate. (The old code answered all 100.)
    let ctls = TlsContext::client(&crate::tls::Verification::Insecure).unwrap();
    let server: SocketAddr = "127.0.0.1:4433".parse().unwrap();
    let flooder: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let newcomer: SocketAddr = "127.0.0.1:6000".parse().unwrap();
    let initial = client_initial(&ctls, flooder, server, T0);
    let mut ep = endpoint_with(ServerConfig { retry: true, ..Default::default() });
    for i in 0..100 {
        ep.handle_datagram(T0 + i, server, flooder, 0, &initial);
    }
    let per_peer = STATELESS_PEER_BURST;
    assert_eq!(flush(&mut ep, T0), per_peer as usize, "Retries sent to the flooding peer");
    let p = ep.stats.packets.clone();
    assert_eq!((p.retry, p.refused), (per_peer, 100 - per_peer), "{p:?}");
    assert_eq!(ep.stats.initials_dropped.stateless_budget, 100 - per_peer);
    assert_eq!((ep.stats.retries_sent, ep.stats.stateless_withheld), (per_peer, 100 - per_peer));
    ep.handle_datagram(T0 + 1000, server, newcomer, 0, &client_initial(&ctls, newcomer, server, T0));
    assert_eq!(ep.stats.packets.retry, per_peer + 1, "a newcomer on another port gets its Retry");
    ep.handle_datagram(T0 + 1000, server, flooder, 0, &initial);
    assert_eq!(ep.stats.packets.retry, per_peer + 1, "no refill yet");
    ep.handle_datagram(T0 + 1_000_000_000 / STATELESS_PEER_RATE, server, flooder, 0, &initial);
    assert_eq!(ep.stats.packets.retry, per_peer + 2, "the budget refills at its rate");

    // Many peers: the total bounds them all (Version Negotiation and refusals too).
    let mut ep = endpoint_with(ServerConfig { retry: true, ..Default::default() });
    let mut vn = initial.clone();
    vn[1..5].copy_from_slice(&0x1a2a_3a4au32.to_be_bytes());
    let total = STATELESS_BURST as u16 + 50;
    for port in 0..total {
        let from = SocketAddr::from(([127, 0, 0, 1], 10_000 + port));
        ep.handle_datagram(T0, server, from, 0, if port % 2 == 0 { &initial } else { &vn });
    }
    let p = ep.stats.packets.clone();
    assert_eq!(p.retry + p.version_negotiation, STATELESS_BURST, "{p:?}");
    assert_eq!(p.refused, 50, "{p:?}");
    assert_eq!(flush(&mut ep, T0), STATELESS_BURST as usize);
    let mut full = endpoint_with(ServerConfig { max_connections: 0, ..Default::default() });
    for _ in 0..100 {
        full.handle_datagram(T0, server, flooder, 0, &initial);
    }
    assert_eq!(flush(&mut full, T0), per_peer as usize, "CONNECTION_REFUSED answers are budgeted too");
    assert_eq!(full.stats.initials_dropped.server_full, 100, "each refused Initial is counted once, by its reason");
}

/// The Stateless Reset the server would send for a packet to `dcid` (RFC 9000 10.3):
/// its token ends every reset for that connection ID.
fn reset_token(ep: &ServerEndpoint, dcid: &[u8]) -> [u8; 16] {
    super::super::connection::reset_token(&ep.static_secret, &super::super::connection::cid(dcid)).unwrap()
}

#[test]
fn a_short_header_for_no_connection_gets_a_stateless_reset_shorter_than_itself() {
    let mut ep = endpoint();
    let server: SocketAddr = "127.0.0.1:4433".parse().unwrap();
    let dcid = [7u8; SCID_LEN];
    // (trigger length, reset length): nothing below what a 1-RTT packet to one of our
    // connection IDs can be (SCID_LEN + 22); one byte shorter up to 43; 42 beyond.
    for (i, (len, want)) in [(SCID_LEN + 21, None), (SCID_LEN + 22, Some(SCID_LEN + 21)), (43, Some(42)), (44, Some(42)), (1200, Some(42))]
        .into_iter()
        .enumerate()
    {
        let client = SocketAddr::new("127.0.0.1".parse().unwrap(), 5000 + i as u16);
        let mut short = vec![0x41u8; len];
        short[1..1 + SCID_LEN].copy_from_slice(&dcid);
        ep.handle_datagram(T0, server, client, 0, &short);
        let got = ep.poll_stateless();
        assert_eq!(got.as_ref().map(|(p, _, _)| p.len()), want, "answer to a {len}-byte short header");
        if let Some((reset, to, from)) = got {
            assert_eq!((to, from), (client, server), "back to the sender, from the address it reached");
            assert_eq!(reset[0] & 0xc0, 0x40, "a short header with the fixed bit");
            assert_eq!(reset[reset.len() - 16..], reset_token(&ep, &dcid), "ends with the token for {dcid:?}");
        }
    }
    assert_eq!(ep.stats.stateless_resets_sent, 4);
    // A long header for no connection (a Handshake packet) is not answered with a reset.
    let mut hs = vec![0xe0u8; 100];
    hs[1..5].copy_from_slice(&super::super::QUIC_V1.to_be_bytes());
    hs[5] = SCID_LEN as u8;
    hs[6..6 + SCID_LEN].copy_from_slice(&dcid);
    hs[6 + SCID_LEN] = 0;
    ep.handle_datagram(T0, server, "127.0.0.1:6000".parse().unwrap(), 0, &hs);
    assert!(ep.poll_stateless().is_none());
    assert_eq!(ep.stats.packets.unknown_cid, 6);
}

#[test]
fn stateless_resets_have_their_own_budget() {
    use super::tokens::{RESET_BURST, RESET_PEER_BURST};
    let ctls = TlsContext::client(&crate::tls::Verification::Insecure).unwrap();
    let server: SocketAddr = "127.0.0.1:4433".parse().unwrap();
    let mut ep = endpoint_with(ServerConfig { retry: true, ..Default::default() });
    let mut short = vec![0x41u8; 100];
    short[1..1 + SCID_LEN].copy_from_slice(&[9u8; SCID_LEN]);
    // One peer: its burst, then nothing until its bucket refills.
    let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    for i in 0..10 {
        ep.handle_datagram(T0 + i, server, peer, 0, &short);
    }
    assert_eq!((ep.stats.stateless_resets_sent, ep.stats.stateless_resets_withheld), (RESET_PEER_BURST, 10 - RESET_PEER_BURST));
    // Many peers: the total's burst, and the Retries due to new clients are untouched.
    for i in 0..2 * RESET_BURST {
        let p = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 1, (i >> 8) as u8, i as u8)), 5000);
        ep.handle_datagram(T0 + 100, server, p, 0, &short);
    }
    assert_eq!(ep.stats.stateless_resets_sent, RESET_BURST);
    let newcomer: SocketAddr = "127.0.0.1:6000".parse().unwrap();
    ep.handle_datagram(T0 + 200, server, newcomer, 0, &client_initial(&ctls, newcomer, server, T0));
    assert_eq!((ep.stats.retries_sent, ep.stats.stateless_withheld), (1, 0));
    assert_eq!(flush(&mut ep, T0 + 200), RESET_BURST as usize + 1);
}

#[test]
fn the_reset_secret_follows_the_ticket_key() {
    let dir = std::env::temp_dir().join(format!("siwa-reset-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ticket.key");
    let id = Identity::generate().unwrap();
    let ep = |key: TicketKey| ServerEndpoint::new(TlsContext::server(&id, &["echo"], key).unwrap(), ServerConfig::default());
    let a = ep(TicketKey::load_or_create(&path).unwrap());
    let b = ep(TicketKey::load_or_create(&path).unwrap());
    let c = ep(TicketKey::ephemeral());
    assert_eq!(a.static_secret, b.static_secret, "same key file, same reset tokens");
    assert_ne!(a.static_secret, c.static_secret);
    // Derived, not the ticket key itself.
    assert_ne!(a.static_secret[..], std::fs::read(&path).unwrap()[16..]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn connection_ids_issued_while_writing_are_routed_before_another_packet_arrives() {
    // ngtcp2 issues the server's spare connection IDs while writing the packet that
    // carries them (NEW_CONNECTION_ID). A peer may use one as soon as it has it; until
    // the endpoint routes it, such a packet would look like a stranger's and get a
    // Stateless Reset. So after every flush, every ID ngtcp2 holds must be routed.
    let ctls = TlsContext::client(&crate::tls::Verification::Insecure).unwrap();
    let server: SocketAddr = "127.0.0.1:4433".parse().unwrap();
    let client: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let mut ep = endpoint_with(ServerConfig { retry_threshold: 1000, ..Default::default() });
    let mut c = Connection::connect(&ctls, client, server, &["echo"], "localhost", None, &ConnectionConfig::default(), T0).unwrap();
    let mut buf = vec![0u8; 1500];
    let mut most = 0;
    for round in 0..10 {
        let now = T0 + round * 1_000_000;
        while let Some(Transmit { len, .. }) = c.poll_transmit(now, &mut buf) {
            ep.handle_datagram(now, server, client, 0, &buf[..len]);
        }
        pump(&mut ep, now);
        let mut out = Vec::new();
        for key in ep.take_sendable() {
            let conn = ep.connection_mut(key).unwrap();
            while let Some(Transmit { len, .. }) = conn.poll_transmit(now, &mut buf) {
                out.push(buf[..len].to_vec());
            }
            conn.burst_done(now);
            ep.flushed(key, true, false);
            let held = ep.connection_mut(key).unwrap().scid_count();
            let routed = ep.routes.values().filter(|&&k| k == key).count();
            assert!(routed >= held, "round {round}: {held} connection IDs held, {routed} routed");
            most = most.max(held);
        }
        ep.flush_done();
        for p in out {
            c.recv(now, client, server, 0, &p);
        }
    }
    assert!(c.handshake_completed());
    assert!(most > 1, "the server issued no spare connection IDs ({most})");
}

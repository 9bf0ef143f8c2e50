//! A session file older than the TLS session's lifetime must not stop the
//! client from connecting: it falls back to a full handshake (found by the
//! `session_file` fuzz target, whose seed session aged past wolfSSL's 500 s).

use socket_iwa::app::echo::EchoClient;
use socket_iwa::app::{server_factory, SERVER_ALPNS};
use socket_iwa::quic::{ClientEndpoint, Connection, ConnectionConfig, Endpoint, ServerConfig, ServerEndpoint};
use socket_iwa::tls::{Identity, SavedSession, TicketKey, TlsContext, Verification};
use std::net::SocketAddr;
use wolfssl_sys as w;

fn pump(client: &mut ClientEndpoint<EchoClient>, server: &mut ServerEndpoint, c: SocketAddr, s: SocketAddr, mut now: u64) -> u64 {
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
            server.handle_datagram(now, s, c, &p);
        }
        let mut to_client = Vec::new();
        server.flush(now, &mut |p, _| {
            to_client.push(p.to_vec());
            true
        });
        let idle = to_client.is_empty();
        for p in to_client {
            client.handle_datagram(now, c, s, &p);
        }
        if idle {
            now = now.max([client.timeout(), server.timeout()].into_iter().flatten().min().unwrap_or(now + 1_000_000));
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

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// The same session, issued `age_secs` earlier.
fn aged(session: &SavedSession, age_secs: i64) -> SavedSession {
    let der = unhex(&session.tls_session);
    // SAFETY: d2i reads der.len() bytes; i2d writes into a buffer of the size it reported.
    let out = unsafe {
        let mut p = der.as_ptr();
        let sess = w::wolfSSL_d2i_SSL_SESSION(std::ptr::null_mut(), &mut p, der.len() as _);
        assert!(!sess.is_null());
        let born = w::wolfSSL_SESSION_get_time(sess);
        w::wolfSSL_SESSION_set_time(sess, born - age_secs as std::os::raw::c_long);
        let len = w::wolfSSL_i2d_SSL_SESSION(sess, std::ptr::null_mut());
        let mut buf = vec![0u8; len as usize];
        let mut q = buf.as_mut_ptr();
        assert_eq!(w::wolfSSL_i2d_SSL_SESSION(sess, &mut q), len);
        w::wolfSSL_SESSION_free(sess);
        buf
    };
    SavedSession { tls_session: out.iter().map(|b| format!("{b:02x}")).collect(), ..session.clone() }
}

#[test]
fn expired_session_file_falls_back_to_a_full_handshake() {
    let c: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let s: SocketAddr = "127.0.0.1:4433".parse().unwrap();
    let identity = Identity::generate().unwrap();
    let tls = TlsContext::server(&identity, SERVER_ALPNS, TicketKey::ephemeral()).unwrap();
    let mut server = ServerEndpoint::new(tls, ServerConfig::default(), server_factory());
    let ctls = TlsContext::client(&Verification::Pin(identity.cert_sha256)).unwrap();
    let cfg = ConnectionConfig::default();
    let mut now = 1_000_000_000u64;
    let conn = Connection::connect(&ctls, c, s, &["echo"], "localhost", None, &cfg, now).unwrap();
    let mut client = ClientEndpoint::new(conn, EchoClient::new(1, 1000, 0, true, now), now);
    now = pump(&mut client, &mut server, c, s, now);
    let session = client.app.session.clone().expect("a session ticket");

    // A day old: far past any lifetime wolfSSL gives it.
    let old = aged(&session, 86_400);
    let conn = Connection::connect(&ctls, c, s, &["echo"], "localhost", Some(&old), &cfg, now)
        .expect("an expired session must not prevent connecting");
    let mut client = ClientEndpoint::new(conn, EchoClient::new(1, 1000, 0, false, now), now);
    now = pump(&mut client, &mut server, c, s, now);
    let r = &client.app.report;
    assert!(r.verified, "{r:?}");
    assert!(!r.resumed, "an expired session cannot resume");

    // A fresh one still resumes with 0-RTT (the fallback did not break resumption).
    let conn = Connection::connect(&ctls, c, s, &["echo"], "localhost", Some(&session), &cfg, now).unwrap();
    let mut client = ClientEndpoint::new(conn, EchoClient::new(1, 1000, 0, false, now), now);
    pump(&mut client, &mut server, c, s, now);
    let r = &client.app.report;
    assert!(r.verified && r.resumed, "{r:?}");
    assert_eq!(r.early_data, "accepted");
}

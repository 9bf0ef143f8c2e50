//! The client's session file (`--session FILE`): JSON parsing, then applying
//! it to a real client connection (wolfSSL session DER, 0-RTT transport
//! parameters through ngtcp2, the ALPN it names).
//! Input: a JSON document, or 0x00 + [u16 DER length] DER + transport
//! parameters, wrapped into a document here so mutations reach the decoders.
//! A decodable session is re-stamped as issued now (see `refreshed`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use socket_iwa::quic::{Connection, ConnectionConfig};
use socket_iwa::tls::{SavedSession, TlsContext, Verification};
use wolfssl_sys as w;

thread_local! {
    static CTX: TlsContext = TlsContext::client(&Verification::Insecure).expect("client context");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// The session as if issued now (when wolfSSL can decode it): wolfSSL refuses
/// sessions older than their timeout by the wall clock, which would make the
/// committed seeds lose their 0-RTT path a few minutes after being made.
fn refreshed(mut session: SavedSession) -> SavedSession {
    let Some(der) = unhex(&session.tls_session) else { return session };
    // SAFETY: d2i reads der.len() bytes; i2d writes into a buffer of the size it reported.
    unsafe {
        let mut p = der.as_ptr();
        let sess = w::wolfSSL_d2i_SSL_SESSION(std::ptr::null_mut(), &mut p, der.len() as _);
        if sess.is_null() {
            return session;
        }
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        w::wolfSSL_SESSION_set_time(sess, now as _);
        let len = w::wolfSSL_i2d_SSL_SESSION(sess, std::ptr::null_mut());
        if len > 0 {
            let mut buf = vec![0u8; len as usize];
            let mut q = buf.as_mut_ptr();
            if w::wolfSSL_i2d_SSL_SESSION(sess, &mut q) == len {
                session.tls_session = hex(&buf);
            }
        }
        w::wolfSSL_SESSION_free(sess);
    }
    session
}

fuzz_target!(|data: &[u8]| {
    let session = match data {
        [0, hi, lo, rest @ ..] => {
            let n = (u16::from_be_bytes([*hi, *lo]) as usize).min(rest.len());
            let doc = serde_json::json!({
                "version": 1, "alpn": "echo", "tls_session": hex(&rest[..n]), "transport_params": hex(&rest[n..]),
            });
            SavedSession::from_json(doc.to_string().as_bytes()).expect("a document we built")
        }
        _ => match SavedSession::from_json(data) {
            Ok(s) => s,
            Err(_) => return,
        },
    };
    let session = refreshed(session);
    let alpn = if session.alpn.is_empty() { "echo".to_string() } else { session.alpn.clone() };
    let local = "127.0.0.1:5000".parse().unwrap();
    let remote = "127.0.0.1:4433".parse().unwrap();
    CTX.with(|ctx| {
        let r = Connection::connect(ctx, local, remote, &[&alpn], "localhost", Some(&session), &ConnectionConfig::default(), 1_000_000_000);
        if let Ok(mut c) = r {
            // The first flight, possibly with 0-RTT keys installed from the session.
            let mut buf = vec![0u8; 1500];
            let _ = c.poll_transmit(1_000_000_000, &mut buf);
        }
    });
});

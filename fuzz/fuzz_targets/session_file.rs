//! The client's session file (`--session FILE`): JSON parsing, then applying
//! it to a real client connection (wolfSSL session DER, 0-RTT transport
//! parameters through ngtcp2, the ALPN it names).
//! Input: a JSON document, or 0x00 + [u16 DER length] DER + transport
//! parameters, wrapped into a document here so mutations reach the decoders.
#![no_main]
use libfuzzer_sys::fuzz_target;
use socket_iwa::quic::{Connection, ConnectionConfig};
use socket_iwa::tls::{SavedSession, TlsContext};

thread_local! {
    static CTX: TlsContext = TlsContext::client().expect("client context");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
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

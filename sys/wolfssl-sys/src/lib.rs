//! Raw FFI bindings to wolfSSL (the version in vendor/pins.txt) as Socket.IWA configures it
//! (`include/user_settings.h`: TLS 1.3, QUIC, session tickets, early data,
//! AES-GCM, ChaCha20-Poly1305, X25519, P-256, ECDSA/RSA certificates, HKDF).
//!
//! Safe wrappers live in the `socket-iwa` crate, not here.
//!
//! Licensing: wolfSSL is GPL; any binary that links this crate is covered by it.
#![allow(non_upper_case_globals, non_camel_case_types, non_snake_case, dead_code, clippy::all)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));

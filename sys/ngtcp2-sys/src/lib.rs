//! Raw FFI bindings to ngtcp2 (the version in vendor/pins.txt) and its crypto helper library, with
//! Socket.IWA's own wolfSSL backend (`crypto/wolfssl_backend.c`).
//!
//! Safe wrappers live in the `socket-iwa` crate.
#![allow(non_upper_case_globals, non_camel_case_types, non_snake_case, dead_code, clippy::all)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));

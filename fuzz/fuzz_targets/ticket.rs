//! Session ticket opening: a ticket as a client presents it in its
//! pre_shared_key extension, split by wolfSSL (key name, IV, length,
//! ciphertext, MAC) and opened by our AES-256-GCM callback under the server's
//! ticket key (the fixed test key in fuzz/ticket.key, so seeds made by
//! `fuzz/make_seeds.sh` are real, openable tickets).
#![no_main]
use libfuzzer_sys::fuzz_target;
use socket_iwa::tls::{Identity, TicketKey, TlsContext};
use std::os::raw::c_int;
use wolfssl_sys as w;

extern "C" {
    // wolfSSL's ticket decryption (internal.c, WOLFSSL_LOCAL: hidden, but
    // linkable from the same static archive). TLS 1.3's PSK path
    // (DoClientTicket_ex) calls exactly this.
    fn DoDecryptTicket(ssl: *const w::WOLFSSL, input: *const u8, len: u32, it: *mut *mut u8) -> c_int;
}

thread_local! {
    static CTX: TlsContext = {
        let identity = Identity::generate().expect("identity");
        let key = TicketKey::load_or_create(concat!(env!("CARGO_MANIFEST_DIR"), "/ticket.key").as_ref()).expect("fuzz/ticket.key");
        TlsContext::server(&identity, &["h3", "echo"], key).expect("server context")
    };
}

fuzz_target!(|data: &[u8]| {
    let mut ticket = data.to_vec();
    CTX.with(|ctx| {
        let tls = ctx.new_tls().expect("wolfSSL_new");
        let mut it: *mut u8 = std::ptr::null_mut();
        // SAFETY: ticket is valid and writable for its length (opened in place).
        let rv = unsafe { DoDecryptTicket(tls.as_ptr(), ticket.as_mut_ptr(), ticket.len() as u32, &mut it) };
        if rv == w::WOLFSSL_TICKET_RET_OK as c_int {
            // Opened: the plaintext lies inside our buffer.
            let start = ticket.as_ptr() as usize;
            assert!((it as usize) >= start && (it as usize) < start + ticket.len());
        }
    });
});

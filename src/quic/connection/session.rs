//! Resumption and address-validation state a connection exports: the client's
//! session for 0-RTT (the TLS session the TLS layer captured plus the server's
//! transport parameters) and NEW_TOKEN tokens.

use super::Connection;
use crate::error::Result;
use crate::tls::SavedSession;
use ngtcp2_sys as n;

impl Connection {
    /// Client: the session to store for resumption, once the server sent a ticket.
    pub fn take_session(&mut self, alpn: &str) -> Option<SavedSession> {
        let der = self.tls.take_session()?;
        let mut buf = vec![0u8; 256];
        // SAFETY: conn is valid; buf is writable for its length.
        let n = unsafe { n::ngtcp2_conn_encode_0rtt_transport_params(self.conn(), buf.as_mut_ptr(), buf.len()) };
        if n < 0 {
            return None;
        }
        buf.truncate(n as usize);
        Some(SavedSession {
            version: 1,
            alpn: alpn.to_string(),
            tls_session: crate::tls::hex(&der),
            transport_params: crate::tls::hex(&buf),
            verification: String::new(),
            token: self.inner_mut().new_token.as_deref().map(crate::tls::hex),
        })
    }

    /// Client: the latest NEW_TOKEN token from the server, if any.
    pub fn new_token(&self) -> Option<Vec<u8>> {
        // SAFETY: inner is valid.
        unsafe { (*self.inner).new_token.clone() }
    }

    /// Client: whether the server made us retry with a Retry packet.
    pub fn retried(&self) -> bool {
        // SAFETY: inner is valid.
        unsafe { (*self.inner).retried }
    }

    /// Server: sends an address validation token in a NEW_TOKEN frame.
    pub(crate) fn submit_new_token(&mut self, token: &[u8]) -> Result<()> {
        // SAFETY: conn is valid; ngtcp2 copies the token.
        let rv = unsafe { n::ngtcp2_conn_submit_new_token(self.conn(), token.as_ptr(), token.len()) };
        if rv != 0 {
            return Err(crate::quic::error::ngtcp2("NEW_TOKEN", rv));
        }
        Ok(())
    }
}

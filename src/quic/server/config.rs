//! The server's configuration: connection and handshake limits, buffer budgets.

use super::super::ConnectionConfig;

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub conn: ConnectionConfig,
    /// Established connections beyond this many are refused (CONNECTION_REFUSED).
    pub max_connections: usize,
    /// Handshakes in progress, at most.
    pub max_half_open: usize,
    /// Validate every new client address with a Retry.
    pub retry: bool,
    /// Retry every unvalidated client while this many handshakes are in progress.
    pub retry_threshold: usize,
    /// Unvalidated handshakes one source (IPv4 address, IPv6 /64) may hold;
    /// beyond that the source gets a Retry.
    pub max_half_open_per_source: usize,
    /// Handshake timeout for half-open connections while under pressure.
    pub pressure_handshake_timeout_ms: u64,
    /// Bytes one connection may make us buffer (queued output awaiting acknowledgement,
    /// request bodies, WebTransport/WebSocket data, unused receive credit). Connection
    /// flow-control credit is given back only within this budget. See docs/LIMITS.md.
    pub conn_buffer_limit: u64,
    /// The same over all connections together. When it is used up, applications
    /// refuse new work (503, stream refusal) and credit waits for memory to drain.
    pub server_buffer_limit: u64,
    /// With `conn.qlog_dir`: qlog files the server creates at most (one per accepted
    /// connection); later connections are not logged (one warning).
    pub qlog_max_files: u64,
}

/// Default [`ServerConfig::qlog_max_files`]: 1,000 files.
pub const DEFAULT_QLOG_MAX_FILES: u64 = 1000;

/// Default [`ServerConfig::conn_buffer_limit`]: 16 MiB (the connection receive window we always used).
pub const DEFAULT_CONN_BUFFER_LIMIT: u64 = 16 << 20;

/// Default [`ServerConfig::server_buffer_limit`]: 256 MiB.
pub const DEFAULT_SERVER_BUFFER_LIMIT: u64 = 256 << 20;

/// Largest connection receive window (initial MAX_DATA) the server grants: 4 MiB,
/// 800 Mbit/s at 40 ms RTT. Bytes a peer may send on top of the server-wide budget.
pub const SERVER_RECEIVE_WINDOW: u64 = 4 << 20;

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            conn: ConnectionConfig::default(),
            max_connections: 4096,
            max_half_open: 256,
            retry: false,
            retry_threshold: 64,
            max_half_open_per_source: 16,
            pressure_handshake_timeout_ms: 2_000,
            conn_buffer_limit: DEFAULT_CONN_BUFFER_LIMIT,
            server_buffer_limit: DEFAULT_SERVER_BUFFER_LIMIT,
            qlog_max_files: DEFAULT_QLOG_MAX_FILES,
        }
    }
}

/// Smallest accepted buffer budget (per connection): room for a few packets'
/// worth of HTTP/3 control and QPACK traffic plus one flow-control window.
pub const MIN_BUFFER_LIMIT: u64 = 64 << 10;

impl ServerConfig {
    /// Checks the buffer limits against each other; the error names the flag.
    pub fn check_limits(&self) -> Result<(), String> {
        if self.conn_buffer_limit < MIN_BUFFER_LIMIT {
            return Err(format!("--conn-buffer-limit {} is below the minimum of {MIN_BUFFER_LIMIT} bytes", self.conn_buffer_limit));
        }
        if self.server_buffer_limit < self.conn_buffer_limit {
            return Err(format!(
                "--server-buffer-limit {} is below --conn-buffer-limit {}",
                self.server_buffer_limit, self.conn_buffer_limit
            ));
        }
        Ok(())
    }
}

//! qlog output (`--qlog-dir`): ngtcp2 writes its qlog (JSON-SEQ, draft qlog
//! 0.3, what qvis reads) through a callback; we put each connection's into a
//! file of its own in the directory the user named.
//!
//! File name: the hex of the connection's original Destination Connection ID
//! (the client's first DCID, which both ends know and which aioquic also names
//! its file by; ngtcp2's `group_id` is the same unless the server sent a Retry,
//! when the server's trace carries the Retry's connection ID instead) and the role,
//! `<odcid>.server.sqlog` / `<odcid>.client.sqlog`, so a client and a server
//! writing to one directory do not collide. Created new (never overwriting)
//! with mode 0600: a qlog names addresses and connection IDs. A file that
//! cannot be created, or a write that fails, turns qlog off for that
//! connection with a warning; the connection itself is not affected.
//!
//! Size: a file stops at `cfg.qlog_max_bytes` (`--qlog-max-bytes`, default
//! [`DEFAULT_QLOG_MAX_BYTES`]). ngtcp2 hands over one whole JSON-SEQ record per
//! write, so the record that would cross the cap is the first one left out and
//! the file ends on a record boundary; one warning names the file.

use super::Inner;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::raw::c_void;
use std::path::{Path, PathBuf};

/// Default cap on one qlog file (`ConnectionConfig::qlog_max_bytes`): 64 MiB,
/// about a 100 MB transfer's trace (ngtcp2 logs ~0.65 bytes per byte moved).
pub const DEFAULT_QLOG_MAX_BYTES: u64 = 64 << 20;

/// A connection's open qlog file.
pub(super) struct Sink {
    w: BufWriter<File>,
    path: PathBuf,
    written: u64,
    max: u64,
}

/// Where a connection's qlog goes while it lives.
pub(super) type QlogSink = Option<Sink>;

/// With `cfg.qlog_dir` set: creates the connection's file and points ngtcp2's
/// `qlog_write` at [`write_cb`] in `settings` (left off when the file cannot be made).
pub(super) fn attach(cfg: &crate::quic::ConnectionConfig, odcid: &ngtcp2_sys::ngtcp2_cid, is_server: bool, settings: &mut ngtcp2_sys::ngtcp2_settings) -> QlogSink {
    let sink = create(cfg.qlog_dir.as_deref()?, &odcid.data[..odcid.datalen], is_server, cfg.qlog_max_bytes);
    if sink.is_some() {
        settings.qlog_write = Some(write_cb);
    }
    sink
}

/// Creates `<dir>/<hex(odcid)>.<role>.sqlog`, or warns and returns `None`.
fn create(dir: &Path, odcid: &[u8], is_server: bool, max: u64) -> QlogSink {
    let name = format!("{}.{}.sqlog", crate::tls::hex(odcid), if is_server { "server" } else { "client" });
    let path = dir.join(name);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(&path) {
        Ok(f) => Some(Sink { w: BufWriter::with_capacity(64 << 10, f), path, written: 0, max }),
        Err(e) => {
            log::warn!("qlog: cannot create {}: {e}; this connection is not logged", path.display());
            None
        }
    }
}

/// Parses a `--qlog-dir` argument (clap's value parser in every binary): an
/// existing, writable directory. The wasm build refuses it: its files would
/// live in the module's memory and vanish with it.
pub fn parse_dir(arg: &str) -> Result<PathBuf, String> {
    if cfg!(target_os = "emscripten") {
        return Err("not available in the wasm build (its file system is the module's memory)".into());
    }
    let dir = PathBuf::from(arg);
    let meta = std::fs::metadata(&dir).map_err(|e| e.to_string())?;
    if !meta.is_dir() {
        return Err("not a directory".into());
    }
    let probe = dir.join(format!(".socket-iwa-qlog-probe-{}", std::process::id()));
    File::create(&probe).map_err(|e| format!("not writable: {e}"))?;
    let _ = std::fs::remove_file(probe);
    Ok(dir)
}

/// Parses a `--qlog-max-bytes` argument: a byte count (K, M or G suffix) of at least 4 KiB.
pub fn parse_max_bytes(arg: &str) -> Result<u64, String> {
    let n = crate::quic::parse_byte_size(arg)?;
    if n < 4096 {
        return Err(format!("{n} bytes is below the minimum of 4096 (a trace's first record alone is about 1 KB)"));
    }
    Ok(n)
}

/// ngtcp2's `qlog_write`: `user_data` is the connection's [`Inner`].
unsafe extern "C" fn write_cb(user_data: *mut c_void, flags: u32, data: *const c_void, len: usize) {
    // SAFETY: ngtcp2 passes the user_data the connection was created with (its
    // Inner, alive until after ngtcp2_conn_del, whose final write this may be),
    // and data is valid for len bytes.
    let inner = &mut *(user_data as *mut Inner);
    let Some(s) = inner.qlog.as_mut() else { return };
    if s.written.saturating_add(len as u64) > s.max {
        log::warn!("qlog: {} reached {} bytes (--qlog-max-bytes); the rest of this connection is not logged", s.path.display(), s.max);
        let _ = s.w.flush();
        inner.qlog = None;
        return;
    }
    if len > 0 && s.w.write_all(std::slice::from_raw_parts(data as *const u8, len)).is_err() {
        log::warn!("qlog: write to {} failed; logging of this connection stops", s.path.display());
        inner.qlog = None;
        return;
    }
    s.written += len as u64;
    if flags & ngtcp2_sys::NGTCP2_QLOG_WRITE_FLAG_FIN != 0 {
        let _ = s.w.flush();
        inner.qlog = None;
    }
}

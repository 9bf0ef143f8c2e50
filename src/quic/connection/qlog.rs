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

use super::Inner;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::raw::c_void;
use std::path::{Path, PathBuf};

/// Where a connection's qlog goes while it lives.
pub(super) type QlogSink = Option<BufWriter<File>>;

/// With `cfg.qlog_dir` set: creates the connection's file and points ngtcp2's
/// `qlog_write` at [`write_cb`] in `settings` (left off when the file cannot be made).
pub(super) fn attach(cfg: &crate::quic::ConnectionConfig, odcid: &ngtcp2_sys::ngtcp2_cid, is_server: bool, settings: &mut ngtcp2_sys::ngtcp2_settings) -> QlogSink {
    let sink = create(cfg.qlog_dir.as_deref()?, &odcid.data[..odcid.datalen], is_server);
    if sink.is_some() {
        settings.qlog_write = Some(write_cb);
    }
    sink
}

/// Creates `<dir>/<hex(odcid)>.<role>.sqlog`, or warns and returns `None`.
fn create(dir: &Path, odcid: &[u8], is_server: bool) -> QlogSink {
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
        Ok(f) => Some(BufWriter::with_capacity(64 << 10, f)),
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

/// ngtcp2's `qlog_write`: `user_data` is the connection's [`Inner`].
unsafe extern "C" fn write_cb(user_data: *mut c_void, flags: u32, data: *const c_void, len: usize) {
    // SAFETY: ngtcp2 passes the user_data the connection was created with (its
    // Inner, alive until after ngtcp2_conn_del, whose final write this may be),
    // and data is valid for len bytes.
    let inner = &mut *(user_data as *mut Inner);
    let Some(w) = inner.qlog.as_mut() else { return };
    if len > 0 && w.write_all(std::slice::from_raw_parts(data as *const u8, len)).is_err() {
        log::warn!("qlog: write failed; logging of this connection stops");
        inner.qlog = None;
        return;
    }
    if flags & ngtcp2_sys::NGTCP2_QLOG_WRITE_FLAG_FIN != 0 {
        let _ = w.flush();
        inner.qlog = None;
    }
}

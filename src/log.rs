//! Minimal structured logging: human-readable lines by default, one JSON object
//! per line with `--json` (what tests and benchmarks read). Implements `log::Log`
//! so library code logs through the `log` macros.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static JSON: AtomicBool = AtomicBool::new(false);

struct Logger;

impl log::Log for Logger {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut err = std::io::stderr().lock();
        if JSON.load(Ordering::Relaxed) {
            let line = serde_json::json!({
                "level": record.level().as_str().to_ascii_lowercase(),
                "target": record.target(),
                "msg": record.args().to_string(),
            });
            let _ = writeln!(err, "{line}");
        } else {
            let _ = writeln!(err, "[{}] {}", record.level().as_str().to_ascii_lowercase(), record.args());
        }
    }
    fn flush(&self) {}
}

/// Installs the logger. `verbose` lowers the level to debug.
/// `SOCKET_IWA_TRACE=1` additionally turns on ngtcp2's packet-level log.
pub fn init(json: bool, verbose: bool) {
    JSON.store(json, Ordering::Relaxed);
    let _ = log::set_logger(&Logger);
    let trace = std::env::var_os("SOCKET_IWA_TRACE").is_some_and(|v| v != "0");
    log::set_max_level(match (trace, verbose) {
        (true, _) => log::LevelFilter::Trace,
        (false, true) => log::LevelFilter::Debug,
        _ => log::LevelFilter::Info,
    });
}

/// The `main` of a client binary (socket-iwa-client, socket-iwa-h3-client):
/// installs the logger, runs `body` and exits 0 when it reports success, 2 when
/// it ran but a check failed, 1 with `PROGRAM: error` on stderr when it could not run.
pub fn client_main<E: std::fmt::Display>(program: &str, json: bool, verbose: bool, body: impl FnOnce() -> Result<bool, E>) -> ! {
    init(json, verbose);
    match body() {
        Ok(ok) => std::process::exit(if ok { 0 } else { 2 }),
        Err(e) => {
            eprintln!("{program}: {e}");
            std::process::exit(1);
        }
    }
}

/// Writes one event to stdout: a JSON object with `--json`, else `event key=value ...`.
pub fn event(json: bool, value: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    if json {
        let _ = writeln!(out, "{value}");
    } else if let serde_json::Value::Object(map) = value {
        let mut line = String::new();
        for (k, v) in map {
            if !line.is_empty() {
                line.push(' ');
            }
            match v {
                serde_json::Value::String(s) => line.push_str(&format!("{k}={s}")),
                other => line.push_str(&format!("{k}={other}")),
            }
        }
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
}

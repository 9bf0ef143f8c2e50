//! `Host`: the one driver of a connection set ([`quic::Endpoint`]) and the
//! connections' applications, for server and client alike, natively and in
//! wasm. The socket loop ([`super::driver::run`]) and the in-memory test
//! harness (tests/rust/harness) both drive a `Host`; nothing else pumps events or
//! writes packets.
//!
//! What lives here once: the application trait ([`ConnectionApp`], re-exported
//! as `crate::app::ConnectionApp`), creating an application per connection
//! from the negotiated ALPN, pumping connection events into it, application
//! timers, the transmit loop (a packet the socket refused is kept and sent
//! first next time; each connection writes at most one congestion-controller
//! burst per flush), graceful shutdown, and a client's deliberate migration.

use crate::quic::{self, ClientEndpoint, ConnKey, Connection, Endpoint, EndpointEvent, Event, ServerEndpoint, Transmit};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, SocketAddr};
use super::udp::Target;

/// Per-connection application logic driven by connection events.
pub trait ConnectionApp {
    /// Client side: called once before the first packet is written, so data
    /// queued here can travel as 0-RTT.
    fn on_start(&mut self, _conn: &mut Connection, _now: u64) {}
    fn on_event(&mut self, conn: &mut Connection, now: u64, ev: Event);
    /// Called after each batch of events and on timer expiry.
    fn on_tick(&mut self, _conn: &mut Connection, _now: u64) {}
    /// The host is stopping: queue any goodbye (HTTP/3 GOAWAY) on `conn` and
    /// return the application error code to close the connection with.
    fn on_shutdown(&mut self, _conn: &mut Connection, _now: u64) -> u64 {
        0
    }
    /// The app's own next deadline, if it has one.
    fn timeout(&self) -> Option<u64> {
        None
    }
    /// Bytes the app itself holds for this connection outside the QUIC send
    /// buffers (bodies waiting for the HTTP/3 layer, partial WebSocket messages...).
    /// Counted against the connection's and the server's buffer budgets.
    fn buffered(&self) -> u64 {
        0
    }
    /// Client side: the application wants the connection moved to a new local UDP
    /// socket now (JavaScript's `conn.migrate()`), on `addr` if it names one.
    /// Asked each loop turn while no migration is pending; [`migrated`](Self::migrated)
    /// tells the outcome.
    fn wants_migration(&mut self, _conn: &mut Connection) -> Option<Rebind> {
        None
    }
    /// Client side: what became of a migration (asked for by the app or by [`Rebind`]).
    fn migrated(&mut self, _conn: &mut Connection, _report: &MigrationReport) {}
}

impl ConnectionApp for Box<dyn ConnectionApp> {
    fn on_start(&mut self, conn: &mut Connection, now: u64) {
        (**self).on_start(conn, now)
    }
    fn on_event(&mut self, conn: &mut Connection, now: u64, ev: Event) {
        (**self).on_event(conn, now, ev)
    }
    fn on_tick(&mut self, conn: &mut Connection, now: u64) {
        (**self).on_tick(conn, now)
    }
    fn on_shutdown(&mut self, conn: &mut Connection, now: u64) -> u64 {
        (**self).on_shutdown(conn, now)
    }
    fn timeout(&self) -> Option<u64> {
        (**self).timeout()
    }
    fn buffered(&self) -> u64 {
        (**self).buffered()
    }
    fn wants_migration(&mut self, conn: &mut Connection) -> Option<Rebind> {
        (**self).wants_migration(conn)
    }
    fn migrated(&mut self, conn: &mut Connection, report: &MigrationReport) {
        (**self).migrated(conn, report)
    }
}

/// Creates the application for a negotiated ALPN, or `None` if unsupported.
pub type AppFactory<A = Box<dyn ConnectionApp>> = Box<dyn Fn(&[u8]) -> Option<A>>;

/// A deliberate client migration: once `after_bytes` bytes of stream data have
/// arrived, the client binds a new UDP socket (new port; on `addr` if given,
/// else the current local IP) and moves the connection onto it.
#[derive(Clone, Copy, Debug)]
pub struct Rebind {
    pub after_bytes: u64,
    pub addr: Option<IpAddr>,
}

/// What became of a requested migration, for the client's report.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct MigrationReport {
    pub migrated: bool,
    /// Local address before and after the migration.
    pub from: String,
    pub to: Option<String>,
    /// Stream bytes received when the client moved.
    pub at_bytes: Option<u64>,
    pub error: Option<String>,
}

/// A server endpoint with its applications (boxed, one per negotiated ALPN).
pub type ServerHost = Host<ServerEndpoint, Box<dyn ConnectionApp>>;
/// A client connection with its application.
pub type ClientHost<A> = Host<ClientEndpoint, A>;

/// Drives an endpoint `E` and one application `A` per connection.
///
/// `Host` dereferences to its endpoint, so the endpoint's own API (a server's
/// counters, a client's `conn`) reads as `host.stats`, `host.conn`.
pub struct Host<E: Endpoint, A: ConnectionApp> {
    ep: E,
    apps: HashMap<ConnKey, A>,
    factory: Option<AppFactory<A>>,
    /// Application deadlines: (deadline, key), min-first; entries that differ
    /// from `app_deadlines` are stale and skipped.
    app_timers: BinaryHeap<Reverse<(u64, ConnKey)>>,
    app_deadlines: HashMap<ConnKey, u64>,
    buf: Vec<u8>,
    /// A packet the socket refused: sent first on the next flush.
    blocked: Option<(Vec<u8>, Target)>,
    /// On stop, let applications queue goodbyes and close each connection with
    /// the code they choose (a server); else just stop (a client).
    goodbyes: bool,
    /// Application close codes chosen in `begin_shutdown`, used by `finish_shutdown`.
    shutdown_codes: Vec<(ConnKey, u64)>,
    /// Stream bytes delivered to applications (a client's migration trigger).
    received: u64,
    /// A requested migration not yet attempted.
    pub rebind: Option<Rebind>,
    pub migration: Option<MigrationReport>,
    /// The applications are JavaScript's (wasm, docs/JS_SERVERS.md "JavaScript answers before
    /// the flush"): after receiving, the driver lets JavaScript run before it flushes, so an
    /// answer leaves with the ACK of what it answers instead of in a packet of its own.
    pub yield_after_receive: bool,
}

impl<E: Endpoint, A: ConnectionApp> std::ops::Deref for Host<E, A> {
    type Target = E;
    fn deref(&self) -> &E {
        &self.ep
    }
}

impl<E: Endpoint, A: ConnectionApp> std::ops::DerefMut for Host<E, A> {
    fn deref_mut(&mut self) -> &mut E {
        &mut self.ep
    }
}

impl ServerHost {
    /// A server: each accepted connection gets the application `factory` makes
    /// for its negotiated ALPN.
    pub fn server(ep: ServerEndpoint, factory: AppFactory) -> Self {
        let mut h = Host::with(ep, Some(factory));
        h.goodbyes = true;
        h
    }
}

impl<A: ConnectionApp> ClientHost<A> {
    /// A client: `app` runs on `conn` and may queue data at once (sent as 0-RTT when resuming).
    pub fn client(conn: Connection, mut app: A, now: u64) -> Self {
        let mut ep = ClientEndpoint::new(conn);
        app.on_start(&mut ep.conn, now);
        let mut h = Host::with(ep, None);
        h.apps.insert(quic::client::CLIENT_KEY, app);
        h.schedule_app(quic::client::CLIENT_KEY);
        h
    }

    pub fn app(&self) -> &A {
        &self.apps[&quic::client::CLIENT_KEY]
    }

    pub fn app_mut(&mut self) -> &mut A {
        self.apps.get_mut(&quic::client::CLIENT_KEY).expect("the client's application")
    }

    /// The connection and its application, taken apart (for a report after the run).
    pub fn into_parts(mut self) -> (Connection, A, Option<MigrationReport>) {
        let app = self.apps.remove(&quic::client::CLIENT_KEY).expect("the client's application");
        (self.ep.conn, app, self.migration)
    }
}

impl<E: Endpoint, A: ConnectionApp> Host<E, A> {
    fn with(ep: E, factory: Option<AppFactory<A>>) -> Self {
        Host {
            ep,
            apps: HashMap::new(),
            factory,
            app_timers: BinaryHeap::new(),
            app_deadlines: HashMap::new(),
            buf: vec![0u8; 1500],
            blocked: None,
            goodbyes: false,
            shutdown_codes: Vec::new(),
            received: 0,
            rebind: None,
            yield_after_receive: false,
            migration: None,
        }
    }

    /// Runs the application of `key` on its pending events, then lets the endpoint
    /// update routes, budgets and timers.
    fn process(&mut self, key: ConnKey, now: u64) {
        let Some(conn) = self.ep.connection_for_app(key) else { return };
        if !self.apps.contains_key(&key) {
            if let (Some(factory), Some(alpn)) = (self.factory.as_ref(), conn.alpn()) {
                if let Some(app) = factory(&alpn) {
                    self.apps.insert(key, app);
                }
            }
        }
        let mut app = self.apps.get_mut(&key);
        while let Some(ev) = conn.poll_event() {
            if let Event::StreamData { data, .. } = &ev {
                self.received += data.len() as u64;
            }
            match app.as_mut() {
                Some(app) => app.on_event(conn, now, ev),
                None => log::debug!("event before the application is known: {ev:?}"),
            }
        }
        if let Some(app) = app.as_mut() {
            app.on_tick(conn, now);
        }
        let buffered = app.map_or(0, |a| a.buffered());
        self.ep.processed(key, now, buffered);
        self.schedule_app(key);
    }

    /// Keeps the heap of application deadlines in step with the application's own.
    fn schedule_app(&mut self, key: ConnKey) {
        let t = self.apps.get(&key).and_then(|a| a.timeout());
        match t {
            Some(t) if self.app_deadlines.get(&key) != Some(&t) => {
                self.app_deadlines.insert(key, t);
                self.app_timers.push(Reverse((t, key)));
            }
            Some(_) => {}
            None => {
                self.app_deadlines.remove(&key);
            }
        }
        self.prune_app_timers();
    }

    /// Re-reads every application's [`ConnectionApp::timeout`]: for applications whose
    /// deadlines change from outside the connection (JavaScript answering later,
    /// docs/JS_SERVERS.md), after the driver was woken.
    pub fn reschedule_apps(&mut self) {
        let keys: Vec<ConnKey> = self.apps.keys().copied().collect();
        for key in keys {
            self.schedule_app(key);
        }
    }

    fn prune_app_timers(&mut self) {
        while let Some(&Reverse((t, k))) = self.app_timers.peek() {
            if self.app_deadlines.get(&k) == Some(&t) {
                break;
            }
            self.app_timers.pop();
        }
        if self.app_timers.len() > 2 * self.app_deadlines.len() + 64 {
            self.app_timers = self.app_deadlines.iter().map(|(&k, &t)| Reverse((t, k))).collect();
        }
    }

    /// Handles everything the endpoint asked for; returns the connections processed.
    fn pump(&mut self, now: u64) -> Vec<ConnKey> {
        let mut done = Vec::new();
        while let Some(ev) = self.ep.poll_event() {
            match ev {
                EndpointEvent::Ready(key) => {
                    // A batch of datagrams readies a connection once per datagram: run its app once.
                    if !done.contains(&key) {
                        self.process(key, now);
                        done.push(key);
                    }
                }
                EndpointEvent::Closed(key) => {
                    self.apps.remove(&key);
                    self.app_deadlines.remove(&key);
                }
            }
        }
        done
    }

    pub fn handle_datagram(&mut self, now: u64, local: SocketAddr, remote: SocketAddr, ecn: u8, data: &[u8]) {
        self.ep.handle_datagram(now, local, remote, ecn, data);
        self.pump(now);
    }

    /// One datagram of a receive batch: the endpoint reads it now; the applications run
    /// once for the whole batch, in [`received`](Self::received).
    pub fn handle_batched_datagram(&mut self, now: u64, local: SocketAddr, remote: SocketAddr, ecn: u8, data: &[u8]) {
        self.ep.handle_datagram(now, local, remote, ecn, data);
    }

    /// The end of a receive batch: each connection that read something runs its application once.
    pub fn received(&mut self, now: u64) {
        self.pump(now);
    }

    /// Next timestamp (ns) at which [`on_timeout`](Self::on_timeout) is due.
    pub fn timeout(&self) -> Option<u64> {
        let app = self.app_timers.peek().map(|Reverse((t, _))| *t);
        [self.ep.timeout(), app].into_iter().flatten().min()
    }

    pub fn on_timeout(&mut self, now: u64) {
        let mut due = Vec::new();
        while let Some(&Reverse((t, k))) = self.app_timers.peek() {
            if t > now {
                break;
            }
            self.app_timers.pop();
            if self.app_deadlines.get(&k) == Some(&t) {
                self.app_deadlines.remove(&k);
                due.push(k);
            }
        }
        if self.ep.timeout().is_some_and(|t| t <= now) || !due.is_empty() {
            self.ep.on_timeout(now);
        }
        let done = self.pump(now);
        for key in due {
            if !done.contains(&key) {
                self.process(key, now);
            }
        }
        self.ep.maintain(now);
        self.pump(now);
    }

    /// Writes pending packets through `send(packet, target)`, which returns false when
    /// the socket would block; returns false if it stopped for that reason.
    pub fn flush(&mut self, now: u64, send: &mut dyn FnMut(&[u8], Target) -> bool) -> bool {
        let ok = self.transmit(now, send);
        self.ep.flush_done();
        // Writing can close a connection; its application sees the end.
        self.pump(now);
        ok
    }

    fn transmit(&mut self, now: u64, send: &mut dyn FnMut(&[u8], Target) -> bool) -> bool {
        if let Some((pkt, target)) = self.blocked.take() {
            if !send(&pkt, target) {
                self.blocked = Some((pkt, target));
                return false;
            }
        }
        while let Some((pkt, to, from)) = self.ep.poll_stateless() {
            if !send(&pkt, Target { to, from, ecn: 0 }) {
                self.ep.unsent_stateless(pkt, to, from);
                return false;
            }
        }
        let keys = self.ep.take_sendable();
        for (i, &key) in keys.iter().enumerate() {
            let Some(conn) = self.ep.connection_mut(key) else { continue };
            let mut drained = false;
            let mut blocked = false;
            for _ in 0..conn.burst_limit() {
                match conn.poll_transmit(now, &mut self.buf) {
                    Some(Transmit { len, to, from, ecn }) => {
                        let target = Target { to, from, ecn };
                        if !send(&self.buf[..len], target) {
                            self.blocked = Some((self.buf[..len].to_vec(), target));
                            blocked = true;
                            break;
                        }
                    }
                    None => {
                        drained = true;
                        break;
                    }
                }
            }
            conn.burst_done(now);
            self.ep.flushed(key, drained, blocked);
            if blocked {
                // The socket is full: everything not visited stays sendable.
                self.ep.not_flushed(&keys[i + 1..]);
                return false;
            }
        }
        true
    }

    pub fn is_done(&self) -> bool {
        self.ep.is_done()
    }

    /// The process is stopping, step 1: let every connection's application queue
    /// its goodbye (HTTP/3's GOAWAY) and choose its close code. The driver keeps
    /// running the loop after this so the goodbyes are sent and acknowledged.
    pub fn begin_shutdown(&mut self, now: u64) {
        if !self.goodbyes {
            return;
        }
        let mut codes = Vec::new();
        for key in self.ep.keys() {
            let Some(conn) = self.ep.connection_mut(key) else { continue };
            let code = match self.apps.get_mut(&key) {
                Some(app) if conn.is_open() => app.on_shutdown(conn, now),
                _ => 0,
            };
            codes.push((key, code));
        }
        for &(key, _) in &codes {
            self.ep.touch(key);
        }
        self.shutdown_codes = codes;
    }

    /// True once every goodbye queued by `begin_shutdown` has been sent and
    /// acknowledged (nothing left unsent or in flight).
    pub fn goodbyes_delivered(&self) -> bool {
        !self.goodbyes || self.ep.keys().into_iter().filter_map(|k| self.ep.connection(k)).all(|c| !c.is_open() || c.output_settled())
    }

    /// Step 2: close every connection (CONNECTION_CLOSE with the application's code).
    /// The driver flushes once more afterwards.
    pub fn finish_shutdown(&mut self, now: u64) {
        for (key, code) in std::mem::take(&mut self.shutdown_codes) {
            if let Some(conn) = self.ep.connection_mut(key) {
                conn.close(now, code, "server shutting down");
            }
            self.ep.touch(key);
        }
    }

    /// The host wants a new UDP socket (a client migrating): the local address
    /// to bind (port 0: any). The driver binds it and calls [`rebound`](Self::rebound).
    /// A new address of the other family than the peer's is refused here, before
    /// anything is bound, and reported as a migration that did not happen.
    pub fn wants_new_socket(&mut self) -> Option<SocketAddr> {
        if self.rebind.is_none() {
            let key = quic::client::CLIENT_KEY;
            if let (Some(app), Some(conn)) = (self.apps.get_mut(&key), self.ep.connection_mut(key)) {
                self.rebind = app.wants_migration(conn);
            }
        }
        let r = self.rebind?;
        let conn = self.ep.connection(quic::client::CLIENT_KEY)?;
        if self.received < r.after_bytes || !conn.is_open() {
            return None;
        }
        let (local, remote) = (conn.local_addr(), conn.remote_addr());
        match r.addr {
            // The peer is not reachable from there (an IPv4 socket for an IPv6 peer):
            // refused before the driver binds anything.
            Some(ip) if ip.is_ipv4() != remote.is_ipv4() => {
                self.rebind = None;
                let from = local.to_string();
                let error = format!("the new local address {ip} is not of the peer's address family ({remote})");
                self.report_migration(MigrationReport { from, at_bytes: Some(self.received), error: Some(error), ..Default::default() });
                None
            }
            addr => Some(SocketAddr::new(addr.unwrap_or(local.ip()), 0)),
        }
    }

    /// The driver's answer to `wants_new_socket`: the new socket's local
    /// address, or why binding failed. Returns true if the connection moved to
    /// the new socket; the driver then reads and writes only the new one.
    pub fn rebound(&mut self, now: u64, bound: std::io::Result<SocketAddr>) -> bool {
        // One attempt: whatever happens, the report says so.
        self.rebind = None;
        let received = self.received;
        let Some(conn) = self.ep.connection_mut(quic::client::CLIENT_KEY) else { return false };
        let mut m = MigrationReport { from: conn.local_addr().to_string(), at_bytes: Some(received), ..Default::default() };
        let moved = match bound {
            Ok(addr) => match conn.migrate(addr, now) {
                Ok(()) => {
                    log::info!("migrated from {} to {addr}", m.from);
                    m.to = Some(addr.to_string());
                    true
                }
                Err(e) => {
                    m.error = Some(e.to_string());
                    false
                }
            },
            Err(e) => {
                m.error = Some(format!("cannot bind the new socket: {e}"));
                false
            }
        };
        m.migrated = moved;
        self.report_migration(m);
        moved
    }

    /// Tells the client's app what became of its migration and keeps the report.
    fn report_migration(&mut self, m: MigrationReport) {
        if let (Some(app), Some(conn)) = (self.apps.get_mut(&quic::client::CLIENT_KEY), self.ep.connection_mut(quic::client::CLIENT_KEY)) {
            app.migrated(conn, &m);
        }
        self.migration = Some(m);
    }
}

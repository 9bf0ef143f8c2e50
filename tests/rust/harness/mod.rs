//! An in-memory network for transport tests: a [`ClientHost`] and a
//! [`ServerHost`] (the same hosts the socket driver runs)
//! exchange datagrams over a simulated link, driven by a virtual clock.
//!
//! - No sockets, no sleeps, no real time: the clock jumps to the next event
//!   (a datagram arriving or an endpoint timer), so a 30 s idle timeout costs
//!   nothing and CPU load on the machine cannot change a result.
//! - The link is configurable per direction ([`LinkConfig`]): loss,
//!   reordering, duplication, one-way delay and an MTU (larger datagrams are
//!   dropped). Every random choice comes from one seeded PRNG, so a seed
//!   replays the same losses.
//! - Address change: the client sits behind a NAT. [`Sim::rebind_client`]
//!   gives it a new public address/port (an ordinary NAT rebinding): from then
//!   on its datagrams arrive from the new address, and only datagrams sent to
//!   the new address reach it (those to the old one are counted in
//!   [`SimStats::stale`] and dropped). The client itself is not told.
//! - [`Sim::tap`] sees (and may rewrite or drop) every datagram before the
//!   link, for tests that forge or inspect packets.
//!
//! What is and is not deterministic: the link's choices depend only on the
//! seed and the sequence of datagram sizes per direction, and time is virtual,
//! so machine load can never change a run. The endpoints themselves use real
//! randomness (TLS keys and ECDSA signatures, whose DER length varies by a
//! byte or two; ngtcp2's packet-number skipping and Initial CRYPTO shuffling),
//! so two runs with one seed can differ by a few datagrams and hence in which
//! ones are lost. Tests therefore assert outcomes that hold for every such
//! run (and loop over several seeds), never exact packet counts.

#![allow(dead_code)]

use socket_iwa::app::{server_factory, ConnectionApp, SERVER_ALPNS};
use socket_iwa::io::{ClientHost, ServerHost};
use socket_iwa::quic::{Connection, ConnectionConfig, ServerConfig, ServerEndpoint};
use socket_iwa::tls::{Identity, SavedSession, TicketKey, TlsContext, Verification};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::sync::OnceLock;

pub const MS: u64 = 1_000_000;
pub const SEC: u64 = 1_000_000_000;

/// Where the virtual clock starts (any value > 0 works for ngtcp2).
pub const T0: u64 = 1_000 * SEC;

pub fn client_addr() -> SocketAddr {
    "10.0.0.1:5000".parse().unwrap()
}

pub fn server_addr() -> SocketAddr {
    "10.0.0.2:4433".parse().unwrap()
}

/// One direction of the link. Probabilities are per datagram, in [0, 1].
#[derive(Clone, Debug)]
pub struct LinkConfig {
    pub loss: f64,
    /// Probability that a datagram is held back by an extra random delay of up
    /// to `reorder_window_ns`, so later datagrams overtake it.
    pub reorder: f64,
    pub reorder_window_ns: u64,
    /// Probability that a datagram is delivered twice (the copy a little later).
    pub duplicate: f64,
    /// One-way delay.
    pub delay_ns: u64,
    /// Datagrams larger than this are dropped (counted in `SimStats::too_big`).
    pub mtu: usize,
    /// Bottleneck rate: each datagram occupies the link for its length at this
    /// rate, so a burst arrives spaced out as from a real interface. 0: no limit
    /// (a burst arrives all at once).
    pub bytes_per_sec: u64,
    /// Probability that a datagram sent ECN-capable (ECT(0) or ECT(1)) arrives marked
    /// Congestion Experienced, as from a router's active queue management (RFC 3168).
    pub ce_mark: f64,
    /// The path clears the ECN bits of every datagram (a middlebox that bleaches
    /// the TOS byte): ECN validation must fail (RFC 9000 13.4.2).
    pub bleach_ecn: bool,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig { loss: 0.0, reorder: 0.0, reorder_window_ns: 0, duplicate: 0.0, delay_ns: 5 * MS, mtu: 65_527, bytes_per_sec: 0, ce_mark: 0.0, bleach_ecn: false }
    }
}

impl LinkConfig {
    /// A perfect link with the default delay.
    pub fn clean() -> Self {
        Self::default()
    }

    /// The lossy link most tests use: `loss`, 10% reordered by up to 15 ms,
    /// 1% duplicated, 5 ms delay, 1,350-byte MTU.
    pub fn lossy(loss: f64) -> Self {
        LinkConfig { loss, reorder: 0.10, reorder_window_ns: 15 * MS, duplicate: 0.01, delay_ns: 5 * MS, mtu: 1350, ..Default::default() }
    }
}

/// What the link does with one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    TooBig,
    Lost,
    /// Delivered after `delay_ns` (`reordered`: an extra random delay was added),
    /// and once more `dup_after_ns` later if duplicated.
    Delivered { delay_ns: u64, reordered: bool, dup_after_ns: Option<u64> },
}

/// One direction of the link: its configuration and its own PRNG, so the fate
/// of the n-th datagram in a direction depends only on the seed, n and its size.
pub struct Link {
    pub cfg: LinkConfig,
    rng: Rng,
    /// Draws CE marks (`LinkConfig::ce_mark`) apart from `rng`.
    ecn_rng: Rng,
    /// With a bottleneck rate: when the link is free again.
    busy_until: u64,
}

impl Link {
    pub fn new(cfg: LinkConfig, seed: u64) -> Self {
        Link { cfg, rng: Rng::new(seed), ecn_rng: Rng::new(seed ^ 0xEC4E_C4EC), busy_until: 0 }
    }

    /// When a datagram of `len` bytes handed over at `now` has left the sender
    /// (`now` itself without a bottleneck rate).
    pub fn departure(&mut self, now: u64, len: usize) -> u64 {
        if self.cfg.bytes_per_sec == 0 {
            return now;
        }
        let start = now.max(self.busy_until);
        self.busy_until = start + len as u64 * 1_000_000_000 / self.cfg.bytes_per_sec;
        self.busy_until
    }

    pub fn fate(&mut self, len: usize) -> Fate {
        // Draw every decision for every datagram, so one outcome never shifts the next ones.
        let c = &self.cfg;
        let lost = self.rng.chance(c.loss);
        let reordered = self.rng.chance(c.reorder);
        let extra = self.rng.below(c.reorder_window_ns + 1);
        let duplicated = self.rng.chance(c.duplicate);
        let dup_extra = self.rng.below(c.delay_ns + 1);
        if len > c.mtu {
            Fate::TooBig
        } else if lost {
            Fate::Lost
        } else {
            let delay_ns = c.delay_ns + if reordered { extra } else { 0 };
            Fate::Delivered { delay_ns, reordered, dup_after_ns: duplicated.then_some(dup_extra) }
        }
    }
}

/// splitmix64: small, fast, and enough for link decisions.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dir {
    ToServer,
    ToClient,
}

/// What the link did, per run. Equal stats for equal seeds is the determinism check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Datagrams the endpoints handed to the link, per direction.
    pub sent_to_server: u64,
    pub sent_to_client: u64,
    pub bytes_to_server: u64,
    pub bytes_to_client: u64,
    /// Datagrams delivered (duplicates included).
    pub delivered_to_server: u64,
    pub delivered_to_client: u64,
    /// Payload bytes delivered to the client.
    pub delivered_bytes_to_client: u64,
    pub lost: u64,
    pub too_big: u64,
    pub reordered: u64,
    pub duplicated: u64,
    /// Dropped by the tap.
    pub tapped: u64,
    /// Server datagrams addressed to a client address that is no longer the client's.
    pub stale: u64,
    /// Server datagrams sent to the client's current address after the last rebinding.
    pub to_new_address: u64,
    /// New sockets the client's host asked for (`Host::wants_new_socket`).
    pub binds: u64,
    /// Largest datagram each side sent.
    pub max_to_server: usize,
    pub max_to_client: usize,
    /// Datagrams each side sent with an ECN mark (the codepoint ngtcp2 chose).
    pub ecn_marked_to_server: u64,
    pub ecn_marked_to_client: u64,
    /// ECN-capable datagrams the link re-marked CE (`LinkConfig::ce_mark`), and marks it cleared.
    pub ce_marked: u64,
    pub bleached: u64,
}

struct InFlight {
    at: u64,
    seq: u64,
    dir: Dir,
    from: SocketAddr,
    to: SocketAddr,
    ecn: u8,
    data: Vec<u8>,
}

impl PartialEq for InFlight {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for InFlight {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// Sees every datagram as it is sent (virtual time, direction, bytes) before the
/// link does; may rewrite it, or drop it by returning false.
pub type Tap = Box<dyn FnMut(u64, Dir, &mut Vec<u8>) -> bool>;

/// Why [`Sim::run_until`] stopped without its condition holding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stall {
    /// Nothing in flight and no timer armed: nothing will ever happen again.
    Quiet { at: u64 },
    /// The virtual deadline passed.
    Deadline { at: u64 },
    /// The step bound was reached (a livelock at one instant, say).
    Steps { at: u64 },
}

pub struct Sim<A: ConnectionApp> {
    pub now: u64,
    pub client: ClientHost<A>,
    pub server: ServerHost,
    /// The client's own socket address (what its connection believes).
    pub client_local: SocketAddr,
    /// The client's address as the server sees it (changes on rebinding).
    pub client_public: SocketAddr,
    pub server_addr: SocketAddr,
    /// Client → server.
    pub up: Link,
    /// Server → client.
    pub down: Link,
    pub stats: SimStats,
    pub tap: Option<Tap>,
    /// When false, the client stops reading and sending (a host that vanished).
    pub client_alive: bool,
    queue: BinaryHeap<Reverse<InFlight>>,
    seq: u64,
    rebound: bool,
}

/// One self-signed server identity per test process: every test server
/// presents it, so clients can pin it and only the ticket key tells two
/// servers apart.
pub fn identity() -> &'static Identity {
    static ID: OnceLock<Identity> = OnceLock::new();
    ID.get_or_init(|| Identity::generate().unwrap())
}

/// A server endpoint with the production apps (echo, h3), `cfg` and `ticket_key`.
pub fn server_with(cfg: ServerConfig, ticket_key: TicketKey) -> ServerHost {
    let tls = TlsContext::server(identity(), SERVER_ALPNS, ticket_key).unwrap();
    ServerHost::server(ServerEndpoint::new(tls, cfg), server_factory())
}

pub fn server() -> ServerHost {
    server_with(ServerConfig::default(), TicketKey::ephemeral())
}

/// A client endpoint for `alpn` running `app`, resuming `session` if given.
pub fn client<A: ConnectionApp>(
    alpn: &str,
    session: Option<&SavedSession>,
    cfg: &ConnectionConfig,
    now: u64,
    app: A,
) -> ClientHost<A> {
    // The only place a client TLS context is made: it pins the test identity.
    let tls = TlsContext::client(&Verification::Pin(vec![identity().cert_sha256])).unwrap();
    let conn = Connection::connect(&tls, client_addr(), server_addr(), &[alpn], "localhost", session, cfg, now).unwrap();
    ClientHost::client(conn, app, now)
}

impl<A: ConnectionApp> Sim<A> {
    /// `up` carries client → server datagrams, `down` server → client.
    pub fn new(server: ServerHost, client: ClientHost<A>, now: u64, up: LinkConfig, down: LinkConfig, seed: u64) -> Self {
        let client_local = client.conn.local_addr();
        let server_addr = client.conn.remote_addr();
        Sim {
            now,
            client,
            server,
            client_local,
            client_public: client_local,
            server_addr,
            up: Link::new(up, seed),
            down: Link::new(down, seed ^ 0x5EED_D0D0),
            stats: SimStats::default(),
            tap: None,
            client_alive: true,
            queue: BinaryHeap::new(),
            seq: 0,
            rebound: false,
        }
    }

    /// Same link both ways.
    pub fn symmetric(server: ServerHost, client: ClientHost<A>, now: u64, link: LinkConfig, seed: u64) -> Self {
        Self::new(server, client, now, link.clone(), link, seed)
    }

    /// NAT rebinding: from now on the client's datagrams come from `public`,
    /// and only datagrams addressed to `public` reach it.
    pub fn rebind_client(&mut self, public: SocketAddr) {
        self.client_public = public;
        self.rebound = true;
    }

    /// Puts a datagram on the link as if `dir`'s sender had sent it.
    pub fn inject(&mut self, dir: Dir, from: SocketAddr, to: SocketAddr, data: Vec<u8>) {
        let now = self.now;
        self.send(dir, from, to, 0, data, now);
    }

    fn send(&mut self, dir: Dir, from: SocketAddr, to: SocketAddr, mut ecn: u8, mut data: Vec<u8>, now: u64) {
        if ecn != 0 {
            *if dir == Dir::ToServer { &mut self.stats.ecn_marked_to_server } else { &mut self.stats.ecn_marked_to_client } += 1;
        }
        match dir {
            Dir::ToServer => {
                self.stats.sent_to_server += 1;
                self.stats.bytes_to_server += data.len() as u64;
                self.stats.max_to_server = self.stats.max_to_server.max(data.len());
            }
            Dir::ToClient => {
                self.stats.sent_to_client += 1;
                self.stats.bytes_to_client += data.len() as u64;
                self.stats.max_to_client = self.stats.max_to_client.max(data.len());
                if self.rebound && to == self.client_public {
                    self.stats.to_new_address += 1;
                }
            }
        }
        if let Some(tap) = self.tap.as_mut() {
            if !tap(now, dir, &mut data) {
                self.stats.tapped += 1;
                return;
            }
        }
        let link = if dir == Dir::ToServer { &mut self.up } else { &mut self.down };
        if link.cfg.bleach_ecn && ecn != 0 {
            ecn = 0;
            self.stats.bleached += 1;
        }
        // Its own generator, so links without ECN marking draw the same fates as before.
        if (ecn == 1 || ecn == 2) && link.cfg.ce_mark > 0.0 && link.ecn_rng.chance(link.cfg.ce_mark) {
            ecn = 3;
            self.stats.ce_marked += 1;
        }
        match link.fate(data.len()) {
            Fate::TooBig => self.stats.too_big += 1,
            Fate::Lost => self.stats.lost += 1,
            Fate::Delivered { delay_ns, reordered, dup_after_ns } => {
                let at = link.departure(now, data.len()) + delay_ns;
                if reordered {
                    self.stats.reordered += 1;
                }
                if let Some(after) = dup_after_ns {
                    self.stats.duplicated += 1;
                    self.push(at + after, dir, from, to, ecn, data.clone());
                }
                self.push(at, dir, from, to, ecn, data);
            }
        }
    }

    fn push(&mut self, at: u64, dir: Dir, from: SocketAddr, to: SocketAddr, ecn: u8, data: Vec<u8>) {
        self.seq += 1;
        self.queue.push(Reverse(InFlight { at, seq: self.seq, dir, from, to, ecn, data }));
    }

    /// Lets both endpoints write everything they may write now.
    fn flush(&mut self) {
        let now = self.now;
        // The client host asks for a new socket (its app's `wants_migration`, or a `Rebind`): the
        // "kernel" gives it the next port on the same address, and its traffic leaves from there.
        if self.client_alive {
            if let Some(want) = self.client.wants_new_socket() {
                self.stats.binds += 1;
                let new = SocketAddr::new(want.ip(), self.client_local.port() + 1);
                if self.client.rebound(now, Ok(new)) {
                    self.client_local = new;
                    self.client_public = new;
                    self.rebound = true;
                }
            }
        }
        if self.client_alive {
            let mut out = Vec::new();
            self.client.flush(now, &mut |p, t| {
                out.push((p.to_vec(), t.to, t.ecn));
                true
            });
            let from = self.client_public;
            for (p, to, ecn) in out {
                self.send(Dir::ToServer, from, to, ecn, p, now);
            }
        }
        let mut out = Vec::new();
        // The server's datagrams leave from the local address of their path: the address
        // the client sent to (a server on a wildcard address, docs/ARCHITECTURE.md).
        self.server.flush(now, &mut |p, t| {
            out.push((p.to_vec(), t.to, t.from, t.ecn));
            true
        });
        for (p, to, from, ecn) in out {
            self.send(Dir::ToClient, from, to, ecn, p, now);
        }
    }

    fn deliver(&mut self, d: InFlight) {
        let now = self.now;
        match d.dir {
            Dir::ToServer => {
                self.stats.delivered_to_server += 1;
                self.server.handle_datagram(now, d.to, d.from, d.ecn, &d.data);
            }
            Dir::ToClient => {
                if d.to != self.client_public {
                    self.stats.stale += 1;
                    return;
                }
                if !self.client_alive {
                    return;
                }
                self.stats.delivered_to_client += 1;
                self.stats.delivered_bytes_to_client += d.data.len() as u64;
                // Through the NAT: the client sees its own socket address.
                self.client.handle_datagram(now, self.client_local, d.from, d.ecn, &d.data);
            }
        }
    }

    fn next_event(&self) -> Option<u64> {
        let c = if self.client_alive { self.client.timeout() } else { None };
        [self.queue.peek().map(|d| d.0.at), c, self.server.timeout()].into_iter().flatten().min()
    }

    /// One step: jump the clock to the next event (never past `cap`), handle
    /// everything due, and let both endpoints write. After a step, everything
    /// the endpoints wrote is on the link and nothing of it has arrived yet.
    /// Returns false when nothing will ever happen again.
    fn step_capped(&mut self, cap: u64) -> bool {
        self.flush();
        let Some(next) = self.next_event() else { return false };
        self.now = self.now.max(next.min(cap));
        let now = self.now;
        while self.queue.peek().is_some_and(|d| d.0.at <= now) {
            let Reverse(d) = self.queue.pop().unwrap();
            self.deliver(d);
        }
        if self.client_alive && self.client.timeout().is_some_and(|t| t <= now) {
            self.client.on_timeout(now);
        }
        if self.server.timeout().is_some_and(|t| t <= now) {
            self.server.on_timeout(now);
        }
        self.flush();
        true
    }

    pub fn step(&mut self) -> bool {
        self.step_capped(u64::MAX)
    }

    /// Runs every event up to virtual time `t` and stops the clock exactly there.
    pub fn run_to(&mut self, t: u64) {
        for _ in 0..2_000_000 {
            if self.now >= t {
                return;
            }
            if !self.step_capped(t) {
                self.now = self.now.max(t);
                return;
            }
        }
        panic!("no progress towards {t}");
    }

    /// Loses the newest datagram in flight in `dir` (returns how many were dropped: 0 or 1).
    pub fn drop_newest(&mut self, dir: Dir) -> usize {
        let mut v = std::mem::take(&mut self.queue).into_vec();
        let newest = v.iter().enumerate().filter(|(_, d)| d.0.dir == dir).max_by_key(|(_, d)| d.0.seq).map(|(i, _)| i);
        if let Some(i) = newest {
            v.remove(i);
        }
        self.queue = v.into();
        newest.map_or(0, |_| 1)
    }

    /// Runs until `cond` holds, or fails when the simulation goes quiet, passes
    /// `limit_ns` of virtual time from now, or takes too many steps.
    pub fn run_until(&mut self, limit_ns: u64, mut cond: impl FnMut(&Self) -> bool) -> Result<(), Stall> {
        let deadline = self.now + limit_ns;
        for _ in 0..2_000_000 {
            if cond(self) {
                return Ok(());
            }
            if self.now > deadline {
                return Err(Stall::Deadline { at: self.now });
            }
            if !self.step() {
                return if cond(self) { Ok(()) } else { Err(Stall::Quiet { at: self.now }) };
            }
        }
        Err(Stall::Steps { at: self.now })
    }

    /// Runs until the client endpoint is done (its app closed the connection).
    pub fn run_client(&mut self, limit_ns: u64) -> Result<(), Stall> {
        self.run_until(limit_ns, |s| s.client.is_done())
    }

    /// Runs until the server holds no connection (drained, closed or timed out).
    pub fn run_server_empty(&mut self, limit_ns: u64) -> Result<(), Stall> {
        self.run_until(limit_ns, |s| s.server.connection_count() == 0)
    }

    /// Datagrams still in flight.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }
}

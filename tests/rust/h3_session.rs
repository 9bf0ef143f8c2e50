//! The HTTP/3 session layer (`socket_iwa::h3::Session`) with both roles in one
//! process: the `testkit` scripted client against the server app over the
//! in-memory link of [`harness`] (virtual clock, no sockets). Requests and
//! responses, WebTransport bidi/uni streams and datagrams, WebSocket over
//! HTTP/3, and a server [`Handler`] that is not the demo. See docs/H3.md.

mod harness;

use harness::*;
use socket_iwa::app::h3::H3Server;
use socket_iwa::app::{AppFactory, ConnectionApp};
use socket_iwa::h3::handler::{Ctx, Handler, Request as H3Request};
use socket_iwa::h3::wt::{EchoHandler, WebTransportHandler};
use socket_iwa::io::ServerHost;
use socket_iwa::quic::{ConnectionConfig, ServerConfig, ServerEndpoint};
use socket_iwa::tls::{TicketKey, TlsContext};
use testkit::h3::{H3Client, Request, WsOptions, WtOptions};

fn get(p: &str) -> Request {
    Request { method: "GET".into(), path: p.into(), body: None }
}

fn post(p: &str, n: usize) -> Request {
    Request { method: "POST".into(), path: p.into(), body: Some((0..n).map(|i| (i % 253) as u8).collect()) }
}

fn run(server: ServerHost, app: H3Client, link: LinkConfig, seed: u64) -> Sim<H3Client> {
    let c = client("h3", None, &ConnectionConfig::default(), T0, app);
    let mut sim = Sim::symmetric(server, c, T0, link, seed);
    sim.run_client(60 * SEC).unwrap_or_else(|e| panic!("seed {seed}: {e:?} {:?}", sim.client.app().report));
    sim
}

fn wt_opts(path: &str) -> WtOptions {
    WtOptions { path: path.into(), datagrams: 40, datagram_size: 300, stream_bytes: 200_000 }
}

#[test]
fn demo_requests_and_their_errors() {
    let reqs = vec![get("/"), get("/bytes/300000"), get("/bytes/0"), post("/echo", 70_000), get("/nope"), post("/", 10), get("/bytes/x")];
    let sim = run(server(), H3Client::new("localhost", reqs, 4, T0), LinkConfig::clean(), 1);
    let r = &sim.client.app().report;
    assert_eq!(r.completed, 7, "{r:?}");
    assert!(r.error.is_none(), "{r:?}");
    let status: Vec<u16> = r.responses.iter().map(|x| x.status).collect();
    assert_eq!(status, [200, 200, 200, 200, 404, 405, 400]);
    for x in &r.responses[..4] {
        assert!(x.verified, "{x:?}");
    }
    assert_eq!(r.responses[1].bytes, 300_000);
    assert_eq!(r.responses[3].bytes, 70_000);
}

#[test]
fn webtransport_streams_and_datagrams_both_roles() {
    let app = H3Client::new("localhost", vec![], 1, T0).with_webtransport(wt_opts("/wt/echo"));
    let sim = run(server(), app, LinkConfig::clean(), 2);
    let w = sim.client.app().report.webtransport.clone().unwrap();
    assert!(w.verified, "{w:?}");
    assert!(w.closed && w.bidi_verified && w.uni_verified, "{w:?}");
    assert_eq!((w.bidi_bytes_echoed, w.uni_bytes_echoed), (200_000, 200_000));
    // A clean link loses nothing: every datagram comes back, routed by its quarter stream id.
    assert_eq!((w.datagrams_sent, w.datagrams_echoed, w.datagrams_bad), (40, 40, 0), "{w:?}");
}

#[test]
fn webtransport_survives_loss() {
    for seed in [7, 8] {
        let app = H3Client::new("localhost", vec![get("/bytes/1000")], 1, T0).with_webtransport(wt_opts("/wt/echo"));
        let sim = run(server(), app, LinkConfig::lossy(0.03), seed);
        let r = &sim.client.app().report;
        assert!(r.verified, "seed {seed}: {r:?}");
    }
}

#[test]
fn webtransport_to_an_unknown_path_is_404() {
    let app = H3Client::new("localhost", vec![], 1, T0).with_webtransport(wt_opts("/wt/nowhere"));
    let sim = run(server(), app, LinkConfig::clean(), 3);
    let w = sim.client.app().report.webtransport.clone().unwrap();
    assert_eq!(w.status, 404);
    assert!(!w.verified);
}

#[test]
fn websocket_over_h3_both_roles() {
    let app = H3Client::new("localhost", vec![get("/bytes/10")], 1, T0).with_websocket(WsOptions { path: "/ws/echo".into(), message_bytes: 100_000 });
    let sim = run(server(), app, LinkConfig::lossy(0.02), 4);
    let r = &sim.client.app().report;
    let w = r.websocket.clone().unwrap();
    assert!(w.verified, "{w:?}");
    assert_eq!((w.messages_echoed, w.pongs_received, w.close_code_received), (3, 2, Some(1000)));
    assert!(r.verified, "{r:?}");
}

/// A handler that is not the demo: it answers `GET /hello?name=x` with `hello x`
/// only from its tick (an answer given after the request event, as an
/// asynchronous handler would), counts POST bodies, and accepts WebTransport on
/// any path under `/chat/`.
#[derive(Default)]
struct Later {
    pending: Vec<(i64, String)>,
    posted: Vec<(i64, u64)>,
}

impl Handler for Later {
    fn on_request(&mut self, cx: &mut Ctx, req: H3Request) {
        match (req.method.as_str(), req.route()) {
            ("GET", "/hello") => {
                let name = req.path.split_once("?name=").map_or("", |(_, n)| n).to_string();
                self.pending.push((req.id, name));
            }
            ("POST", "/sum") => self.posted.push((req.id, 0)),
            _ => cx.respond_static(req.id, b"404", b"no\n"),
        }
    }

    fn on_data(&mut self, _cx: &mut Ctx, id: i64, data: Vec<u8>) {
        if let Some(p) = self.posted.iter_mut().find(|p| p.0 == id) {
            p.1 += data.len() as u64;
        }
    }

    fn on_end(&mut self, cx: &mut Ctx, id: i64) {
        if let Some(i) = self.posted.iter().position(|p| p.0 == id) {
            let (_, n) = self.posted.remove(i);
            cx.respond_static(id, b"200", format!("{{\"bytes\":{n}}}").as_bytes());
        }
    }

    fn on_webtransport(&mut self, _cx: &mut Ctx, req: &H3Request) -> Option<Box<dyn WebTransportHandler>> {
        req.route().starts_with("/chat/").then(|| Box::new(EchoHandler::default()) as Box<dyn WebTransportHandler>)
    }

    fn on_tick(&mut self, cx: &mut Ctx) {
        for (id, name) in self.pending.drain(..) {
            cx.respond_static(id, b"200", format!("hello {name}").as_bytes());
        }
    }
}

#[test]
fn a_handler_with_state_that_answers_later() {
    let tls = TlsContext::server(identity(), &["h3"], TicketKey::ephemeral()).unwrap();
    let factory: AppFactory = Box::new(|alpn: &[u8]| {
        (alpn == b"h3").then(|| Box::new(H3Server::new(Box::new(Later::default()))) as Box<dyn ConnectionApp>)
    });
    let server = ServerHost::server(ServerEndpoint::new(tls, ServerConfig::default()), factory);
    let reqs = vec![get("/hello?name=x"), post("/sum", 12345), get("/bytes/10")];
    let app = H3Client::new("localhost", reqs, 3, T0).with_webtransport(wt_opts("/chat/room1"));
    let sim = run(server, app, LinkConfig::clean(), 5);
    let r = &sim.client.app().report;
    let got: Vec<(u16, u64)> = r.responses.iter().map(|x| (x.status, x.bytes)).collect();
    // "hello x" (7 bytes); {"bytes":12345} (15 bytes, not an echo, so not "verified"); the demo's route is not there.
    assert_eq!(got, [(200, 7), (200, 15), (404, 3)], "{r:?}");
    let w = r.webtransport.clone().unwrap();
    assert!(w.verified, "{w:?}");
}

/// A handler that answers `GET /after?ms=N` N ms after the request, from a
/// timer of its own ([`Handler::timeout`]): nothing else arrives meanwhile, so
/// without the host honouring the handler's deadline the answer would wait for
/// the next packet (none comes before the idle timeout).
#[derive(Default)]
struct Delayed {
    due: Vec<(u64, i64)>,
}

impl Handler for Delayed {
    fn on_request(&mut self, cx: &mut Ctx, req: H3Request) {
        let ms: u64 = req.path.split_once("?ms=").and_then(|(_, n)| n.parse().ok()).unwrap_or(0);
        self.due.push((cx.now + ms * MS, req.id));
    }

    fn on_tick(&mut self, cx: &mut Ctx) {
        let now = cx.now;
        let ready: Vec<i64> = self.due.iter().filter(|(t, _)| *t <= now).map(|(_, id)| *id).collect();
        self.due.retain(|(t, _)| *t > now);
        for id in ready {
            cx.respond_static(id, b"200", b"later");
        }
    }

    fn timeout(&self) -> Option<u64> {
        self.due.iter().map(|(t, _)| *t).min()
    }
}

#[test]
fn a_handler_timer_wakes_the_connection() {
    let tls = TlsContext::server(identity(), &["h3"], TicketKey::ephemeral()).unwrap();
    let factory: AppFactory = Box::new(|alpn: &[u8]| {
        (alpn == b"h3").then(|| Box::new(H3Server::new(Box::new(Delayed::default()))) as Box<dyn ConnectionApp>)
    });
    let server = ServerHost::server(ServerEndpoint::new(tls, ServerConfig::default()), factory);
    let reqs = vec![get("/after?ms=200"), get("/after?ms=700")];
    let sim = run(server, H3Client::new("localhost", reqs, 2, T0), LinkConfig::clean(), 6);
    let r = &sim.client.app().report;
    let got: Vec<(u16, u64)> = r.responses.iter().map(|x| (x.status, x.bytes)).collect();
    assert_eq!(got, [(200, 5), (200, 5)], "{r:?}");
    // Each answer comes at its deadline plus about one RTT (the clean link: 5 ms each way), never at a later packet.
    for (resp, ms) in r.responses.iter().zip([200.0, 700.0]) {
        assert!(resp.ms >= ms && resp.ms < ms + 40.0, "{} answered after {} ms", resp.path, resp.ms);
    }
}

//! Application protocols, chosen per connection by the negotiated ALPN.

pub mod echo;
pub mod h3;
pub mod h3_client;
pub mod js_handler;
pub mod js_quic;
pub mod js_wt;

/// The application trait and factory live with the host that calls them
/// (`crate::io::host`); re-exported here where applications implement them.
pub use crate::io::host::{AppFactory, ConnectionApp};

/// The ALPN protocols the server binary offers, in preference order.
pub const SERVER_ALPNS: &[&str] = &[echo::ALPN, h3::ALPN];

/// The server's factory: `echo` and `h3` (the demo routes).
pub fn server_factory() -> AppFactory {
    server_factory_with(Box::new(|| Box::new(h3::demo::DemoRoutes::default())))
}

/// The server's factory with the `h3` handler made by `h3_handler` (one per connection),
/// e.g. the demo routes with static files (`socket-iwa-server --static`).
pub fn server_factory_with(h3_handler: Box<dyn Fn() -> Box<dyn crate::h3::handler::Handler>>) -> AppFactory {
    Box::new(move |alpn: &[u8]| match alpn {
        a if a == echo::ALPN.as_bytes() => Some(Box::new(echo::EchoServer::default()) as Box<dyn ConnectionApp>),
        a if a == h3::ALPN.as_bytes() => Some(Box::new(h3::H3Server::new(h3_handler())) as Box<dyn ConnectionApp>),
        _ => None,
    })
}

//! The HTTP data plane: entry points accept connections and serve HTTP/1.1 and HTTP/2 (h2c) on the
//! same port; each request loads the current snapshot once, is routed by the entry point's
//! [`router::RouterTable`], and handed to a compiled service (a load balancer that proxies to an
//! upstream pool, or an internal service such as `ping@internal`).

pub mod balancer;
pub mod body;
pub mod ctx;
pub mod entrypoint;
pub mod error;
pub mod failover;
pub mod forwarded;
pub mod health;
// HTTP/3 (feature `http3`); without the feature, a stand-in that warns and serves nothing.
#[cfg(feature = "http3")]
pub mod http3;
#[cfg(not(feature = "http3"))]
#[path = "http3_off.rs"]
pub mod http3;
pub mod internal;
pub mod load_balancer;
pub mod mirror;
pub mod passive;
pub mod proxy;
pub mod router;
pub mod server;
pub mod service;
pub mod service_state;
pub mod sticky;
pub mod strategy;
pub mod upstream;

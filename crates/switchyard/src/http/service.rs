//! Compiled services: what a matched router hands the request to. A [`Handler`] is a router's
//! compiled target; a [`Service`] is a load balancer over upstream servers, a weighted set of other
//! services, or an internal service (`ping@internal`, `noop@internal`, ...).

use std::sync::Arc;

use http::{Request, Response, StatusCode};

use super::balancer::WeightedRoundRobin;
use super::body::{text_response, Body};
pub use super::ctx::RequestCtx;
use super::internal::Internal;
use super::proxy;
use super::upstream::UpstreamClient;
use crate::middleware::{Middleware, Next};

/// A router's compiled target: its middlewares (entry point's, router's, service's, flattened)
/// and its service.
#[derive(Debug)]
pub struct Handler {
    /// The router's qualified name, for logs.
    pub router: Arc<str>,
    pub middlewares: Vec<Arc<dyn Middleware>>,
    pub service: Arc<Service>,
}

impl Handler {
    pub async fn call(&self, req: Request<Body>, ctx: &RequestCtx) -> Response<Body> {
        if self.middlewares.is_empty() {
            self.service.call(req, ctx).await
        } else {
            Next::new(&self.middlewares, &self.service)
                .run(req, ctx)
                .await
        }
    }
}

/// A compiled service.
#[derive(Debug)]
pub enum Service {
    LoadBalancer(LoadBalancer),
    Weighted(Weighted),
    Internal(Internal),
}

impl Service {
    pub async fn call(&self, req: Request<Body>, ctx: &RequestCtx) -> Response<Body> {
        match self {
            Service::LoadBalancer(lb) => lb.call(req, ctx).await,
            Service::Weighted(w) => match w.wrr.as_ref().map(|wrr| &w.children[wrr.pick()]) {
                Some(child) => Box::pin(child.call(req, ctx)).await,
                None => no_available_server(),
            },
            Service::Internal(internal) => internal.call(req, ctx),
        }
    }
}

/// Traefik's answer when a service has nothing to send the request to.
pub fn no_available_server() -> Response<Body> {
    text_response(StatusCode::SERVICE_UNAVAILABLE, "no available server\n")
}

/// The scheme Switchyard speaks to one upstream server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamScheme {
    Http,
    Https,
    H2c,
}

/// One upstream server of a load balancer.
#[derive(Debug)]
pub struct UpstreamServer {
    /// The URL as configured (for logs, later for the API and access log).
    pub url: Arc<str>,
    pub scheme: UpstreamScheme,
    pub authority: http::uri::Authority,
    /// With `preservePath`, the server URL's path, joined in front of the request path.
    pub path_prefix: Option<String>,
}

/// `loadBalancer` service: weighted round robin over its servers.
#[derive(Debug)]
pub struct LoadBalancer {
    pub name: Arc<str>,
    pub servers: Vec<UpstreamServer>,
    pub wrr: Option<WeightedRoundRobin>,
    pub pass_host_header: bool,
    pub client: Arc<UpstreamClient>,
}

impl LoadBalancer {
    async fn call(&self, req: Request<Body>, ctx: &RequestCtx) -> Response<Body> {
        let Some(wrr) = &self.wrr else {
            return no_available_server();
        };
        let server = &self.servers[wrr.pick()];
        proxy::forward(self, server, req, ctx).await
    }
}

/// `weighted` service: weighted round robin over other services.
#[derive(Debug)]
pub struct Weighted {
    pub children: Vec<Arc<Service>>,
    pub wrr: Option<WeightedRoundRobin>,
}

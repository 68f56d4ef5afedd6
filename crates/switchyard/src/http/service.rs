//! Compiled services: what a matched router hands the request to. A [`Handler`] is a router's
//! compiled target; a [`Service`] is a load balancer over upstream servers
//! ([`super::load_balancer`]), a composition of other services (weighted, mirroring, failover,
//! highest random weight), a service wrapped in its own middlewares (3.7), or an internal service
//! (`ping@internal`, `noop@internal`, ...).
//!
//! Health propagates upwards on demand: [`Service::is_up`] reads the servers' atomics, so a parent
//! with `healthCheck: {}` skips children whose servers are all down without any registration or
//! callbacks, and a reload needs no rewiring.

use std::sync::Arc;

use http::{Request, Response, StatusCode};

use super::balancer::WeightedRoundRobin;
use super::body::{text_response, Body};
pub use super::ctx::RequestCtx;
pub use super::failover::Failover;
use super::internal::Internal;
pub use super::load_balancer::{LoadBalancer, UpstreamScheme, UpstreamServer};
pub use super::mirror::Mirroring;
use super::sticky::Sticky;
use super::strategy;
use crate::middleware::{Middleware, Next};

/// A router's compiled target: its middlewares (entry point's, then router's, flattened) and its
/// service (which runs its own middlewares, if any, itself).
#[derive(Debug)]
pub struct Handler {
    /// The router's qualified name, for logs.
    pub router: Arc<str>,
    /// The router's service (qualified name), for metrics and logs.
    pub service_name: Arc<str>,
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
    Mirroring(Mirroring),
    Failover(Failover),
    HighestRandomWeight(HighestRandomWeight),
    /// A service with its own `middlewares` (3.7), run after the router's.
    WithMiddlewares(WithMiddlewares),
    Internal(Internal),
}

impl Service {
    pub async fn call(&self, req: Request<Body>, ctx: &RequestCtx) -> Response<Body> {
        match self {
            Service::LoadBalancer(lb) => lb.call(req, ctx).await,
            // Composite services call services: boxed, as the recursion needs.
            Service::Weighted(w) => Box::pin(w.call(req, ctx)).await,
            Service::Mirroring(m) => Box::pin(m.call(req, ctx)).await,
            Service::Failover(f) => Box::pin(f.call(req, ctx)).await,
            Service::HighestRandomWeight(h) => Box::pin(h.call(req, ctx)).await,
            Service::WithMiddlewares(w) => {
                Box::pin(Next::new(&w.middlewares, &w.inner).run(req, ctx)).await
            }
            Service::Internal(internal) => internal.call(req, ctx),
        }
    }

    /// Whether the service can take requests: some server (or child) is up.
    pub fn is_up(&self) -> bool {
        match self {
            Service::LoadBalancer(lb) => lb.is_up(),
            Service::Weighted(w) => w.is_up(),
            Service::Mirroring(m) => m.is_up(),
            Service::Failover(f) => f.is_up(),
            Service::HighestRandomWeight(h) => h.is_up(),
            Service::WithMiddlewares(w) => w.inner.is_up(),
            Service::Internal(_) => true,
        }
    }

    /// Whether a parent with `healthCheck: {}` may follow this service's health (Traefik's
    /// `RegisterStatusUpdater`).
    pub fn health_support(&self) -> HealthSupport {
        match self {
            Service::LoadBalancer(lb) if lb.health_checked => HealthSupport::Enabled,
            Service::LoadBalancer(lb) => HealthSupport::Disabled(lb.strategy.label()),
            Service::Weighted(w) if w.health_check => HealthSupport::Enabled,
            Service::Weighted(_) => HealthSupport::Disabled("weighted"),
            // Traefik asks the main service only when a parent registers.
            Service::Mirroring(m) if m.health_check => m.main.health_support(),
            Service::Mirroring(_) => HealthSupport::Disabled("mirroring"),
            Service::Failover(f) if f.health_check => HealthSupport::Enabled,
            Service::Failover(_) => HealthSupport::Disabled("failover"),
            Service::HighestRandomWeight(h) if h.health_check => HealthSupport::Enabled,
            Service::HighestRandomWeight(_) => HealthSupport::Disabled("HRW"),
            Service::WithMiddlewares(w) => w.inner.health_support(),
            Service::Internal(_) => HealthSupport::Unsupported,
        }
    }
}

/// Whether a service's health can be followed by a parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthSupport {
    Enabled,
    /// The service could, but has no health check configured; its kind, for the error message.
    Disabled(&'static str),
    /// The service has no notion of health (internal services).
    Unsupported,
}

/// Traefik's answer when a service has nothing to send the request to.
pub fn no_available_server() -> Response<Body> {
    text_response(StatusCode::SERVICE_UNAVAILABLE, "no available server\n")
}

/// `weighted` service: weighted round robin over other services, optionally sticky, optionally
/// following its children's health (`healthCheck: {}`).
#[derive(Debug)]
pub struct Weighted {
    pub children: Vec<Arc<Service>>,
    pub weights: Vec<u32>,
    pub wrr: Option<WeightedRoundRobin>,
    /// Cookie values name the children as written in the configuration.
    pub sticky: Option<Sticky>,
    pub health_check: bool,
}

impl Weighted {
    async fn call(&self, req: Request<Body>, ctx: &RequestCtx) -> Response<Body> {
        let sticky = self
            .sticky
            .as_ref()
            .and_then(|s| s.target(req.headers()))
            .filter(|&(i, _)| self.usable(i));
        let (index, write_cookie) = match sticky {
            Some(hit) => hit,
            None => match self
                .wrr
                .as_ref()
                .and_then(|w| w.pick_where(|i| self.usable(i)))
            {
                Some(i) => (i, self.sticky.is_some()),
                None => return no_available_server(),
            },
        };
        let mut resp = self.children[index].call(req, ctx).await;
        if write_cookie {
            if let Some(sticky) = &self.sticky {
                sticky.set_cookie(resp.headers_mut(), index);
            }
        }
        resp
    }

    fn usable(&self, i: usize) -> bool {
        self.weights.get(i).is_some_and(|&w| w > 0)
            && (!self.health_check || self.children[i].is_up())
    }

    fn is_up(&self) -> bool {
        (0..self.children.len()).any(|i| self.usable(i))
    }
}

/// `highestRandomWeight` service: rendezvous hashing of the client IP over child services, so a
/// client keeps its child while it is usable.
#[derive(Debug)]
pub struct HighestRandomWeight {
    pub children: Vec<Arc<Service>>,
    /// The children's names as written (hashed with the client IP, as in Traefik).
    pub names: Vec<String>,
    pub weights: Vec<u32>,
    pub health_check: bool,
}

impl HighestRandomWeight {
    async fn call(&self, req: Request<Body>, ctx: &RequestCtx) -> Response<Body> {
        let ip = strategy::client_ip(ctx.peer.ip());
        let pick = strategy::pick_hrw(
            ip.as_str(),
            self.children.len(),
            |i| self.usable(i),
            |i| &self.names[i],
            |i| f64::from(self.weights[i]),
        );
        match pick {
            Some(i) => self.children[i].call(req, ctx).await,
            None => no_available_server(),
        }
    }

    fn usable(&self, i: usize) -> bool {
        self.weights.get(i).is_some_and(|&w| w > 0)
            && (!self.health_check || self.children[i].is_up())
    }

    fn is_up(&self) -> bool {
        (0..self.children.len()).any(|i| self.usable(i))
    }
}

/// A service wrapped in its own middlewares (`http.services.<name>.middlewares`, 3.7).
#[derive(Debug)]
pub struct WithMiddlewares {
    pub middlewares: Vec<Arc<dyn Middleware>>,
    pub inner: Arc<Service>,
}

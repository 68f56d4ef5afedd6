//! The `loadBalancer` service: picks one upstream server per request and hands the request to
//! [`proxy::forward`]. The pick honours, in order: the sticky cookie (when its server is usable),
//! then the strategy (`wrr`, `p2c`, `hrw`, `leasttime`) among usable servers. A server is usable
//! while its health (active and passive checks, kept in [`BalancerState`] across reloads) is up;
//! weight-0 servers are never picked, except by `p2c`, which ignores weights as Traefik does.
//! With no usable server the answer is 503 `no available server`.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::{Body as HttpBody, Frame, SizeHint};

use super::balancer::WeightedRoundRobin;
use super::body::{Body, BoxError};
use super::ctx::RequestCtx;
use super::error::ErrorKind;
use super::passive::PassivePolicy;
use super::proxy;
use super::service::no_available_server;
use super::service_state::{BalancerState, InflightGuard};
use super::sticky::Sticky;
use super::strategy::{self, Strategy};
use super::upstream::UpstreamClient;

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
    /// The URL as configured (for logs, sticky cookies, `hrw`, later the API and access log).
    pub url: Arc<str>,
    pub scheme: UpstreamScheme,
    pub authority: http::uri::Authority,
    /// With `preservePath`, the server URL's path, joined in front of the request path.
    pub path_prefix: Option<String>,
    pub weight: u32,
}

/// `loadBalancer` service.
#[derive(Debug)]
pub struct LoadBalancer {
    pub name: Arc<str>,
    pub servers: Vec<UpstreamServer>,
    pub strategy: Strategy,
    /// The WRR schedule (also the tie-breaker of `leasttime`); `None` when every weight is 0.
    pub wrr: Option<WeightedRoundRobin>,
    pub pass_host_header: bool,
    pub client: Arc<UpstreamClient>,
    /// Health and load of each server (index-aligned with `servers`), shared across reloads.
    pub state: Arc<BalancerState>,
    pub sticky: Option<Sticky>,
    pub passive: Option<PassivePolicy>,
    /// Whether an active health check is configured (parents may then follow this service's
    /// health).
    pub health_checked: bool,
}

impl LoadBalancer {
    pub(super) async fn call(&self, req: Request<Body>, ctx: &RequestCtx) -> Response<Body> {
        let sticky = self
            .sticky
            .as_ref()
            .and_then(|s| s.target(req.headers()))
            .filter(|&(i, _)| self.usable(i));
        let (index, write_cookie) = match sticky {
            Some((i, rewrite)) => (i, rewrite),
            None => match self.pick(ctx) {
                Some(i) => (i, self.sticky.is_some()),
                None => return no_available_server(),
            },
        };
        let server = &self.servers[index];
        let state = &self.state.servers[index];
        let tracks_load = matches!(self.strategy, Strategy::P2c | Strategy::LeastTime);
        let guard = tracks_load.then(|| state.track());
        let started = (self.strategy == Strategy::LeastTime).then(Instant::now);

        let mut resp = proxy::forward(self, server, req, ctx).await;

        // Only answers from the server count as response times, not the proxy's 502/504.
        if let Some(started) = started {
            if resp.extensions().get::<ErrorKind>().is_none() {
                state.record_response_time(started.elapsed());
            }
        }
        if let Some(passive) = &self.passive {
            passive.observe(&self.name, state, resp.status());
        }
        if write_cookie {
            if let Some(sticky) = &self.sticky {
                sticky.set_cookie(resp.headers_mut(), index);
            }
        }
        match guard {
            Some(guard) => resp.map(|body| {
                Tracked {
                    body,
                    _guard: guard,
                }
                .boxed()
            }),
            None => resp,
        }
    }

    /// Whether server `i` may be picked.
    fn usable(&self, i: usize) -> bool {
        self.state.servers.get(i).is_some_and(|s| s.is_up())
            && (self.strategy == Strategy::P2c || self.servers[i].weight > 0)
    }

    /// Whether any server may be picked (a parent with `healthCheck: {}` follows this).
    pub fn is_up(&self) -> bool {
        (0..self.servers.len()).any(|i| self.usable(i))
    }

    fn pick(&self, ctx: &RequestCtx) -> Option<usize> {
        let n = self.servers.len();
        match self.strategy {
            Strategy::Wrr => self.wrr.as_ref()?.pick_where(|i| self.usable(i)),
            Strategy::P2c => {
                strategy::pick_p2c(n, |i| self.usable(i), |i| self.state.servers[i].inflight())
            }
            Strategy::Hrw => {
                let ip = strategy::client_ip(ctx.peer.ip());
                strategy::pick_hrw(
                    ip.as_str(),
                    n,
                    |i| self.usable(i),
                    |i| &self.servers[i].url,
                    |i| f64::from(self.servers[i].weight),
                )
            }
            Strategy::LeastTime => strategy::pick_least_time(
                n,
                |i| self.usable(i),
                |i| {
                    let s = &self.state.servers[i];
                    s.average_response_time() * (1 + s.inflight()) as f64
                        / f64::from(self.servers[i].weight)
                },
                self.wrr.as_ref(),
            ),
        }
    }
}

/// A response body that keeps its request counted as in flight until it is done or dropped.
struct Tracked {
    body: Body,
    _guard: InflightGuard,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

//! HTTP middlewares (`http.middlewares.<name>.<type>`). Every middleware has the same shape, one
//! module per type: the Traefik config → middleware mapping with validation (errors name the
//! option), the middleware itself (an implementation of [`Middleware`]), and its tests.
//!
//! A router's middlewares run in Traefik's order — entry point middlewares, then the router's,
//! then the service's — as a flat list: `chain` is flattened when compiled. Each middleware gets
//! the request and a [`Next`] that runs the rest of the list and finally the service; it may
//! answer on its own (401, 403, 429, a redirect ...) without calling `next`.
//!
//! State that must survive reloads (rate-limit buckets, in-flight counters ...) lives in
//! [`MiddlewareState`], keyed by the middleware's qualified name and configuration.

pub mod add_prefix;
pub mod basic_auth;
pub mod buffering;
pub mod circuit_breaker;
pub mod code_ranges;
pub mod compress;
pub mod content_type;
pub mod digest_auth;
pub mod encoded_characters;
pub mod errors;
pub mod forward_auth;
pub mod grpc_web;
pub mod headers;
pub mod in_flight;
pub mod ip_allow_list;
pub mod pass_tls_client_cert;
pub mod rate_limit;
pub mod redirect;
pub mod registry;
pub mod replace_path;
pub mod replay;
pub mod retry;
pub mod source;
pub mod strip_prefix;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::{Request, Response};
use switchyard_model::config::dynamic::Middleware as MiddlewareConfig;

use crate::http::body::Body;
use crate::http::service::{RequestCtx, Service};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One compiled middleware.
pub trait Middleware: Send + Sync + fmt::Debug {
    /// Handles the request: answer directly, or call `next.run(req, ctx)` (possibly with a
    /// changed request) and return (possibly a changed) response.
    fn call<'a>(
        &'a self,
        req: Request<Body>,
        ctx: &'a RequestCtx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Response<Body>>;
}

/// The rest of a middleware list, then the service.
#[derive(Clone, Copy)]
pub struct Next<'a> {
    chain: &'a [Arc<dyn Middleware>],
    service: &'a Service,
}

impl<'a> Next<'a> {
    pub fn new(chain: &'a [Arc<dyn Middleware>], service: &'a Service) -> Self {
        Self { chain, service }
    }

    /// Runs the next middleware, or the service when none is left.
    pub async fn run(self, req: Request<Body>, ctx: &'a RequestCtx) -> Response<Body> {
        match self.chain.split_first() {
            Some((first, rest)) => {
                first
                    .call(
                        req,
                        ctx,
                        Next {
                            chain: rest,
                            service: self.service,
                        },
                    )
                    .await
            }
            None => self.service.call(req, ctx).await,
        }
    }
}

/// Registries that outlive snapshots, for middlewares with state.
#[derive(Debug, Default)]
pub struct MiddlewareState {
    pub rate_limits: registry::Registry<rate_limit::RateLimitBuckets>,
    pub in_flight: registry::Registry<in_flight::InFlightCounters>,
    pub digest_sessions: registry::Registry<digest_auth::DigestSessions>,
    pub circuit_breakers: registry::Registry<circuit_breaker::BreakerState>,
}

/// Builds a middleware from its configuration. `name` is the qualified name (`name@provider`),
/// the key for state in `state`. `chain` (and `errors`, which needs a service) are resolved by
/// the compiler instead; unknown types return `None`.
pub fn build(
    name: &str,
    cfg: &MiddlewareConfig,
    state: &MiddlewareState,
) -> Option<Result<Arc<dyn Middleware>, String>> {
    let _ = (name, state);
    fn ok<M: Middleware + 'static>(
        r: Result<M, String>,
    ) -> Option<Result<Arc<dyn Middleware>, String>> {
        Some(r.map(|m| Arc::new(m) as Arc<dyn Middleware>))
    }
    if let Some(c) = &cfg.add_prefix {
        return ok(add_prefix::AddPrefix::new(c));
    }
    if let Some(c) = &cfg.strip_prefix {
        return ok(strip_prefix::StripPrefix::new(c));
    }
    if let Some(c) = &cfg.strip_prefix_regex {
        return ok(strip_prefix::StripPrefixRegex::new(c));
    }
    if let Some(c) = &cfg.replace_path {
        return ok(replace_path::ReplacePath::new(c));
    }
    if let Some(c) = &cfg.replace_path_regex {
        return ok(replace_path::ReplacePathRegex::new(c));
    }
    if let Some(c) = &cfg.redirect_scheme {
        return ok(redirect::RedirectScheme::new(c));
    }
    if let Some(c) = &cfg.redirect_regex {
        return ok(redirect::RedirectRegex::new(c));
    }
    if let Some(c) = &cfg.pass_tls_client_cert {
        return ok(pass_tls_client_cert::PassTlsClientCert::new(c));
    }
    if let Some(c) = &cfg.buffering {
        return ok(buffering::Buffering::new(c));
    }
    if let Some(c) = &cfg.circuit_breaker {
        return ok(circuit_breaker::CircuitBreaker::new(
            name,
            c,
            &state.circuit_breakers,
        ));
    }
    if let Some(c) = &cfg.compress {
        return ok(compress::Compress::new(c));
    }
    if let Some(c) = &cfg.forward_auth {
        return ok(forward_auth::ForwardAuth::new(c));
    }
    if let Some(c) = &cfg.grpc_web {
        return ok(grpc_web::GrpcWeb::new(c));
    }
    if let Some(c) = &cfg.retry {
        return ok(retry::Retry::new(c));
    }
    if let Some(c) = &cfg.headers {
        return ok(headers::Headers::new(c));
    }
    if let Some(c) = &cfg.ip_allow_list {
        return ok(ip_allow_list::IpAllowList::new(c));
    }
    if let Some(c) = &cfg.ip_white_list {
        return ok(ip_allow_list::IpAllowList::white_list(c));
    }
    if let Some(c) = &cfg.in_flight_req {
        let key = registry::state_key(name, c);
        return ok(in_flight::InFlightReq::new(
            c,
            state.in_flight.get_or_insert_with(key, Default::default),
        ));
    }
    if let Some(c) = &cfg.rate_limit {
        let key = registry::state_key(name, c);
        return ok(rate_limit::RateLimit::new(
            name,
            c,
            state.rate_limits.get_or_insert_with(key, Default::default),
        ));
    }
    if let Some(c) = &cfg.basic_auth {
        return ok(basic_auth::BasicAuth::new(c));
    }
    if let Some(c) = &cfg.digest_auth {
        let key = registry::state_key(name, c);
        return ok(digest_auth::DigestAuth::new(
            c,
            state
                .digest_sessions
                .get_or_insert_with(key, Default::default),
        ));
    }
    if let Some(c) = &cfg.content_type {
        return ok(content_type::ContentType::new(c));
    }
    if let Some(c) = &cfg.encoded_characters {
        return ok(encoded_characters::EncodedCharacters::new(c));
    }
    None
}

/// Replaces the request's path (keeping the query), as path-rewriting middlewares do.
pub fn set_path(req: &mut Request<Body>, path: &str) -> Result<(), http::Error> {
    let pq = match req.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = Some(pq.parse()?);
    *req.uri_mut() = http::Uri::from_parts(parts)?;
    Ok(())
}

/// Traefik's answer when a rewritten path is not a valid request target.
pub fn invalid_path() -> Response<Body> {
    crate::http::body::text_response(http::StatusCode::BAD_REQUEST, "Bad Request")
}

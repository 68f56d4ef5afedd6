//! Internal services: `ping@internal` (readiness: 200 `OK`, or the terminating status while the
//! process drains), `noop@internal` (418, Traefik's placeholder service) and `whoami@internal`, a
//! small echo service for examples and tests that answers with what it received.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use http::{Request, Response, StatusCode};

use super::body::{full, text_response, Body};
use super::service::RequestCtx;

/// Process-wide readiness, shared by the ping service and the lifecycle.
#[derive(Debug, Default)]
pub struct Health {
    /// Every configured provider delivered its first configuration.
    pub ready: AtomicBool,
    /// SIGTERM received: ping answers the terminating status.
    pub terminating: AtomicBool,
}

/// An internal service.
#[derive(Debug, Clone)]
pub enum Internal {
    Ping {
        health: Arc<Health>,
        terminating_status: StatusCode,
    },
    Noop,
    Whoami {
        hostname: Arc<str>,
    },
    /// `api@internal`.
    Api(Arc<crate::api::ApiState>),
    /// `dashboard@internal`.
    Dashboard(Arc<crate::api::ApiState>),
    /// `prometheus@internal`: the metrics exposition.
    Prometheus(Arc<crate::observe::metrics::Metrics>),
}

impl Internal {
    pub fn call(&self, req: Request<Body>, ctx: &RequestCtx) -> Response<Body> {
        match self {
            Internal::Ping {
                health,
                terminating_status,
            } => {
                if health.terminating.load(Ordering::Relaxed) {
                    text_response(*terminating_status, "Service Unavailable")
                } else if !health.ready.load(Ordering::Relaxed) {
                    text_response(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
                } else {
                    let mut r = text_response(StatusCode::OK, "OK");
                    r.headers_mut().remove("x-content-type-options");
                    r
                }
            }
            Internal::Noop => {
                let mut r = Response::new(super::body::empty());
                *r.status_mut() = StatusCode::IM_A_TEAPOT;
                r
            }
            Internal::Whoami { hostname } => whoami(hostname, &req, ctx),
            Internal::Api(api) => api.serve(&req),
            Internal::Dashboard(api) => api.serve_dashboard(&req),
            Internal::Prometheus(metrics) => {
                let mut resp = Response::new(full(metrics.render()));
                resp.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                resp
            }
        }
    }
}

/// Echoes the request, like traefik/whoami's text output.
fn whoami(hostname: &str, req: &Request<Body>, ctx: &RequestCtx) -> Response<Body> {
    let mut out = String::with_capacity(256);
    let _ = writeln!(out, "Hostname: {hostname}");
    let _ = writeln!(out, "RemoteAddr: {}", ctx.peer);
    let _ = writeln!(out, "EntryPoint: {}", ctx.entry_point);
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let _ = writeln!(out, "{} {} {:?}", req.method(), target, req.version());
    if let Some(host) = req.uri().authority() {
        let _ = writeln!(out, "Host: {host}");
    }
    for (name, value) in req.headers() {
        let _ = writeln!(
            out,
            "{}: {}",
            name,
            String::from_utf8_lossy(value.as_bytes())
        );
    }
    let mut resp = Response::new(full(out));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

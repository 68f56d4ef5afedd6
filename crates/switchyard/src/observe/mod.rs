//! Observability: the process log ([`log`]) and the per-request sinks, Prometheus [`metrics`],
//! the [`access_log`] and OpenTelemetry tracing ([`otel`]).
//!
//! The sinks share one input, the [`record::Record`] the entry point builds for every request
//! (see that module for how the data path fills it). [`Observers`] holds the configured sinks;
//! with none configured, [`Observers::is_active`] is false and the request path skips all of this.

pub mod access_log;
pub mod log;
pub mod metrics;
pub mod otel;
pub mod record;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use switchyard_model::config::static_cfg::StaticConfig;

use crate::http::body::{Body, BoxError};
use crate::http::ctx::RequestCtx;
use crate::http::service_state::ServiceState;
use record::{Protocol, Record, TlsInfo, Trail};

/// The configured per-request sinks.
#[derive(Debug, Default)]
pub struct Observers {
    pub metrics: Option<Arc<metrics::Metrics>>,
    pub access_log: Option<Arc<access_log::AccessLog>>,
    pub tracer: Option<Arc<otel::Tracer>>,
    request_headers: bool,
    response_headers: bool,
}

impl Observers {
    /// No sink: requests are not observed.
    pub fn none() -> Self {
        Self::default()
    }

    /// The sinks the static configuration asks for.
    pub fn from_static(cfg: &StaticConfig, services: Arc<ServiceState>) -> Result<Self, String> {
        let metrics = metrics::Metrics::from_static(cfg, services)?.map(Arc::new);
        let access_log = access_log::AccessLog::from_static(cfg)?.map(Arc::new);
        let tracer = otel::Tracer::from_static(cfg)?.map(Arc::new);
        // The tracer reads the request headers it captures itself, in `start`.
        let request_headers = metrics.as_ref().is_some_and(|m| m.wants_request_headers())
            || access_log
                .as_ref()
                .is_some_and(|a| a.wants_request_headers());
        let response_headers = access_log
            .as_ref()
            .is_some_and(|a| a.wants_response_headers())
            || tracer.as_ref().is_some_and(|t| t.wants_response_headers());
        Ok(Self {
            metrics,
            access_log,
            tracer,
            request_headers,
            response_headers,
        })
    }

    /// Whether any sink is configured.
    pub fn is_active(&self) -> bool {
        self.metrics.is_some() || self.access_log.is_some() || self.tracer.is_some()
    }

    /// A request arrived: gives it a trail (in its extensions) and starts its record.
    pub fn begin(
        self: &Arc<Self>,
        req: &mut Request<Body>,
        ctx: &RequestCtx,
        entry_point_switches: record::Switches,
    ) -> Pending {
        let trail = Arc::new(Trail::default());
        if let Some(tracer) = &self.tracer {
            if let Some(trace) = tracer.start_on(&ctx.entry_point, req.headers()) {
                trail.with(|t| t.trace = Some(trace));
            }
        }
        req.extensions_mut().insert(trail.clone());
        let headers = req.headers();
        let host = match req.uri().authority() {
            Some(a) => a.as_str().to_owned(),
            None => headers
                .get(http::header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned(),
        };
        let request_size = headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Pending {
            observers: self.clone(),
            started: Instant::now(),
            start: SystemTime::now(),
            entry_point: ctx.entry_point.clone(),
            client: ctx.peer,
            method: req.method().clone(),
            uri: req.uri().clone(),
            version: req.version(),
            host,
            request_headers: self.request_headers.then(|| headers.clone()),
            request_size,
            tls: ctx.tls_info.clone(),
            protocol: Protocol::of(headers),
            entry_point_switches,
            trail,
        }
    }

    /// A request is complete: every sink sees its record.
    pub fn finish(&self, record: Record) {
        if let Some(m) = &self.metrics {
            m.on_request(&record);
        }
        if let Some(t) = &self.tracer {
            t.finish(&record);
        }
        if let Some(a) = &self.access_log {
            let on = record
                .trail
                .switches
                .unwrap_or(record.entry_point_switches)
                .access_log;
            if on {
                a.log(&record);
            }
        }
    }
}

/// A request being handled: what the entry point knew when it arrived.
#[derive(Debug)]
pub struct Pending {
    observers: Arc<Observers>,
    started: Instant,
    start: SystemTime,
    entry_point: Arc<str>,
    client: std::net::SocketAddr,
    method: http::Method,
    uri: http::Uri,
    version: http::Version,
    host: String,
    request_headers: Option<HeaderMap>,
    request_size: u64,
    tls: Option<TlsInfo>,
    protocol: Protocol,
    entry_point_switches: record::Switches,
    trail: Arc<Trail>,
}

impl Pending {
    /// The record, with the response's status, headers and body size.
    fn complete(self, status: u16, response: ResponseFacts, response_size: u64) {
        let trail = self.trail.take();
        let internal = trail
            .router
            .as_deref()
            .is_some_and(|r| r.ends_with("@internal"));
        let record = Record {
            start: self.start,
            duration: self.started.elapsed(),
            entry_point: self.entry_point,
            client: self.client,
            method: self.method,
            uri: self.uri,
            version: self.version,
            host: self.host,
            request_headers: self.request_headers,
            request_size: self.request_size,
            tls: self.tls,
            protocol: self.protocol,
            status,
            response_size,
            response_headers: response.headers,
            grpc_status: response.grpc_status,
            entry_point_switches: self.entry_point_switches,
            internal,
            trail,
        };
        self.observers.finish(record);
    }

    /// The response is ready: its body reports the record once written (or dropped).
    pub fn attach(self, resp: Response<Body>) -> Response<Body> {
        let status = resp.status().as_u16();
        let grpc = matches!(self.protocol, Protocol::Grpc | Protocol::GrpcWeb);
        let response = ResponseFacts {
            headers: self
                .observers
                .response_headers
                .then(|| resp.headers().clone()),
            grpc_status: grpc
                .then(|| resp.headers().get(GRPC_STATUS).cloned())
                .flatten(),
        };
        resp.map(|inner| {
            Body::new(ObservedBody {
                inner,
                bytes: 0,
                grpc,
                done: Some((self, status, response)),
            })
        })
    }

    /// The client went away before a response: Traefik's 499.
    pub fn abandon(self) {
        self.complete(499, ResponseFacts::default(), 0);
    }
}

const GRPC_STATUS: &str = "grpc-status";

/// What the record keeps of the response besides its status and size.
#[derive(Debug, Default)]
struct ResponseFacts {
    /// All headers, when a sink asked.
    headers: Option<HeaderMap>,
    /// gRPC requests: `grpc-status` from the headers (trailers-only answers) or the trailers.
    grpc_status: Option<http::HeaderValue>,
}

/// A response body that counts what it yields and completes the record when dropped.
struct ObservedBody {
    inner: Body,
    bytes: u64,
    /// A gRPC request: look for `grpc-status` in the trailers.
    grpc: bool,
    done: Option<(Pending, u16, ResponseFacts)>,
}

impl HttpBody for ObservedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let poll = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &poll {
            if let Some(data) = frame.data_ref() {
                self.bytes += data.len() as u64;
            } else if self.grpc {
                if let Some(status) = frame.trailers_ref().and_then(|t| t.get(GRPC_STATUS)) {
                    let status = status.clone();
                    if let Some((_, _, response)) = &mut self.done {
                        response.grpc_status = Some(status);
                    }
                }
            }
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ObservedBody {
    fn drop(&mut self) {
        if let Some((pending, status, response)) = self.done.take() {
            pending.complete(status, response, self.bytes);
        }
    }
}

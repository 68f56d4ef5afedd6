//! The per-request record that feeds every observability sink (metrics, access log, tracing).
//!
//! The data path fills it by design rather than having each sink re-derive facts:
//! - the entry point ([`crate::http::server`]) knows the client, the request line, TLS and the
//!   final status and sizes;
//! - routing, the load balancer, the proxy, the retry middleware and the auth middlewares learn
//!   the rest while handling the request and write it into the request's [`Trail`], which travels
//!   in the request's extensions (an `Arc`, so a retried or mirrored copy writes to the same one).
//!
//! When the response body has been written (or the client went away) the entry point turns the
//! trail into a [`Record`] and hands it to [`super::Observers::finish`]. Nothing here exists when
//! no sink is configured: the request path then never allocates a trail.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http::{HeaderMap, Method, Request, Uri, Version};
use rustls::pki_types::CertificateDer;

/// What the handling of one request learnt, written while it runs.
#[derive(Debug, Default)]
pub struct Trail {
    data: Mutex<TrailData>,
}

/// The facts in a [`Trail`].
#[derive(Debug, Default)]
pub struct TrailData {
    /// The matched router (qualified name).
    pub router: Option<Arc<str>>,
    /// The router's service (qualified name).
    pub service: Option<Arc<str>>,
    /// The load balancer that sent the (last) attempt: the router's service, or a child of it
    /// (weighted, failover, mirroring...). Traefik's service metrics name this one.
    pub lb_service: Option<Arc<str>>,
    /// The upstream server the (last) attempt went to, as configured (`ServiceURL`).
    pub server_url: Option<Arc<str>>,
    /// The upstream's status, when an upstream answered (`OriginStatus`).
    pub origin_status: Option<u16>,
    /// Time from sending the upstream request to its response headers (`OriginDuration`).
    pub origin_duration: Option<Duration>,
    /// Attempts beyond the first made by the retry middleware (`RetryAttempts`).
    pub retry_attempts: u32,
    /// The user an auth middleware authenticated (`ClientUsername`).
    pub username: Option<String>,
    /// The request target after the entry point's normalisation (`sanitizePath`, `;` in the
    /// query), when it changed: what Traefik's access log shows as `RequestPath`.
    pub normalized_uri: Option<Uri>,
    /// The matched router's observability switches (the entry point's when none matched).
    pub switches: Option<Switches>,
    /// Tracing state, when the tracer sampled or propagates this request.
    pub trace: Option<super::otel::RequestTrace>,
}

impl Trail {
    /// The trail of `req`, when observability is on.
    pub fn of<B>(req: &Request<B>) -> Option<&Arc<Trail>> {
        req.extensions().get::<Arc<Trail>>()
    }

    /// Updates the trail.
    pub fn with<R>(&self, f: impl FnOnce(&mut TrailData) -> R) -> R {
        let mut data = self.data.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut data)
    }

    /// Takes the facts out (when the request is complete).
    pub fn take(&self) -> TrailData {
        std::mem::take(&mut *self.data.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Records `f` on `req`'s trail, if it has one.
pub fn note<B>(req: &Request<B>, f: impl FnOnce(&mut TrailData)) {
    if let Some(trail) = Trail::of(req) {
        trail.with(f);
    }
}

/// Which sinks a request feeds: the entry point's `observability` switches, overridden by the
/// matched router's (Traefik 3.1+). Whether a request is traced is first decided when it arrives,
/// by the entry point (see `otel`); a router with `tracing: false` then drops the trace (nothing
/// exported, the caller's `traceparent` passed on untouched). A router cannot turn tracing on
/// where its entry point has it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switches {
    pub access_log: bool,
    /// Router and service metrics (entry point metrics follow the entry point's switch).
    pub metrics: bool,
    pub tracing: bool,
}

impl Default for Switches {
    fn default() -> Self {
        Self {
            access_log: true,
            metrics: true,
            tracing: true,
        }
    }
}

/// TLS facts of the connection.
#[derive(Debug, Clone)]
pub struct TlsInfo {
    /// `1.2`, `1.3`.
    pub version: &'static str,
    /// IANA cipher suite name, e.g. `TLS_AES_128_GCM_SHA256`.
    pub cipher: &'static str,
    /// The client's certificate chain (mutual TLS), leaf first.
    pub client_certs: Option<Arc<Vec<CertificateDer<'static>>>>,
}

/// The application protocol, as Traefik's metrics label it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http,
    Websocket,
    Sse,
    Grpc,
    GrpcWeb,
}

impl Protocol {
    /// Traefik's `protocol` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Websocket => "websocket",
            Protocol::Sse => "sse",
            Protocol::Grpc => "grpc",
            Protocol::GrpcWeb => "grpc-web",
        }
    }

    /// Classifies a request by its headers, as Traefik does.
    pub fn of(headers: &HeaderMap) -> Protocol {
        // Whether a comma-separated header has `token` (parameters after `;` ignored).
        let has = |name: http::header::HeaderName, token: &str| {
            headers.get_all(name).iter().any(|v| {
                v.to_str().is_ok_and(|s| {
                    s.split(',').any(|t| {
                        t.split(';')
                            .next()
                            .is_some_and(|t| t.trim().eq_ignore_ascii_case(token))
                    })
                })
            })
        };
        if has(http::header::CONNECTION, "upgrade") && has(http::header::UPGRADE, "websocket") {
            return Protocol::Websocket;
        }
        if let Some(ct) = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
        {
            let ct = ct.to_ascii_lowercase();
            if ct.starts_with("application/grpc-web") {
                return Protocol::GrpcWeb;
            }
            if ct.starts_with("application/grpc") {
                return Protocol::Grpc;
            }
        }
        if has(http::header::ACCEPT, "text/event-stream") {
            return Protocol::Sse;
        }
        Protocol::Http
    }
}

/// Everything known about one finished request.
#[derive(Debug)]
pub struct Record {
    /// When the request arrived (wall clock).
    pub start: SystemTime,
    /// From arrival to the end of the response body (or the client going away).
    pub duration: Duration,
    /// Entry point name.
    pub entry_point: Arc<str>,
    /// The TCP peer.
    pub client: SocketAddr,
    pub method: Method,
    /// The request target as the client sent it.
    pub uri: Uri,
    pub version: Version,
    /// The Host header (or the HTTP/2 authority), as sent.
    pub host: String,
    /// The request's headers as the client sent them; only kept when a sink asked
    /// (`headerLabels`, access log header fields).
    pub request_headers: Option<HeaderMap>,
    /// The request body's declared length (`Content-Length`), 0 when unknown.
    pub request_size: u64,
    pub tls: Option<TlsInfo>,
    pub protocol: Protocol,
    /// The status sent to the client (499 when the client went away first).
    pub status: u16,
    /// Response body bytes written to the client.
    pub response_size: u64,
    /// The response's headers; only kept when a sink asked.
    pub response_headers: Option<HeaderMap>,
    /// gRPC requests: the `grpc-status` of the response (headers or trailers).
    pub grpc_status: Option<http::HeaderValue>,
    /// The entry point's observability switches (`entry_point_metrics`: its own series).
    pub entry_point_switches: Switches,
    /// Whether the request was served by an `@internal` router (excluded unless `addInternals`).
    pub internal: bool,
    /// What the data path learnt.
    pub trail: TrailData,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn classifies_protocols_like_traefik() {
        assert_eq!(Protocol::of(&headers(&[])), Protocol::Http);
        assert_eq!(
            Protocol::of(&headers(&[
                ("connection", "Upgrade"),
                ("upgrade", "WebSocket")
            ])),
            Protocol::Websocket
        );
        assert_eq!(
            Protocol::of(&headers(&[("content-type", "application/grpc+proto")])),
            Protocol::Grpc
        );
        assert_eq!(
            Protocol::of(&headers(&[("content-type", "application/grpc-web-text")])),
            Protocol::GrpcWeb
        );
        assert_eq!(
            Protocol::of(&headers(&[(
                "accept",
                "text/html, text/event-stream;q=0.9"
            )])),
            Protocol::Sse
        );
        assert_eq!(
            Protocol::of(&headers(&[("accept", "text/event-streams")])),
            Protocol::Http
        );
        // An Upgrade header without `Connection: upgrade` is not a WebSocket handshake.
        assert_eq!(
            Protocol::of(&headers(&[("upgrade", "websocket")])),
            Protocol::Http
        );
        assert_eq!(Protocol::GrpcWeb.as_str(), "grpc-web");
    }

    #[test]
    fn trail_is_shared_by_request_copies() {
        let trail = Arc::new(Trail::default());
        let mut req = Request::new(());
        req.extensions_mut().insert(trail.clone());
        let copy = {
            let mut r = Request::new(());
            *r.extensions_mut() = req.extensions().clone();
            r
        };
        note(&copy, |t| t.retry_attempts = 2);
        assert_eq!(trail.take().retry_attempts, 2);
        note(&Request::new(()), |t| t.retry_attempts = 9); // no trail: nothing happens
    }
}

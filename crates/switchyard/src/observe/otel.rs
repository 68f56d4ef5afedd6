//! PLACEHOLDER (being written): OpenTelemetry tracing (`tracing.otlp`), W3C trace context.

use http::HeaderMap;
use switchyard_model::config::static_cfg::StaticConfig;

use super::record::Record;

/// The tracer and its exporter.
#[derive(Debug)]
pub struct Tracer {}

/// One request's trace state, kept in its trail.
#[derive(Debug)]
pub struct RequestTrace {}

impl Tracer {
    /// `None` when `tracing` is not configured. May run outside a tokio runtime.
    pub fn from_static(cfg: &StaticConfig) -> Result<Option<Self>, String> {
        Ok(cfg.tracing.as_ref().map(|_| Tracer {}))
    }

    /// Whether `Record::request_headers` is needed (captured headers).
    pub fn wants_request_headers(&self) -> bool {
        false
    }

    /// Whether `Record::response_headers` is needed.
    pub fn wants_response_headers(&self) -> bool {
        false
    }

    /// A request arrived: continue its trace (`traceparent`) or start one, as sampling says.
    pub fn start(&self, _headers: &HeaderMap) -> Option<RequestTrace> {
        None
    }

    /// The request finished: export its spans.
    pub fn finish(&self, _r: &Record) {}
}

impl RequestTrace {
    /// An upstream attempt starts: opens its client span and writes `traceparent` into the
    /// upstream request's headers.
    pub fn start_upstream(&mut self, _server_url: &str, _headers: &mut HeaderMap) {}

    /// The attempt ended with the upstream's status (`None`: no response).
    pub fn end_upstream(&mut self, _status: Option<u16>) {}

    /// `(trace id, span id)` in hex, for the access log.
    pub fn ids(&self) -> Option<(String, String)> {
        None
    }
}

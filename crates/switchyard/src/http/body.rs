//! The one body type every handler returns, and small constructors for the answers the proxy
//! writes itself (404, 502, ...). Upstream bodies are boxed as they are, so they stream.

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};

/// Errors a streamed body can yield.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The response (and forwarded request) body type.
pub type Body = BoxBody<Bytes, BoxError>;

/// A complete body from static or owned bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// An empty body.
pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// A plain-text response, the way Go's `http.Error` writes one (Traefik's error answers).
pub fn text_response(status: http::StatusCode, text: &'static str) -> http::Response<Body> {
    let mut resp = http::Response::new(full(Bytes::from_static(text.as_bytes())));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        http::header::HeaderName::from_static("x-content-type-options"),
        http::HeaderValue::from_static("nosniff"),
    );
    resp
}

/// Traefik's answer when no router matches.
pub fn not_found() -> http::Response<Body> {
    text_response(http::StatusCode::NOT_FOUND, "404 page not found\n")
}

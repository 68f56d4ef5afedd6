//! `errors`: when the response status is in `status`, replaces the response with a page fetched
//! from another service, keeping the original status (or its `statusRewrites` replacement). It
//! answers on its own only when the page URL cannot be built from `query` (the status with its
//! reason text).
//!
//! The page request is a `GET` of `query` (variables `{status}`, `{originalStatus}`, `{url}`)
//! carrying the client's headers (only those of `errorRequestHeaders` when set) and its Host, so
//! the error service sees the original Host unless it sets `passHostHeader: false`. The page's
//! headers and body are sent with the enforced status. The service is resolved by the compiler
//! (`runtime/middlewares.rs`) in the middleware's provider namespace.

use std::sync::Arc;

use http::header::{HeaderMap, HeaderName, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use switchyard_model::config::dynamic::ErrorPage as Config;

use super::code_ranges::CodeRanges;
use super::{BoxFuture, Middleware, Next};
use crate::http::body::{empty, full, Body};
use crate::http::service::{RequestCtx, Service};

#[derive(Debug)]
pub struct Errors {
    status: CodeRanges,
    rewrites: Vec<(CodeRanges, StatusCode)>,
    service: Arc<Service>,
    /// `/`-prefixed path and query with the variables still in.
    query: String,
    /// `None`: every request header is forwarded.
    request_headers: Option<Vec<HeaderName>>,
}

impl Errors {
    pub fn new(cfg: &Config, service: Arc<Service>) -> Result<Self, String> {
        let status = CodeRanges::parse(&cfg.status).map_err(|e| format!("errors.status: {e}"))?;
        let mut rewrites = Vec::new();
        for (from, to) in &cfg.status_rewrites {
            let ranges = CodeRanges::parse(&[from.as_str()])
                .map_err(|e| format!("errors.statusRewrites[{from:?}]: {e}"))?;
            let to = StatusCode::from_u16(*to).map_err(|_| {
                format!("errors.statusRewrites[{from:?}]: invalid status code {to}")
            })?;
            rewrites.push((ranges, to));
        }
        let query = match cfg.query.as_deref() {
            Some(q) if !q.is_empty() => format!("/{}", q.trim_start_matches('/')),
            _ => "/".to_owned(),
        };
        let request_headers = if cfg.error_request_headers.is_empty() {
            None
        } else {
            let mut names = Vec::new();
            for (i, h) in cfg.error_request_headers.iter().enumerate() {
                names.push(HeaderName::from_bytes(h.trim().as_bytes()).map_err(|_| {
                    format!("errors.errorRequestHeaders[{i}] {h:?}: invalid header name")
                })?);
            }
            Some(names)
        };
        Ok(Self {
            status,
            rewrites,
            service,
            query,
            request_headers,
        })
    }

    fn rewrite(&self, code: StatusCode) -> StatusCode {
        self.rewrites
            .iter()
            .find(|(from, _)| from.contains(code.as_u16()))
            .map_or(code, |(_, to)| *to)
    }

    /// The page request: `GET query` with the client's headers and Host.
    fn page_request(
        &self,
        headers: &HeaderMap,
        host: Option<http::HeaderValue>,
        code: StatusCode,
        original: StatusCode,
        url: &str,
    ) -> Option<Request<Body>> {
        let target = self
            .query
            .replace("{status}", code.as_str())
            .replace("{originalStatus}", original.as_str())
            .replace("{url}", &query_escape(url));
        let uri: Uri = target.parse().ok()?;
        let mut req = Request::new(empty());
        *req.method_mut() = Method::GET;
        *req.uri_mut() = uri;
        *req.version_mut() = Version::HTTP_11;
        let out = req.headers_mut();
        match &self.request_headers {
            None => {
                for (k, v) in headers {
                    if k != CONTENT_LENGTH && k != TRANSFER_ENCODING {
                        out.append(k, v.clone());
                    }
                }
            }
            Some(names) => {
                for name in names {
                    for v in headers.get_all(name) {
                        out.append(name, v.clone());
                    }
                }
            }
        }
        if let Some(host) = host {
            out.insert(HOST, host);
        }
        Some(req)
    }
}

impl Middleware for Errors {
    fn call<'a>(
        &'a self,
        req: Request<Body>,
        ctx: &'a RequestCtx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Response<Body>> {
        Box::pin(async move {
            // The request is consumed by `next`: keep what the page request would need.
            let headers = match &self.request_headers {
                None => req.headers().clone(),
                Some(names) => {
                    let mut kept = HeaderMap::new();
                    for name in names {
                        for v in req.headers().get_all(name) {
                            kept.append(name, v.clone());
                        }
                    }
                    kept
                }
            };
            let host = match req.uri().authority() {
                Some(a) => http::HeaderValue::from_str(a.as_str()).ok(),
                None => req.headers().get(HOST).cloned(),
            };
            let uri = req.uri().clone();
            let resp = next.run(req, ctx).await;
            let original = resp.status();
            if !self.status.contains(original.as_u16()) {
                return resp;
            }
            drop(resp);
            let code = self.rewrite(original);
            let url = full_url(ctx.tls, host.as_ref(), &uri);
            tracing::debug!(%original, %code, "errors: returning the error page");
            let Some(page_req) = self.page_request(&headers, host, code, original, &url) else {
                return status_answer(code);
            };
            let page = self.service.call(page_req, ctx).await;
            let (mut parts, body) = page.into_parts();
            parts.status = code;
            Response::from_parts(parts, body)
        })
    }
}

/// What Go's `http.Error(rw, http.StatusText(code), code)` writes.
fn status_answer(code: StatusCode) -> Response<Body> {
    let text = format!("{}\n", super::code_ranges::status_text(code));
    let mut resp = Response::new(full(text));
    *resp.status_mut() = code;
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        HeaderName::from_static("x-content-type-options"),
        http::HeaderValue::from_static("nosniff"),
    );
    resp
}

/// The request URL as Traefik puts it in `{url}`: scheme, host, path and query.
fn full_url(tls: bool, host: Option<&http::HeaderValue>, uri: &Uri) -> String {
    let scheme = if tls { "https" } else { "http" };
    let host = host.and_then(|h| h.to_str().ok()).unwrap_or("");
    let pq = uri.path_and_query().map_or("/", |pq| pq.as_str());
    format!("{scheme}://{host}{pq}")
}

/// Go's `url.QueryEscape`: everything but `A-Z a-z 0-9 - _ . ~` is percent-encoded, space as `+`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::internal::Internal;

    fn cfg() -> Config {
        Config {
            status: vec!["500-599".into(), "404".into()],
            service: Some("pages".into()),
            query: Some("page/{status}/{originalStatus}?u={url}".into()),
            status_rewrites: [("502".to_owned(), 404), ("503-504".to_owned(), 410)]
                .into_iter()
                .collect(),
            ..Default::default()
        }
    }

    fn service() -> Arc<Service> {
        Arc::new(Service::Internal(Internal::Noop))
    }

    #[test]
    fn rewrites_and_variables() {
        let e = Errors::new(&cfg(), service()).unwrap();
        assert_eq!(e.rewrite(StatusCode::BAD_GATEWAY), StatusCode::NOT_FOUND);
        assert_eq!(e.rewrite(StatusCode::GATEWAY_TIMEOUT), StatusCode::GONE);
        assert_eq!(
            e.rewrite(StatusCode::INTERNAL_SERVER_ERROR),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        let mut headers = HeaderMap::new();
        headers.insert("x-custom", "1".parse().unwrap());
        headers.insert(CONTENT_LENGTH, "3".parse().unwrap());
        let url = full_url(
            false,
            Some(&"example.com".parse().unwrap()),
            &"/status/502?a=b&c=d%20e".parse().unwrap(),
        );
        let req = e
            .page_request(
                &headers,
                Some("example.com".parse().unwrap()),
                StatusCode::NOT_FOUND,
                StatusCode::BAD_GATEWAY,
                &url,
            )
            .unwrap();
        // As Traefik 3.7 builds it.
        assert_eq!(
            req.uri(),
            "/page/404/502?u=http%3A%2F%2Fexample.com%2Fstatus%2F502%3Fa%3Db%26c%3Dd%2520e"
        );
        assert_eq!(req.method(), Method::GET);
        assert_eq!(req.headers()["x-custom"], "1");
        assert_eq!(req.headers()[HOST], "example.com");
        assert!(!req.headers().contains_key(CONTENT_LENGTH));
    }

    #[test]
    fn selected_request_headers_only() {
        let e = Errors::new(
            &Config {
                error_request_headers: vec!["X-Keep".into()],
                ..cfg()
            },
            service(),
        )
        .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-keep", "1".parse().unwrap());
        headers.insert("x-drop", "1".parse().unwrap());
        let req = e
            .page_request(&headers, None, StatusCode::OK, StatusCode::OK, "")
            .unwrap();
        assert!(req.headers().contains_key("x-keep"));
        assert!(!req.headers().contains_key("x-drop"));
    }

    #[test]
    fn validation_names_the_option() {
        for (c, want) in [
            (
                Config {
                    status: vec!["5xx".into()],
                    ..cfg()
                },
                "errors.status",
            ),
            (
                Config {
                    status_rewrites: [("x".to_owned(), 404)].into_iter().collect(),
                    ..cfg()
                },
                "errors.statusRewrites",
            ),
            (
                Config {
                    status_rewrites: [("500".to_owned(), 42)].into_iter().collect(),
                    ..cfg()
                },
                "errors.statusRewrites",
            ),
        ] {
            let err = Errors::new(&c, service()).unwrap_err();
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn query_escape_like_go() {
        assert_eq!(query_escape("a b/c?d=e&f~_.-"), "a+b%2Fc%3Fd%3De%26f~_.-");
    }
}

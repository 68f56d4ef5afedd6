//! `redirectScheme` and `redirectRegex`: answer with a redirect instead of forwarding. Status:
//! 302 (301 when `permanent`) for GET, 307 (308) for every other method, so that the method and
//! body are kept. A redirect to the URL the request already has is a no-op (the request goes on).

use http::header::{HeaderValue, HOST, LOCATION};
use http::{Method, Request, Response, StatusCode};
use regex::Regex;
use switchyard_model::config::dynamic::{
    RedirectRegex as RegexConfig, RedirectScheme as SchemeConfig,
};

use super::{BoxFuture, Middleware, Next};
use crate::http::body::{empty, Body};
use crate::http::service::RequestCtx;

fn status(method: &Method, permanent: bool) -> StatusCode {
    match (method == Method::GET, permanent) {
        (true, false) => StatusCode::FOUND,
        (true, true) => StatusCode::MOVED_PERMANENTLY,
        (false, false) => StatusCode::TEMPORARY_REDIRECT,
        (false, true) => StatusCode::PERMANENT_REDIRECT,
    }
}

fn redirect(location: &str, status: StatusCode) -> Response<Body> {
    let mut resp = Response::new(empty());
    *resp.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(LOCATION, v);
    }
    resp
}

/// The scheme the client used: `X-Forwarded-Proto` (set or vetted by the entry point) or TLS.
fn request_scheme(req: &Request<Body>, ctx: &RequestCtx) -> &'static str {
    match req
        .headers()
        .get("x-forwarded-proto")
        .map(HeaderValue::as_bytes)
    {
        Some(b"https" | b"wss") => "https",
        Some(b"http" | b"ws") => "http",
        _ if ctx.tls => "https",
        _ => "http",
    }
}

/// The host the client asked for, port included.
fn request_host(req: &Request<Body>) -> &str {
    req.uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| req.headers().get(HOST).and_then(|h| h.to_str().ok()))
        .unwrap_or("")
}

/// The full URL of the request, as redirect rules see it.
fn request_url(req: &Request<Body>, ctx: &RequestCtx) -> String {
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    format!("{}://{}{}", request_scheme(req, ctx), request_host(req), pq)
}

#[derive(Debug)]
pub struct RedirectScheme {
    scheme: String,
    port: Option<String>,
    permanent: bool,
}

impl RedirectScheme {
    pub fn new(cfg: &SchemeConfig) -> Result<Self, String> {
        let scheme = cfg.scheme.clone().unwrap_or_default();
        if scheme.is_empty() {
            return Err("redirectScheme.scheme: a scheme is required".to_owned());
        }
        let port = cfg.port.clone().filter(|p| !p.is_empty());
        if let Some(p) = &port {
            p.parse::<u16>()
                .map_err(|_| format!("redirectScheme.port: invalid port {p:?}"))?;
        }
        Ok(Self {
            scheme: scheme.to_ascii_lowercase(),
            port,
            permanent: cfg.permanent.unwrap_or(false),
        })
    }

    fn target(&self, req: &Request<Body>) -> String {
        let host = request_host(req);
        let bare = match host.rfind(']') {
            Some(i) => &host[..=i],
            None => host.split(':').next().unwrap_or(host),
        };
        let default_port = match self.scheme.as_str() {
            "https" | "wss" => "443",
            _ => "80",
        };
        let port = match &self.port {
            Some(p) if p != default_port => format!(":{p}"),
            _ => String::new(),
        };
        let pq = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        format!("{}://{bare}{port}{pq}", self.scheme)
    }
}

impl Middleware for RedirectScheme {
    fn call<'a>(
        &'a self,
        req: Request<Body>,
        ctx: &'a RequestCtx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Response<Body>> {
        Box::pin(async move {
            let target = self.target(&req);
            let current = request_url(&req, ctx);
            // As Traefik: redirect whenever the target URL differs, so `Host: a.com:8080` with
            // scheme http and no port is sent to `http://a.com/...` (the port is dropped).
            if target == current {
                return next.run(req, ctx).await;
            }
            redirect(&target, status(req.method(), self.permanent))
        })
    }
}

#[derive(Debug)]
pub struct RedirectRegex {
    regex: Regex,
    replacement: String,
    permanent: bool,
}

impl RedirectRegex {
    pub fn new(cfg: &RegexConfig) -> Result<Self, String> {
        let exp = cfg.regex.clone().unwrap_or_default();
        if exp.is_empty() {
            return Err("redirectRegex.regex: a regex is required".to_owned());
        }
        let regex = Regex::new(&exp)
            .map_err(|e| format!("redirectRegex.regex {exp:?}: invalid regex: {e}"))?;
        Ok(Self {
            regex,
            replacement: cfg.replacement.clone().unwrap_or_default(),
            permanent: cfg.permanent.unwrap_or(false),
        })
    }
}

impl Middleware for RedirectRegex {
    fn call<'a>(
        &'a self,
        req: Request<Body>,
        ctx: &'a RequestCtx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Response<Body>> {
        Box::pin(async move {
            let url = request_url(&req, ctx);
            if !self.regex.is_match(&url) {
                return next.run(req, ctx).await;
            }
            let target = self
                .regex
                .replace(&url, self.replacement.as_str())
                .into_owned();
            if target == url {
                return next.run(req, ctx).await;
            }
            redirect(&target, status(req.method(), self.permanent))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(host: &str, target: &str, proto: &str) -> Request<Body> {
        Request::builder()
            .uri(target)
            .header(HOST, host)
            .header("x-forwarded-proto", proto)
            .body(empty())
            .unwrap()
    }

    #[test]
    fn scheme_targets() {
        let m = RedirectScheme::new(&SchemeConfig {
            scheme: Some("https".into()),
            port: None,
            permanent: Some(true),
        })
        .unwrap();
        assert_eq!(
            m.target(&req("a.com:8080", "/x?y=1", "http")),
            "https://a.com/x?y=1"
        );
        let m = RedirectScheme::new(&SchemeConfig {
            scheme: Some("https".into()),
            port: Some("8443".into()),
            permanent: None,
        })
        .unwrap();
        assert_eq!(
            m.target(&req("[::1]:80", "/", "http")),
            "https://[::1]:8443/"
        );
        let m = RedirectScheme::new(&SchemeConfig {
            scheme: Some("https".into()),
            port: Some("443".into()),
            permanent: None,
        })
        .unwrap();
        assert_eq!(m.target(&req("a.com", "/", "http")), "https://a.com/");
        assert!(RedirectScheme::new(&SchemeConfig {
            scheme: None,
            port: None,
            permanent: None
        })
        .is_err());
        assert!(RedirectScheme::new(&SchemeConfig {
            scheme: Some("https".into()),
            port: Some("x".into()),
            permanent: None
        })
        .is_err());
    }

    #[test]
    fn statuses() {
        assert_eq!(status(&Method::GET, false), 302);
        assert_eq!(status(&Method::GET, true), 301);
        assert_eq!(status(&Method::POST, false), 307);
        assert_eq!(status(&Method::POST, true), 308);
    }
}

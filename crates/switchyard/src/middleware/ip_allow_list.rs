//! `ipAllowList` (and its deprecated alias `ipWhiteList`): lets a request through only when its
//! client IP — picked by `ipStrategy` (see [`super::source`]) — is in `sourceRange`. Otherwise it
//! answers on its own with `rejectStatusCode` (default 403) and the status text as body, without
//! a Content-Type, as Traefik does.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_LENGTH};
use http::{Request, Response, StatusCode};
use switchyard_model::config::dynamic::{IpAllowList as Config, IpWhiteList as WhiteListConfig};
use tracing::debug;

use super::source::{IpChecker, IpStrategy};
use super::{BoxFuture, Middleware, Next};
use crate::http::body::{full, Body};
use crate::http::service::RequestCtx;

#[derive(Debug)]
pub struct IpAllowList {
    allowed: IpChecker,
    strategy: IpStrategy,
    reject: StatusCode,
    reject_text: &'static str,
}

impl IpAllowList {
    pub fn new(cfg: &Config) -> Result<Self, String> {
        Self::build(
            "ipAllowList",
            &cfg.source_range,
            cfg.ip_strategy.as_ref(),
            cfg.reject_status_code,
        )
    }

    /// The deprecated `ipWhiteList`: the same middleware, always rejecting with 403.
    pub fn white_list(cfg: &WhiteListConfig) -> Result<Self, String> {
        Self::build(
            "ipWhiteList",
            &cfg.source_range,
            cfg.ip_strategy.as_ref(),
            None,
        )
    }

    fn build(
        option: &str,
        source_range: &[String],
        strategy: Option<&switchyard_model::config::dynamic::IpStrategy>,
        reject_status_code: Option<u16>,
    ) -> Result<Self, String> {
        if source_range.is_empty() {
            return Err(format!(
                "{option}.sourceRange: empty; at least one IP or CIDR range is required"
            ));
        }
        let allowed = IpChecker::new(source_range, &format!("{option}.sourceRange"))?;
        let strategy = IpStrategy::new(strategy, &format!("{option}.ipStrategy"))?;
        let code = reject_status_code.filter(|c| *c != 0).unwrap_or(403);
        let reject_text = go_status_text(code)
            .filter(|_| code >= 200)
            .ok_or_else(|| format!("{option}.rejectStatusCode: invalid HTTP status code {code}"))?;
        let reject = StatusCode::from_u16(code)
            .map_err(|_| format!("{option}.rejectStatusCode: invalid HTTP status code {code}"))?;
        Ok(Self {
            allowed,
            strategy,
            reject,
            reject_text,
        })
    }

    fn rejection(&self) -> Response<Body> {
        let mut resp = Response::new(full(Bytes::from_static(self.reject_text.as_bytes())));
        *resp.status_mut() = self.reject;
        resp.headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(self.reject_text.len()));
        resp
    }
}

impl Middleware for IpAllowList {
    fn call<'a>(
        &'a self,
        req: Request<Body>,
        ctx: &'a RequestCtx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Response<Body>> {
        Box::pin(async move {
            let client = self.strategy.client_ip(req.headers(), ctx.peer);
            if self.allowed.authorizes(&client) {
                return next.run(req, ctx).await;
            }
            debug!(client_ip = %client, "rejecting request: client IP not in the allow list");
            self.rejection()
        })
    }
}

/// Go's `http.StatusText`: Traefik writes it as the rejection body, and refuses codes without one.
pub fn go_status_text(code: u16) -> Option<&'static str> {
    Some(match code {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        208 => "Already Reported",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Requested Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Entity",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        510 => "Not Extended",
        511 => "Network Authentication Required",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(range: &[&str], code: Option<u16>) -> Config {
        Config {
            source_range: range.iter().map(|s| s.to_string()).collect(),
            ip_strategy: None,
            reject_status_code: code,
        }
    }

    #[test]
    fn validation_names_the_option() {
        let err = IpAllowList::new(&cfg(&[], None)).unwrap_err();
        assert!(err.starts_with("ipAllowList.sourceRange"), "{err}");
        let err = IpAllowList::new(&cfg(&["10.0.0.0/33"], None)).unwrap_err();
        assert!(err.contains("sourceRange[0]"), "{err}");
        let err = IpAllowList::new(&cfg(&["10.0.0.1"], Some(999))).unwrap_err();
        assert!(err.contains("rejectStatusCode"), "{err}");
        let err = IpAllowList::white_list(&WhiteListConfig::default()).unwrap_err();
        assert!(err.starts_with("ipWhiteList.sourceRange"), "{err}");
    }

    #[test]
    fn reject_status_defaults_to_403() {
        let m = IpAllowList::new(&cfg(&["10.0.0.1"], None)).unwrap();
        assert_eq!(m.reject, StatusCode::FORBIDDEN);
        assert_eq!(m.reject_text, "Forbidden");
        let m = IpAllowList::new(&cfg(&["10.0.0.1"], Some(404))).unwrap();
        let resp = m.rejection();
        assert_eq!(resp.status(), 404);
        assert!(resp.headers().get("content-type").is_none());
    }
}

//! `forwardAuth`: asks an authentication server whether the request may pass. A `2xx` answer lets
//! the request through (with the listed auth response headers copied onto it); any other answer
//! goes to the client as is (status, headers, body; `302` to `authSigninURL` instead of a `401`
//! when set). It answers on its own with `500` when the auth server cannot be reached, times out
//! (30 s) or its answer cannot be read, and with `401` when the request body (`forwardBody`) or
//! the auth answer exceeds its size limit — as Traefik 3.7 does, with empty bodies.
//!
//! The auth request is a `GET` (the client's method with `preserveRequestMethod`) to `address`
//! carrying the client's headers (only `authRequestHeaders` when set; hop-by-hop headers removed)
//! and `X-Forwarded-{For,Method,Proto,Host,Uri}` describing the original request. It goes through
//! the middleware's own connection pool (HTTP, or HTTPS with `tls`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    HeaderMap, HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, HOST, LOCATION, SET_COOKIE,
};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::BodyExt;
use regex::Regex;
use switchyard_model::config::dynamic::ForwardAuth as Config;

use super::replay::{self, ReadError};
use super::{BoxFuture, Middleware, Next};
use crate::http::body::{empty, full, Body};
use crate::http::service::RequestCtx;
use crate::http::upstream::{TransportSettings, UpstreamClient};

/// Go's `http.Client` timeout Traefik sets for the auth request (connect, headers and body).
const AUTH_TIMEOUT: Duration = Duration::from_secs(30);

const X_FORWARDED_FOR: &str = "x-forwarded-for";
const X_FORWARDED_METHOD: &str = "x-forwarded-method";
const X_FORWARDED_PROTO: &str = "x-forwarded-proto";
const X_FORWARDED_HOST: &str = "x-forwarded-host";
const X_FORWARDED_URI: &str = "x-forwarded-uri";

/// Hop-by-hop headers never sent to the auth server nor copied from its answer
/// (`Proxy-Authorization` is meant for the auth server and is kept).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The user name the auth server reported in `headerField`, for the access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser(pub String);

pub struct ForwardAuth {
    address: Uri,
    https: bool,
    client: Arc<UpstreamClient>,
    trust_forward_header: bool,
    auth_response_headers: Vec<HeaderName>,
    auth_response_headers_regex: Option<Regex>,
    auth_request_headers: Vec<HeaderName>,
    add_auth_cookies_to_response: Vec<String>,
    header_field: Option<HeaderName>,
    forward_body: bool,
    /// `None`: unlimited.
    max_body_size: Option<u64>,
    max_response_body_size: Option<u64>,
    preserve_location_header: bool,
    preserve_request_method: bool,
    auth_signin_url: Option<HeaderValue>,
}

impl std::fmt::Debug for ForwardAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwardAuth")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

fn header_names(option: &str, list: &[String]) -> Result<Vec<HeaderName>, String> {
    list.iter()
        .enumerate()
        .map(|(i, h)| {
            HeaderName::from_bytes(h.trim().as_bytes())
                .map_err(|_| format!("forwardAuth.{option}[{i}] {h:?}: invalid header name"))
        })
        .collect()
}

/// A size limit: negative means unlimited.
fn limit(v: Option<i64>) -> Option<u64> {
    u64::try_from(v.unwrap_or(-1)).ok()
}

impl ForwardAuth {
    pub fn new(cfg: &Config) -> Result<Self, String> {
        let raw = cfg.address.as_deref().map(str::trim).unwrap_or_default();
        if raw.is_empty() {
            return Err("forwardAuth.address: required".into());
        }
        let address: Uri = raw
            .parse()
            .map_err(|e| format!("forwardAuth.address {raw:?}: invalid URL: {e}"))?;
        let https = match address.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            _ => {
                return Err(format!(
                    "forwardAuth.address {raw:?}: expected an http:// or https:// URL"
                ))
            }
        };
        if address.host().is_none() {
            return Err(format!("forwardAuth.address {raw:?}: no host"));
        }
        let mut settings = TransportSettings {
            dial_timeout: Some(AUTH_TIMEOUT),
            idle_conn_timeout: Some(Duration::from_secs(90)),
            max_idle_conns_per_host: 32,
            ..Default::default()
        };
        if let Some(tls) = &cfg.tls {
            settings.insecure_skip_verify = tls.insecure_skip_verify.unwrap_or(false);
            if let Some(ca) = tls.ca.as_deref().filter(|c| !c.is_empty()) {
                settings.root_cas.push(ca.to_owned());
            }
            let cert = tls.cert.as_deref().filter(|c| !c.is_empty());
            let key = tls.key.as_deref().filter(|c| !c.is_empty());
            match (cert, key) {
                (Some(c), Some(k)) => settings.client_certs.push((c.to_owned(), k.to_owned())),
                (None, None) => {}
                _ => return Err("forwardAuth.tls: cert and key must be set together".into()),
            }
        }
        let client = UpstreamClient::new(&settings).map_err(|e| {
            format!("forwardAuth.tls: unable to create client TLS configuration: {e}")
        })?;
        let auth_response_headers_regex = match cfg.auth_response_headers_regex.as_deref() {
            None | Some("") => None,
            Some(re) => Some(Regex::new(re).map_err(|e| {
                format!("forwardAuth.authResponseHeadersRegex {re:?}: invalid regex: {e}")
            })?),
        };
        let header_field = match cfg.header_field.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(h) => Some(
                HeaderName::from_bytes(h.as_bytes())
                    .map_err(|_| format!("forwardAuth.headerField {h:?}: invalid header name"))?,
            ),
        };
        let auth_signin_url = match cfg.auth_signin_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(u) => Some(
                HeaderValue::from_str(u)
                    .map_err(|_| format!("forwardAuth.authSigninURL {u:?}: invalid URL"))?,
            ),
        };
        let max_response_body_size = limit(cfg.max_response_body_size);
        if max_response_body_size.is_none() {
            tracing::warn!(address = raw, "forwardAuth: maxResponseBodySize is not set, the auth server's answers are read whatever their size");
        }
        Ok(Self {
            address,
            https,
            client: Arc::new(client),
            trust_forward_header: cfg.trust_forward_header.unwrap_or(false),
            auth_response_headers: header_names("authResponseHeaders", &cfg.auth_response_headers)?,
            auth_response_headers_regex,
            auth_request_headers: header_names("authRequestHeaders", &cfg.auth_request_headers)?,
            add_auth_cookies_to_response: cfg.add_auth_cookies_to_response.clone(),
            header_field,
            forward_body: cfg.forward_body.unwrap_or(false),
            max_body_size: limit(cfg.max_body_size),
            max_response_body_size,
            preserve_location_header: cfg.preserve_location_header.unwrap_or(false),
            preserve_request_method: cfg.preserve_request_method.unwrap_or(false),
            auth_signin_url,
        })
    }

    /// The auth request's headers, from the client's request.
    fn auth_headers(&self, req: &Request<Body>, ctx: &RequestCtx) -> HeaderMap {
        let src = req.headers();
        let mut out = HeaderMap::with_capacity(src.len() + 5);
        let listed_in_connection: Vec<HeaderName> = src
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
            .collect();
        let wanted = |name: &HeaderName| {
            name != HOST
                && name != CONTENT_LENGTH
                && !HOP_BY_HOP.contains(&name.as_str())
                && !listed_in_connection.contains(name)
                && (self.auth_request_headers.is_empty()
                    || self.auth_request_headers.contains(name))
        };
        for (name, value) in src {
            if wanted(name) {
                out.append(name, value.clone());
            }
        }

        let trusted = |name: &str| {
            self.trust_forward_header
                .then(|| src.get(name))
                .flatten()
                .filter(|v| !v.is_empty())
                .cloned()
        };
        let ip = ctx.peer.ip().to_string();
        let xff = match src.get_all(X_FORWARDED_FOR).iter().next() {
            Some(_) if self.trust_forward_header => {
                let prior: Vec<&str> = src
                    .get_all(X_FORWARDED_FOR)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect();
                format!("{}, {ip}", prior.join(", "))
            }
            _ => ip,
        };
        set(&mut out, X_FORWARDED_FOR, HeaderValue::from_str(&xff).ok());
        let method = trusted(X_FORWARDED_METHOD)
            .or_else(|| HeaderValue::from_str(req.method().as_str()).ok());
        set(&mut out, X_FORWARDED_METHOD, method);
        let proto = trusted(X_FORWARDED_PROTO)
            .unwrap_or_else(|| HeaderValue::from_static(if ctx.tls { "https" } else { "http" }));
        set(&mut out, X_FORWARDED_PROTO, Some(proto));
        let host = trusted(X_FORWARDED_HOST).or_else(|| match req.uri().authority() {
            Some(a) => HeaderValue::from_str(a.as_str()).ok(),
            None => src.get(HOST).cloned(),
        });
        set(&mut out, X_FORWARDED_HOST, host);
        let uri = trusted(X_FORWARDED_URI).or_else(|| {
            req.uri()
                .path_and_query()
                .and_then(|pq| HeaderValue::from_str(pq.as_str()).ok())
        });
        set(&mut out, X_FORWARDED_URI, uri);
        out
    }

    async fn ask(&self, req: Request<Body>) -> Result<Response<hyper::body::Incoming>, String> {
        let sent = async {
            if self.https {
                self.client.https.request(req).await
            } else {
                self.client.http.request(req).await
            }
        };
        match tokio::time::timeout(AUTH_TIMEOUT, sent).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err(format!("no answer within {AUTH_TIMEOUT:?}")),
        }
    }

    /// The `Location` to send back: resolved against `address` unless `preserveLocationHeader`.
    fn location(&self, headers: &HeaderMap) -> Result<Option<HeaderValue>, ()> {
        let Some(value) = headers.get(LOCATION).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        if self.preserve_location_header {
            return Ok(Some(value.clone()));
        }
        let loc = value.to_str().map_err(|_| ())?;
        let resolved = resolve(&self.address, loc).ok_or(())?;
        HeaderValue::from_str(&resolved).map(Some).map_err(|_| ())
    }
}

fn set(headers: &mut HeaderMap, name: &'static str, value: Option<HeaderValue>) {
    match value {
        Some(v) => {
            headers.insert(name, v);
        }
        None => {
            headers.remove(name);
        }
    }
}

/// Resolves a `Location` reference against the auth server's URL (RFC 3986 §5.2, enough for
/// the forms servers send: absolute, network-path, absolute-path, relative-path).
fn resolve(base: &Uri, loc: &str) -> Option<String> {
    if loc.contains("://") && loc.parse::<Uri>().is_ok_and(|u| u.scheme().is_some()) {
        return Some(loc.to_owned());
    }
    let scheme = base.scheme_str()?;
    let authority = base.authority()?.as_str();
    if let Some(rest) = loc.strip_prefix("//") {
        return Some(format!("{scheme}://{rest}"));
    }
    if loc.starts_with('/') {
        return Some(format!("{scheme}://{authority}{loc}"));
    }
    if loc.starts_with('?') {
        return Some(format!("{scheme}://{authority}{}{loc}", base.path()));
    }
    let dir = base.path().rsplit_once('/').map_or("", |(d, _)| d);
    Some(format!("{scheme}://{authority}{dir}/{loc}"))
}

/// Go's canonical header key (`x-auth-user` → `X-Auth-User`), what the regex is matched against.
fn canonical(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        });
        upper = c == '-';
    }
    out
}

/// The cookie name of a `Set-Cookie` value.
fn cookie_name(v: &HeaderValue) -> Option<&str> {
    let s = v.to_str().ok()?;
    let (name, _) = s.split_once('=')?;
    Some(name.trim())
}

fn empty_status(status: StatusCode) -> Response<Body> {
    let mut resp = Response::new(empty());
    *resp.status_mut() = status;
    resp
}

impl Middleware for ForwardAuth {
    fn call<'a>(
        &'a self,
        req: Request<Body>,
        ctx: &'a RequestCtx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Response<Body>> {
        Box::pin(async move {
            let method = if self.preserve_request_method {
                req.method().clone()
            } else {
                Method::GET
            };
            let headers = self.auth_headers(&req, ctx);
            let (mut parts, body) = req.into_parts();
            let (auth_body, body) = if self.forward_body {
                match replay::read_limited(body, self.max_body_size).await {
                    Ok(buffered) => (buffered.body(), buffered.body()),
                    Err(ReadError::TooLarge { .. }) => {
                        tracing::debug!(max = ?self.max_body_size, "forwardAuth: request body too large");
                        return empty_status(StatusCode::UNAUTHORIZED);
                    }
                    Err(ReadError::Body(e)) => {
                        tracing::debug!(error = %e, "forwardAuth: cannot read the request body");
                        return empty_status(StatusCode::INTERNAL_SERVER_ERROR);
                    }
                }
            } else {
                (empty(), body)
            };
            let mut auth_req = Request::new(auth_body);
            *auth_req.method_mut() = method;
            *auth_req.uri_mut() = self.address.clone();
            *auth_req.headers_mut() = headers;

            let auth = match self.ask(auth_req).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(address = %self.address, error = %e, "forwardAuth: error calling the auth server");
                    return empty_status(StatusCode::INTERNAL_SERVER_ERROR);
                }
            };
            let (auth_parts, auth_body) = auth.into_parts();
            let auth_body = auth_body.map_err(Into::into).boxed();
            let auth_body: Bytes = match replay::read_limited(
                auth_body,
                self.max_response_body_size,
            )
            .await
            {
                Ok(b) => b.data,
                Err(ReadError::TooLarge { .. }) => {
                    tracing::debug!("forwardAuth: the auth server's answer is too large");
                    return empty_status(StatusCode::UNAUTHORIZED);
                }
                Err(ReadError::Body(e)) => {
                    tracing::debug!(error = %e, "forwardAuth: error reading the auth server's answer");
                    return empty_status(StatusCode::INTERNAL_SERVER_ERROR);
                }
            };
            if let Some(field) = &self.header_field {
                if let Some(user) = auth_parts.headers.get(field).and_then(|v| v.to_str().ok()) {
                    parts.extensions.insert(AuthUser(user.to_owned()));
                }
            }

            if !auth_parts.status.is_success() {
                tracing::debug!(status = %auth_parts.status, "forwardAuth: access denied by the auth server");
                if auth_parts.status == StatusCode::UNAUTHORIZED {
                    if let Some(signin) = &self.auth_signin_url {
                        let mut resp = empty_status(StatusCode::FOUND);
                        resp.headers_mut().insert(LOCATION, signin.clone());
                        return resp;
                    }
                }
                let mut headers = auth_parts.headers.clone();
                for h in HOP_BY_HOP {
                    headers.remove(*h);
                }
                match self.location(&auth_parts.headers) {
                    Ok(Some(loc)) => {
                        headers.insert(LOCATION, loc);
                    }
                    Ok(None) => {}
                    Err(()) => return empty_status(StatusCode::INTERNAL_SERVER_ERROR),
                }
                let mut resp = Response::new(full(auth_body));
                *resp.status_mut() = auth_parts.status;
                *resp.headers_mut() = headers;
                return resp;
            }

            // Access granted: copy the selected auth headers onto the request.
            for name in &self.auth_response_headers {
                parts.headers.remove(name);
                for v in auth_parts.headers.get_all(name) {
                    parts.headers.append(name, v.clone());
                }
            }
            if let Some(re) = &self.auth_response_headers_regex {
                let stale: Vec<HeaderName> = parts
                    .headers
                    .keys()
                    .filter(|k| re.is_match(&canonical(k.as_str())))
                    .cloned()
                    .collect();
                for k in stale {
                    parts.headers.remove(k);
                }
                for (k, v) in &auth_parts.headers {
                    if re.is_match(&canonical(k.as_str())) {
                        parts.headers.append(k, v.clone());
                    }
                }
            }
            let auth_cookies: Vec<&HeaderValue> =
                auth_parts.headers.get_all(SET_COOKIE).iter().collect();
            let mut resp = next.run(Request::from_parts(parts, body), ctx).await;
            if !auth_cookies.is_empty() {
                let listed = |v: &HeaderValue| {
                    cookie_name(v)
                        .is_some_and(|n| self.add_auth_cookies_to_response.iter().any(|c| c == n))
                };
                let upstream: Vec<HeaderValue> = resp.headers_mut().remove_all_set_cookies();
                let h = resp.headers_mut();
                for v in upstream.into_iter().filter(|v| !listed(v)) {
                    h.append(SET_COOKIE, v);
                }
                for v in auth_cookies.into_iter().filter(|v| listed(v)) {
                    h.append(SET_COOKIE, v.clone());
                }
            }
            resp
        })
    }
}

trait RemoveAll {
    fn remove_all_set_cookies(&mut self) -> Vec<HeaderValue>;
}

impl RemoveAll for HeaderMap {
    fn remove_all_set_cookies(&mut self) -> Vec<HeaderValue> {
        match self.entry(SET_COOKIE) {
            http::header::Entry::Occupied(e) => e.remove_entry_mult().1.collect(),
            http::header::Entry::Vacant(_) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(address: &str) -> Config {
        Config {
            address: Some(address.into()),
            ..Default::default()
        }
    }

    #[test]
    fn validation_names_the_option() {
        for (c, want) in [
            (Config::default(), "forwardAuth.address"),
            (cfg("not a url"), "forwardAuth.address"),
            (cfg("ftp://x/"), "forwardAuth.address"),
            (
                Config {
                    auth_response_headers_regex: Some("(".into()),
                    ..cfg("http://a/")
                },
                "forwardAuth.authResponseHeadersRegex",
            ),
            (
                Config {
                    auth_request_headers: vec!["bad header".into()],
                    ..cfg("http://a/")
                },
                "forwardAuth.authRequestHeaders[0]",
            ),
            (
                Config {
                    tls: Some(switchyard_model::config::dynamic::ClientTls {
                        cert: Some("/nonexistent.pem".into()),
                        ..Default::default()
                    }),
                    ..cfg("https://a/")
                },
                "forwardAuth.tls",
            ),
            (
                Config {
                    tls: Some(switchyard_model::config::dynamic::ClientTls {
                        ca: Some("/nonexistent.pem".into()),
                        ..Default::default()
                    }),
                    ..cfg("https://a/")
                },
                "forwardAuth.tls",
            ),
        ] {
            let err = ForwardAuth::new(&c).unwrap_err();
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn defaults() {
        let f = ForwardAuth::new(&cfg("http://auth:9000/check?x=1")).unwrap();
        assert_eq!(f.max_body_size, None);
        assert_eq!(f.max_response_body_size, None);
        assert!(!f.forward_body && !f.trust_forward_header && !f.https);
    }

    #[test]
    fn locations_resolve_like_go() {
        let base: Uri = "http://auth:9000/a/check?x=1".parse().unwrap();
        for (loc, want) in [
            ("https://idp/login", "https://idp/login"),
            ("//idp/login", "http://idp/login"),
            ("/login?x=1", "http://auth:9000/login?x=1"),
            ("login", "http://auth:9000/a/login"),
            ("?y=2", "http://auth:9000/a/check?y=2"),
        ] {
            assert_eq!(resolve(&base, loc).unwrap(), want, "{loc}");
        }
    }

    #[test]
    fn canonical_keys() {
        assert_eq!(canonical("x-auth-user"), "X-Auth-User");
        assert_eq!(canonical("www-authenticate"), "Www-Authenticate");
    }
}

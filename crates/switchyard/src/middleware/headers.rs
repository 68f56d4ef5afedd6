//! `headers`: custom request and response headers (an empty value removes the header), CORS, and
//! security headers, in Traefik's order. A CORS preflight (`OPTIONS` with `Origin` and
//! `Access-Control-Request-Method`, when a CORS option is set) is answered on its own with 200;
//! with `allowedHosts`, a request for another host is answered on its own with 500 `Bad Host`.
//!
//! Request path: preflight → custom request headers → allowed-hosts check → next. Response path
//! (also on answers from later middlewares): security headers (replacing the upstream's) →
//! custom response headers → CORS headers (`Access-Control-Allow-Origin`, `…-Credentials`,
//! `…-Expose-Headers`, `Vary: Origin`). The deprecated `sslRedirect`, `sslTemporaryRedirect`,
//! `sslHost`, `sslForceHost` and `featurePolicy` are accepted and ignored, as Traefik 3.7 does.

use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH, HOST, ORIGIN, VARY};
use http::{Method, Request, Response, StatusCode};
use regex::Regex;
use switchyard_model::config::dynamic::Headers as Config;
use tracing::{debug, warn};

use super::source::request_host;
use super::{BoxFuture, Middleware, Next};
use crate::http::body::{empty, text_response, Body};
use crate::http::service::RequestCtx;

const ACCESS_CONTROL_REQUEST_METHOD: HeaderName =
    HeaderName::from_static("access-control-request-method");
const ALLOW_CREDENTIALS: HeaderName = HeaderName::from_static("access-control-allow-credentials");
const ALLOW_HEADERS: HeaderName = HeaderName::from_static("access-control-allow-headers");
const ALLOW_METHODS: HeaderName = HeaderName::from_static("access-control-allow-methods");
const ALLOW_ORIGIN: HeaderName = HeaderName::from_static("access-control-allow-origin");
const EXPOSE_HEADERS: HeaderName = HeaderName::from_static("access-control-expose-headers");
const MAX_AGE: HeaderName = HeaderName::from_static("access-control-max-age");

/// A header to set, or to remove when `None`.
type HeaderEdit = (HeaderName, Option<HeaderValue>);

#[derive(Debug)]
pub struct Headers {
    request: Vec<HeaderEdit>,
    /// `customRequestHeaders.Host`: replaces the request's host.
    host: Option<HeaderValue>,
    response: Vec<HeaderEdit>,
    cors: Option<Cors>,
    secure: Option<Secure>,
}

#[derive(Debug)]
struct Cors {
    allow_credentials: bool,
    allow_headers: Option<HeaderValue>,
    allow_methods: Option<HeaderValue>,
    origins: Vec<String>,
    origin_regexes: Vec<Regex>,
    expose_headers: Option<HeaderValue>,
    max_age: i64,
    add_vary: bool,
}

#[derive(Debug)]
struct Secure {
    allowed_hosts: Vec<String>,
    hosts_proxy_headers: Vec<HeaderName>,
    ssl_proxy_headers: Vec<(HeaderName, String)>,
    /// Response headers for plain-HTTP requests and for HTTPS ones (HSTS and HPKP differ).
    plain: Vec<(HeaderName, HeaderValue)>,
    ssl: Vec<(HeaderName, HeaderValue)>,
}

impl Headers {
    pub fn new(cfg: &Config) -> Result<Self, String> {
        for (set, option) in [
            (cfg.ssl_redirect.is_some(), "sslRedirect"),
            (cfg.ssl_temporary_redirect.is_some(), "sslTemporaryRedirect"),
            (cfg.ssl_host.is_some(), "sslHost"),
            (cfg.ssl_force_host.is_some(), "sslForceHost"),
            (cfg.feature_policy.is_some(), "featurePolicy"),
        ] {
            if set {
                warn!("headers.{option} is deprecated and has no effect (as in Traefik v3)");
            }
        }
        let mut request = Vec::new();
        let mut host = None;
        for (name, value) in &cfg.custom_request_headers {
            let option = format!("headers.customRequestHeaders[{name:?}]");
            if name.eq_ignore_ascii_case("host") {
                // Go keeps the host outside the header map: an empty value changes nothing.
                if !value.is_empty() {
                    host = Some(header_value(value, &option)?);
                }
                continue;
            }
            request.push(header_edit(name, value, &option)?);
        }
        let response = cfg
            .custom_response_headers
            .iter()
            .map(|(name, value)| {
                header_edit(
                    name,
                    value,
                    &format!("headers.customResponseHeaders[{name:?}]"),
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            request,
            host,
            response,
            cors: Cors::new(cfg)?,
            secure: Secure::new(cfg)?,
        })
    }
}

fn header_value(value: &str, option: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(value).map_err(|_| format!("{option}: invalid header value {value:?}"))
}

fn header_edit(name: &str, value: &str, option: &str) -> Result<HeaderEdit, String> {
    let header = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("{option}: invalid header name"))?;
    let value = (!value.is_empty())
        .then(|| header_value(value, option))
        .transpose()?;
    Ok((header, value))
}

/// A comma-joined list as one header value (`None` when empty).
fn joined(list: &[String], option: &str) -> Result<Option<HeaderValue>, String> {
    if list.is_empty() {
        return Ok(None);
    }
    header_value(&list.join(","), option).map(Some)
}

impl Cors {
    fn new(cfg: &Config) -> Result<Option<Self>, String> {
        let defined = cfg.access_control_allow_credentials.unwrap_or(false)
            || !cfg.access_control_allow_headers.is_empty()
            || !cfg.access_control_allow_methods.is_empty()
            || !cfg.access_control_allow_origin_list.is_empty()
            || !cfg.access_control_allow_origin_list_regex.is_empty()
            || !cfg.access_control_expose_headers.is_empty()
            || cfg.access_control_max_age.unwrap_or(0) != 0
            || cfg.add_vary_header.unwrap_or(false);
        if !defined {
            return Ok(None);
        }
        let mut origin_regexes = Vec::new();
        for (i, exp) in cfg
            .access_control_allow_origin_list_regex
            .iter()
            .enumerate()
        {
            origin_regexes.push(Regex::new(exp).map_err(|e| {
                format!(
                    "headers.accessControlAllowOriginListRegex[{i}] {exp:?}: invalid regex: {e}"
                )
            })?);
        }
        Ok(Some(Self {
            allow_credentials: cfg.access_control_allow_credentials.unwrap_or(false),
            allow_headers: joined(
                &cfg.access_control_allow_headers,
                "headers.accessControlAllowHeaders",
            )?,
            allow_methods: joined(
                &cfg.access_control_allow_methods,
                "headers.accessControlAllowMethods",
            )?,
            origins: cfg.access_control_allow_origin_list.clone(),
            origin_regexes,
            expose_headers: joined(
                &cfg.access_control_expose_headers,
                "headers.accessControlExposeHeaders",
            )?,
            max_age: cfg.access_control_max_age.unwrap_or(0),
            add_vary: cfg.add_vary_header.unwrap_or(false),
        }))
    }

    /// The `Access-Control-Allow-Origin` value for `origin` (empty when the request has none),
    /// if it is allowed: `*` when the list allows any origin without credentials, else the
    /// origin itself.
    fn allowed_origin(&self, origin: Option<&HeaderValue>) -> Option<HeaderValue> {
        let echo = || {
            origin
                .cloned()
                .unwrap_or_else(|| HeaderValue::from_static(""))
        };
        let bytes = origin.map_or(&b""[..], HeaderValue::as_bytes);
        for item in &self.origins {
            if item == "*" {
                return Some(if self.allow_credentials {
                    echo()
                } else {
                    HeaderValue::from_static("*")
                });
            }
            if item.as_bytes() == bytes {
                return Some(echo());
            }
        }
        let text = std::str::from_utf8(bytes).ok()?;
        self.origin_regexes
            .iter()
            .any(|re| re.is_match(text))
            .then(echo)
    }

    fn preflight(&self, origin: Option<&HeaderValue>) -> Response<Body> {
        let mut resp = Response::new(empty());
        let h = resp.headers_mut();
        if self.allow_credentials {
            h.insert(ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        }
        if let Some(v) = &self.allow_headers {
            h.insert(ALLOW_HEADERS, v.clone());
        }
        if let Some(v) = &self.allow_methods {
            h.insert(ALLOW_METHODS, v.clone());
        }
        if let Some(v) = self.allowed_origin(origin) {
            h.insert(ALLOW_ORIGIN, v);
        }
        if let Some(v) = &self.expose_headers {
            h.insert(EXPOSE_HEADERS, v.clone());
        }
        if self.max_age != 0 {
            h.insert(MAX_AGE, HeaderValue::from(self.max_age));
        }
        h.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        resp
    }

    fn decorate(&self, headers: &mut HeaderMap, origin: Option<&HeaderValue>) {
        if let Some(v) = self.allowed_origin(origin) {
            headers.insert(ALLOW_ORIGIN, v);
        }
        if self.allow_credentials {
            headers.insert(ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        }
        if let Some(v) = &self.expose_headers {
            headers.insert(EXPOSE_HEADERS, v.clone());
        }
        if self.add_vary {
            let vary = headers.get(VARY).map(HeaderValue::as_bytes).unwrap_or(b"");
            if vary != b"Origin" {
                let mut value = vary.to_vec();
                if !value.is_empty() {
                    value.push(b',');
                }
                value.extend_from_slice(b"Origin");
                if let Ok(v) = HeaderValue::from_bytes(&value) {
                    headers.insert(VARY, v);
                }
            }
        }
    }
}

fn is_preflight(req: &Request<Body>) -> bool {
    let present = |name: &HeaderName| req.headers().get(name).is_some_and(|v| !v.is_empty());
    req.method() == Method::OPTIONS && present(&ACCESS_CONTROL_REQUEST_METHOD) && present(&ORIGIN)
}

impl Secure {
    fn new(cfg: &Config) -> Result<Option<Self>, String> {
        let dev = cfg.is_development.unwrap_or(false);
        let mut plain: Vec<(HeaderName, HeaderValue)> = Vec::new();
        let frame = match (&cfg.custom_frame_options_value, cfg.frame_deny) {
            (Some(v), _) if !v.is_empty() => Some(v.as_str()),
            (_, Some(true)) => Some("DENY"),
            _ => None,
        };
        let xss = match (&cfg.custom_browser_xss_value, cfg.browser_xss_filter) {
            (Some(v), _) if !v.is_empty() => Some(v.as_str()),
            (_, Some(true)) => Some("1; mode=block"),
            _ => None,
        };
        let nosniff = cfg
            .content_type_nosniff
            .unwrap_or(false)
            .then_some("nosniff");
        fn non_empty(v: &Option<String>) -> Option<&str> {
            v.as_deref().filter(|v| !v.is_empty())
        }
        for (name, value, option) in [
            ("x-frame-options", frame, "headers.customFrameOptionsValue"),
            (
                "x-content-type-options",
                nosniff,
                "headers.contentTypeNosniff",
            ),
            ("x-xss-protection", xss, "headers.customBrowserXSSValue"),
            (
                "content-security-policy",
                non_empty(&cfg.content_security_policy),
                "headers.contentSecurityPolicy",
            ),
            (
                "content-security-policy-report-only",
                non_empty(&cfg.content_security_policy_report_only),
                "headers.contentSecurityPolicyReportOnly",
            ),
            (
                "referrer-policy",
                non_empty(&cfg.referrer_policy),
                "headers.referrerPolicy",
            ),
            (
                "permissions-policy",
                non_empty(&cfg.permissions_policy),
                "headers.permissionsPolicy",
            ),
        ] {
            if let Some(value) = value {
                plain.push((HeaderName::from_static(name), header_value(value, option)?));
            }
        }
        let sts_seconds = cfg.sts_seconds.unwrap_or(0);
        let sts = (sts_seconds != 0 && !dev).then(|| {
            let mut v = format!("max-age={sts_seconds}");
            if cfg.sts_include_subdomains.unwrap_or(false) {
                v.push_str("; includeSubDomains");
            }
            if cfg.sts_preload.unwrap_or(false) {
                v.push_str("; preload");
            }
            v
        });
        let sts = sts
            .map(|v| header_value(&v, "headers.stsSeconds"))
            .transpose()?
            .map(|v| (HeaderName::from_static("strict-transport-security"), v));
        let public_key = non_empty(&cfg.public_key)
            .filter(|_| !dev)
            .map(|v| header_value(v, "headers.publicKey"))
            .transpose()?
            .map(|v| (HeaderName::from_static("public-key-pins"), v));
        let mut ssl = plain.clone();
        ssl.extend(sts.clone());
        ssl.extend(public_key);
        if cfg.force_sts_header.unwrap_or(false) {
            plain.extend(sts);
        }

        let mut hosts_proxy_headers = Vec::new();
        for (i, name) in cfg.hosts_proxy_headers.iter().enumerate() {
            hosts_proxy_headers.push(HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                format!("headers.hostsProxyHeaders[{i}] {name:?}: invalid header name")
            })?);
        }
        let mut ssl_proxy_headers = Vec::new();
        for (name, value) in &cfg.ssl_proxy_headers {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("headers.sslProxyHeaders[{name:?}]: invalid header name"))?;
            ssl_proxy_headers.push((header, value.clone()));
        }
        let allowed_hosts = if dev {
            Vec::new()
        } else {
            cfg.allowed_hosts.clone()
        };
        if plain.is_empty() && ssl.is_empty() && allowed_hosts.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self {
            allowed_hosts,
            hosts_proxy_headers,
            ssl_proxy_headers,
            plain,
            ssl,
        }))
    }

    fn host_allowed(&self, req: &Request<Body>) -> bool {
        if self.allowed_hosts.is_empty() {
            return true;
        }
        let proxied = self.hosts_proxy_headers.iter().find_map(|name| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
        });
        let host = proxied.unwrap_or_else(|| request_host(req));
        self.allowed_hosts
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(host))
    }

    fn is_ssl(&self, req: &Request<Body>, ctx: &RequestCtx) -> bool {
        ctx.tls
            || req.uri().scheme_str() == Some("https")
            || self.ssl_proxy_headers.iter().any(|(name, value)| {
                req.headers()
                    .get(name)
                    .map_or(value.is_empty(), |v| v.as_bytes() == value.as_bytes())
            })
    }
}

/// Sets (or removes) `edits` in `headers`.
fn apply(headers: &mut HeaderMap, edits: &[HeaderEdit]) {
    for (name, value) in edits {
        match value {
            Some(v) => {
                headers.insert(name.clone(), v.clone());
            }
            None => {
                headers.remove(name);
            }
        }
    }
}

/// Replaces the request's host: the `Host` header and, when the target carries one, its authority.
fn set_host(req: &mut Request<Body>, host: &HeaderValue) {
    req.headers_mut().insert(HOST, host.clone());
    if req.uri().authority().is_none() {
        return;
    }
    let Ok(authority) = http::uri::Authority::try_from(host.as_bytes()) else {
        return;
    };
    let mut parts = req.uri().clone().into_parts();
    parts.authority = Some(authority);
    if let Ok(uri) = http::Uri::from_parts(parts) {
        *req.uri_mut() = uri;
    }
}

impl Middleware for Headers {
    fn call<'a>(
        &'a self,
        mut req: Request<Body>,
        ctx: &'a RequestCtx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Response<Body>> {
        Box::pin(async move {
            if let Some(cors) = &self.cors {
                if is_preflight(&req) {
                    return cors.preflight(req.headers().get(ORIGIN));
                }
            }
            apply(req.headers_mut(), &self.request);
            if let Some(host) = &self.host {
                set_host(&mut req, host);
            }
            let origin = self
                .cors
                .as_ref()
                .and_then(|_| req.headers().get(ORIGIN).cloned());
            let mut secure_headers: &[(HeaderName, HeaderValue)] = &[];
            let bad_host = match &self.secure {
                Some(secure) if !secure.host_allowed(&req) => true,
                Some(secure) => {
                    secure_headers = if secure.is_ssl(&req, ctx) {
                        &secure.ssl
                    } else {
                        &secure.plain
                    };
                    false
                }
                None => false,
            };

            // The rejection still gets the custom response and CORS headers, as in Traefik
            // (its security check runs inside the custom-headers handler).
            let mut resp = if bad_host {
                debug!(
                    host = request_host(&req),
                    "rejecting a host not in allowedHosts"
                );
                text_response(StatusCode::INTERNAL_SERVER_ERROR, "Bad Host\n")
            } else {
                next.run(req, ctx).await
            };

            let headers = resp.headers_mut();
            for (name, value) in secure_headers {
                headers.insert(name.clone(), value.clone());
            }
            apply(headers, &self.response);
            if let Some(cors) = &self.cors {
                cors.decorate(headers, origin.as_ref());
            }
            resp
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(origins: &[&str], credentials: bool) -> Cors {
        Cors::new(&Config {
            access_control_allow_origin_list: origins.iter().map(|s| s.to_string()).collect(),
            access_control_allow_credentials: Some(credentials),
            access_control_allow_origin_list_regex: vec![r"^https://.*\.example\.com$".into()],
            ..Config::default()
        })
        .unwrap()
        .unwrap()
    }

    #[test]
    fn allowed_origin_follows_traefik() {
        let o = |s: &'static str| HeaderValue::from_static(s);
        let c = cors(&["https://a.com", "*"], false);
        assert_eq!(c.allowed_origin(Some(&o("https://b.com"))), Some(o("*")));
        assert_eq!(
            c.allowed_origin(Some(&o("https://a.com"))),
            Some(o("https://a.com"))
        );
        assert_eq!(c.allowed_origin(None), Some(o("*")));
        let c = cors(&["https://a.com", "*"], true);
        assert_eq!(
            c.allowed_origin(Some(&o("https://b.com"))),
            Some(o("https://b.com"))
        );
        assert_eq!(
            c.allowed_origin(None),
            Some(o("")),
            "Traefik echoes the missing origin"
        );
        let c = cors(&["https://a.com"], false);
        assert_eq!(c.allowed_origin(Some(&o("https://b.com"))), None);
        assert_eq!(
            c.allowed_origin(Some(&o("https://x.example.com"))),
            Some(o("https://x.example.com"))
        );
    }

    #[test]
    fn vary_is_appended_once() {
        let c = Cors::new(&Config {
            add_vary_header: Some(true),
            ..Config::default()
        })
        .unwrap()
        .unwrap();
        let mut h = HeaderMap::new();
        c.decorate(&mut h, None);
        assert_eq!(h[VARY], "Origin");
        c.decorate(&mut h, None);
        assert_eq!(h[VARY], "Origin");
        h.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
        c.decorate(&mut h, None);
        assert_eq!(h[VARY], "Accept-Encoding,Origin");
    }

    #[test]
    fn no_cors_options_no_cors() {
        assert!(Cors::new(&Config::default()).unwrap().is_none());
        assert!(Secure::new(&Config::default()).unwrap().is_none());
    }

    #[test]
    fn security_headers_depend_on_ssl_and_development() {
        let cfg = Config {
            sts_seconds: Some(31536000),
            sts_include_subdomains: Some(true),
            sts_preload: Some(true),
            frame_deny: Some(true),
            public_key: Some("pin".into()),
            ..Config::default()
        };
        let s = Secure::new(&cfg).unwrap().unwrap();
        let names = |v: &[(HeaderName, HeaderValue)]| {
            v.iter()
                .map(|(n, _)| n.as_str().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&s.plain), ["x-frame-options"]);
        assert_eq!(
            names(&s.ssl),
            [
                "x-frame-options",
                "strict-transport-security",
                "public-key-pins"
            ]
        );
        assert_eq!(s.ssl[1].1, "max-age=31536000; includeSubDomains; preload");
        let forced = Secure::new(&Config {
            force_sts_header: Some(true),
            ..cfg.clone()
        })
        .unwrap()
        .unwrap();
        assert_eq!(
            names(&forced.plain),
            ["x-frame-options", "strict-transport-security"]
        );
        let dev = Secure::new(&Config {
            is_development: Some(true),
            force_sts_header: Some(true),
            allowed_hosts: vec!["x".into()],
            ..cfg
        })
        .unwrap()
        .unwrap();
        assert_eq!(names(&dev.ssl), ["x-frame-options"]);
        assert!(dev.allowed_hosts.is_empty());
    }

    #[test]
    fn custom_frame_and_xss_values_win() {
        let s = Secure::new(&Config {
            frame_deny: Some(true),
            custom_frame_options_value: Some("SAMEORIGIN".into()),
            browser_xss_filter: Some(true),
            ..Config::default()
        })
        .unwrap()
        .unwrap();
        assert_eq!(s.plain[0].1, "SAMEORIGIN");
        assert_eq!(s.plain[1].1, "1; mode=block");
    }

    #[test]
    fn invalid_values_name_the_option() {
        let mut cfg = Config::default();
        cfg.custom_request_headers
            .insert("bad name".into(), "v".into());
        let err = Headers::new(&cfg).unwrap_err();
        assert!(
            err.starts_with("headers.customRequestHeaders[\"bad name\"]"),
            "{err}"
        );
        let cfg = Config {
            access_control_allow_origin_list_regex: vec!["(".into()],
            ..Config::default()
        };
        let err = Headers::new(&cfg).unwrap_err();
        assert!(
            err.contains("accessControlAllowOriginListRegex[0]"),
            "{err}"
        );
    }
}

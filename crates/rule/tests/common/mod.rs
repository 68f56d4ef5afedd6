//! Shared helpers for the conformance tests: a request builder that computes the host and the
//! routing path the way the runtime does, and one-line match/parse assertions.

#![allow(dead_code, unreachable_pub)]

use std::net::IpAddr;

use http::{HeaderMap, HeaderName, HeaderValue};
use switchyard_rule::{normalize_host, routing_path, HttpRequestView, HttpRule, Syntax};

#[derive(Debug, Clone)]
pub struct Req {
    pub host: String,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub client_ip: Option<IpAddr>,
}

/// A GET request. `target` is an absolute URL (`http://host:port/path?q`), whose authority
/// becomes the routing host as for absolute-form requests, or an origin-form `/path?q` with host
/// `example.com`.
pub fn get(target: &str) -> Req {
    let (host, rest) = match target.split_once("://") {
        Some((_, after)) => match after.find('/') {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, "/"),
        },
        None => ("example.com", target),
    };
    let (raw_path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q.to_string())),
        None => (rest, None),
    };
    Req {
        host: normalize_host(host).into_owned(),
        method: "GET".to_string(),
        path: routing_path(raw_path, true)
            .expect("valid path")
            .into_owned(),
        query,
        headers: HeaderMap::new(),
        client_ip: Some("10.0.0.1".parse().expect("ip")),
    }
}

impl Req {
    /// Sets the host from a raw `Host` header value.
    pub fn host(mut self, raw: &str) -> Req {
        self.host = normalize_host(raw).into_owned();
        self
    }

    pub fn method(mut self, m: &str) -> Req {
        self.method = m.to_string();
        self
    }

    /// Appends one header line.
    pub fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.append(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(value).expect("header value"),
        );
        self
    }

    pub fn ip(mut self, ip: &str) -> Req {
        self.client_ip = Some(ip.parse().expect("ip"));
        self
    }

    pub fn query(mut self, q: Option<&str>) -> Req {
        self.query = q.map(str::to_string);
        self
    }

    pub fn view(&self) -> HttpRequestView<'_> {
        HttpRequestView {
            host: &self.host,
            method: &self.method,
            path: &self.path,
            query: self.query.as_deref(),
            headers: &self.headers,
            client_ip: self.client_ip,
        }
    }
}

pub fn rule(text: &str, syntax: Syntax) -> HttpRule {
    HttpRule::parse(text, syntax).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
}

/// Asserts that `text` parses and matches each request as expected.
#[track_caller]
pub fn check(id: &str, text: &str, syntax: Syntax, cases: &[(Req, bool)]) {
    let r = rule(text, syntax);
    for (req, want) in cases {
        assert_eq!(
            r.matches(&req.view()),
            *want,
            "{id}: rule {text:?} on {req:?} should {}match",
            if *want { "" } else { "not " }
        );
    }
}

/// Asserts that `text` is rejected, returning the message.
#[track_caller]
pub fn reject(id: &str, text: &str, syntax: Syntax) -> String {
    match HttpRule::parse(text, syntax) {
        Ok(r) => panic!("{id}: rule {text:?} should be rejected, got {r:?}"),
        Err(e) => e.to_string(),
    }
}

//! HTTP router rules: the compiled matchers, the v3 matcher set, and what the router table needs
//! to know about a rule besides "does it match" (the exact hosts it is limited to, for indexing,
//! and its `Host()` domains, for ACME). The per-request facts arrive in an [`HttpRequestView`]
//! that the runtime fills once per request; matching reads it and never allocates except for
//! regexps over form-decoded query values that needed decoding.

use std::collections::BTreeSet;
use std::net::IpAddr;

use http::header::HeaderName;
use http::HeaderMap;
use regex::Regex;

use crate::error::RuleError;
use crate::go_regex;
use crate::host::HostPattern;
use crate::ip::IpMatcher;
use crate::parser::{check_args, parse, resolve_name, unknown_matcher, Call, Expr};
use crate::query;
use crate::{v2, Syntax};

/// What an HTTP rule can look at for one request.
pub struct HttpRequestView<'a> {
    /// Host for routing, already normalized by [`crate::normalize_host`].
    pub host: &'a str,
    /// Request method, as sent (case-sensitive).
    pub method: &'a str,
    /// The routing path, already computed by [`crate::routing_path`].
    pub path: &'a str,
    /// Raw query string without `?`; `;` already turned into `&` where the entry point wants it.
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    /// TCP peer address (or the PROXY-protocol source).
    pub client_ip: Option<IpAddr>,
}

/// A compiled HTTP router rule.
#[derive(Debug, Clone)]
pub struct HttpRule {
    expr: Expr<HttpMatcher>,
}

/// One compiled HTTP matcher.
#[derive(Debug, Clone)]
pub(crate) enum HttpMatcher {
    Host(HostPattern),
    HostRegexp(Regex),
    Method(String),
    Path(String),
    PathPrefix(String),
    PathRegexp(Regex),
    /// `None` when the name cannot be a header name: such a matcher never matches.
    Header(Option<HeaderName>, String),
    HeaderRegexp(Option<HeaderName>, Regex),
    /// Some value of the key form-decodes to exactly this value.
    Query(String, String),
    /// Some value of the key, form-decoded, matches.
    QueryRegexp(String, Regex),
    /// v2 (gorilla/mux): the first occurrence of the key has a value matching the regexp.
    FirstQueryValue(String, Regex),
    ClientIp(IpMatcher),
}

const V3_MATCHERS: &[&str] = &[
    "Host",
    "HostRegexp",
    "Method",
    "Path",
    "PathPrefix",
    "PathRegexp",
    "Header",
    "HeaderRegexp",
    "Query",
    "QueryRegexp",
    "ClientIP",
];

/// Names that exist only in v2, with what to write in v3 instead.
const V2_ONLY: &[(&str, &str)] = &[
    (
        "HostHeader",
        "v2 syntax; use `Host` in v3 or set ruleSyntax to v2",
    ),
    (
        "Headers",
        "v2 syntax; use `Header` in v3 or set ruleSyntax to v2",
    ),
    (
        "HeadersRegexp",
        "v2 syntax; use `HeaderRegexp` in v3 or set ruleSyntax to v2",
    ),
    ("HostSNI", "a TCP matcher; HTTP routers cannot use it"),
    ("HostSNIRegexp", "a TCP matcher; HTTP routers cannot use it"),
    ("ALPN", "a TCP matcher; HTTP routers cannot use it"),
];

impl HttpRule {
    /// Parses and compiles `rule` in the given syntax.
    pub fn parse(rule: &str, syntax: Syntax) -> Result<HttpRule, RuleError> {
        let expr = match syntax {
            Syntax::V3 => parse(rule, &mut build_v3)?,
            Syntax::V2 => parse(rule, &mut v2::build_http)?,
        };
        Ok(HttpRule { expr })
    }

    /// Whether the request matches.
    pub fn matches(&self, req: &HttpRequestView<'_>) -> bool {
        self.expr.eval(&|m| m.matches(req))
    }

    /// Some(hosts) when every request this rule can match must have a host in `hosts`
    /// (lowercase, no trailing dot, exact names only, sorted); None when the rule may match other
    /// hosts (no `Host` on some `||` branch, wildcard `*.x` or `*`, `HostRegexp`, `Host` under
    /// `!`, ...). `Some(vec![])` means the rule can never match (e.g. `Host(a) && Host(b)`).
    pub fn required_hosts(&self) -> Option<Vec<String>> {
        host_constraint(&self.expr, false).map(|set| set.into_iter().collect())
    }

    /// All `Host()` arguments, lower-cased, in rule order without duplicates (including
    /// wildcards and hosts under `!`), like Traefik's `ParseDomains`; used for ACME.
    pub fn domains(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        self.expr.visit(&mut |m| {
            if let HttpMatcher::Host(p) = m {
                let d = p.domain();
                if !out.contains(&d) {
                    out.push(d);
                }
            }
        });
        out
    }
}

impl HostPattern {
    fn domain(&self) -> String {
        match self {
            HostPattern::Any => "*".to_string(),
            HostPattern::Wildcard(suffix) => format!("*{suffix}"),
            HostPattern::Exact(name) => name.clone(),
        }
    }
}

/// The set of hosts `e` (negated when `negated`) restricts requests to, if any. `!` is pushed
/// down with De Morgan's laws; a negated matcher restricts nothing.
fn host_constraint(e: &Expr<HttpMatcher>, negated: bool) -> Option<BTreeSet<String>> {
    match (e, negated) {
        (Expr::Leaf(HttpMatcher::Host(p)), false) => {
            p.exact().map(|h| BTreeSet::from([h.to_string()]))
        }
        (Expr::Leaf(_), _) => None,
        (Expr::Not(inner), _) => host_constraint(inner, !negated),
        (Expr::And(v), false) | (Expr::Or(v), true) => v
            .iter()
            .filter_map(|c| host_constraint(c, negated))
            .reduce(|a, b| a.intersection(&b).cloned().collect()),
        (Expr::Or(v), false) | (Expr::And(v), true) => {
            let mut all = BTreeSet::new();
            for c in v {
                all.append(&mut host_constraint(c, negated)?);
            }
            Some(all)
        }
    }
}

impl HttpMatcher {
    fn matches(&self, req: &HttpRequestView<'_>) -> bool {
        match self {
            HttpMatcher::Host(p) => p.matches(req.host),
            HttpMatcher::HostRegexp(re) => re.is_match(req.host),
            HttpMatcher::Method(m) => req.method == m,
            HttpMatcher::Path(p) => req.path == p,
            HttpMatcher::PathPrefix(p) => req.path.starts_with(p.as_str()),
            HttpMatcher::PathRegexp(re) => re.is_match(req.path),
            HttpMatcher::Header(name, value) => name.as_ref().is_some_and(|n| {
                req.headers
                    .get_all(n)
                    .iter()
                    .any(|v| v.as_bytes() == value.as_bytes())
            }),
            HttpMatcher::HeaderRegexp(name, re) => name.as_ref().is_some_and(|n| {
                req.headers
                    .get_all(n)
                    .iter()
                    .any(|v| re.is_match(&String::from_utf8_lossy(v.as_bytes())))
            }),
            HttpMatcher::Query(key, value) => query_any(req.query, key, |raw| {
                query::decoded_eq(raw, value).unwrap_or(false)
            }),
            HttpMatcher::QueryRegexp(key, re) => query_any(req.query, key, |raw| {
                query::decode(raw).is_some_and(|v| re.is_match(&v))
            }),
            HttpMatcher::FirstQueryValue(key, re) => {
                v2::first_query_value(req.query, key).is_some_and(|v| re.is_match(&v))
            }
            HttpMatcher::ClientIp(ip) => req.client_ip.is_some_and(|a| ip.contains(a)),
        }
    }
}

/// Whether some pair with key `key` has a raw value for which `f` holds. `f` must return false
/// for a malformed value: ParseQuery drops such pairs.
fn query_any(q: Option<&str>, key: &str, f: impl Fn(&str) -> bool) -> bool {
    let Some(q) = q else { return false };
    query::pairs(q).any(|(k, v)| query::decoded_eq(k, key) == Some(true) && f(v))
}

/// Builds one v3 matcher call.
fn build_v3(call: Call<'_>) -> Result<Expr<HttpMatcher>, RuleError> {
    let Some(name) = resolve_name(call.name, V3_MATCHERS) else {
        return Err(unknown_matcher(&call, V3_MATCHERS, V2_ONLY));
    };
    let args = &call.args;
    let (min, max) = match name {
        "Header" | "HeaderRegexp" => (2, 2),
        "Query" | "QueryRegexp" => (1, 2),
        _ => (1, 1),
    };
    check_args(name, args, min, Some(max))?;
    let a = args[0].as_str();
    let matcher = match name {
        "Host" => HttpMatcher::Host(HostPattern::v3(ascii(name, a)?)),
        "HostRegexp" => HttpMatcher::HostRegexp(go_regex::compile(name, ascii(name, a)?)?),
        "Method" => HttpMatcher::Method(a.to_uppercase()),
        "Path" => HttpMatcher::Path(leading_slash(name, a)?.to_string()),
        "PathPrefix" => HttpMatcher::PathPrefix(leading_slash(name, a)?.to_string()),
        "PathRegexp" => HttpMatcher::PathRegexp(go_regex::compile(name, a)?),
        "Header" => HttpMatcher::Header(header_name(a), args[1].clone()),
        "HeaderRegexp" => {
            HttpMatcher::HeaderRegexp(header_name(a), go_regex::compile(name, &args[1])?)
        }
        "Query" | "QueryRegexp" if args.len() == 1 => {
            HttpMatcher::Query(a.to_string(), String::new())
        }
        "Query" => HttpMatcher::Query(a.to_string(), args[1].clone()),
        "QueryRegexp" => {
            HttpMatcher::QueryRegexp(a.to_string(), go_regex::compile(name, &args[1])?)
        }
        _ => HttpMatcher::ClientIp(IpMatcher::parse(name, a)?),
    };
    Ok(Expr::Leaf(matcher))
}

/// Host patterns must be ASCII (punycode for IDNs).
pub(crate) fn ascii<'a>(matcher: &str, value: &'a str) -> Result<&'a str, RuleError> {
    if value.is_ascii() {
        Ok(value)
    } else {
        Err(RuleError::new(format!(
            "{matcher}: `{value}` contains non-ASCII characters (write IDNs in punycode, xn--...)"
        )))
    }
}

pub(crate) fn leading_slash<'a>(matcher: &str, value: &'a str) -> Result<&'a str, RuleError> {
    if value.starts_with('/') {
        Ok(value)
    } else {
        Err(RuleError::new(format!(
            "{matcher}: path must start with `/` (got `{value}`)"
        )))
    }
}

pub(crate) fn header_name(name: &str) -> Option<HeaderName> {
    HeaderName::from_bytes(name.as_bytes()).ok()
}

//! TCP router rules: `HostSNI`, `HostSNIRegexp`, `ClientIP` and `ALPN` over what is known when a
//! connection arrives (TLS SNI and offered ALPN protocols if it is TLS, and the peer address).
//! `HostSNI(`*`)` is the catch-all and the only rule that can route a non-TLS connection.

use std::net::IpAddr;

use regex::Regex;

use crate::error::RuleError;
use crate::go_regex;
use crate::http::ascii;
use crate::ip::IpMatcher;
use crate::parser::{check_args, parse, resolve_name, unknown_matcher, Call, Expr};
use crate::{v2, Syntax};

/// What a TCP rule can look at for one connection.
pub struct TcpConnView<'a> {
    /// TLS server name as sent by the client; `None` for plain TCP or a ClientHello without SNI.
    pub sni: Option<&'a str>,
    /// TCP peer address (or the PROXY-protocol source).
    pub client_ip: Option<IpAddr>,
    /// ALPN protocols offered in the ClientHello.
    pub alpn: &'a [&'a str],
}

/// A compiled TCP router rule.
#[derive(Debug, Clone)]
pub struct TcpRule {
    expr: Expr<TcpMatcher>,
}

#[derive(Debug, Clone)]
pub(crate) enum TcpMatcher {
    HostSni(SniPattern),
    HostSniRegexp(Regex),
    ClientIp(IpMatcher),
    Alpn(String),
}

/// A compiled `HostSNI()` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SniPattern {
    /// `*`: every connection, with or without SNI.
    Any,
    /// v2's `*` in a later argument: any connection that sent an SNI.
    AnySni,
    /// Exact name, lower-cased and without trailing dot; `fqdn` when the pattern had one (then
    /// an SNI with the dot matches too).
    Exact { name: String, fqdn: bool },
    /// `*.example.com`: one extra label; holds `.example.com`.
    Wildcard(String),
}

const V3_MATCHERS: &[&str] = &["HostSNI", "HostSNIRegexp", "ClientIP", "ALPN"];

const OTHER_NAMES: &[(&str, &str)] = &[
    ("Host", "an HTTP matcher; TCP routers use `HostSNI`"),
    (
        "HostRegexp",
        "an HTTP matcher; TCP routers use `HostSNIRegexp`",
    ),
];

/// The ALPN protocol of ACME TLS-ALPN-01 challenges, reserved for the internal ACME handler.
pub(crate) const ACME_TLS_ALPN: &str = "acme-tls/1";

impl TcpRule {
    /// Parses and compiles `rule` in the given syntax.
    pub fn parse(rule: &str, syntax: Syntax) -> Result<TcpRule, RuleError> {
        let expr = match syntax {
            Syntax::V3 => parse(rule, &mut build_v3)?,
            Syntax::V2 => parse(rule, &mut v2::build_tcp)?,
        };
        Ok(TcpRule { expr })
    }

    /// Whether the connection matches.
    pub fn matches(&self, conn: &TcpConnView<'_>) -> bool {
        self.expr.eval(&|m| m.matches(conn))
    }

    /// The `HostSNI()` arguments, lower-cased, without trailing dot, in rule order, deduplicated.
    pub fn domains(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        self.expr.visit(&mut |m| {
            if let TcpMatcher::HostSni(p) = m {
                let d = match p {
                    SniPattern::Any | SniPattern::AnySni => "*".to_string(),
                    SniPattern::Exact { name, .. } => name.clone(),
                    SniPattern::Wildcard(suffix) => format!("*{suffix}"),
                };
                if !out.contains(&d) {
                    out.push(d);
                }
            }
        });
        out
    }

    /// True when the whole rule is ``HostSNI(`*`)``: the catch-all, which also routes non-TLS
    /// connections and ranks after routers with a specific SNI.
    pub fn is_catch_all(&self) -> bool {
        matches!(self.expr, Expr::Leaf(TcpMatcher::HostSni(SniPattern::Any)))
    }
}

impl TcpMatcher {
    fn matches(&self, conn: &TcpConnView<'_>) -> bool {
        match self {
            TcpMatcher::HostSni(p) => p.matches(conn.sni.unwrap_or("")),
            TcpMatcher::HostSniRegexp(re) => re.is_match(conn.sni.unwrap_or("")),
            TcpMatcher::ClientIp(ip) => conn.client_ip.is_some_and(|a| ip.contains(a)),
            TcpMatcher::Alpn(proto) => conn.alpn.iter().any(|p| p == proto),
        }
    }
}

impl SniPattern {
    /// Compiles a `HostSNI()` argument; `wildcards` allows the v3 `*.domain` form.
    pub(crate) fn parse(arg: &str, wildcards: bool) -> Result<SniPattern, RuleError> {
        if arg == "*" {
            return Ok(SniPattern::Any);
        }
        let (wild, name) = match arg.strip_prefix("*.") {
            Some(rest) if wildcards => (true, rest),
            _ => (false, arg),
        };
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b':'));
        if !valid {
            return Err(RuleError::new(format!(
                "HostSNI: `{arg}` is not a valid hostname or IP"
            )));
        }
        let lower = name.to_ascii_lowercase();
        let (stripped, fqdn) = match lower.strip_suffix('.') {
            Some(s) if !s.is_empty() => (s.to_string(), true),
            _ => (lower, false),
        };
        Ok(if wild {
            SniPattern::Wildcard(format!(".{stripped}"))
        } else {
            SniPattern::Exact {
                name: stripped,
                fqdn,
            }
        })
    }

    fn matches(&self, sni: &str) -> bool {
        let s = sni.as_bytes();
        match self {
            SniPattern::Any => true,
            SniPattern::AnySni => !s.is_empty(),
            SniPattern::Exact { name, fqdn } => {
                let n = name.as_bytes();
                s.eq_ignore_ascii_case(n)
                    || (*fqdn
                        && s.len() == n.len() + 1
                        && s.ends_with(b".")
                        && s[..n.len()].eq_ignore_ascii_case(n))
            }
            SniPattern::Wildcard(suffix) => {
                let suf = suffix.as_bytes();
                s.len() > suf.len() && {
                    let (label, tail) = s.split_at(s.len() - suf.len());
                    tail.eq_ignore_ascii_case(suf) && !label.contains(&b'.')
                }
            }
        }
    }
}

/// Builds one v3 TCP matcher call.
fn build_v3(call: Call<'_>) -> Result<Expr<TcpMatcher>, RuleError> {
    let Some(name) = resolve_name(call.name, V3_MATCHERS) else {
        return Err(unknown_matcher(&call, V3_MATCHERS, OTHER_NAMES));
    };
    check_args(name, &call.args, 1, Some(1))?;
    let a = call.args[0].as_str();
    Ok(Expr::Leaf(match name {
        "HostSNI" => TcpMatcher::HostSni(SniPattern::parse(a, true)?),
        "HostSNIRegexp" => TcpMatcher::HostSniRegexp(go_regex::compile(name, ascii(name, a)?)?),
        "ClientIP" => TcpMatcher::ClientIp(IpMatcher::parse(name, a)?),
        _ => TcpMatcher::Alpn(alpn(a)?),
    }))
}

pub(crate) fn alpn(proto: &str) -> Result<String, RuleError> {
    if proto == ACME_TLS_ALPN {
        return Err(RuleError::new(format!(
            "ALPN: `{ACME_TLS_ALPN}` is reserved for ACME TLS challenges"
        )));
    }
    Ok(proto.to_string())
}

pub(crate) fn tcp_unknown(call: &Call<'_>, known: &[&'static str]) -> RuleError {
    unknown_matcher(call, known, OTHER_NAMES)
}

//! The v2 rule syntax (`ruleSyntax: v2`), kept for configurations not yet migrated. Differences
//! from v3: most matchers take several arguments (any of them may match); `Headers` and
//! `HeadersRegexp` are the header matchers; `Query` takes `key=value` templates; and
//! `HostRegexp`, `Path`, `PathPrefix`, `Query` values and `HostSNIRegexp` are gorilla/mux
//! templates: literal text plus `{name}` or `{name:regexp}` variables, anchored to the whole
//! value (`PathPrefix` only at the start). v2 has no `Host(`*.x`)` wildcard.

use std::borrow::Cow;

use crate::error::RuleError;
use crate::go_regex;
use crate::host::HostPattern;
use crate::http::{ascii, header_name, leading_slash, HttpMatcher};
use crate::ip::IpMatcher;
use crate::parser::{check_args, resolve_name, unknown_matcher, Call, Expr};
use crate::query;
use crate::tcp::{alpn, tcp_unknown, SniPattern, TcpMatcher};

const HTTP_MATCHERS: &[&str] = &[
    "Host",
    "HostHeader",
    "HostRegexp",
    "ClientIP",
    "Path",
    "PathPrefix",
    "Method",
    "Headers",
    "HeadersRegexp",
    "Query",
];

const V3_ONLY: &[(&str, &str)] = &[
    (
        "Header",
        "v3 syntax; use `Headers` in v2 or set ruleSyntax to v3",
    ),
    (
        "HeaderRegexp",
        "v3 syntax; use `HeadersRegexp` in v2 or set ruleSyntax to v3",
    ),
    (
        "PathRegexp",
        "v3 syntax; use a `{name:regexp}` template in `Path` in v2",
    ),
    (
        "QueryRegexp",
        "v3 syntax; use a `key={name:regexp}` template in `Query` in v2",
    ),
];

const TCP_MATCHERS: &[&str] = &["HostSNI", "HostSNIRegexp", "ClientIP", "ALPN"];

/// Builds one v2 HTTP matcher call.
pub(crate) fn build_http(call: Call<'_>) -> Result<Expr<HttpMatcher>, RuleError> {
    let Some(name) = resolve_name(call.name, HTTP_MATCHERS) else {
        return Err(unknown_matcher(&call, HTTP_MATCHERS, V3_ONLY));
    };
    check_args(name, &call.args, 1, None)?;
    let each = |f: &dyn Fn(&str) -> Result<HttpMatcher, RuleError>| {
        let leaves = call.args.iter().map(|a| f(a).map(Expr::Leaf));
        leaves.collect::<Result<Vec<_>, _>>().map(Expr::any_of)
    };
    match name {
        "Host" | "HostHeader" => each(&|a| Ok(HttpMatcher::Host(HostPattern::v2(ascii(name, a)?)))),
        "HostRegexp" => each(&|a| {
            let re = template(name, ascii(name, a)?, "[^.]+", true, false)?;
            Ok(HttpMatcher::HostRegexp(re))
        }),
        "ClientIP" => each(&|a| Ok(HttpMatcher::ClientIp(IpMatcher::parse(name, a)?))),
        "Method" => each(&|a| Ok(HttpMatcher::Method(a.to_uppercase()))),
        "Path" => each(&|a| {
            let a = leading_slash(name, a)?;
            Ok(if a.contains('{') {
                HttpMatcher::PathRegexp(template(name, a, "[^/]+", true, false)?)
            } else {
                HttpMatcher::Path(a.to_string())
            })
        }),
        "PathPrefix" => each(&|a| {
            let a = leading_slash(name, a)?;
            Ok(if a.contains('{') {
                HttpMatcher::PathRegexp(template(name, a, "[^/]+", false, false)?)
            } else {
                HttpMatcher::PathPrefix(a.to_string())
            })
        }),
        "Headers" | "HeadersRegexp" => {
            let pairs = even_pairs(name, &call.args)?;
            let leaves = pairs.into_iter().map(|(k, v)| {
                Ok(Expr::Leaf(if name == "Headers" {
                    HttpMatcher::Header(header_name(k), v.to_string())
                } else {
                    HttpMatcher::HeaderRegexp(header_name(k), go_regex::compile(name, v)?)
                }))
            });
            Ok(Expr::all_of(leaves.collect::<Result<Vec<_>, RuleError>>()?))
        }
        _ => {
            // Each argument is split once at `=`; the pieces, in order, form key/value pairs,
            // so `Query(`a=1`, `b=2`)` means both, and `Query(`a`, `1`)` means `a=1`.
            let pieces: Vec<String> = call
                .args
                .iter()
                .flat_map(|a| a.splitn(2, '=').map(str::to_string))
                .collect();
            let pairs = even_pairs(name, &pieces)?;
            let leaves = pairs.into_iter().map(|(k, v)| {
                // An empty value (`k=`) only asks for the key, as in gorilla/mux.
                let re = template(
                    name,
                    if v.is_empty() { "{v}" } else { v },
                    ".*",
                    true,
                    false,
                )?;
                Ok(Expr::Leaf(HttpMatcher::FirstQueryValue(k.to_string(), re)))
            });
            Ok(Expr::all_of(leaves.collect::<Result<Vec<_>, RuleError>>()?))
        }
    }
}

/// Builds one v2 TCP matcher call.
pub(crate) fn build_tcp(call: Call<'_>) -> Result<Expr<TcpMatcher>, RuleError> {
    let Some(name) = resolve_name(call.name, TCP_MATCHERS) else {
        return Err(tcp_unknown(&call, TCP_MATCHERS));
    };
    check_args(name, &call.args, 1, None)?;
    let mut leaves = Vec::with_capacity(call.args.len());
    for (i, a) in call.args.iter().enumerate() {
        leaves.push(Expr::Leaf(match name {
            "HostSNI" => TcpMatcher::HostSni(match SniPattern::parse(a, false)? {
                // Only a leading `*` also routes connections without SNI.
                SniPattern::Any if i > 0 => SniPattern::AnySni,
                p => p,
            }),
            "HostSNIRegexp" => {
                TcpMatcher::HostSniRegexp(template(name, ascii(name, a)?, "[^.]+", true, true)?)
            }
            "ClientIP" => TcpMatcher::ClientIp(IpMatcher::parse(name, a)?),
            _ => TcpMatcher::Alpn(alpn(a)?),
        }));
    }
    Ok(Expr::any_of(leaves))
}

fn even_pairs<'a>(
    matcher: &str,
    items: &'a [String],
) -> Result<Vec<(&'a str, &'a str)>, RuleError> {
    if !items.chunks_exact(2).remainder().is_empty() {
        return Err(RuleError::new(format!(
            "{matcher}: expected key/value pairs, got {} values",
            items.len()
        )));
    }
    Ok(items
        .chunks_exact(2)
        .map(|p| (p[0].as_str(), p[1].as_str()))
        .collect())
}

/// Compiles a gorilla/mux template into an anchored regexp: literal text is escaped, each
/// `{name}` becomes `default`, each `{name:re}` becomes `re` (Go syntax).
pub(crate) fn template(
    matcher: &str,
    tpl: &str,
    default: &str,
    anchor_end: bool,
    case_insensitive: bool,
) -> Result<regex::Regex, RuleError> {
    let mut out = String::with_capacity(tpl.len() + 16);
    if case_insensitive {
        out.push_str("(?i)");
    }
    out.push('^');
    let mut end = 0;
    for (open, close) in brace_spans(matcher, tpl)? {
        out.push_str(&regex::escape(&tpl[end..open]));
        let inner = &tpl[open + 1..close];
        let (var, pattern) = inner.split_once(':').unwrap_or((inner, default));
        if var.is_empty() || pattern.is_empty() {
            return Err(RuleError::new(format!(
                "{matcher}: missing name or pattern in `{}` of `{tpl}`",
                &tpl[open..=close]
            )));
        }
        out.push_str("(?:");
        out.push_str(&go_regex::translate(pattern));
        out.push(')');
        end = close + 1;
    }
    out.push_str(&regex::escape(&tpl[end..]));
    if anchor_end {
        out.push('$');
    }
    go_regex::compile_translated(matcher, tpl, &out)
}

/// Byte offsets of each top-level `{` and its matching `}`.
fn brace_spans(matcher: &str, tpl: &str) -> Result<Vec<(usize, usize)>, RuleError> {
    let unbalanced = || RuleError::new(format!("{matcher}: unbalanced braces in `{tpl}`"));
    let mut spans = Vec::new();
    let mut level = 0usize;
    let mut open = 0;
    for (i, b) in tpl.bytes().enumerate() {
        match b {
            b'{' => {
                if level == 0 {
                    open = i;
                }
                level += 1;
            }
            b'}' => {
                level = level.checked_sub(1).ok_or_else(unbalanced)?;
                if level == 0 {
                    spans.push((open, i));
                }
            }
            _ => {}
        }
    }
    if level != 0 {
        return Err(unbalanced());
    }
    Ok(spans)
}

/// gorilla/mux's query lookup: the value of the first pair (split on `&` or `;`) whose decoded
/// key is `key`, form-decoded; none when that value is malformed.
pub(crate) fn first_query_value<'q>(q: Option<&'q str>, key: &str) -> Option<Cow<'q, str>> {
    for part in q?.split(['&', ';']) {
        if part.is_empty() {
            continue;
        }
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        if k.len() < key.len() || query::decoded_eq(k, key) != Some(true) {
            continue;
        }
        return query::decode(v);
    }
    None
}

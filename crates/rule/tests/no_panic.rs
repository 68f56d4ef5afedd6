//! Property tests: parsing arbitrary text (random, or assembled from rule-like tokens) and
//! computing routing paths never panics, and whatever parses can be evaluated.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use proptest::prelude::*;
use switchyard_rule::{
    normalize_host, routing_path, HttpRequestView, HttpRule, Syntax, TcpConnView, TcpRule,
};

const TOKENS: &[&str] = &[
    "Host",
    "HostRegexp",
    "Path",
    "PathPrefix",
    "PathRegexp",
    "Method",
    "Header",
    "HeaderRegexp",
    "Query",
    "QueryRegexp",
    "ClientIP",
    "HostSNI",
    "HostSNIRegexp",
    "ALPN",
    "Headers",
    "HeadersRegexp",
    "HostHeader",
    "host",
    "PATH",
    "(",
    ")",
    "(",
    ")",
    ",",
    "&&",
    "||",
    "!",
    " ",
    "\n",
    "`a.com`",
    "`*`",
    "`*.a.com`",
    "`/`",
    "`/x`",
    "`{id:[0-9]+}`",
    "`{`",
    "`}`",
    "`[`",
    "`(`",
    "`^a$`",
    "`k=v`",
    "`10.0.0.0/8`",
    "`::1`",
    "`GET`",
    "\"a\"",
    "\"\\x41\"",
    "\"\\u00e9\"",
    "\"\\",
    "`",
    "\"",
    "'",
    "``",
    "`\\d\\Q.\\E{2}`",
    "`acme-tls/1`",
    "`h2`",
    "`🦭`",
];

fn rule_like() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..40).prop_map(|t| t.concat())
}

const NAMES: &[&str] = &[
    "Host",
    "HostRegexp",
    "Path",
    "PathPrefix",
    "PathRegexp",
    "Method",
    "Header",
    "HeaderRegexp",
    "Query",
    "QueryRegexp",
    "ClientIP",
    "HostSNI",
    "HostSNIRegexp",
    "ALPN",
    "Headers",
    "HeadersRegexp",
    "HostHeader",
];

const ARGS: &[&str] = &[
    "`a.com`",
    "`*`",
    "`*.a.com`",
    "`/`",
    "`/x/{id:[0-9]+}`",
    "`{a}.com`",
    "`^a$`",
    "`k=v`",
    "`k=`",
    "`10.0.0.0/8`",
    "`::1`",
    "`GET`",
    "\"x\"",
    "`(?i)A`",
    "`[[:alpha:]&&]`",
    "`h2`",
];

/// Mostly well-formed rules, so that matcher compilation and evaluation get exercised.
fn structured() -> impl Strategy<Value = String> {
    let call = (
        prop::sample::select(NAMES),
        prop::collection::vec(prop::sample::select(ARGS), 0..4),
    )
        .prop_map(|(n, a)| format!("{n}({})", a.join(", ")));
    call.prop_recursive(6, 48, 4, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} && {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} || {b}")),
            inner.clone().prop_map(|a| format!("!{a}")),
            inner.prop_map(|a| format!("({a})")),
        ]
    })
}

/// A structured rule with one byte range cut out, to hit every error path near valid input.
fn damaged() -> impl Strategy<Value = String> {
    (structured(), any::<prop::sample::Index>(), 0usize..4).prop_map(|(s, at, len)| {
        let start = at.index(s.len() + 1);
        let end = (start + len).min(s.len());
        let mut b = s.into_bytes();
        b.drain(start..end);
        String::from_utf8_lossy(&b).into_owned()
    })
}

fn evaluate(rule: &str) {
    for syntax in [Syntax::V3, Syntax::V2] {
        if let Ok(r) = HttpRule::parse(rule, syntax) {
            let headers = http::HeaderMap::new();
            let view = HttpRequestView {
                host: "a.com",
                method: "GET",
                path: "/x/12",
                query: Some("k=v&id=1"),
                headers: &headers,
                client_ip: Some("10.0.0.1".parse().expect("ip")),
            };
            let _ = r.matches(&view);
            let _ = r.required_hosts();
            let _ = r.domains();
        }
        if let Ok(r) = TcpRule::parse(rule, syntax) {
            let _ = r.matches(&TcpConnView {
                sni: Some("a.com"),
                client_ip: None,
                alpn: &["h2"],
            });
            let _ = r.domains();
            let _ = r.is_catch_all();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics(s in any::<String>()) {
        evaluate(&s);
    }

    #[test]
    fn rule_like_text_never_panics(s in rule_like()) {
        evaluate(&s);
    }

    #[test]
    fn structured_rules_never_panic(s in structured()) {
        evaluate(&s);
    }

    #[test]
    fn damaged_rules_never_panic(s in damaged()) {
        evaluate(&s);
    }

    #[test]
    fn matcher_arguments_never_panic(name in prop::sample::select(TOKENS), arg in any::<String>()) {
        let quoted = format!("{name}(`{}`)", arg.replace('`', ""));
        evaluate(&quoted);
        evaluate(&format!("{name}(`k`, `{}`)", arg.replace('`', "")));
    }

    #[test]
    fn routing_path_never_panics(s in any::<String>(), sanitize in any::<bool>()) {
        if let Ok(p) = routing_path(&s, sanitize) {
            prop_assert!(!p.is_empty());
        }
    }

    #[test]
    fn routing_path_on_pathish_text(s in "[/.a%0-9A-Fa-f]{0,24}", sanitize in any::<bool>()) {
        let _ = routing_path(&s, sanitize);
    }

    #[test]
    fn normalize_host_never_panics(s in any::<String>()) {
        let _ = normalize_host(&s);
    }
}

#[test]
fn hostile_nesting_is_an_error() {
    for rule in [
        "(".repeat(100_000),
        "!".repeat(100_000),
        format!("{}Host(`a`){}", "(".repeat(100_000), ")".repeat(100_000)),
        format!("{}Host(`a`)", "!(".repeat(50_000)),
    ] {
        assert!(HttpRule::parse(&rule, Syntax::V3).is_err());
        assert!(TcpRule::parse(&rule, Syntax::V2).is_err());
    }
    // Long flat chains are fine: they cost no depth.
    let chain = vec!["Path(`/a`)"; 20_000].join(" || ");
    assert!(HttpRule::parse(&chain, Syntax::V3).is_ok());
}

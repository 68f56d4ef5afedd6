//! TCP conformance cases T1–T9 of spec §3.6, plus the v2 TCP forms.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::net::IpAddr;

use switchyard_rule::Syntax::{self, V2, V3};
use switchyard_rule::{TcpConnView, TcpRule};

fn conn<'a>(sni: Option<&'a str>, ip: Option<IpAddr>, alpn: &'a [&'a str]) -> TcpConnView<'a> {
    TcpConnView {
        sni,
        client_ip: ip,
        alpn,
    }
}

fn sni_matches(rule: &str, syntax: Syntax, sni: Option<&str>) -> bool {
    let r = TcpRule::parse(rule, syntax).unwrap_or_else(|e| panic!("{rule:?}: {e}"));
    r.matches(&conn(sni, None, &[]))
}

#[track_caller]
fn check_sni(id: &str, rule: &str, syntax: Syntax, cases: &[(Option<&str>, bool)]) {
    for &(sni, want) in cases {
        assert_eq!(
            sni_matches(rule, syntax, sni),
            want,
            "{id}: {rule:?} with SNI {sni:?}"
        );
    }
}

#[track_caller]
fn reject(id: &str, rule: &str, syntax: Syntax) -> String {
    match TcpRule::parse(rule, syntax) {
        Ok(r) => panic!("{id}: {rule:?} should be rejected, got {r:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn t1_to_t5_host_sni() {
    check_sni(
        "T1",
        "HostSNI(`example.com`)",
        V3,
        &[
            (Some("example.com"), true),
            (Some("example.org"), false),
            (Some("EXAMPLE.COM"), true),
            (None, false),
        ],
    );
    check_sni(
        "T2",
        "HostSNI(`*`)",
        V3,
        &[(Some("example.com"), true), (Some(""), true), (None, true)],
    );
    assert!(
        TcpRule::parse("HostSNI(`*`)", V3).unwrap().is_catch_all(),
        "T2"
    );
    check_sni(
        "T3",
        "HostSNI(`example.com.`)",
        V3,
        &[(Some("example.com"), true), (Some("example.com."), true)],
    );
    check_sni(
        "T4",
        "HostSNI(`*.example.com`)",
        V3,
        &[
            (Some("foo.example.com"), true),
            (Some("FOO.Example.com"), true),
            (Some("example.com"), false),
            (Some("a.foo.example.com"), false),
            (None, false),
        ],
    );
    reject("T4", "HostSNI(`*.*.example.com`)", V3);
    check_sni(
        "T5",
        "HostSNI(`foo_bar.example.com`)",
        V3,
        &[(Some("foo_bar.example.com"), true)],
    );
}

#[test]
fn t6_host_sni_regexp() {
    check_sni(
        "T6",
        r"HostSNIRegexp(`^example\.(com|org)$`)",
        V3,
        &[
            (Some("example.org"), true),
            (Some("EXAMPLE.com"), false),
            (Some("example.com."), false),
            (Some(""), false),
            (None, false),
        ],
    );
    // v3 has no templates: braces are literal.
    check_sni(
        "T6 v3 braces",
        "HostSNIRegexp(`example.{tld:(com|org)}`)",
        V3,
        &[(Some("example.com"), false)],
    );
    reject("T6", "HostSNIRegexp(`(example.com`)", V3);
    reject("T6", "HostSNIRegexp(`🦭.com`)", V3);
}

#[test]
fn t7_t8_rejections() {
    assert_eq!(
        reject("T7", "HostSNI(`example.com`, `example.org`)", V3),
        "HostSNI: expected 1 argument, got 2"
    );
    assert_eq!(
        reject("T7", "HostSNI(``)", V3),
        "HostSNI: argument 1 is empty"
    );
    reject("T7", "HostSNI(`🦭.com`)", V3);
    reject("T7", "HostSNI(`exa mple.com`)", V3);
    let msg = reject("T8", "ALPN(`acme-tls/1`)", V3);
    assert!(msg.contains("acme-tls/1"), "{msg}");
    reject("ALPN arity", "ALPN(`h2`, `mqtt`)", V3);
    reject("HTTP matcher in TCP", "Host(`a.com`)", V3);
    reject("TCP syntax", "HostSNI('a.com')", V3);
}

#[test]
fn t9_client_ip_and_alpn() {
    let r = TcpRule::parse("ClientIP(`20.20.20.20/24`)", V3).unwrap();
    let ip = |s: &str| Some(s.parse().unwrap());
    assert!(r.matches(&conn(None, ip("20.20.20.77"), &[])), "T9");
    assert!(!r.matches(&conn(None, ip("10.10.10.10"), &[])), "T9");
    reject("T9", "ClientIP(`20.20.20.20/33`)", V3);

    let r = TcpRule::parse("ALPN(`h2`)", V3).unwrap();
    assert!(r.matches(&conn(None, None, &["http/1.1", "h2"])));
    assert!(!r.matches(&conn(None, None, &["mqtt"])));
    assert!(!r.matches(&conn(None, None, &[])));

    let r = TcpRule::parse(
        "HostSNI(`a.com`) && (ALPN(`h2`) || !ClientIP(`10.0.0.0/8`))",
        V3,
    )
    .unwrap();
    assert!(r.matches(&conn(Some("a.com"), ip("10.0.0.1"), &["h2"])));
    assert!(!r.matches(&conn(Some("a.com"), ip("10.0.0.1"), &["mqtt"])));
    assert!(r.matches(&conn(Some("a.com"), ip("11.0.0.1"), &[])));
    assert!(!r.is_catch_all());
}

#[test]
fn catch_all_and_domains() {
    assert!(
        !TcpRule::parse("HostSNI(`*`) && ClientIP(`10.0.0.0/8`)", V3)
            .unwrap()
            .is_catch_all()
    );
    assert!(!TcpRule::parse("HostSNIRegexp(`.*`)", V3)
        .unwrap()
        .is_catch_all());
    assert!(!TcpRule::parse("HostSNI(`a.com`)", V3)
        .unwrap()
        .is_catch_all());
    let r = TcpRule::parse(
        "HostSNI(`A.com.`) || HostSNI(`*.b.com`) || HostSNI(`a.com`)",
        V3,
    )
    .unwrap();
    assert_eq!(r.domains(), vec!["a.com", "*.b.com"]);
}

#[test]
fn v2_forms() {
    check_sni(
        "v2 multi",
        "HostSNI(`a.com`, `b.com`)",
        V2,
        &[
            (Some("a.com"), true),
            (Some("b.com"), true),
            (Some("c.com"), false),
        ],
    );
    check_sni("v2 leading *", "HostSNI(`*`, `a.com`)", V2, &[(None, true)]);
    check_sni(
        "v2 later *",
        "HostSNI(`a.com`, `*`)",
        V2,
        &[(None, false), (Some("x"), true)],
    );
    reject("v2 no wildcard", "HostSNI(`*.a.com`)", V2);
    check_sni(
        "v2 template",
        "HostSNIRegexp(`{sub:[a-z]+}.example.com`, `other.org`)",
        V2,
        &[
            (Some("foo.example.com"), true),
            (Some("FOO.example.COM"), true),
            (Some("1.example.com"), false),
            (Some("other.org"), true),
            (Some("xother.org"), false),
        ],
    );
    let r = TcpRule::parse("ALPN(`h2`, `mqtt`)", V2).unwrap();
    assert!(r.matches(&conn(None, None, &["mqtt"])));
    reject("v2 ALPN acme", "ALPN(`h2`, `acme-tls/1`)", V2);
    let r = TcpRule::parse("ClientIP(`10.0.0.1`, `10.0.0.2`)", V2).unwrap();
    assert!(r.matches(&conn(None, Some("10.0.0.2".parse().unwrap()), &[])));
    assert!(TcpRule::parse("HostSNI(`*`)", V2).unwrap().is_catch_all());
}

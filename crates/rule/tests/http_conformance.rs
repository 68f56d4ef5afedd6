//! HTTP conformance cases H1–H56 of spec §3.6, one test per group, each case labelled with its
//! number. Requests are built like the runtime builds them (normalised host, routing path).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use common::{check, get, reject, rule};
use switchyard_rule::Syntax::V3;

#[test]
fn h1_to_h9_host() {
    check(
        "H1",
        "Host(`example.com`)",
        V3,
        &[(get("https://example.com/path"), true)],
    );
    check(
        "H2",
        "Host(`example.com`)",
        V3,
        &[(get("/").host("example.com:8080"), true)],
    );
    check(
        "H3",
        "Host(`example.com`)",
        V3,
        &[(get("/").host("EXAMPLE.COM"), true)],
    );
    check(
        "H4",
        "Host(`example.com`)",
        V3,
        &[(get("/").host("example.com."), true)],
    );
    check(
        "H5",
        "Host(`example.com.`)",
        V3,
        &[(get("/").host("example.com"), true)],
    );
    check(
        "H6",
        "Host(`EXAMPLE.COM`)",
        V3,
        &[(get("/").host("example.com"), true)],
    );
    check(
        "H7",
        "Host(`example.com`)",
        V3,
        &[(get("/").host("example.org"), false)],
    );
    // H8/H9: for an absolute-form target the runtime routes on its authority, not the Host
    // header; `get` builds the view exactly that way.
    let absolute = get("http://example.com/").header("Host", "example.org");
    check("H8", "Host(`example.com`)", V3, &[(absolute.clone(), true)]);
    check("H9", "Host(`example.org`)", V3, &[(absolute, false)]);
}

#[test]
fn h10_to_h17_host_wildcards_ips_idn_arity() {
    let h = |host: &str| get("/").host(host);
    check(
        "H10",
        "Host(`*.example.com`)",
        V3,
        &[(h("test.example.com"), true)],
    );
    check(
        "H11",
        "Host(`*.example.com`)",
        V3,
        &[(h("example.com"), false)],
    );
    check(
        "H12",
        "Host(`*.example.com`)",
        V3,
        &[(h("a.b.example.com"), false)],
    );
    check(
        "H13",
        "Host(`*.example.com`)",
        V3,
        &[(h("test.otherexample.com"), false)],
    );
    check(
        "H14",
        "Host(`*`)",
        V3,
        &[
            (h("localhost"), true),
            (h("example.org:81"), true),
            (h(""), true),
        ],
    );
    check(
        "H15",
        "Host(`127.0.0.1`)",
        V3,
        &[(get("http://127.0.0.1/foo"), true)],
    );
    check(
        "H15",
        "Host(`10::10`)",
        V3,
        &[(get("http://[10::10]/foo"), true)],
    );
    check(
        "H16",
        "Host(`xn--9t9h.com`)",
        V3,
        &[(h("xn--9t9h.com"), true)],
    );
    let msg = reject("H16", "Host(`🦭.com`)", V3);
    assert!(msg.contains("non-ASCII"), "{msg}");
    let msg = reject("H17", "Host(`example.com`, `example.org`)", V3);
    assert_eq!(msg, "Host: expected 1 argument, got 2");
}

#[test]
fn h18_to_h21_host_regexp() {
    let h = |host: &str| get("/").host(host);
    check(
        "H18",
        r"HostRegexp(`^[a-zA-Z-]+\.com$`)",
        V3,
        &[(h("example.com:8080"), true), (h("example.org"), false)],
    );
    check(
        "H19",
        r"HostRegexp(`^[A-Z]+\.com$`)",
        V3,
        &[(h("EXAMPLE.com"), false)],
    );
    check(
        "H20",
        "HostRegexp(`example.com`)",
        V3,
        &[(h("notexample.com"), true)],
    );
    // In v3 braces are literal regexp text: the rule is valid and simply does not match.
    check(
        "H21",
        r"HostRegexp(`{domain:[a-zA-Z-]+\.com}`)",
        V3,
        &[(h("example.com"), false)],
    );
    reject("HostRegexp non-ASCII", "HostRegexp(`🦭.com`)", V3);
    reject("HostRegexp invalid", "HostRegexp(`(example`)", V3);
}

#[test]
fn h22_to_h30_paths() {
    check(
        "H22",
        "Path(`/css`)",
        V3,
        &[
            (get("/css"), true),
            (get("/css/"), false),
            (get("/css/main.css"), false),
        ],
    );
    let msg = reject("H23", "Path(`css`)", V3);
    assert!(msg.starts_with("Path: path must start with `/`"), "{msg}");
    check(
        "H24",
        "PathPrefix(`/css`)",
        V3,
        &[
            (get("/css"), true),
            (get("/css/"), true),
            (get("/css/main.css"), true),
            (get("/html"), false),
        ],
    );
    let msg = reject("H24", "PathPrefix(`css`)", V3);
    assert!(
        msg.starts_with("PathPrefix: path must start with `/`"),
        "{msg}"
    );
    check(
        "H25",
        "PathPrefix(`/products`)",
        V3,
        &[(get("/products-for-sale"), true)],
    );
    check(
        "H26",
        "PathRegexp(`^/(css|js)`)",
        V3,
        &[
            (get("/js/main.js"), true),
            (get("/CSS"), false),
            (get("/html"), false),
        ],
    );
    check(
        "H27",
        r"PathRegexp(`\.(jpeg|jpg|png)$`)",
        V3,
        &[(get("/img/a.png"), true)],
    );
    check(
        "H28",
        "PathPrefix(`/foo bar`)",
        V3,
        &[(get("/foo%20bar"), true)],
    );
    check(
        "H29",
        "PathPrefix(`/foo/bar`)",
        V3,
        &[(get("/foo%2Fbar"), false)],
    );
    check(
        "H29",
        "PathPrefix(`/foo%2Fbar`)",
        V3,
        &[(get("/foo%2fbar"), true)],
    );
    check("H30", "Path(`/bar`)", V3, &[(get("/foo/../bar"), true)]);
    reject("PathRegexp invalid", "PathRegexp(`[`)", V3);
}

#[test]
fn h31_h32_method() {
    check(
        "H31",
        "Method(`GET`)",
        V3,
        &[
            (get("/"), true),
            (get("/").method("POST"), false),
            (get("/").method("get"), false),
        ],
    );
    check(
        "H31",
        "Method(`get`)",
        V3,
        &[(get("/"), true), (get("/").method("get"), false)],
    );
    assert_eq!(
        reject("H32", "Method(`GET`, `POST`)", V3),
        "Method: expected 1 argument, got 2"
    );
}

#[test]
fn h33_to_h37_headers() {
    let xfp = "X-Forwarded-Proto";
    check(
        "H33",
        "Header(`X-Forwarded-Proto`, `https`)",
        V3,
        &[
            (get("/").header(xfp, "https"), true),
            (get("/").header(xfp, "http").header(xfp, "https"), true),
            (get("/").header(xfp, "HTTPS"), false),
            (get("/"), false),
        ],
    );
    check(
        "H34",
        "Header(`X-Forwarded-Proto`, `https`)",
        V3,
        &[(get("/").header(xfp, "http, https"), false)],
    );
    check(
        "H35",
        "Header(`x-forwarded-proto`, `https`)",
        V3,
        &[(get("/").header(xfp, "https"), true)],
    );
    assert_eq!(
        reject("H36", "Header(`X-Forwarded-Host`)", V3),
        "Header: expected 2 arguments, got 1"
    );
    assert_eq!(
        reject("H36", "Header(`X`, ``)", V3),
        "Header: argument 2 is empty"
    );
    check(
        "H37",
        "HeaderRegexp(`X-Forwarded-Proto`, `^https?$`)",
        V3,
        &[
            (get("/").header(xfp, "http"), true),
            (get("/").header(xfp, "HTTPS"), false),
            (get("/").header(xfp, "ws").header(xfp, "https"), true),
        ],
    );
}

#[test]
fn h38_to_h42_query() {
    let q = |s: Option<&str>| get("/").query(s);
    check(
        "H38",
        "Query(`q`, `traefik`)",
        V3,
        &[
            (q(Some("q=traefik")), true),
            (q(Some("rel=ddg&q=traefik")), true),
            (q(Some("q=awesome&q=traefik")), true),
        ],
    );
    check(
        "H39",
        "Query(`q`, `traefik`)",
        V3,
        &[
            (q(Some("q=TRAEFIK")), false),
            (q(Some("Q=traefik")), false),
            (q(Some("rel=traefik")), false),
            (q(None), false),
        ],
    );
    check(
        "H40",
        "Query(`mobile`)",
        V3,
        &[
            (q(Some("mobile")), true),
            (q(Some("mobile=")), true),
            (q(Some("mobile=true")), false),
            (q(Some("mobile=true&mobile")), true),
        ],
    );
    assert_eq!(
        reject("H41", "Query(`q`, ``)", V3),
        "Query: argument 2 is empty"
    );
    check(
        "H42",
        "QueryRegexp(`q`, `^.*$`)",
        V3,
        &[(q(Some("q=anything")), true), (q(Some("Q=x")), false)],
    );
    check(
        "QueryRegexp/1",
        "QueryRegexp(`q`)",
        V3,
        &[(q(Some("q")), true), (q(Some("q=1")), false)],
    );
    reject("Query arity", "Query(`a`, `b`, `c`)", V3);
    reject("QueryRegexp invalid", "QueryRegexp(`q`, `(`)", V3);
}

#[test]
fn h43_to_h45_client_ip() {
    check(
        "H43",
        "ClientIP(`192.168.1.0/24`)",
        V3,
        &[
            (get("/").ip("192.168.1.100"), true),
            (get("/").ip("192.168.2.1"), false),
        ],
    );
    check(
        "H44",
        "ClientIP(`127.0.0.1`)",
        V3,
        &[(
            get("/")
                .ip("10.0.0.1")
                .header("X-Forwarded-For", "127.0.0.1"),
            false,
        )],
    );
    let msg = reject("H45", "ClientIP(`1`)", V3);
    assert!(msg.contains("not a valid IP address or CIDR"), "{msg}");
    check(
        "ClientIP without peer",
        "ClientIP(`0.0.0.0/0`)",
        V3,
        &[(get("/").ip("1.2.3.4"), true)],
    );
    let mut no_peer = get("/");
    no_peer.client_ip = None;
    check(
        "ClientIP without peer",
        "ClientIP(`0.0.0.0/0`)",
        V3,
        &[(no_peer, false)],
    );
}

#[test]
fn h46_to_h50_operators_and_names() {
    let at = |host: &str, path: &str| get(path).host(host);
    check(
        "H46",
        r#"Host("example.com") || Host("example.org") && Path("/css")"#,
        V3,
        &[
            (at("example.com", "/js"), true),
            (at("example.org", "/js"), false),
            (at("example.org", "/css"), true),
        ],
    );
    check(
        "H47",
        r#"(Host("example.com") || Host("example.org")) && Path("/css")"#,
        V3,
        &[
            (at("example.com", "/js"), false),
            (at("example.com", "/css"), true),
        ],
    );
    check(
        "H48",
        r#"!(Host("example.com") && !Path("/css"))"#,
        V3,
        &[
            (at("example.com", "/css"), true),
            (at("example.org", "/js"), true),
            (at("example.com", "/js"), false),
        ],
    );
    for spelling in [
        r#"PATHPREFIX("/css")"#,
        r#"pathprefix("/css")"#,
        r#"Pathprefix("/css")"#,
    ] {
        check("H49", spelling, V3, &[(get("/css"), true)]);
    }
    let msg = reject("H49", r#"pathPrefix("/css")"#, V3);
    assert!(msg.starts_with("unknown matcher `pathPrefix`"), "{msg}");
    let msg = reject("H50", "Host('example.com')", V3);
    assert!(
        msg.starts_with("unexpected token `'` at position 5"),
        "{msg}"
    );
    reject("H50", "Host(example.com)", V3);
    let msg = reject("H50", "rulewithnotmatcher", V3);
    assert!(msg.contains("rulewithnotmatcher"), "{msg}");
}

/// H51–H54 are about ordering, which the router table owns: priority defaults to the rule's
/// byte length, higher wins, then provider precedence. Here we check the rule-side facts the
/// table relies on (both rules match; the lengths) and replay the ordering.
#[test]
fn h51_to_h54_priority_inputs() {
    // (rule, explicit priority, provider precedence rank: lower wins)
    fn winner(routers: &[(&str, i64, u32)], req: &common::Req) -> usize {
        let prio = |(r, p, _): &(&str, i64, u32)| if *p != 0 { *p } else { r.len() as i64 };
        let mut matching: Vec<usize> = (0..routers.len())
            .filter(|&i| rule(routers[i].0, V3).matches(&req.view()))
            .collect();
        matching.sort_by_key(|&i| (std::cmp::Reverse(prio(&routers[i])), routers[i].2));
        matching[0]
    }
    assert_eq!("PathPrefix(`/my`)".len(), 17);
    assert_eq!("PathPrefix(`/mypath`)".len(), 21);
    let h51 = [("PathPrefix(`/my`)", 0, 0), ("PathPrefix(`/mypath`)", 0, 0)];
    assert_eq!(winner(&h51, &get("/mypath")), 1, "H51");

    assert_eq!(r"HostRegexp(`[a-z]+\.traefik\.com`)".len(), 34);
    assert_eq!("Host(`foobar.traefik.com`)".len(), 26);
    let h52 = [
        ("Host(`foobar.traefik.com`)", 0, 0),
        (r"HostRegexp(`[a-z]+\.traefik\.com`)", 0, 0),
    ];
    assert_eq!(winner(&h52, &get("/").host("foobar.traefik.com")), 1, "H52");

    // kubernetescrd ranks before kubernetes in the default precedence list.
    let h53 = [("PathPrefix(`/`)", 10, 5), ("PathPrefix(`/`)", 10, 4)];
    assert_eq!(winner(&h53, &get("/x")), 1, "H53");
    // A higher priority beats a better provider.
    let h54 = [("PathPrefix(`/`)", 10, 0), ("PathPrefix(`/`)", 20, 9)];
    assert_eq!(winner(&h54, &get("/x")), 1, "H54");
}

#[test]
fn h55_h56_query_encoding() {
    // The runtime turns `;` into `&` (encodeQuerySemicolons = false, the default) ...
    check(
        "H55",
        "Query(`b`, `2`)",
        V3,
        &[(get("/").query(Some("a=1&b=2")), true)],
    );
    // ... and when it does not, a pair holding `;` is dropped, as Go's ParseQuery does.
    check(
        "H55",
        "Query(`b`, `2`)",
        V3,
        &[(get("/").query(Some("a=1;b=2")), false)],
    );
    check(
        "H56",
        "Query(`q`, `a b`)",
        V3,
        &[
            (get("/").query(Some("q=a+b")), true),
            (get("/").query(Some("q=a%20b")), true),
            (get("/").query(Some("q=a%2")), false),
        ],
    );
    check(
        "H56 key",
        "Query(`a b`, `1`)",
        V3,
        &[(get("/").query(Some("a+b=1")), true)],
    );
}

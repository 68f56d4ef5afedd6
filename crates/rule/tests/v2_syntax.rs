//! v2 rule syntax (spec §3.4 and the v2 samples of §3.6): multi-argument matchers, gorilla/mux
//! templates, `Headers`/`HeadersRegexp`, `Query(`k=v`)`.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use common::{check, get, reject, rule};
use switchyard_rule::Syntax::{V2, V3};

#[test]
fn spec_samples() {
    let h = |host: &str| get("/").host(host);
    check(
        "v2 Host multi",
        "Host(`a`,`b`)",
        V2,
        &[(h("a"), true), (h("b"), true), (h("c"), false)],
    );
    check(
        "v2 Path template",
        "Path(`/css{path:(/.*)?}`)",
        V2,
        &[
            (get("/css/main.css"), true),
            (get("/css"), true),
            (get("/css.css"), false),
        ],
    );
    check(
        "v2 PathPrefix template",
        "PathPrefix(`/css-{name:[0-9]?}`)",
        V2,
        &[
            (get("/css-333333/x"), true),
            (get("/css-/x"), true),
            (get("/cssx"), false),
        ],
    );
    check(
        "v2 HostRegexp template",
        r"HostRegexp(`{subdomain:(foo\.)?bar\.com}`)",
        V2,
        &[
            (h("foo.bar.com"), true),
            (h("bar.com"), true),
            (h("fooubar.com"), false),
        ],
    );
    check(
        "v2 Method multi",
        "Method(`GET`,`POST`)",
        V2,
        &[
            (get("/"), true),
            (get("/").method("POST"), true),
            (get("/").method("PUT"), false),
        ],
    );
}

#[test]
fn hosts() {
    let h = |host: &str| get("/").host(host);
    check(
        "HostHeader",
        "HostHeader(`a.com`, `b.com`)",
        V2,
        &[(h("B.com:80"), true)],
    );
    check("trailing dot", "Host(`a.com.`)", V2, &[(h("a.com"), true)]);
    // v2 has no wildcards: `*.x` is a literal name.
    check(
        "no wildcard",
        "Host(`*.a.com`)",
        V2,
        &[(h("x.a.com"), false)],
    );
    reject("non-ASCII", "Host(`a.com`, `🦭.com`)", V2);
    // Templates are anchored and literal text is escaped.
    check(
        "HostRegexp default var",
        "HostRegexp(`{sub}.a.com`)",
        V2,
        &[
            (h("x.a.com"), true),
            (h("x.y.a.com"), false),
            (h("xya.com"), false),
        ],
    );
    check(
        "HostRegexp literal",
        "HostRegexp(`a.com`, `b.com`)",
        V2,
        &[
            (h("a.com"), true),
            (h("b.com"), true),
            (h("xa.com"), false),
            (h("a-com"), false),
        ],
    );
    reject("unbalanced", "HostRegexp(`{sub.a.com`)", V2);
    reject("unbalanced", "HostRegexp(`sub}.a.com`)", V2);
    reject("missing name", "HostRegexp(`{:[a-z]+}.a.com`)", V2);
    reject("missing pattern", "HostRegexp(`{x:}.a.com`)", V2);
    reject("bad regexp", "HostRegexp(`{x:(}.a.com`)", V2);
}

#[test]
fn paths() {
    check(
        "Path multi",
        "Path(`/a`, `/b`)",
        V2,
        &[(get("/a"), true), (get("/b"), true), (get("/a/"), false)],
    );
    check(
        "Path var",
        "Path(`/users/{id}`)",
        V2,
        &[
            (get("/users/42"), true),
            (get("/users/42/x"), false),
            (get("/users/"), false),
        ],
    );
    check(
        "Path nested braces",
        "Path(`/n/{id:[0-9]{2}}`)",
        V2,
        &[(get("/n/42"), true), (get("/n/421"), false)],
    );
    check(
        "PathPrefix multi",
        "PathPrefix(`/api`, `/v2`)",
        V2,
        &[
            (get("/apix"), true),
            (get("/v2/x"), true),
            (get("/x"), false),
        ],
    );
    reject("Path slash", "Path(`a`)", V2);
    reject("PathPrefix slash", "PathPrefix(`/a`, `b`)", V2);
}

#[test]
fn headers_query_ip() {
    check(
        "Headers",
        "Headers(`X-A`, `1`)",
        V2,
        &[
            (get("/").header("x-a", "1"), true),
            (get("/").header("x-a", "2"), false),
        ],
    );
    check(
        "Headers pairs",
        "Headers(`X-A`, `1`, `X-B`, `2`)",
        V2,
        &[
            (get("/").header("x-a", "1").header("x-b", "2"), true),
            (get("/").header("x-a", "1"), false),
        ],
    );
    reject("Headers odd", "Headers(`X-A`)", V2);
    check(
        "HeadersRegexp",
        "HeadersRegexp(`X-A`, `^a+$`)",
        V2,
        &[
            (get("/").header("x-a", "aaa"), true),
            (get("/").header("x-a", "ab"), false),
        ],
    );
    let q = |s: &str| get("/").query(Some(s));
    check(
        "Query k=v",
        "Query(`a=1`, `b=2`)",
        V2,
        &[
            (q("a=1&b=2"), true),
            (q("b=2&a=1"), true),
            (q("a=1"), false),
        ],
    );
    check(
        "Query template",
        "Query(`id={id:[0-9]+}`)",
        V2,
        &[
            (q("id=12"), true),
            (q("id=x"), false),
            (q("x=1&id=7"), true),
        ],
    );
    // gorilla only looks at the first occurrence of the key.
    check(
        "Query first",
        "Query(`a=1`)",
        V2,
        &[(q("a=2&a=1"), false), (q("a=1;a=2"), true)],
    );
    check(
        "Query any value",
        "Query(`a=`)",
        V2,
        &[(q("a=zz"), true), (q("b=1"), false)],
    );
    check(
        "Query split pieces",
        "Query(`a`, `1`)",
        V2,
        &[(q("a=1"), true)],
    );
    reject("Query odd", "Query(`a`)", V2);
    check(
        "ClientIP multi",
        "ClientIP(`10.0.0.0/8`, `::1`)",
        V2,
        &[
            (get("/").ip("10.2.3.4"), true),
            (get("/").ip("::1"), true),
            (get("/").ip("11.0.0.1"), false),
        ],
    );
}

#[test]
fn names_differ_between_syntaxes() {
    let msg = reject("v3 only in v2", "Header(`a`, `b`)", V2);
    assert!(msg.contains("v3 syntax"), "{msg}");
    reject("v3 only in v2", "PathRegexp(`^/`)", V2);
    reject("v3 only in v2", "QueryRegexp(`a`, `b`)", V2);
    let msg = reject("v2 only in v3", "Headers(`a`, `b`)", V3);
    assert!(msg.contains("v2 syntax"), "{msg}");
    reject("v2 only in v3", "HostHeader(`a`)", V3);
    rule("HOSTHEADER(`a`) && headersregexp(`a`, `b`)", V2);
}

#[test]
fn required_hosts_and_domains() {
    let r = rule("Host(`B.com`, `a.com.`) && Path(`/x`)", V2);
    assert_eq!(
        r.required_hosts(),
        Some(vec!["a.com".to_string(), "b.com".to_string()])
    );
    assert_eq!(r.domains(), vec!["b.com", "a.com"]);
    assert_eq!(rule("HostRegexp(`a.com`)", V2).required_hosts(), None);
}

//! What the router table consumes besides matching: the routing path, the normalised host, the
//! exact-host index key (`required_hosts`), the ACME domains, the syntax switch and the error
//! messages users see.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::borrow::Cow;

use switchyard_rule::{normalize_host, routing_path, HttpRule, Syntax};

#[test]
fn routing_path_cases() {
    let cases: &[(&str, bool, &str)] = &[
        ("/foo%20bar", true, "/foo bar"),
        ("/foo%2Fbar", true, "/foo%2Fbar"),
        ("/foo%2fbar", true, "/foo%2Fbar"),
        (
            "/a%3a%3F%23%5b%5D%40%21%24%26%27%28%29%2a%2B%2c%3b%3D%25",
            false,
            "/a%3A%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D%25",
        ),
        ("/%7Euser/%41%62c", true, "/~user/Abc"),
        ("/caf%C3%A9", true, "/café"),
        ("/bad%FF%C3", true, "/bad%FF%C3"),
        ("/%C3/x", true, "/%C3/x"),
        ("/foo/../bar", true, "/bar"),
        ("/foo/../bar", false, "/foo/../bar"),
        ("//a/./b/", true, "/a/b/"),
        ("/a/b/..", true, "/a"),
        ("/a/b/../", true, "/a/"),
        ("/../../x", true, "/x"),
        ("/%2E%2E/secret", true, "/secret"),
        ("/a%2F..%2Fb", true, "/a%2F..%2Fb"),
        ("/", true, "/"),
        ("", true, "/"),
        ("", false, "/"),
        ("*", true, "*"),
    ];
    for &(raw, sanitize, want) in cases {
        assert_eq!(
            routing_path(raw, sanitize).unwrap(),
            want,
            "{raw:?} sanitize={sanitize}"
        );
    }
    assert!(matches!(
        routing_path("/plain/path", true),
        Ok(Cow::Borrowed(_))
    ));
    assert!(matches!(routing_path("/a//b", false), Ok(Cow::Borrowed(_))));
    for bad in ["/%zz", "/a%", "/a%2", "/%g0", "/%0g/"] {
        let err = routing_path(bad, true).unwrap_err();
        assert!(
            err.to_string().contains("malformed percent-encoding"),
            "{bad}: {err}"
        );
    }
    assert_eq!(routing_path("/ab%zz", true).unwrap_err().position(), 3);
}

#[test]
fn normalize_host_cases() {
    let cases = [
        ("example.com", "example.com"),
        ("EXAMPLE.com:8080", "example.com"),
        ("example.com.", "example.com"),
        ("[::1]:8080", "::1"),
        ("[2001:DB8::1]", "2001:db8::1"),
        (" example.com ", "example.com"),
        ("", ""),
    ];
    for (raw, want) in cases {
        assert_eq!(normalize_host(raw), want, "{raw:?}");
    }
}

fn hosts(rule: &str) -> Option<Vec<String>> {
    HttpRule::parse(rule, Syntax::V3)
        .unwrap_or_else(|e| panic!("{rule}: {e}"))
        .required_hosts()
}

fn some(v: &[&str]) -> Option<Vec<String>> {
    Some(v.iter().map(|s| s.to_string()).collect())
}

#[test]
fn required_hosts_cases() {
    assert_eq!(hosts("Host(`a.com`) && Path(`/x`)"), some(&["a.com"]));
    assert_eq!(hosts("Host(`a`) || Host(`b`)"), some(&["a", "b"]));
    assert_eq!(hosts("Host(`a`) || Path(`/x`)"), None);
    assert_eq!(hosts("!Host(`a`)"), None);
    assert_eq!(hosts("Host(`*.a`)"), None);
    assert_eq!(hosts("Host(`*`)"), None);
    assert_eq!(hosts("HostRegexp(`^a$`)"), None);
    assert_eq!(hosts("Path(`/`)"), None);
    assert_eq!(hosts("Host(`A.com.`)"), some(&["a.com"]));
    assert_eq!(hosts("Host(`10::10`)"), some(&["10::10"]));
    assert_eq!(
        hosts("(Host(`a`) || Host(`b`)) && Path(`/x`)"),
        some(&["a", "b"])
    );
    assert_eq!(hosts("(Host(`a`) || Host(`b`)) && Host(`b`)"), some(&["b"]));
    assert_eq!(hosts("Host(`a`) && Host(`b`)"), some(&[]));
    assert_eq!(hosts("Host(`a`) && !Host(`b`)"), some(&["a"]));
    assert_eq!(hosts("!(!Host(`a`) || Path(`/x`))"), some(&["a"]));
    assert_eq!(hosts("!(!Host(`a`) && !Host(`b`))"), some(&["a", "b"]));
    assert_eq!(hosts("!(Host(`a`) || !Host(`b`))"), some(&["b"]));
    assert_eq!(hosts("Host(`a`) || Host(`*.b`)"), None);
    assert_eq!(
        hosts("Host(`b`) || Host(`a`) || Host(`b`)"),
        some(&["a", "b"])
    );
}

/// `required_hosts` must be conservative: any request matched by a rule with `Some(hosts)` has
/// its host in `hosts`.
#[test]
fn required_hosts_is_sound() {
    let rules = [
        "Host(`a`) && !Host(`b`)",
        "!(!Host(`a`) || Path(`/x`))",
        "!(!Host(`a`) && !Host(`b`))",
        "Host(`a`) || Host(`b`) && Path(`/x`)",
        "(Host(`a`) || Host(`b`)) && !(Host(`b`) && Path(`/x`))",
    ];
    let headers = http::HeaderMap::new();
    for text in rules {
        let rule = HttpRule::parse(text, Syntax::V3).unwrap();
        let Some(allowed) = rule.required_hosts() else {
            continue;
        };
        for host in ["a", "b", "c", ""] {
            for path in ["/x", "/y"] {
                let view = switchyard_rule::HttpRequestView {
                    host,
                    method: "GET",
                    path,
                    query: None,
                    headers: &headers,
                    client_ip: None,
                };
                if rule.matches(&view) {
                    assert!(
                        allowed.iter().any(|h| h == host),
                        "{text}: {host} not in {allowed:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn domains_cases() {
    let d = |rule: &str| HttpRule::parse(rule, Syntax::V3).unwrap().domains();
    assert_eq!(d("Host(`A.com`) && Path(`/`)"), vec!["a.com"]);
    assert_eq!(
        d("Host(`a.com`) || (Host(`*.b.com`) && !Host(`c.com`)) || Host(`a.com`)"),
        vec!["a.com", "*.b.com", "c.com"]
    );
    assert!(d("HostRegexp(`a`) && PathPrefix(`/`)").is_empty());
}

#[test]
fn syntax_from_str() {
    assert_eq!("v2".parse::<Syntax>().unwrap(), Syntax::V2);
    assert_eq!("V3".parse::<Syntax>().unwrap(), Syntax::V3);
    assert!("v4".parse::<Syntax>().is_err());
    assert!("".parse::<Syntax>().is_err());
    assert_eq!(Syntax::default(), Syntax::V3);
    assert_eq!(Syntax::V2.to_string(), "v2");
}

#[test]
fn error_messages() {
    let e = |rule: &str| HttpRule::parse(rule, Syntax::V3).unwrap_err().to_string();
    assert!(e("pathPrefix(`/a`)").starts_with("unknown matcher `pathPrefix`"));
    assert!(e("pathPrefix(`/a`)").contains("`PathPrefix`"));
    assert_eq!(e("Host(`a`, `b`)"), "Host: expected 1 argument, got 2");
    assert_eq!(e("Host()"), "Host: expected 1 argument, got 0");
    assert_eq!(
        e("Query(`a`, `b`, `c`)"),
        "Query: expected 1 or 2 arguments, got 3"
    );
    assert!(e("PathPrefix(`a`)").starts_with("PathPrefix: path must start with `/`"));
    assert!(e("Host('a')").starts_with("unexpected token `'` at position 5"));
    assert_eq!(e(""), "empty rule");
    assert!(e("PathRegexp(`(`)").starts_with("PathRegexp: invalid regular expression `(`:"));
    assert!(!e("PathRegexp(`(`)").contains('\n'));
    assert!(e(&"(".repeat(100_000)).contains("levels deep"));
    assert!(e("Host(`a`)\n&& Path(`/`)").contains("newline"));
}

#[test]
fn go_literals_and_layout() {
    let r = HttpRule::parse("Host(\"a.com\",) &&\n\tPath(\"/caf\\u00e9\")", Syntax::V3).unwrap();
    let headers = http::HeaderMap::new();
    let view = switchyard_rule::HttpRequestView {
        host: "a.com",
        method: "GET",
        path: "/café",
        query: None,
        headers: &headers,
        client_ip: None,
    };
    assert!(r.matches(&view));
}

//! The `headers` middleware through the running proxy: custom headers both ways, CORS preflights
//! answered without the upstream, CORS response headers, security headers (HSTS only over TLS or
//! a trusted `sslProxyHeaders` marker) and the `allowedHosts` rejection.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::sync::atomic::Ordering;

use common::*;

fn config(backend: &Backend, middlewares: &str) -> String {
    format!(
        "http:\n  routers:\n    r:\n      rule: PathPrefix(`/`)\n      service: s\n      middlewares: [h]\n  services:\n    s:\n      loadBalancer:\n        servers: [{{url: \"{}\"}}]\n  middlewares:\n    h:\n      headers:\n{middlewares}",
        backend.url()
    )
}

#[test]
fn custom_request_and_response_headers() {
    let b = Backend::start("b");
    let mws = "        customRequestHeaders:\n          X-Script-Name: test\n          User-Agent: \"\"\n          Host: upstream.example\n        customResponseHeaders:\n          X-Custom-Response: yes\n          X-Backend: \"\"\n";
    let proxy = Proxy::start(&config(&b, mws), "");
    let r = request(
        proxy.web(),
        "GET",
        "/x",
        "client.example",
        &[("User-Agent", "curl/8")],
        "",
    );
    assert_eq!(r.status, 200, "{}", proxy.logs());
    let dump = r.text().to_lowercase();
    assert!(dump.contains("x-script-name: test\n"), "{dump}");
    assert!(
        !dump.contains("user-agent"),
        "an empty value removes: {dump}"
    );
    assert!(dump.contains("host: upstream.example\n"), "{dump}");
    assert_eq!(r.header("x-custom-response"), Some("yes"));
    assert_eq!(
        r.header("x-backend"),
        None,
        "the upstream's header was removed"
    );
}

#[test]
fn cors_preflight_is_answered_without_the_upstream() {
    let b = Backend::start("b");
    let mws = "        accessControlAllowMethods: [GET, OPTIONS, PUT]\n        accessControlAllowHeaders: [X-A, X-B]\n        accessControlAllowOriginList: [\"https://app.example\"]\n        accessControlExposeHeaders: [X-E]\n        accessControlMaxAge: 100\n        accessControlAllowCredentials: true\n        addVaryHeader: true\n        frameDeny: true\n        customResponseHeaders:\n          X-Custom: yes\n";
    let proxy = Proxy::start(&config(&b, mws), "");
    let preflight = [
        ("Origin", "https://app.example"),
        ("Access-Control-Request-Method", "PUT"),
    ];
    let r = request(proxy.web(), "OPTIONS", "/api", "x", &preflight, "");
    assert_eq!(r.status, 200, "{}", proxy.logs());
    assert_eq!(
        b.hits.load(Ordering::Relaxed),
        0,
        "the upstream was not called"
    );
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some("GET,OPTIONS,PUT")
    );
    assert_eq!(r.header("access-control-allow-headers"), Some("X-A,X-B"));
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(r.header("access-control-max-age"), Some("100"));
    assert_eq!(r.header("access-control-expose-headers"), Some("X-E"));
    assert_eq!(
        r.header("x-frame-options"),
        None,
        "as Traefik: no security headers"
    );
    assert_eq!(r.header("x-custom"), None);
    assert!(r.body.is_empty());

    // An unknown origin gets no Allow-Origin.
    let r = request(
        proxy.web(),
        "OPTIONS",
        "/api",
        "x",
        &[
            ("Origin", "https://evil.example"),
            ("Access-Control-Request-Method", "PUT"),
        ],
        "",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);

    // OPTIONS without Access-Control-Request-Method is an ordinary request.
    let r = request(
        proxy.web(),
        "OPTIONS",
        "/api",
        "x",
        &[("Origin", "https://app.example")],
        "",
    );
    assert!(r.text().contains("method: OPTIONS"), "{}", r.text());
    assert_eq!(b.hits.load(Ordering::Relaxed), 1);

    // A simple request gets the CORS response headers on the upstream's answer.
    let r = request(
        proxy.web(),
        "GET",
        "/api",
        "x",
        &[("Origin", "https://app.example")],
        "",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(r.header("access-control-expose-headers"), Some("X-E"));
    assert_eq!(r.header("vary"), Some("Origin"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(r.header("x-custom"), Some("yes"));
}

#[test]
fn wildcard_and_regex_origins() {
    let b = Backend::start("b");
    let mws = "        accessControlAllowOriginList: [\"*\"]\n        accessControlAllowOriginListRegex: [\"^https://.*\\\\.example\\\\.com$\"]\n";
    let proxy = Proxy::start(&config(&b, mws), "");
    let r = request(
        proxy.web(),
        "GET",
        "/",
        "x",
        &[("Origin", "https://anything.test")],
        "",
    );
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("vary"), None, "addVaryHeader is off");
}

#[test]
fn security_headers_and_hsts() {
    let b = Backend::start("b");
    let mws = "        stsSeconds: 31536000\n        stsIncludeSubdomains: true\n        stsPreload: true\n        customFrameOptionsValue: SAMEORIGIN\n        contentTypeNosniff: true\n        browserXssFilter: true\n        contentSecurityPolicy: \"default-src 'self'\"\n        contentSecurityPolicyReportOnly: \"default-src 'none'\"\n        referrerPolicy: no-referrer\n        permissionsPolicy: \"camera=()\"\n        publicKey: 'pin-sha256=\"abc\"; max-age=10'\n        sslProxyHeaders:\n          X-Forwarded-Proto: https\n";
    let proxy = Proxy::start(
        &config(&b, mws),
        "EP:forwardedHeaders:\nEP:  insecure: true",
    );
    let r = get(proxy.web(), "x", "/");
    assert_eq!(r.status, 200, "{}", proxy.logs());
    assert_eq!(r.header("x-frame-options"), Some("SAMEORIGIN"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("x-xss-protection"), Some("1; mode=block"));
    assert_eq!(
        r.header("content-security-policy"),
        Some("default-src 'self'")
    );
    assert_eq!(
        r.header("content-security-policy-report-only"),
        Some("default-src 'none'")
    );
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(r.header("permissions-policy"), Some("camera=()"));
    assert_eq!(
        r.header("strict-transport-security"),
        None,
        "no HSTS over plain HTTP"
    );
    assert_eq!(r.header("public-key-pins"), None);

    let r = request(
        proxy.web(),
        "GET",
        "/",
        "x",
        &[("X-Forwarded-Proto", "https")],
        "",
    );
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=31536000; includeSubDomains; preload")
    );
    assert_eq!(
        r.header("public-key-pins"),
        Some("pin-sha256=\"abc\"; max-age=10")
    );
}

#[test]
fn allowed_hosts_and_forced_sts() {
    let b = Backend::start("b");
    let mws = "        allowedHosts: [good.example]\n        hostsProxyHeaders: [X-Original-Host]\n        stsSeconds: 60\n        forceSTSHeader: true\n        sslRedirect: true\n        featurePolicy: \"vibrate 'none'\"\n        customResponseHeaders:\n          X-Custom: yes\n";
    let proxy = Proxy::start(&config(&b, mws), "");
    let r = get(proxy.web(), "bad.example", "/");
    assert_eq!(r.status, 500);
    assert_eq!(r.text(), "Bad Host\n");
    assert_eq!(
        r.header("x-custom"),
        Some("yes"),
        "custom headers apply to the 500 too"
    );
    assert_eq!(r.header("strict-transport-security"), None);
    assert_eq!(b.hits.load(Ordering::Relaxed), 0);

    let r = get(proxy.web(), "GOOD.example", "/");
    assert_eq!(r.status, 200, "host names compare case-insensitively");
    assert_eq!(r.header("strict-transport-security"), Some("max-age=60"));
    assert_eq!(r.header("feature-policy"), None, "deprecated, ignored");

    let r = request(
        proxy.web(),
        "GET",
        "/",
        "bad.example",
        &[("X-Original-Host", "good.example")],
        "",
    );
    assert_eq!(r.status, 200, "hostsProxyHeaders win over Host");
}

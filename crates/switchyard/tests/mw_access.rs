//! Access-control middlewares through the running proxy: `ipAllowList` / `ipWhiteList` (client IP
//! strategies, spoofing), `inFlightReq` (429 while a request is in flight) and `rateLimit`
//! (burst, delays, 429 headers, buckets surviving a reload).
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::time::{Duration, Instant};

use common::*;

/// One router per `(path prefix, middleware)` pair, all to `backend`.
fn config(backend: &Backend, routes: &[(&str, &str)], middlewares: &str) -> String {
    let mut routers = String::new();
    for (i, (prefix, mw)) in routes.iter().enumerate() {
        routers.push_str(&format!(
            "    r{i}:\n      rule: PathPrefix(`{prefix}`)\n      service: s\n      middlewares: [{mw}]\n"
        ));
    }
    format!(
        "http:\n  routers:\n{routers}  services:\n    s:\n      loadBalancer:\n        servers: [{{url: \"{}\"}}]\n  middlewares:\n{middlewares}",
        backend.url()
    )
}

const TRUST_XFF: &str = "EP:forwardedHeaders:\nEP:  insecure: true";

#[test]
fn allow_list_uses_the_peer_address_and_cannot_be_spoofed() {
    let b = Backend::start("b");
    let routes = [
        ("/local", "local"),
        ("/ten", "ten"),
        ("/custom", "custom"),
        ("/legacy", "legacy"),
        ("/broken", "broken"),
    ];
    let mws = "    local:\n      ipAllowList:\n        sourceRange: [\"127.0.0.1/32\", \"::1\"]\n    ten:\n      ipAllowList:\n        sourceRange: [\"10.0.0.0/8\"]\n    custom:\n      ipAllowList:\n        sourceRange: [\"10.0.0.0/8\"]\n        rejectStatusCode: 404\n    legacy:\n      ipWhiteList:\n        sourceRange: [\"10.0.0.0/8\"]\n    broken:\n      ipAllowList:\n        sourceRange: [\"10.0.0.0/33\"]\n";
    // X-Forwarded-For from any peer is kept: a client could claim to be 10.0.0.1.
    let proxy = Proxy::start(&config(&b, &routes, mws), TRUST_XFF);

    let r = get(proxy.web(), "x", "/local");
    assert_eq!(r.status, 200, "{}", proxy.logs());

    let spoof = [("X-Forwarded-For", "10.0.0.1")];
    let r = request(proxy.web(), "GET", "/ten", "x", &spoof, "");
    assert_eq!(
        r.status, 403,
        "a spoofed X-Forwarded-For does not bypass depth 0"
    );
    assert_eq!(r.text(), "Forbidden");
    assert_eq!(r.header("content-type"), None);

    let r = request(proxy.web(), "GET", "/custom", "x", &spoof, "");
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "Not Found");

    let r = request(proxy.web(), "GET", "/legacy", "x", &spoof, "");
    assert_eq!(r.status, 403, "ipWhiteList is the same middleware");

    // An invalid range disables the router that uses it.
    let r = get(proxy.web(), "x", "/broken");
    assert_eq!(r.status, 404);
    assert!(proxy.logs().contains("sourceRange[0]"), "{}", proxy.logs());
    assert_eq!(b.hits.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[test]
fn allow_list_ip_strategies() {
    let b = Backend::start("b");
    let routes = [
        ("/depth1", "depth1"),
        ("/depth2", "depth2"),
        ("/excl", "excl"),
    ];
    let mws = "    depth1:\n      ipAllowList:\n        sourceRange: [\"2.2.2.2\"]\n        ipStrategy:\n          depth: 1\n    depth2:\n      ipAllowList:\n        sourceRange: [\"1.1.1.1\"]\n        ipStrategy:\n          depth: 2\n    excl:\n      ipAllowList:\n        sourceRange: [\"1.1.1.0/24\"]\n        ipStrategy:\n          excludedIPs: [\"2.2.2.2\", \"127.0.0.1\"]\n";
    let proxy = Proxy::start(&config(&b, &routes, mws), TRUST_XFF);
    let xff = [("X-Forwarded-For", "1.1.1.1, 2.2.2.2")];
    for path in ["/depth1", "/depth2", "/excl"] {
        let r = request(proxy.web(), "GET", path, "x", &xff, "");
        assert_eq!(r.status, 200, "{path}: {}", proxy.logs());
        // The upstream still gets the full chain, the peer appended.
        assert!(
            r.text()
                .to_lowercase()
                .contains("x-forwarded-for: 1.1.1.1, 2.2.2.2, 127.0.0.1\n"),
            "{}",
            r.text()
        );
    }
    // Without X-Forwarded-For, depth finds no address: rejected.
    assert_eq!(get(proxy.web(), "x", "/depth1").status, 403);
    let other = [("X-Forwarded-For", "3.3.3.3, 2.2.2.2")];
    assert_eq!(
        request(proxy.web(), "GET", "/excl", "x", &other, "").status,
        403
    );
}

#[test]
fn in_flight_requests_are_limited_per_source() {
    let b = Backend::start("b");
    let routes = [("/", "one"), ("/keyed", "keyed, strip")];
    let mws = "    one:\n      inFlightReq:\n        amount: 1\n    keyed:\n      inFlightReq:\n        amount: 1\n        sourceCriterion:\n          requestHeaderName: X-Tenant\n    strip:\n      stripPrefix:\n        prefixes: [/keyed]\n";
    let proxy = Proxy::start(&config(&b, &routes, mws), "");
    let addr = proxy.web();
    let slow = std::thread::spawn(move || get(addr, "x", "/slow"));
    std::thread::sleep(Duration::from_millis(500));
    let r = get(proxy.web(), "x", "/other");
    assert_eq!(r.status, 429, "{}", proxy.logs());
    assert_eq!(r.text(), "max connections reached: 1");
    assert_eq!(slow.join().unwrap().status, 200);
    assert_eq!(
        get(proxy.web(), "x", "/other").status,
        200,
        "the slot was freed"
    );

    // Keyed by a header: another tenant is not affected.
    let slow = std::thread::spawn(move || {
        request(addr, "GET", "/keyed/slow", "x", &[("X-Tenant", "a")], "")
    });
    std::thread::sleep(Duration::from_millis(500));
    let a = request(
        proxy.web(),
        "GET",
        "/keyed/x",
        "x",
        &[("X-Tenant", "a")],
        "",
    );
    let b2 = request(
        proxy.web(),
        "GET",
        "/keyed/x",
        "x",
        &[("X-Tenant", "b")],
        "",
    );
    assert_eq!(a.status, 429);
    assert_eq!(b2.status, 200);
    assert_eq!(slow.join().unwrap().status, 200);
}

const LIMITED: &str =
    "    limited:\n      rateLimit:\n        average: 1\n        period: 1m\n        burst: 2\n";

#[test]
fn rate_limit_burst_then_429_and_reload_keeps_buckets() {
    let b = Backend::start("b");
    let proxy = Proxy::start(&config(&b, &[("/", "limited")], LIMITED), "");
    assert_eq!(get(proxy.web(), "x", "/").status, 200, "{}", proxy.logs());
    assert_eq!(get(proxy.web(), "x", "/").status, 200, "burst 2");
    let r = get(proxy.web(), "x", "/");
    assert_eq!(r.status, 429);
    assert_eq!(r.text(), "Too Many Requests");
    let retry_after: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((59..=60).contains(&retry_after), "{retry_after}");
    let retry_in = r.header("x-retry-in").unwrap();
    assert!(
        retry_in.starts_with("59.") || retry_in == "1m0s",
        "{retry_in}"
    );

    // A reload that leaves the middleware unchanged (a new router appears) keeps the buckets.
    let reloaded = config(&b, &[("/", "limited")], LIMITED).replacen(
        "  services:",
        "    probe:\n      rule: Path(`/probe-reloaded`)\n      service: s\n  services:",
        1,
    );
    proxy.set_dynamic(&reloaded);
    proxy.eventually("the new router", || {
        get(proxy.web(), "x", "/probe-reloaded").status == 200
    });
    assert_eq!(
        get(proxy.web(), "x", "/").status,
        429,
        "the limit was not reset by the reload"
    );

    // A changed configuration starts with fresh buckets.
    proxy.set_dynamic(&config(
        &b,
        &[("/", "limited")],
        &LIMITED.replace("burst: 2", "burst: 3"),
    ));
    proxy.eventually("the new limit", || get(proxy.web(), "x", "/").status == 200);
}

#[test]
fn rate_limit_delays_a_request_that_is_nearly_allowed() {
    let b = Backend::start("b");
    // 2 per second: a token every 500 ms; a wait up to 250 ms is served late instead of refused.
    let mws = "    limited:\n      rateLimit:\n        average: 2\n    off:\n      rateLimit:\n        average: 0\n";
    let proxy = Proxy::start(&config(&b, &[("/", "limited"), ("/off", "off")], mws), "");
    assert_eq!(get(proxy.web(), "x", "/").status, 200);
    std::thread::sleep(Duration::from_millis(350));
    let start = Instant::now();
    assert_eq!(
        get(proxy.web(), "x", "/").status,
        200,
        "delayed, not refused"
    );
    assert!(
        start.elapsed() >= Duration::from_millis(80),
        "{:?}",
        start.elapsed()
    );
    let r = get(proxy.web(), "x", "/");
    assert_eq!(r.status, 429, "the next token is ~500 ms away");
    assert_eq!(r.header("retry-after"), Some("1"));

    for _ in 0..20 {
        assert_eq!(
            get(proxy.web(), "x", "/off").status,
            200,
            "average 0: no limit"
        );
    }
}

//! Load balancer strategies and sticky sessions, end to end: the real binary, real backends.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::net::IpAddr;

use common::*;
use sha1::Digest as _;

/// One router on `/` to service `s`, whose `loadBalancer` has `servers` and the extra YAML lines
/// `extra` (indented under `loadBalancer`).
fn lb(servers: &[String], extra: &str) -> String {
    let list: String = servers
        .iter()
        .map(|u| format!("          - url: \"{u}\"\n"))
        .collect();
    let extra: String = extra.lines().map(|l| format!("        {l}\n")).collect();
    format!(
        "http:\n  routers:\n    r:\n      rule: PathPrefix(`/`)\n      service: s\n  services:\n    s:\n      loadBalancer:\n{extra}        servers:\n{list}"
    )
}

fn sha256_16(s: &str) -> String {
    let d = sha2::Sha256::digest(s.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect::<String>()[..16].to_owned()
}

fn default_cookie_name(service: &str) -> String {
    let d = sha1::Sha1::digest(format!("_TRAEFIK_BACKEND_{service}").as_bytes());
    format!(
        "_{}",
        &d.iter().map(|b| format!("{b:02x}")).collect::<String>()[..5]
    )
}

#[test]
fn unknown_strategy_disables_the_service() {
    let a = Backend::start("a");
    let proxy = Proxy::start(&lb(&[a.url()], "strategy: P2C"), "");
    // Case matters, as in Traefik: the router is disabled and the error names the option.
    assert_eq!(get(proxy.web(), "x", "/").status, 404);
    proxy.eventually("the error in the log", || {
        proxy
            .logs()
            .contains("loadBalancer.strategy: unsupported load-balancer strategy")
    });
}

#[test]
fn p2c_avoids_the_busy_server() {
    let a = ScriptedBackend::start("a");
    let b = ScriptedBackend::start("b");
    a.set_delay(1500);
    b.set_delay(1500);
    let proxy = Proxy::start(&lb(&[a.url(), b.url()], "strategy: p2c"), "");
    let web = proxy.web();
    let slow = std::thread::spawn(move || get(web, "x", "/slow"));
    proxy.eventually("the slow request to arrive", || a.hits() + b.hits() == 1);
    let (busy, idle) = if a.hits() == 1 { (&a, &b) } else { (&b, &a) };
    busy.set_delay(0);
    idle.set_delay(0);
    // With two servers both are always drawn; the one without a request in flight wins.
    let got = backends_of(proxy.web(), "/", 8);
    assert!(got.iter().all(|n| *n == idle.name), "{got:?}");
    assert_eq!(
        slow.join().unwrap().header("x-backend"),
        Some(busy.name.as_str())
    );
    // Once it is done, both take requests again.
    let got = backends_of(proxy.web(), "/", 40);
    assert!(got.contains(&busy.name), "{got:?}");
}

#[test]
fn leasttime_prefers_the_fast_server() {
    let fast = ScriptedBackend::start("fast");
    let slow = ScriptedBackend::start("slow");
    slow.set_delay(200);
    let proxy = Proxy::start(&lb(&[slow.url(), fast.url()], "strategy: leasttime"), "");
    // Both start without a response time (a tie, broken by WRR): each gets a first request.
    let first = backends_of(proxy.web(), "/", 2);
    assert!(first.contains(&"slow".to_owned()) && first.contains(&"fast".to_owned()));
    let next = backends_of(proxy.web(), "/", 10);
    assert!(next.iter().all(|n| n == "fast"), "{next:?}");
}

#[test]
fn hrw_keeps_each_client_on_one_server() {
    let backends: Vec<Backend> = ["a", "b", "c"].iter().map(|n| Backend::start(n)).collect();
    let urls: Vec<String> = backends.iter().map(Backend::url).collect();
    let proxy = Proxy::start(&lb(&urls, "strategy: hrw"), "");
    let mut seen = std::collections::BTreeSet::new();
    for i in 1..=24u8 {
        let ip = IpAddr::from([127, 0, 0, i]);
        let first = request_from(ip, proxy.web(), "/", &[]);
        let name = first.header("x-backend").unwrap().to_owned();
        for _ in 0..3 {
            let again = request_from(ip, proxy.web(), "/", &[]);
            assert_eq!(
                again.header("x-backend"),
                Some(name.as_str()),
                "client {ip}"
            );
        }
        seen.insert(name);
    }
    assert_eq!(seen.len(), 3, "clients spread over every server: {seen:?}");
}

#[test]
fn sticky_cookie_pins_the_server() {
    let a = Backend::start("a");
    let b = Backend::start("b");
    let proxy = Proxy::start(&lb(&[a.url(), b.url()], "sticky:\n  cookie: {}"), "");
    let name = default_cookie_name("s@file");

    let first = get(proxy.web(), "x", "/");
    let backend = first.header("x-backend").unwrap().to_owned();
    let url = if backend == "a" { a.url() } else { b.url() };
    let cookie = format!("{name}={}", sha256_16(&url));
    assert_eq!(
        first.header("set-cookie"),
        Some(format!("{cookie}; Path=/").as_str())
    );

    // The cookie keeps the client on its server, and is not written again.
    for _ in 0..6 {
        let r = request(proxy.web(), "GET", "/", "x", &[("Cookie", &cookie)], "");
        assert_eq!(r.header("x-backend"), Some(backend.as_str()));
        assert_eq!(r.header("set-cookie"), None);
    }

    // A cookie from older Traefik versions (the raw URL) is honoured and rewritten.
    let other = if backend == "a" { b.url() } else { a.url() };
    let r = request(
        proxy.web(),
        "GET",
        "/",
        "x",
        &[("Cookie", &format!("{name}={other}"))],
        "",
    );
    assert_ne!(r.header("x-backend"), Some(backend.as_str()));
    assert_eq!(
        r.header("set-cookie"),
        Some(format!("{name}={}; Path=/", sha256_16(&other)).as_str())
    );

    // An unknown value is replaced.
    let r = request(
        proxy.web(),
        "GET",
        "/",
        "x",
        &[("Cookie", &format!("{name}=nope"))],
        "",
    );
    assert!(r
        .header("set-cookie")
        .unwrap()
        .starts_with(&format!("{name}=")));
}

#[test]
fn sticky_cookie_attributes() {
    let a = Backend::start("a");
    let cfg = lb(
        &[a.url()],
        "sticky:\n  cookie:\n    name: my session\n    secure: true\n    httpOnly: true\n    sameSite: strict\n    maxAge: 60\n    path: /app\n    domain: example.com",
    );
    let proxy = Proxy::start(&cfg, "");
    let r = get(proxy.web(), "x", "/");
    assert_eq!(
        r.header("set-cookie"),
        Some(
            format!(
                "my_session={}; Path=/app; Domain=example.com; Max-Age=60; HttpOnly; Secure; SameSite=Strict",
                sha256_16(&a.url())
            )
            .as_str()
        )
    );
}

#[test]
fn weighted_sticky_names_the_child_service() {
    let a = Backend::start("a");
    let b = Backend::start("b");
    let cfg = format!(
        "http:\n  routers:\n    r:\n      rule: PathPrefix(`/`)\n      service: w\n  services:\n    w:\n      weighted:\n        sticky:\n          cookie:\n            name: pick\n        services:\n          - name: sa\n          - name: sb\n    sa:\n      loadBalancer:\n        servers: [{{url: \"{}\"}}]\n    sb:\n      loadBalancer:\n        servers: [{{url: \"{}\"}}]\n",
        a.url(),
        b.url()
    );
    let proxy = Proxy::start(&cfg, "");
    let first = get(proxy.web(), "x", "/");
    let backend = first.header("x-backend").unwrap().to_owned();
    let child = if backend == "a" { "sa" } else { "sb" };
    assert_eq!(
        first.header("set-cookie"),
        Some(format!("pick={}; Path=/", sha256_16(child)).as_str())
    );
    let cookie = format!("pick={}", sha256_16(child));
    for _ in 0..4 {
        let r = request(proxy.web(), "GET", "/", "x", &[("Cookie", &cookie)], "");
        assert_eq!(r.header("x-backend"), Some(backend.as_str()));
    }
    // Without the cookie, the weighted round robin goes on.
    let names = backends_of(proxy.web(), "/", 4);
    assert!(names.contains(&"a".to_owned()) && names.contains(&"b".to_owned()));
}

#[test]
fn flush_interval_never_holds_streamed_data_back() {
    use std::io::{Read, Write};
    let backend = Backend::start("sse");
    for interval in ["10s", "-1ms", "100ms"] {
        let cfg = lb(
            &[backend.url()],
            &format!("responseForwarding:\n  flushInterval: {interval}"),
        );
        let proxy = Proxy::start(&cfg, "");
        let mut s = std::net::TcpStream::connect(proxy.web()).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        s.write_all(b"GET /sse HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let started = std::time::Instant::now();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&got).contains("data: first") {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "connection closed early");
            got.extend_from_slice(&buf[..n]);
        }
        // The backend waits 1.5 s before its second event: the first one was not held back.
        assert!(
            started.elapsed() < std::time::Duration::from_millis(1000),
            "flushInterval {interval}: first event late"
        );
        assert!(!String::from_utf8_lossy(&got).contains("data: second"));
    }
}

#[test]
fn sticky_cookie_survives_a_reload() {
    let a = Backend::start("a");
    let b = Backend::start("b");
    let base = lb(&[a.url(), b.url()], "sticky:\n  cookie:\n    name: pin");
    let proxy = Proxy::start(&base, "");
    let first = get(proxy.web(), "x", "/");
    let pinned = first.header("x-backend").unwrap().to_owned();
    let cookie = first
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    // Another router appears; the service is untouched.
    let extra = Backend::start("extra");
    let reloaded = base.replace(
        "  services:\n",
        &format!(
            "    extra:\n      rule: Path(`/extra`)\n      service: extra\n  services:\n    extra:\n      loadBalancer:\n        servers: [{{url: \"{}\"}}]\n",
            extra.url()
        ),
    );
    proxy.set_dynamic(&reloaded);
    proxy.eventually("the reload", || {
        get(proxy.web(), "x", "/extra").status == 200
    });
    for _ in 0..4 {
        let r = request(proxy.web(), "GET", "/", "x", &[("Cookie", &cookie)], "");
        assert_eq!(r.header("x-backend"), Some(pinned.as_str()));
        assert_eq!(r.header("set-cookie"), None);
    }
}

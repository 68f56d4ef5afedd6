//! End-to-end proxying through the real binary: routing, Traefik's status codes and bodies,
//! forwarded headers, hop-by-hop stripping, load balancing, streaming and upgrades.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn routes_by_host_and_answers_404_otherwise() {
    let backend = Backend::start("b1");
    let proxy = Proxy::start(&one_route("Host(`app.example.com`)", &[backend.url()]), "");

    let r = get(proxy.web(), "app.example.com", "/hello?x=1");
    assert_eq!(r.status, 200, "{}", proxy.logs());
    assert_eq!(r.header("x-backend"), Some("b1"));
    assert!(r.text().contains("target: /hello?x=1"), "{}", r.text());

    let r = get(proxy.web(), "APP.EXAMPLE.COM:1234", "/");
    assert_eq!(r.status, 200, "host match ignores case and port");

    let r = get(proxy.web(), "other.example.com", "/");
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "404 page not found\n");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
}

#[test]
fn sets_forwarded_headers_and_strips_hop_by_hop() {
    let backend = Backend::start("b1");
    let proxy = Proxy::start(&one_route("PathPrefix(`/`)", &[backend.url()]), "");
    let r = request(
        proxy.web(),
        "GET",
        "/",
        "site.test:8443",
        &[
            ("X-Forwarded-For", "6.6.6.6"),
            ("X-Real-Ip", "6.6.6.6"),
            ("Keep-Alive", "timeout=5"),
            ("Connection", "close, X-Secret"),
            ("X-Secret", "hidden"),
            ("Proxy-Authorization", "Basic Zm9v"),
        ],
        "",
    );
    assert_eq!(r.status, 200);
    let seen = r.text().to_lowercase();
    assert!(
        seen.contains("x-forwarded-for: 127.0.0.1\n"),
        "spoofed XFF must be replaced: {seen}"
    );
    assert!(seen.contains("x-real-ip: 127.0.0.1\n"), "{seen}");
    assert!(seen.contains("x-forwarded-proto: http\n"), "{seen}");
    assert!(
        seen.contains("x-forwarded-host: site.test:8443\n"),
        "{seen}"
    );
    assert!(seen.contains("x-forwarded-port: 8443\n"), "{seen}");
    assert!(seen.contains("x-forwarded-server: "), "{seen}");
    assert!(
        seen.contains("host: site.test:8443\n"),
        "passHostHeader defaults to true: {seen}"
    );
    assert!(!seen.contains("keep-alive"), "{seen}");
    assert!(!seen.contains("x-secret"), "{seen}");
    assert!(!seen.contains("proxy-authorization"), "{seen}");
}

#[test]
fn trusted_ips_keep_forwarded_headers() {
    let backend = Backend::start("b1");
    let proxy = Proxy::start(
        &one_route("PathPrefix(`/`)", &[backend.url()]),
        "EP:forwardedHeaders:\nEP:  trustedIPs: [\"127.0.0.1/32\"]",
    );
    let r = request(
        proxy.web(),
        "GET",
        "/",
        "x",
        &[
            ("X-Forwarded-For", "1.2.3.4"),
            ("X-Forwarded-Proto", "https"),
        ],
        "",
    );
    let seen = r.text().to_lowercase();
    assert!(
        seen.contains("x-forwarded-for: 1.2.3.4, 127.0.0.1\n"),
        "{seen}"
    );
    assert!(seen.contains("x-forwarded-proto: https\n"), "{seen}");
}

#[test]
fn forwards_request_target_verbatim_and_cleans_dot_segments() {
    let backend = Backend::start("b1");
    let proxy = Proxy::start(&one_route("PathPrefix(`/a`)", &[backend.url()]), "");
    let r = get(proxy.web(), "x", "/a/b%2Fc%20d?q=%41;z=1");
    assert_eq!(r.status, 200);
    assert!(
        r.text().contains("target: /a/b%2Fc%20d?q=%41&z=1\n"),
        "{}",
        r.text()
    );
    let r = get(proxy.web(), "x", "/x/../a/./b");
    assert_eq!(r.status, 200, "sanitizePath cleans before routing");
    assert!(r.text().contains("target: /a/b\n"), "{}", r.text());
}

#[test]
fn priority_and_path_prefix_order() {
    let short = Backend::start("short");
    let long = Backend::start("long");
    let cfg = format!(
        "http:\n  routers:\n    short:\n      rule: PathPrefix(`/my`)\n      service: s1\n    long:\n      rule: PathPrefix(`/mypath`)\n      service: s2\n    forced:\n      rule: PathPrefix(`/my`)\n      priority: 1000\n      service: s2\n      entryPoints: [other]\n  services:\n    s1:\n      loadBalancer:\n        servers: [{{url: \"{}\"}}]\n    s2:\n      loadBalancer:\n        servers: [{{url: \"{}\"}}]\n",
        short.url(),
        long.url()
    );
    let proxy = Proxy::start_with_eps(&["web", "other"], &cfg, "");
    assert_eq!(
        get(proxy.web(), "x", "/mypath").header("x-backend"),
        Some("long")
    );
    assert_eq!(
        get(proxy.web(), "x", "/my").header("x-backend"),
        Some("short")
    );
    assert_eq!(
        get(proxy.addr("other"), "x", "/my").header("x-backend"),
        Some("long")
    );
}

#[test]
fn weighted_round_robin_is_smooth_and_deterministic() {
    let a = Backend::start("a");
    let b = Backend::start("b");
    let cfg = format!(
        "http:\n  routers:\n    r:\n      rule: PathPrefix(`/`)\n      service: s\n  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: \"{}\"\n            weight: 3\n          - url: \"{}\"\n",
        a.url(),
        b.url()
    );
    let proxy = Proxy::start(&cfg, "");
    let names: Vec<String> = (0..8)
        .map(|_| {
            get(proxy.web(), "x", "/")
                .header("x-backend")
                .unwrap_or("?")
                .to_owned()
        })
        .collect();
    assert_eq!(names.iter().filter(|n| *n == "a").count(), 6, "{names:?}");
    assert_eq!(names.iter().filter(|n| *n == "b").count(), 2, "{names:?}");
    assert!(
        !names.windows(4).any(|w| w.iter().all(|n| n == "a")),
        "smooth: no burst of 4 a's: {names:?}"
    );
}

#[test]
fn upstream_errors_map_to_traefik_status_codes() {
    let dead = format!("http://127.0.0.1:{}", free_port());
    let backend = Backend::start("slow");
    let cfg = format!(
        "http:\n  routers:\n    dead:\n      rule: Path(`/dead`)\n      service: dead\n    empty:\n      rule: Path(`/empty`)\n      service: empty\n    slow:\n      rule: Path(`/slow`)\n      service: slow\n  services:\n    dead:\n      loadBalancer:\n        servers: [{{url: \"{dead}\"}}]\n    empty:\n      loadBalancer:\n        servers: []\n    slow:\n      loadBalancer:\n        serversTransport: quick\n        servers: [{{url: \"{}\"}}]\n  serversTransports:\n    quick:\n      forwardingTimeouts:\n        responseHeaderTimeout: 300ms\n",
        backend.url()
    );
    let proxy = Proxy::start(&cfg, "");
    let r = get(proxy.web(), "x", "/dead");
    assert_eq!(r.status, 502, "{}", proxy.logs());
    assert_eq!(r.text(), "Bad Gateway");
    let r = get(proxy.web(), "x", "/empty");
    assert_eq!(r.status, 503);
    assert_eq!(r.text(), "no available server\n");
    let started = Instant::now();
    let r = get(proxy.web(), "x", "/slow");
    assert_eq!(r.status, 504);
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[test]
fn streams_server_sent_events_without_buffering() {
    let backend = Backend::start("sse");
    let proxy = Proxy::start(&one_route("Path(`/sse`)", &[backend.url()]), "");
    let mut s = TcpStream::connect(proxy.web()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /sse HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&got).contains("data: first") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed early");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "first event must arrive before the second is sent"
    );
    assert!(!String::from_utf8_lossy(&got).contains("data: second"));
}

#[test]
fn tunnels_websocket_style_upgrades() {
    // An upstream that accepts the upgrade by hand, then echoes bytes.
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up_addr = upstream.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut c, _) = upstream.accept().unwrap();
        let mut buf = [0u8; 4096];
        let mut head = Vec::new();
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = c.read(&mut buf).unwrap();
            head.extend_from_slice(&buf[..n]);
        }
        let head = String::from_utf8_lossy(&head).to_lowercase();
        assert!(head.contains("upgrade: websocket"), "{head}");
        c.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n").unwrap();
        loop {
            let n = c.read(&mut buf).unwrap_or(0);
            if n == 0 {
                break;
            }
            c.write_all(&buf[..n]).unwrap();
        }
    });
    let proxy = Proxy::start(
        &one_route("Path(`/ws`)", &[format!("http://{up_addr}")]),
        "",
    );
    let mut s = TcpStream::connect(proxy.web()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").unwrap();
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    s.write_all(b"ping-through-tunnel").unwrap();
    let mut got = Vec::new();
    while got.len() < 19 {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(&got, b"ping-through-tunnel");
}

#[test]
fn internal_services_noop_and_whoami() {
    let cfg = "http:\n  routers:\n    teapot:\n      rule: Path(`/tea`)\n      service: noop@internal\n    echo:\n      rule: Path(`/echo`)\n      service: whoami@internal\n";
    let proxy = Proxy::start(cfg, "");
    assert_eq!(get(proxy.web(), "x", "/tea").status, 418);
    let r = get(proxy.web(), "x", "/echo");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("GET /echo"), "{}", r.text());
}

#[test]
fn reuse_port_lets_a_second_listener_share_the_port() {
    let backend = Backend::start("b");
    let proxy = Proxy::start(
        &one_route("PathPrefix(`/`)", &[backend.url()]),
        "EP[web]:reusePort: true",
    );
    let bind_again = || {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.set_reuse_port(true).unwrap();
        s.bind(&proxy.web().into())
            .and_then(|_| s.listen(8))
            .map(|_| s)
    };
    assert!(
        bind_again().is_ok(),
        "SO_REUSEPORT must be set on the entry point's socket"
    );
    assert_eq!(get(proxy.web(), "x", "/").status, 200);

    // Without reusePort the port is exclusive.
    let plain = Proxy::start(&one_route("PathPrefix(`/`)", &[backend.url()]), "");
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.set_reuse_port(true).unwrap();
    assert!(s.bind(&plain.web().into()).is_err());
}

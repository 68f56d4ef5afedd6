//! `contentType` (sniffing a missing Content-Type, off by default) and `encodedCharacters`
//! (rejecting percent-encoded characters in the path) through the running proxy.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use common::*;

/// An upstream answering `body` without a Content-Type.
fn untyped(body: &[u8]) -> String {
    let mut resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    resp.extend_from_slice(body);
    format!("http://{}", fixed_backend(resp))
}

#[test]
fn content_type_is_sniffed_only_with_the_middleware() {
    let html = untyped(b"  <html><body>hi</body></html>");
    let png = untyped(b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR");
    let empty = untyped(b"");
    let cfg = format!(
        "http:\n  routers:\n    html:\n      rule: Path(`/html`)\n      service: html\n      middlewares: [ct]\n    png:\n      rule: Path(`/png`)\n      service: png\n      middlewares: [ct]\n    empty:\n      rule: Path(`/empty`)\n      service: empty\n      middlewares: [ct]\n    plain:\n      rule: Path(`/plain`)\n      service: html\n  services:\n    html:\n      loadBalancer:\n        servers: [{{url: \"{html}\"}}]\n    png:\n      loadBalancer:\n        servers: [{{url: \"{png}\"}}]\n    empty:\n      loadBalancer:\n        servers: [{{url: \"{empty}\"}}]\n  middlewares:\n    ct:\n      contentType: {{}}\n"
    );
    let proxy = Proxy::start(&cfg, "");
    let r = get(proxy.web(), "x", "/html");
    assert_eq!(r.status, 200, "{}", proxy.logs());
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(
        r.text(),
        "  <html><body>hi</body></html>",
        "the body is intact"
    );
    let r = get(proxy.web(), "x", "/png");
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert_eq!(r.body.len(), 16);
    let r = get(proxy.web(), "x", "/empty");
    assert_eq!(r.header("content-type"), None, "nothing to sniff");
    let r = get(proxy.web(), "x", "/plain");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        None,
        "v3 does not sniff by default"
    );
}

#[test]
fn encoded_characters_are_rejected_unless_allowed() {
    let b = Backend::start("b");
    let cfg = format!(
        "http:\n  routers:\n    strict:\n      rule: PathPrefix(`/strict`)\n      service: s\n      middlewares: [strict]\n    slash:\n      rule: PathPrefix(`/slash`)\n      service: s\n      middlewares: [slash]\n    open:\n      rule: PathPrefix(`/open`)\n      service: s\n  services:\n    s:\n      loadBalancer:\n        servers: [{{url: \"{}\"}}]\n  middlewares:\n    strict:\n      encodedCharacters: {{}}\n    slash:\n      encodedCharacters:\n        allowEncodedSlash: true\n",
        b.url()
    );
    let proxy = Proxy::start(&cfg, "");
    for encoded in ["%2F", "%2f", "%5C", "%00", "%3B", "%25", "%3F", "%23"] {
        let r = get(proxy.web(), "x", &format!("/strict/a{encoded}b"));
        assert_eq!(r.status, 400, "{encoded}: {}", proxy.logs());
        assert!(r.body.is_empty());
        assert_eq!(r.header("content-type"), None);
    }
    assert_eq!(get(proxy.web(), "x", "/strict/a%41b").status, 200);
    assert_eq!(get(proxy.web(), "x", "/strict/plain").status, 200);
    assert_eq!(get(proxy.web(), "x", "/slash/a%2Fb").status, 200);
    assert_eq!(get(proxy.web(), "x", "/slash/a%3Bb").status, 400);
    // The entry point allows every encoded character by default.
    assert_eq!(get(proxy.web(), "x", "/open/a%2F%00b").status, 200);
    assert_eq!(b.hits.load(std::sync::atomic::Ordering::Relaxed), 4);
}

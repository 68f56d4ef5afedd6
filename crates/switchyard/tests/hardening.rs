//! Bad input: malformed requests get 400, oversized headers 431, request-smuggling vectors are
//! rejected, and the proxy keeps serving afterwards.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use common::*;

fn proxy_with_backend() -> (Proxy, Backend) {
    let backend = Backend::start("b");
    let proxy = Proxy::start(&one_route("PathPrefix(`/`)", &[backend.url()]), "");
    (proxy, backend)
}

fn status_of(proxy: &Proxy, bytes: &str) -> u16 {
    raw(proxy.web(), bytes.as_bytes())
        .map(|r| r.status)
        .unwrap_or(0)
}

#[test]
fn smuggling_vectors_are_rejected() {
    let (proxy, backend) = proxy_with_backend();
    let cases = [
        ("CL + TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("conflicting CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde"),
        ("obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n"),
        ("bad chunk size", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"),
        ("TE not chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc"),
        ("space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n"),
        ("bad request line", "GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n"),
    ];
    for (name, req) in cases {
        let before = backend.hits.load(std::sync::atomic::Ordering::Relaxed);
        let status = status_of(&proxy, req);
        let after = backend.hits.load(std::sync::atomic::Ordering::Relaxed);
        if status == 200 {
            // Normalised rather than rejected: the upstream must have seen exactly one request.
            assert_eq!(
                after - before,
                1,
                "{name}: the upstream saw a smuggled request"
            );
        } else {
            assert!(
                (400..500).contains(&status) || status == 0,
                "{name}: got {status}"
            );
            assert_eq!(
                after, before,
                "{name}: a rejected request reached the upstream"
            );
        }
        assert!(
            !proxy.logs().contains("/smuggled"),
            "{name}: smuggled request was routed"
        );
    }
    // The chunked+CL case in particular must not reach the backend as two requests.
    assert_eq!(get(proxy.web(), "x", "/").status, 200, "still serving");
}

#[test]
fn duplicate_identical_content_length_is_tolerated_or_rejected_cleanly() {
    let (proxy, _b) = proxy_with_backend();
    let status = status_of(&proxy, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc");
    assert!(status == 200 || status == 400, "got {status}");
}

#[test]
fn oversized_headers_get_431() {
    let backend = Backend::start("b");
    let proxy = Proxy::start(
        &one_route("PathPrefix(`/`)", &[backend.url()]),
        "EP:http:\nEP:  maxHeaderBytes: 16384",
    );
    let big = "a".repeat(64 * 1024);
    let r = request(proxy.web(), "GET", "/", "x", &[("X-Big", &big)], "");
    assert_eq!(r.status, 431);
    assert_eq!(get(proxy.web(), "x", "/").status, 200, "still serving");
}

#[test]
fn garbage_gets_400_and_no_crash() {
    let (proxy, _b) = proxy_with_backend();
    for junk in [
        "\u{1}\u{2}\u{3}garbage\r\n\r\n",
        "GET\r\n\r\n",
        "GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nxxxx",
    ] {
        let status = status_of(&proxy, junk);
        assert!(
            status == 0 || (400..500).contains(&status),
            "{junk:?}: got {status}"
        );
    }
    assert_eq!(get(proxy.web(), "x", "/").status, 200, "still serving");
}

#[test]
fn entry_point_encoded_characters_policy() {
    let backend = Backend::start("b");
    let proxy = Proxy::start(
        &one_route("PathPrefix(`/`)", &[backend.url()]),
        "EP:http:\nEP:  encodedCharacters:\nEP:    allowEncodedSlash: false",
    );
    assert_eq!(get(proxy.web(), "x", "/a%2Fb").status, 400);
    assert_eq!(get(proxy.web(), "x", "/a%2fb").status, 400);
    assert_eq!(
        get(proxy.web(), "x", "/a%20b").status,
        200,
        "other encodings stay allowed"
    );
    assert_eq!(get(proxy.web(), "x", "/a%3Bb").status, 200);
}

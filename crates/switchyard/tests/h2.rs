//! HTTP/2 cleartext: clients speaking h2c with prior knowledge on the same port as HTTP/1.1, and
//! `h2c://` upstreams with trailers end to end (what gRPC needs).
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioExecutor;

#[test]
fn h2c_prior_knowledge_and_http1_share_the_port() {
    let backend = Backend::start("b");
    let proxy = Proxy::start(&one_route("Host(`h2.test`)", &[backend.url()]), "");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let uri = format!("http://h2.test:{}/over-h2", proxy.port("web"));
        // Connect to loopback while presenting the authority h2.test.
        let req = hyper::Request::get(uri)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let conn = tokio::net::TcpStream::connect(proxy.web()).await.unwrap();
        let (mut send, connection) = hyper::client::conn::http2::handshake(
            TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(conn),
        )
        .await
        .unwrap();
        tokio::spawn(connection);
        let resp = send.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.version(), hyper::Version::HTTP_2);
        let body = String::from_utf8(
            resp.into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .to_vec(),
        )
        .unwrap();
        assert!(body.contains("target: /over-h2"), "{body}");
        // The HTTP/1.1 upstream received the authority as its Host header.
        assert!(body.to_lowercase().contains("host: h2.test:"), "{body}");
    });
    assert_eq!(get(proxy.web(), "h2.test", "/").status, 200);
}

#[test]
fn h2c_upstream_forwards_trailers() {
    let backend = Backend::start("grpc");
    let url = format!("h2c://{}", backend.addr);
    let proxy = Proxy::start(&one_route("PathPrefix(`/`)", &[url]), "");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let conn = tokio::net::TcpStream::connect(proxy.web()).await.unwrap();
        let (mut send, connection) = hyper::client::conn::http2::handshake(
            TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(conn),
        )
        .await
        .unwrap();
        tokio::spawn(connection);
        let req = hyper::Request::post(format!("http://x:{}/trailers", proxy.port("web")))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(Full::new(Bytes::from_static(b"\0\0\0\0\x05hello")))
            .unwrap();
        let resp = send.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let collected = resp.into_body().collect().await.unwrap();
        let trailers = collected.trailers().cloned().expect("trailers forwarded");
        assert_eq!(trailers.get("grpc-status").unwrap(), "0");
        assert_eq!(collected.to_bytes().as_ref(), b"\0\0\0\0\x05hello");
    });
    // The upstream really spoke HTTP/2.
    let r = get(proxy.web(), "x", "/version-check");
    assert!(r.text().contains("version: HTTP/2.0"), "{}", r.text());
}

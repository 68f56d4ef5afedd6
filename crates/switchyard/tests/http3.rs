#![cfg(feature = "http3")]
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report
//! HTTP/3 through the running proxy, with a real HTTP/3 client (quinn + h3) that trusts the test
//! certificate: TLS routers reached with the same answers as over HTTP/1.1, request and response
//! bodies streamed (trailers included), `Alt-Svc` on HTTPS over TCP, 404 for no route, TLS options
//! chosen by SNI (and the 421 guard), garbage datagrams, and the drain on SIGTERM.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use common::*;
use http::{HeaderMap, Request};
use rustls::pki_types::{CertificateDer, ServerName};

/// What an HTTP/3 exchange gave.
#[derive(Debug)]
struct H3Answer {
    status: u16,
    headers: HeaderMap,
    body: String,
    trailers: Option<HeaderMap>,
}

/// A self-signed certificate for `names`, written for the proxy; (cert path, key path, DER).
fn certificate(names: &[&str]) -> (String, String, CertificateDer<'static>) {
    let dir = temp_dir("h3-certs");
    let c =
        rcgen::generate_simple_self_signed(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.signing_key.serialize_pem()).unwrap();
    (
        cert.display().to_string(),
        key.display().to_string(),
        c.cert.der().clone(),
    )
}

/// A client configuration trusting only `cert`, offering `alpn`.
fn client_tls(cert: &CertificateDer<'static>, alpn: &[u8]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    config
}

/// An HTTP/3 connection to `addr` with SNI `sni`.
struct H3Client {
    send: h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>,
    _endpoint: quinn::Endpoint,
}

impl H3Client {
    async fn connect(
        addr: SocketAddr,
        sni: &str,
        cert: &CertificateDer<'static>,
    ) -> Result<H3Client, String> {
        let tls = client_tls(cert, b"h3");
        let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
        let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(quic)));
        let conn = tokio::time::timeout(
            Duration::from_secs(10),
            endpoint.connect(addr, sni).unwrap(),
        )
        .await
        .map_err(|_| "QUIC handshake timed out".to_owned())?
        .map_err(|e| format!("QUIC handshake: {e}"))?;
        let (mut driver, send) = h3::client::new(h3_quinn::Connection::new(conn))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move { std::future::poll_fn(|cx| driver.poll_close(cx)).await });
        Ok(H3Client {
            send,
            _endpoint: endpoint,
        })
    }

    /// One request; `body` pieces are sent as separate DATA frames.
    async fn request(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[&str],
    ) -> Result<H3Answer, String> {
        let mut req = Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut stream = self
            .send
            .send_request(req.body(()).unwrap())
            .await
            .map_err(|e| e.to_string())?;
        // The server may answer without reading the whole request (and stop it): the response
        // is what counts.
        let mut sent = Ok(());
        for piece in body {
            sent = stream
                .send_data(Bytes::copy_from_slice(piece.as_bytes()))
                .await;
            if sent.is_err() {
                break;
            }
        }
        if sent.is_ok() {
            sent = stream.finish().await;
        }
        let resp = stream
            .recv_response()
            .await
            .map_err(|e| format!("{e} (sending: {sent:?})"))?;
        let mut body = Vec::new();
        while let Some(mut chunk) = stream.recv_data().await.map_err(|e| e.to_string())? {
            body.extend_from_slice(&chunk.copy_to_bytes(chunk.remaining()));
        }
        let trailers = stream.recv_trailers().await.map_err(|e| e.to_string())?;
        Ok(H3Answer {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: String::from_utf8_lossy(&body).into_owned(),
            trailers,
        })
    }
}

/// One HTTP/3 request on a fresh connection.
fn h3_request(
    addr: SocketAddr,
    sni: &str,
    cert: &CertificateDer<'static>,
    method: &str,
    url: &str,
    body: &[&str],
) -> Result<H3Answer, String> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut client = H3Client::connect(addr, sni, cert).await?;
        client.request(method, url, &[], body).await
    })
}

/// One HTTPS/1.1 request over TCP with SNI `sni`; (status, headers, body).
fn https_get(
    addr: SocketAddr,
    sni: &str,
    host: &str,
    path: &str,
    cert: &CertificateDer<'static>,
) -> (u16, HeaderMap, String) {
    use http_body_util::BodyExt;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let config = client_tls(cert, b"http/1.1");
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let tls = connector
            .connect(ServerName::try_from(sni.to_owned()).unwrap(), tcp)
            .await
            .unwrap();
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .unwrap();
        tokio::spawn(conn);
        let req = Request::get(path)
            .header("host", host)
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap();
        let resp = send.send_request(req).await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    })
}

/// Routers: `secure` (TLS) for a.example.com, `strict` (TLS, options `strict`), `old` (TLS,
/// TLS 1.2-only options), `plain` (no TLS) for plain.example.com.
fn dynamic(backend: &Backend, cert: &str, key: &str) -> String {
    dynamic_to(&backend.url(), cert, key)
}

fn dynamic_to(url: &str, cert: &str, key: &str) -> String {
    format!(
        "http:
  routers:
    secure:
      rule: Host(`a.example.com`)
      service: s
      tls: {{}}
    strict:
      rule: Host(`strict.test`)
      service: s
      tls:
        options: strict
    old:
      rule: Host(`old.test`)
      service: s
      tls:
        options: old
    plain:
      rule: Host(`plain.example.com`)
      service: s
  services:
    s:
      loadBalancer:
        servers: [{{url: \"{url}\"}}]
tls:
  certificates:
    - certFile: \"{cert}\"
      keyFile: \"{key}\"
  options:
    strict:
      minVersion: VersionTLS13
    old:
      maxVersion: VersionTLS12
"
    )
}

const NAMES: &[&str] = &[
    "a.example.com",
    "strict.test",
    "old.test",
    "plain.example.com",
];

/// The backend's dump as a sorted list of lines (header order differs between protocols).
fn sorted_lines(body: &str) -> Vec<String> {
    let mut lines: Vec<String> = body.lines().map(str::to_lowercase).collect();
    lines.sort();
    lines
}

#[test]
fn get_and_post_through_a_tls_router_as_over_http1() {
    let backend = Backend::start("h3-backend");
    let (cert, key, der) = certificate(NAMES);
    let proxy = Proxy::start(&dynamic(&backend, &cert, &key), "EP:http3: {}");
    let web = proxy.web();

    let h3 = h3_request(
        web,
        "a.example.com",
        &der,
        "GET",
        "https://a.example.com/hello?x=1",
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}; log:\n{}", proxy.logs()));
    assert_eq!(h3.status, 200, "{}", proxy.logs());
    assert_eq!(h3.headers["x-backend"], "h3-backend");
    assert!(
        h3.body.contains("method: GET\ntarget: /hello?x=1\n"),
        "{}",
        h3.body
    );
    assert!(h3.body.contains("x-forwarded-proto: https"), "{}", h3.body);
    assert!(h3.body.contains("host: a.example.com"), "{}", h3.body);
    assert!(
        !h3.body.contains("transfer-encoding"),
        "a GET without body is forwarded without one: {}",
        h3.body
    );

    // The same request over HTTPS/1.1 reaches the backend the same way.
    let (status, headers, body) =
        https_get(web, "a.example.com", "a.example.com", "/hello?x=1", &der);
    assert_eq!(status, h3.status);
    let names = |h: &HeaderMap| {
        let mut names: Vec<String> = h
            .keys()
            .map(|k| k.to_string())
            .filter(|k| k != "alt-svc")
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(&headers), names(&h3.headers));
    assert_eq!(headers["x-backend"], h3.headers["x-backend"]);
    assert_eq!(headers["content-length"], h3.headers["content-length"]);
    assert_eq!(sorted_lines(&body), sorted_lines(&h3.body));

    // POST: a body with Content-Length, and one streamed in pieces without it.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut client = H3Client::connect(web, "a.example.com", &der).await.unwrap();
        let r = client
            .request(
                "POST",
                "https://a.example.com/submit",
                &[("content-length", "15")],
                &["hello over quic"],
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        assert!(r.body.contains("method: POST"), "{}", r.body);
        assert!(r.body.contains("body: hello over quic\n"), "{}", r.body);
        // A second request on the same connection, body in three DATA frames.
        let r = client
            .request(
                "POST",
                "https://a.example.com/submit",
                &[],
                &["one ", "two ", "three"],
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        assert!(r.body.contains("body: one two three\n"), "{}", r.body);
    });
}

#[test]
fn response_trailers_stream_back() {
    // gRPC-style: an HTTP/2 upstream answers with trailers.
    let backend = Backend::start("grpc");
    let (cert, key, der) = certificate(NAMES);
    let url = format!("h2c://{}", backend.addr);
    let proxy = Proxy::start(&dynamic_to(&url, &cert, &key), "EP:http3: {}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let r = rt.block_on(async {
        let mut client = H3Client::connect(proxy.web(), "a.example.com", &der)
            .await
            .unwrap();
        client
            .request(
                "POST",
                "https://a.example.com/trailers",
                &[("content-type", "application/grpc"), ("te", "trailers")],
                &["\0\0\0\0\x05", "hello"],
            )
            .await
            .unwrap()
    });
    assert_eq!(r.status, 200, "{}", proxy.logs());
    assert_eq!(r.body, "\0\0\0\0\x05hello");
    let trailers = r.trailers.expect("trailers");
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(trailers["grpc-message"], "ok");
}

#[test]
fn alt_svc_on_https_over_tcp() {
    let backend = Backend::start("b");
    let (cert, key, der) = certificate(NAMES);
    let proxy = Proxy::start(&dynamic(&backend, &cert, &key), "EP:http3: {}");
    let web = proxy.web();
    let (status, headers, _) = https_get(web, "a.example.com", "a.example.com", "/", &der);
    assert_eq!(status, 200);
    assert_eq!(
        headers["alt-svc"],
        format!("h3=\":{}\"; ma=2592000", web.port()).as_str()
    );
    // HTTPS answers without a router carry it too; plain HTTP never does.
    let (status, headers, _) = https_get(web, "a.example.com", "unknown.example.com", "/", &der);
    assert_eq!(status, 404);
    assert!(headers.contains_key("alt-svc"));
    let plain = get(web, "plain.example.com", "/");
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("alt-svc"), None);
    drop(proxy);

    // advertisedPort replaces the port (a proxy in front listens elsewhere).
    let proxy = Proxy::start(
        &dynamic(&backend, &cert, &key),
        "EP:http3:\nEP:  advertisedPort: 8443",
    );
    let (_, headers, _) = https_get(proxy.web(), "a.example.com", "a.example.com", "/", &der);
    assert_eq!(headers["alt-svc"], "h3=\":8443\"; ma=2592000");

    // Without http3: no Alt-Svc.
    let proxy = Proxy::start(&dynamic(&backend, &cert, &key), "");
    let (_, headers, _) = https_get(proxy.web(), "a.example.com", "a.example.com", "/", &der);
    assert!(!headers.contains_key("alt-svc"));
}

#[test]
fn no_route_is_404_and_plain_routers_are_not_reached() {
    let backend = Backend::start("b");
    let (cert, key, der) = certificate(NAMES);
    let proxy = Proxy::start(&dynamic(&backend, &cert, &key), "EP:http3: {}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut client = H3Client::connect(proxy.web(), "a.example.com", &der)
            .await
            .unwrap();
        let r = client
            .request("GET", "https://unknown.example.com/", &[], &[])
            .await
            .unwrap();
        assert_eq!(r.status, 404);
        assert_eq!(r.body, "404 page not found\n");
        // HTTP/3 is TLS: the router without a tls section does not serve it.
        let r = client
            .request("GET", "https://plain.example.com/", &[], &[])
            .await
            .unwrap();
        assert_eq!(r.status, 404);
    });
}

#[test]
fn tls_options_chosen_by_sni() {
    let backend = Backend::start("b");
    let (cert, key, der) = certificate(NAMES);
    let proxy = Proxy::start(&dynamic(&backend, &cert, &key), "EP:http3: {}");
    let web = proxy.web();
    // SNI strict.test: the handshake used the router's options, so it is served.
    let r = h3_request(web, "strict.test", &der, "GET", "https://strict.test/", &[]).unwrap();
    assert_eq!(r.status, 200);
    // Domain fronting: handshake as a.example.com (default options), then ask for strict.test.
    let r = h3_request(
        web,
        "a.example.com",
        &der,
        "GET",
        "https://strict.test/",
        &[],
    )
    .unwrap();
    assert_eq!(r.status, 421, "{}", r.body);
    // Options that allow only TLS 1.2 cannot do QUIC: that handshake fails, the rest works.
    let err = h3_request(web, "old.test", &der, "GET", "https://old.test/", &[]).unwrap_err();
    assert!(err.contains("handshake"), "{err}");
    let r = h3_request(
        web,
        "a.example.com",
        &der,
        "GET",
        "https://a.example.com/",
        &[],
    )
    .unwrap();
    assert_eq!(r.status, 200);
}

#[test]
fn survives_garbage_datagrams() {
    let backend = Backend::start("b");
    let (cert, key, der) = certificate(NAMES);
    let proxy = Proxy::start(&dynamic(&backend, &cert, &key), "EP:http3: {}");
    let web = proxy.web();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    // Noise, an empty datagram, and something shaped like a QUIC Initial with a bogus body.
    udp.send_to(b"GET / HTTP/1.1\r\n\r\n", web).unwrap();
    udp.send_to(&[], web).unwrap();
    let mut initial = vec![0xc0, 0, 0, 0, 1, 8];
    initial.extend([0xab; 8]);
    initial.push(0);
    initial.extend([0x41, 0x00]);
    initial.resize(1200, 0x5a);
    udp.send_to(&initial, web).unwrap();
    udp.send_to(&[0xff; 1500], web).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let r = h3_request(
        web,
        "a.example.com",
        &der,
        "GET",
        "https://a.example.com/",
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}; log:\n{}", proxy.logs()));
    assert_eq!(r.status, 200);
    assert_eq!(get(proxy.addr("traefik"), "localhost", "/ping").status, 200);
}

#[test]
fn in_flight_request_finishes_on_sigterm() {
    let backend = Backend::start("b");
    let (cert, key, der) = certificate(NAMES);
    let mut proxy = Proxy::start(&dynamic(&backend, &cert, &key), "EP:http3: {}");
    let web = proxy.web();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut client = H3Client::connect(web, "a.example.com", &der).await.unwrap();
        let slow = tokio::spawn(async move {
            let r = client
                .request("GET", "https://a.example.com/slow", &[], &[])
                .await;
            (r, client)
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        proxy.sigterm();
        let (r, _client) = slow.await.unwrap();
        let r = r.unwrap();
        assert_eq!(r.status, 200, "the request in flight finishes");
        assert!(r.body.contains("target: /slow"));
    });
    // The proxy exits once drained (graceTimeOut is 10 s; the request took 2 s).
    let deadline = std::time::Instant::now() + Duration::from_secs(8);
    loop {
        if proxy.child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still running");
        std::thread::sleep(Duration::from_millis(50));
    }
}

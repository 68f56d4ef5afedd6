//! `https://` upstreams through `serversTransports`: certificate verification against `rootCAs`,
//! `serverName`, `insecureSkipVerify`, HTTP/2 by ALPN and `disableHTTP2`.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::*;

struct TlsBackend {
    addr: SocketAddr,
    ca_pem: String,
    _thread: std::thread::JoinHandle<()>,
}

/// A TLS backend with a certificate for `backend.test`, signed by a fresh CA; it echoes the
/// negotiated protocol version.
fn tls_backend() -> TlsBackend {
    let (mut config, ca_pem) = ca_signed_server_config(&["backend.test"]);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let addr = std_listener.local_addr().unwrap();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let svc = hyper::service::service_fn(
                        |req: hyper::Request<hyper::body::Incoming>| async move {
                            let text = format!(
                                "tls backend: {:?} host={:?}\n",
                                req.version(),
                                req.headers().get("host")
                            );
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(
                                http_body_util::Full::new(bytes::Bytes::from(text)),
                            ))
                        },
                    );
                    let builder = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    );
                    let _ = builder
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
    });
    TlsBackend {
        addr,
        ca_pem,
        _thread: thread,
    }
}

fn config(backend: &TlsBackend, transport_yaml: &str) -> String {
    format!(
        "http:\n  routers:\n    r:\n      rule: PathPrefix(`/`)\n      service: s\n  services:\n    s:\n      loadBalancer:\n        serversTransport: t\n        servers: [{{url: \"https://{}\"}}]\n  serversTransports:\n    t:\n{transport_yaml}",
        backend.addr
    )
}

#[test]
fn verifies_with_root_cas_and_server_name_and_negotiates_h2() {
    let backend = tls_backend();
    let dir = temp_dir("tls");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &backend.ca_pem).unwrap();
    let proxy = Proxy::start(
        &config(
            &backend,
            &format!(
                "      serverName: backend.test\n      rootCAs: [\"{}\"]\n",
                ca.display()
            ),
        ),
        "",
    );
    let r = get(proxy.web(), "x", "/");
    assert_eq!(r.status, 200, "{}", proxy.logs());
    assert!(
        r.text().contains("tls backend: HTTP/2.0"),
        "h2 by ALPN: {}",
        r.text()
    );

    // disableHTTP2 keeps HTTP/1.1.
    proxy.set_dynamic(&config(
        &backend,
        &format!(
            "      serverName: backend.test\n      disableHTTP2: true\n      rootCAs: [\"{}\"]\n",
            ca.display()
        ),
    ));
    proxy.eventually("HTTP/1.1 upstream", || {
        get(proxy.web(), "x", "/")
            .text()
            .contains("tls backend: HTTP/1.1")
    });
}

#[test]
fn unknown_ca_fails_with_502_and_insecure_skip_verify_passes() {
    let backend = tls_backend();
    let proxy = Proxy::start(&config(&backend, "      serverName: backend.test\n"), "");
    assert_eq!(
        get(proxy.web(), "x", "/").status,
        502,
        "system roots do not trust the test CA"
    );

    proxy.set_dynamic(&config(&backend, "      insecureSkipVerify: true\n"));
    proxy.eventually("insecureSkipVerify", || {
        get(proxy.web(), "x", "/").status == 200
    });
}

#[test]
fn inline_pem_root_ca_is_accepted() {
    let backend = tls_backend();
    let pem = backend.ca_pem.replace('\n', "\\n");
    let proxy = Proxy::start(
        &config(
            &backend,
            &format!("      serverName: backend.test\n      rootCAs: [\"{pem}\"]\n"),
        ),
        "",
    );
    assert_eq!(get(proxy.web(), "x", "/").status, 200, "{}", proxy.logs());
}

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report
//! TLS termination through the running proxy: certificates chosen by SNI (exact, wildcard,
//! default), TLS and plain routers on one port, HTTP/2 by ALPN, TLS options (sniStrict, versions),
//! the 421 domain-fronting guard, bad certificates skipped, garbage on a TLS port.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Empty};
use rustls::pki_types::{CertificateDer, ServerName};

struct TlsAnswer {
    status: u16,
    body: String,
    cert_names: Vec<String>,
    alpn: Option<Vec<u8>>,
}

fn cert_names(der: &CertificateDer<'_>) -> Vec<String> {
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(der.as_ref()).unwrap();
    let mut out: Vec<String> = cert
        .subject()
        .iter_common_name()
        .filter_map(|c| c.as_str().ok().map(str::to_owned))
        .collect();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let GeneralName::DNSName(d) = n {
                out.push(d.to_string());
            }
        }
    }
    out
}

/// One HTTPS request: SNI `sni` (None: no SNI, connect by IP), Host `host`.
fn tls_get(
    addr: SocketAddr,
    sni: Option<&str>,
    host: &str,
    path: &str,
    alpn: &[&str],
) -> Result<TlsAnswer, String> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let recorder = Arc::new(crate::common::CertRecorder::new(provider.clone()));
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(recorder.clone())
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        config.enable_sni = sni.is_some();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let name = ServerName::try_from(sni.unwrap_or("127.0.0.1").to_owned()).unwrap();
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let negotiated = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        let der = recorder.last().unwrap();
        let io = hyper_util::rt::TokioIo::new(tls);
        let req = hyper::Request::get(format!("https://{host}{path}"))
            .header("host", host)
            .body(Empty::<Bytes>::new())
            .unwrap();
        let resp = if negotiated.as_deref() == Some(b"h2") {
            let (mut send, conn) =
                hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
                    .await
                    .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            let mut req = req;
            req.headers_mut().remove("host");
            send.send_request(req).await.map_err(|e| e.to_string())?
        } else {
            let (mut send, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            let (mut parts, body) = req.into_parts();
            parts.uri = path.parse().unwrap();
            send.send_request(hyper::Request::from_parts(parts, body))
                .await
                .map_err(|e| e.to_string())?
        };
        let status = resp.status().as_u16();
        let body = String::from_utf8_lossy(
            &resp
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes(),
        )
        .into_owned();
        Ok(TlsAnswer {
            status,
            body,
            cert_names: cert_names(&der),
            alpn: negotiated,
        })
    })
}

struct Certs {
    dir: std::path::PathBuf,
}

impl Certs {
    fn new() -> Certs {
        Certs {
            dir: temp_dir("certs"),
        }
    }
    /// Writes a self-signed certificate for `names`; returns (cert path, key path).
    fn make(&self, file: &str, names: &[&str]) -> (String, String) {
        let c = rcgen::generate_simple_self_signed(
            names.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .unwrap();
        let cert = self.dir.join(format!("{file}.crt"));
        let key = self.dir.join(format!("{file}.key"));
        std::fs::write(&cert, c.cert.pem()).unwrap();
        std::fs::write(&key, c.signing_key.serialize_pem()).unwrap();
        (cert.display().to_string(), key.display().to_string())
    }
}

fn tls_config(backend: &Backend, certs: &[(String, String)], extra_tls: &str) -> String {
    let list: String = certs
        .iter()
        .map(|(c, k)| format!("    - certFile: \"{c}\"\n      keyFile: \"{k}\"\n"))
        .collect();
    format!(
        "http:\n  routers:\n    secure:\n      rule: Host(`a.example.com`) || Host(`b.example.com`) || Host(`w.wild.test`)\n      service: s\n      tls: {{}}\n    plain:\n      rule: Host(`a.example.com`)\n      service: noop@internal\n    strict:\n      rule: Host(`strict.test`)\n      service: s\n      tls:\n        options: strict\n  services:\n    s:\n      loadBalancer:\n        servers: [{{url: \"{}\"}}]\ntls:\n  certificates:\n{list}  options:\n    strict:\n      minVersion: VersionTLS13\n{extra_tls}",
        backend.url()
    )
}

#[test]
fn certificates_by_sni_and_routers_by_scheme_on_one_port() {
    let backend = Backend::start("secure-backend");
    let certs = Certs::new();
    let a = certs.make("a", &["a.example.com"]);
    let wild = certs.make("wild", &["*.wild.test"]);
    let proxy = Proxy::start(&tls_config(&backend, &[a, wild], ""), "");
    let web = proxy.web();

    let r = tls_get(
        web,
        Some("a.example.com"),
        "a.example.com",
        "/x",
        &["http/1.1"],
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", proxy.logs());
    assert!(r.body.contains("backend: secure-backend"));
    assert!(
        r.body.to_lowercase().contains("x-forwarded-proto: https"),
        "{}",
        r.body
    );
    assert!(
        r.cert_names.contains(&"a.example.com".to_owned()),
        "{:?}",
        r.cert_names
    );

    let r = tls_get(web, Some("w.wild.test"), "w.wild.test", "/", &["http/1.1"]).unwrap();
    assert_eq!(r.status, 200);
    assert!(
        r.cert_names.contains(&"*.wild.test".to_owned()),
        "{:?}",
        r.cert_names
    );

    // Unknown SNI: Traefik's default certificate, and no router for that host: 404.
    let r = tls_get(
        web,
        Some("unknown.test"),
        "unknown.test",
        "/",
        &["http/1.1"],
    )
    .unwrap();
    assert_eq!(r.status, 404);
    assert!(
        r.cert_names.contains(&"TRAEFIK DEFAULT CERT".to_owned()),
        "{:?}",
        r.cert_names
    );

    // The same host over plain HTTP reaches the plain router only.
    assert_eq!(get(web, "a.example.com", "/").status, 418);
    // b.example.com has a TLS router only.
    assert_eq!(get(web, "b.example.com", "/").status, 404);
}

#[test]
fn http2_by_alpn() {
    let backend = Backend::start("b");
    let certs = Certs::new();
    let a = certs.make("a", &["a.example.com"]);
    let proxy = Proxy::start(&tls_config(&backend, &[a], ""), "");
    let r = tls_get(
        proxy.web(),
        Some("a.example.com"),
        "a.example.com",
        "/",
        &["h2", "http/1.1"],
    )
    .unwrap();
    assert_eq!(r.alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn tls_options_and_domain_fronting() {
    let backend = Backend::start("b");
    let certs = Certs::new();
    let a = certs.make("a", &["a.example.com", "strict.test"]);
    let proxy = Proxy::start(
        &tls_config(&backend, &[a], "    sni:\n      sniStrict: true\n"),
        "",
    );
    let web = proxy.web();
    // strict.test's router requires TLS 1.3-only options; SNI strict.test gets them.
    let r = tls_get(web, Some("strict.test"), "strict.test", "/", &["http/1.1"]).unwrap();
    assert_eq!(r.status, 200);
    // Fronting: handshake as a.example.com (default options), then ask for strict.test.
    let r = tls_get(
        web,
        Some("a.example.com"),
        "strict.test",
        "/",
        &["http/1.1"],
    )
    .unwrap();
    assert_eq!(r.status, 421, "{}", r.body);
}

#[test]
fn sni_strict_default_options_refuse_unknown_names() {
    let backend = Backend::start("b");
    let certs = Certs::new();
    let a = certs.make("a", &["a.example.com"]);
    let cfg = tls_config(&backend, &[a], "    default:\n      sniStrict: true\n");
    let proxy = Proxy::start(&cfg, "");
    assert!(tls_get(
        proxy.web(),
        Some("unknown.test"),
        "unknown.test",
        "/",
        &["http/1.1"]
    )
    .is_err());
    assert!(
        tls_get(proxy.web(), None, "a.example.com", "/", &["http/1.1"]).is_err(),
        "no SNI under sniStrict"
    );
    assert_eq!(
        tls_get(
            proxy.web(),
            Some("a.example.com"),
            "a.example.com",
            "/",
            &["http/1.1"]
        )
        .unwrap()
        .status,
        200
    );
}

#[test]
fn bad_certificate_is_skipped_and_named() {
    let backend = Backend::start("b");
    let certs = Certs::new();
    let a = certs.make("a", &["a.example.com"]);
    let bad = (
        "/nonexistent/bad.crt".to_owned(),
        "/nonexistent/bad.key".to_owned(),
    );
    let proxy = Proxy::start(&tls_config(&backend, &[bad, a], ""), "");
    let r = tls_get(
        proxy.web(),
        Some("a.example.com"),
        "a.example.com",
        "/",
        &["http/1.1"],
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert!(
        r.cert_names.contains(&"a.example.com".to_owned()),
        "{:?}",
        r.cert_names
    );
    assert!(
        proxy.logs().contains("/nonexistent/bad.crt"),
        "{}",
        proxy.logs()
    );
}

#[test]
fn garbage_on_a_tls_port_is_closed_and_the_proxy_survives() {
    let backend = Backend::start("b");
    let certs = Certs::new();
    let a = certs.make("a", &["a.example.com"]);
    let proxy = Proxy::start(&tls_config(&backend, &[a], ""), "");
    // A TLS record header followed by nonsense.
    let r = raw(proxy.web(), b"\x16\x03\x01\x00\x05hello-not-a-client-hello");
    assert!(r.is_err(), "no HTTP answer expected");
    assert_eq!(
        tls_get(
            proxy.web(),
            Some("a.example.com"),
            "a.example.com",
            "/",
            &["http/1.1"]
        )
        .unwrap()
        .status,
        200
    );
}

#[test]
fn certificate_file_rotation_on_disk_is_served_without_reload() {
    let backend = Backend::start("b");
    let certs = Certs::new();
    let a = certs.make("a", &["a.example.com"]);
    let proxy = Proxy::start(&tls_config(&backend, std::slice::from_ref(&a), ""), "");
    let first = tls_get(
        proxy.web(),
        Some("a.example.com"),
        "a.example.com",
        "/",
        &["http/1.1"],
    )
    .unwrap();
    assert!(first.cert_names.contains(&"a.example.com".to_owned()));
    // Rotate: a new certificate for the same name plus a second name, written in place.
    let fresh = rcgen::generate_simple_self_signed(vec![
        "a.example.com".to_owned(),
        "rotated.example.com".to_owned(),
    ])
    .unwrap();
    write_atomic(
        std::path::Path::new(&a.1),
        &fresh.signing_key.serialize_pem(),
    );
    write_atomic(std::path::Path::new(&a.0), &fresh.cert.pem());
    proxy.eventually("the rotated certificate", || {
        tls_get(
            proxy.web(),
            Some("a.example.com"),
            "a.example.com",
            "/",
            &["http/1.1"],
        )
        .map(|r| r.cert_names.contains(&"rotated.example.com".to_owned()))
        .unwrap_or(false)
    });
}

#[test]
fn entry_point_redirection_to_https() {
    let backend = Backend::start("b");
    let certs = Certs::new();
    let a = certs.make("a", &["a.example.com"]);
    let cfg = format!(
        "http:\n  routers:\n    secure:\n      rule: Host(`a.example.com`)\n      service: s\n      entryPoints: [websecure]\n      tls: {{}}\n  services:\n    s:\n      loadBalancer:\n        servers: [{{url: \"{}\"}}]\ntls:\n  certificates:\n    - certFile: \"{}\"\n      keyFile: \"{}\"\n",
        backend.url(),
        a.0,
        a.1
    );
    // `web` redirects to `websecure`; the placeholder is replaced once ports are known.
    let proxy = Proxy::start_with_eps(&["web", "websecure"], &cfg, "EP:http:\nEP:  redirections:\nEP:    entryPoint:\nEP:      to: websecure\nEP:      scheme: https");
    let port = proxy.port("websecure");
    let r = get(proxy.web(), "a.example.com", "/path?q=1");
    assert_eq!(r.status, 301, "{}", proxy.logs());
    assert_eq!(
        r.header("location"),
        Some(format!("https://a.example.com:{port}/path?q=1").as_str())
    );
    let r = request(proxy.web(), "POST", "/form", "a.example.com", &[], "x=1");
    assert_eq!(r.status, 308);
    let r = tls_get(
        proxy.addr("websecure"),
        Some("a.example.com"),
        "a.example.com",
        "/",
        &["http/1.1"],
    )
    .unwrap();
    assert_eq!(r.status, 200);
}

#[test]
fn entry_point_http_tls_makes_its_routers_https() {
    let backend = Backend::start("b");
    let certs = Certs::new();
    let a = certs.make("a", &["a.example.com"]);
    let cfg = format!(
        "http:\n  routers:\n    r:\n      rule: Host(`a.example.com`)\n      service: s\n  services:\n    s:\n      loadBalancer:\n        servers: [{{url: \"{}\"}}]\ntls:\n  certificates:\n    - certFile: \"{}\"\n      keyFile: \"{}\"\n",
        backend.url(),
        a.0,
        a.1
    );
    // `http.tls: {}` on every entry point: the router has no tls section but serves HTTPS only.
    let proxy = Proxy::start(&cfg, "EP[web]:http:\nEP[web]:  tls: {}");
    let r = tls_get(
        proxy.web(),
        Some("a.example.com"),
        "a.example.com",
        "/",
        &["http/1.1"],
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", proxy.logs());
    assert!(r.cert_names.contains(&"a.example.com".to_owned()));
    assert_eq!(
        get(proxy.web(), "a.example.com", "/").status,
        404,
        "no plain-HTTP router left"
    );
}

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report
//! Mutual TLS: `tls.options.clientAuth` (verified client certificates against `caFiles`) and the
//! `passTLSClientCert` middleware forwarding the certificate to the upstream.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Empty};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

struct Pki {
    ca_pem: String,
    server: (String, String),
    client_chain: Vec<CertificateDer<'static>>,
    client_key: Vec<u8>,
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Test Client CA");
    ca_params.distinguished_name = dn;
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["mtls.test".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut client_params = CertificateParams::new(vec!["client.example".to_owned()]).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "FR");
    dn.push(DnType::OrganizationName, "Cheese");
    dn.push(DnType::CommonName, "alice");
    client_params.distinguished_name = dn;
    let client = client_params.signed_by(&client_key, &ca).unwrap();
    Pki {
        ca_pem: ca.pem(),
        server: (server.pem(), server_key.serialize_pem()),
        client_chain: vec![client.der().clone()],
        client_key: client_key.serialize_der(),
    }
}

fn get_with_cert(addr: SocketAddr, pki: &Pki, present_cert: bool) -> Result<(u16, String), String> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls::pki_types::CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = if present_cert {
            builder
                .with_client_auth_cert(
                    pki.client_chain.clone(),
                    PrivateKeyDer::try_from(pki.client_key.clone()).unwrap(),
                )
                .unwrap()
        } else {
            builder.with_no_client_auth()
        };
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let tls = connector
            .connect(ServerName::try_from("mtls.test").unwrap(), tcp)
            .await
            .map_err(|e| e.to_string())?;
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let req = hyper::Request::get("/")
            .header("host", "mtls.test")
            .header("x-forwarded-tls-client-cert", "forged")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let resp = send.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    })
}

use rustls::pki_types::pem::PemObject;

#[test]
fn verified_client_certificates_are_passed_to_the_upstream() {
    let backend = Backend::start("b");
    let pki = pki();
    let dir = temp_dir("mtls");
    let write = |name: &str, content: &str| {
        let p = dir.join(name);
        std::fs::write(&p, content).unwrap();
        p.display().to_string()
    };
    let ca = write("ca.pem", &pki.ca_pem);
    let cert = write("server.crt", &pki.server.0);
    let key = write("server.key", &pki.server.1);
    let cfg = format!(
        "http:\n  routers:\n    r:\n      rule: Host(`mtls.test`)\n      service: s\n      middlewares: [pass]\n      tls:\n        options: mutual\n  middlewares:\n    pass:\n      passTLSClientCert:\n        pem: true\n        info:\n          notAfter: true\n          sans: true\n          subject:\n            country: true\n            organization: true\n            commonName: true\n          issuer:\n            commonName: true\n  services:\n    s:\n      loadBalancer:\n        servers: [{{url: \"{}\"}}]\ntls:\n  certificates:\n    - certFile: \"{cert}\"\n      keyFile: \"{key}\"\n  options:\n    mutual:\n      clientAuth:\n        caFiles: [\"{ca}\"]\n        clientAuthType: RequireAndVerifyClientCert\n",
        backend.url()
    );
    let proxy = Proxy::start(&cfg, "");
    let (status, body) = get_with_cert(proxy.web(), &pki, true).unwrap();
    assert_eq!(status, 200, "{}", proxy.logs());
    let lower = body.to_lowercase();
    assert!(
        !lower.contains("x-forwarded-tls-client-cert: forged"),
        "{body}"
    );
    let info = body
        .lines()
        .find(|l| {
            l.to_lowercase()
                .starts_with("x-forwarded-tls-client-cert-info:")
        })
        .unwrap();
    assert!(
        info.contains("Subject%3D%22C%3DFR%2CO%3DCheese%2CCN%3Dalice%22"),
        "{info}"
    );
    assert!(
        info.contains("Issuer%3D%22CN%3DTest+Client+CA%22"),
        "{info}"
    );
    assert!(info.contains("SAN%3D%22client.example%22"), "{info}");
    assert!(info.contains("NA%3D%22"), "{info}");
    let pem = body
        .lines()
        .find(|l| l.to_lowercase().starts_with("x-forwarded-tls-client-cert:"))
        .unwrap();
    assert!(pem.len() > 200, "{pem}");

    // Without a client certificate the handshake is refused.
    assert!(get_with_cert(proxy.web(), &pki, false).is_err());
}

//! Upstream connection pools, one per servers transport. A pool outlives configuration snapshots:
//! the [`UpstreamRegistry`] hands out the same [`UpstreamClient`] for as long as its transport
//! settings stay the same, so a reload keeps warm connections. Settings come from
//! `http.serversTransports.<name>` or, for `default@internal`, the static `serversTransport`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_rustls::{FixedServerNameResolver, HttpsConnector};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use switchyard_model::config::dynamic::ServersTransport;

use super::body::Body;

/// Transport settings after defaults, the identity of a pool.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct TransportSettings {
    pub server_name: Option<String>,
    pub insecure_skip_verify: bool,
    pub root_cas: Vec<String>,
    pub client_certs: Vec<(String, String)>,
    pub max_idle_conns_per_host: usize,
    pub disable_http2: bool,
    pub dial_timeout: Option<Duration>,
    pub response_header_timeout: Option<Duration>,
    pub idle_conn_timeout: Option<Duration>,
}

impl TransportSettings {
    /// Settings of a dynamic `serversTransports` entry, with Traefik's defaults.
    pub fn from_dynamic(t: &ServersTransport) -> Self {
        let timeouts = t.forwarding_timeouts.as_ref();
        Self {
            server_name: t.server_name.clone().filter(|s| !s.is_empty()),
            insecure_skip_verify: t.insecure_skip_verify.unwrap_or(false),
            root_cas: t.root_cas.clone(),
            client_certs: t
                .certificates
                .iter()
                .map(|c| {
                    (
                        c.cert_file.clone().unwrap_or_default(),
                        c.key_file.clone().unwrap_or_default(),
                    )
                })
                .collect(),
            // Go's default when a dynamic transport leaves it at 0.
            max_idle_conns_per_host: idle_per_host(t.max_idle_conns_per_host, 2),
            disable_http2: t.disable_http2.unwrap_or(false),
            dial_timeout: duration_or(
                timeouts.and_then(|f| f.dial_timeout),
                Some(Duration::from_secs(30)),
            ),
            response_header_timeout: duration_or(
                timeouts.and_then(|f| f.response_header_timeout),
                None,
            ),
            idle_conn_timeout: duration_or(
                timeouts.and_then(|f| f.idle_conn_timeout),
                Some(Duration::from_secs(90)),
            ),
        }
    }

    /// Settings of the static `serversTransport` (the `default@internal` transport).
    pub fn from_static(
        t: Option<&switchyard_model::config::static_cfg::StaticServersTransport>,
    ) -> Self {
        let timeouts = t.and_then(|t| t.forwarding_timeouts.as_ref());
        Self {
            server_name: None,
            insecure_skip_verify: t.and_then(|t| t.insecure_skip_verify).unwrap_or(false),
            root_cas: t.map(|t| t.root_cas.clone()).unwrap_or_default(),
            client_certs: Vec::new(),
            max_idle_conns_per_host: idle_per_host(t.and_then(|t| t.max_idle_conns_per_host), 200),
            disable_http2: false,
            dial_timeout: duration_or(
                timeouts.and_then(|f| f.dial_timeout),
                Some(Duration::from_secs(30)),
            ),
            response_header_timeout: duration_or(
                timeouts.and_then(|f| f.response_header_timeout),
                None,
            ),
            idle_conn_timeout: duration_or(
                timeouts.and_then(|f| f.idle_conn_timeout),
                Some(Duration::from_secs(90)),
            ),
        }
    }
}

fn idle_per_host(v: Option<i64>, default: usize) -> usize {
    match v {
        None | Some(0) => default,
        Some(n) if n < 0 => 0,
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
    }
}

/// A configured duration; 0 or negative means "none" (Go's convention for these timeouts).
fn duration_or(
    v: Option<switchyard_model::Duration>,
    default: Option<Duration>,
) -> Option<Duration> {
    match v {
        None => default,
        Some(d) => d.as_std().filter(|d| !d.is_zero()),
    }
}

/// Pooled HTTP clients for one transport: plain HTTP/1.1, HTTPS (h2 by ALPN unless disabled) and
/// h2c (prior knowledge).
#[derive(Debug)]
pub struct UpstreamClient {
    pub http: Client<HttpConnector, Body>,
    pub https: Client<HttpsConnector<HttpConnector>, Body>,
    pub h2c: Client<HttpConnector, Body>,
    pub response_header_timeout: Option<Duration>,
}

/// Why a transport could not be built (bad CA or certificate file).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(String);

impl UpstreamClient {
    pub fn new(s: &TransportSettings) -> Result<Self, TransportError> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(s.dial_timeout);
        connector.enforce_http(false);
        connector.set_keepalive(Some(Duration::from_secs(15)));

        let tls = tls_config(s)?;
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        let builder = match &s.server_name {
            Some(name) => {
                let name = ServerName::try_from(name.clone())
                    .map_err(|e| TransportError(format!("serverName {name:?}: {e}")))?;
                builder.with_server_name_resolver(FixedServerNameResolver::new(name))
            }
            None => builder,
        };
        let https_connector = if s.disable_http2 {
            builder.enable_http1().wrap_connector(connector.clone())
        } else {
            builder
                .enable_http1()
                .enable_http2()
                .wrap_connector(connector.clone())
        };

        let mut b = Client::builder(TokioExecutor::new());
        b.timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_max_idle_per_host(s.max_idle_conns_per_host)
            .pool_idle_timeout(s.idle_conn_timeout)
            .set_host(true)
            .http1_preserve_header_case(false);
        let http = b.build(connector.clone());
        let https = b.build(https_connector);
        let mut h2 = b.clone();
        h2.http2_only(true);
        let h2c = h2.build(connector);
        Ok(Self {
            http,
            https,
            h2c,
            response_header_timeout: s.response_header_timeout,
        })
    }
}

fn tls_config(s: &TransportSettings) -> Result<ClientConfig, TransportError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TransportError(e.to_string()))?;
    let builder = if s.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
    } else {
        let mut roots = RootCertStore::empty();
        if s.root_cas.is_empty() {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
        for ca in &s.root_cas {
            for cert in load_certs(ca)? {
                roots
                    .add(cert)
                    .map_err(|e| TransportError(format!("rootCAs {}: {e}", label(ca))))?;
            }
        }
        builder.with_root_certificates(roots)
    };
    // ALPN (h2, http/1.1 or http/1.1 only) is set by the connector from `disable_http2`.
    let config = match s.client_certs.first() {
        Some((cert, key)) => {
            let chain = load_certs(cert)?;
            let key = load_key(key)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| TransportError(format!("certificates: {e}")))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(config)
}

/// A value that is either a file path or inline PEM, shortened for error messages.
fn label(v: &str) -> &str {
    if v.contains("-----BEGIN") {
        "(inline PEM)"
    } else {
        v
    }
}

fn read_pem(v: &str) -> Result<Vec<u8>, TransportError> {
    if v.contains("-----BEGIN") {
        Ok(v.as_bytes().to_vec())
    } else {
        std::fs::read(v).map_err(|e| TransportError(format!("cannot read {v}: {e}")))
    }
}

/// Certificates from a PEM file path or inline PEM.
pub fn load_certs(v: &str) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    use rustls::pki_types::pem::PemObject;
    let pem = read_pem(v)?;
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem).collect();
    let certs = certs.map_err(|e| TransportError(format!("{}: invalid PEM: {e}", label(v))))?;
    if certs.is_empty() {
        return Err(TransportError(format!(
            "{}: no certificate found",
            label(v)
        )));
    }
    Ok(certs)
}

/// A private key from a PEM file path or inline PEM.
pub fn load_key(v: &str) -> Result<PrivateKeyDer<'static>, TransportError> {
    use rustls::pki_types::pem::PemObject;
    let pem = read_pem(v)?;
    PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| TransportError(format!("{}: invalid private key: {e}", label(v))))
}

/// `insecureSkipVerify`: accept any server certificate, but still check handshake signatures.
#[derive(Debug)]
pub struct NoVerify(pub Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Pools by transport identity, reused across snapshots while their settings are unchanged.
#[derive(Debug, Default)]
pub struct UpstreamRegistry {
    clients: Mutex<HashMap<String, (TransportSettings, Arc<UpstreamClient>)>>,
}

impl UpstreamRegistry {
    /// The client for transport `name` with `settings`: the existing one when the settings did not
    /// change, else a new one (the old pool drains as the old snapshot's requests finish).
    pub fn get(
        &self,
        name: &str,
        settings: &TransportSettings,
    ) -> Result<Arc<UpstreamClient>, TransportError> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((old, client)) = clients.get(name) {
            if old == settings {
                return Ok(client.clone());
            }
        }
        let client = Arc::new(UpstreamClient::new(settings)?);
        clients.insert(name.to_string(), (settings.clone(), client.clone()));
        Ok(client)
    }

    /// Forgets transports no longer configured.
    pub fn retain(&self, names: &std::collections::HashSet<String>) {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients.retain(|k, _| names.contains(k));
    }
}

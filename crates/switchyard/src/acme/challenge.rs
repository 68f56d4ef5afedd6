//! Challenge answers the data plane serves while an order is being validated: HTTP-01 key
//! authorizations by token (on the `httpChallenge.entryPoint` entry points, before any router),
//! and TLS-ALPN-01 certificates by SNI (RFC 8737: a self-signed certificate for the name with the
//! critical `acmeIdentifier` extension, offered only to clients asking for ALPN `acme-tls/1`).
//!
//! The order code inserts an answer before telling the CA the challenge is ready and removes it
//! afterwards. Lookups are cheap and lock-free when nothing is pending (one atomic load).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use rustls::server::ResolvesServerCert;
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

/// The path prefix of HTTP-01 challenges.
pub const HTTP01_PREFIX: &str = "/.well-known/acme-challenge/";

/// The ALPN protocol of TLS-ALPN-01.
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// What the HTTP-01 handler answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Http01Answer {
    /// 200 with the key authorization as body.
    KeyAuthorization(String),
    /// 404 with an empty body (Traefik's answer for an unknown token).
    Unknown,
}

/// Pending challenge answers, shared by every resolver and the data plane.
#[derive(Debug, Default)]
pub struct Challenges {
    /// Entry points that answer HTTP-01 (fixed at start from the resolvers' settings).
    http_entry_points: HashSet<String>,
    http: RwLock<HashMap<String, String>>,
    tls: RwLock<HashMap<String, Arc<ServerConfig>>>,
    http_pending: AtomicUsize,
    tls_pending: AtomicUsize,
}

impl Challenges {
    pub fn new(http_entry_points: HashSet<String>) -> Self {
        Challenges {
            http_entry_points,
            ..Challenges::default()
        }
    }

    /// The HTTP-01 answer for `path` on `entry_point`, or `None` when this request is not a
    /// challenge request there (it is then routed as usual).
    pub fn http01(&self, entry_point: &str, path: &str) -> Option<Http01Answer> {
        let token = path.strip_prefix(HTTP01_PREFIX)?;
        if !self.http_entry_points.contains(entry_point) {
            return None;
        }
        if self.http_pending.load(Ordering::Acquire) == 0 {
            return Some(Http01Answer::Unknown);
        }
        let map = self.http.read().unwrap_or_else(|p| p.into_inner());
        Some(match map.get(token) {
            Some(k) => Http01Answer::KeyAuthorization(k.clone()),
            None => Http01Answer::Unknown,
        })
    }

    /// Whether any TLS-ALPN-01 challenge is pending (the handshake path checks this first).
    pub fn tls_pending(&self) -> bool {
        self.tls_pending.load(Ordering::Acquire) > 0
    }

    /// The TLS-ALPN-01 configuration for `sni`, if a challenge for it is pending.
    pub fn tls_alpn01(&self, sni: &str) -> Option<Arc<ServerConfig>> {
        if !self.tls_pending() {
            return None;
        }
        let sni = sni.trim_end_matches('.').to_ascii_lowercase();
        let map = self.tls.read().unwrap_or_else(|p| p.into_inner());
        map.get(&sni).cloned()
    }

    pub(crate) fn add_http(&self, token: &str, key_authorization: &str) {
        let mut map = self.http.write().unwrap_or_else(|p| p.into_inner());
        map.insert(token.to_owned(), key_authorization.to_owned());
        self.http_pending.store(map.len(), Ordering::Release);
    }

    pub(crate) fn remove_http(&self, token: &str) {
        let mut map = self.http.write().unwrap_or_else(|p| p.into_inner());
        map.remove(token);
        self.http_pending.store(map.len(), Ordering::Release);
    }

    pub(crate) fn add_tls(&self, domain: &str, digest: &[u8]) -> Result<(), String> {
        let config = tls_alpn_config(domain, digest)?;
        let mut map = self.tls.write().unwrap_or_else(|p| p.into_inner());
        map.insert(domain.to_ascii_lowercase(), config);
        self.tls_pending.store(map.len(), Ordering::Release);
        Ok(())
    }

    pub(crate) fn remove_tls(&self, domain: &str) {
        let mut map = self.tls.write().unwrap_or_else(|p| p.into_inner());
        map.remove(&domain.to_ascii_lowercase());
        self.tls_pending.store(map.len(), Ordering::Release);
    }
}

/// Always the one challenge certificate.
#[derive(Debug)]
struct ChallengeCert(Arc<CertifiedKey>);

impl ResolvesServerCert for ChallengeCert {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// A server configuration that offers only `acme-tls/1` and the challenge certificate.
fn tls_alpn_config(domain: &str, digest: &[u8]) -> Result<Arc<ServerConfig>, String> {
    use rcgen::{CertificateParams, CustomExtension, KeyPair};
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let mut params = CertificateParams::new(vec![domain.to_owned()]).map_err(|e| e.to_string())?;
    params
        .custom_extensions
        .push(CustomExtension::new_acme_identifier(digest));
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    let signing = rustls::crypto::aws_lc_rs::sign::any_supported_type(&PrivateKeyDer::Pkcs8(
        PrivatePkcs8KeyDer::from(key.serialize_der()),
    ))
    .map_err(|e| e.to_string())?;
    // Not `with_single_cert`: it rejects the critical acmeIdentifier extension this certificate
    // exists to carry.
    let certified = Arc::new(CertifiedKey::new(vec![cert.der().clone()], signing));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(ChallengeCert(certified)));
    config.alpn_protocols = vec![ACME_TLS_ALPN.to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn http01_only_on_challenge_entry_points() {
        let c = Challenges::new(["web".to_owned()].into());
        assert_eq!(c.http01("web", "/other"), None);
        assert_eq!(c.http01("websecure", "/.well-known/acme-challenge/t"), None);
        assert_eq!(
            c.http01("web", "/.well-known/acme-challenge/t"),
            Some(Http01Answer::Unknown)
        );
        c.add_http("t", "t.thumb");
        assert_eq!(
            c.http01("web", "/.well-known/acme-challenge/t"),
            Some(Http01Answer::KeyAuthorization("t.thumb".into()))
        );
        c.remove_http("t");
        assert_eq!(
            c.http01("web", "/.well-known/acme-challenge/t"),
            Some(Http01Answer::Unknown)
        );
    }

    #[test]
    fn tls_alpn_certificates_by_sni() {
        let c = Challenges::default();
        assert!(!c.tls_pending());
        c.add_tls("A.test", &[7u8; 32]).unwrap();
        assert!(c.tls_pending());
        let cfg = c.tls_alpn01("a.test.").unwrap();
        assert_eq!(cfg.alpn_protocols, vec![b"acme-tls/1".to_vec()]);
        assert!(c.tls_alpn01("b.test").is_none());
        c.remove_tls("a.test");
        assert!(!c.tls_pending());
    }
}

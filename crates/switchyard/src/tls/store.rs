//! Choosing a certificate by SNI: exact names first, then a one-label wildcard (`*.example.com`
//! covers `a.example.com`, not `example.com` nor `a.b.example.com`), else the default certificate
//! — or no certificate at all under `sniStrict`, which fails the handshake.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::certs::LoadedCert;

/// Every certificate of a snapshot, indexed by name.
#[derive(Debug)]
pub struct CertStore {
    exact: HashMap<String, Arc<CertifiedKey>>,
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Arc<CertifiedKey>,
}

impl CertStore {
    /// Indexes `certs`; on a name served by two certificates the later one wins (Traefik's "last
    /// after sorting" rule, close enough without its SAN-list keys).
    pub fn new(certs: &[LoadedCert], default: Arc<CertifiedKey>) -> Self {
        let mut exact = HashMap::new();
        let mut wildcard = HashMap::new();
        for cert in certs {
            for name in &cert.names {
                match name.strip_prefix("*.") {
                    Some(suffix) => wildcard.insert(suffix.to_owned(), cert.key.clone()),
                    None => exact.insert(name.clone(), cert.key.clone()),
                };
            }
        }
        Self {
            exact,
            wildcard,
            default,
        }
    }

    /// The certificate for `sni`, if one matches (not the default).
    pub fn find(&self, sni: &str) -> Option<Arc<CertifiedKey>> {
        let sni = sni.trim_end_matches('.').to_ascii_lowercase();
        if let Some(k) = self.exact.get(&sni) {
            return Some(k.clone());
        }
        let (_, parent) = sni.split_once('.')?;
        self.wildcard.get(parent).cloned()
    }

    pub fn default_cert(&self) -> Arc<CertifiedKey> {
        self.default.clone()
    }

    /// Every certificate served by name (configured and ACME ones; not the default), each once.
    pub fn certificates(&self) -> Vec<Arc<CertifiedKey>> {
        let mut out: Vec<Arc<CertifiedKey>> = Vec::new();
        for key in self.exact.values().chain(self.wildcard.values()) {
            if !out.iter().any(|k| Arc::ptr_eq(k, key)) {
                out.push(key.clone());
            }
        }
        out
    }
}

/// A rustls resolver over a store, strict or not.
#[derive(Debug)]
pub struct SniResolver {
    pub store: Arc<CertStore>,
    pub strict: bool,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        match hello.server_name() {
            Some(sni) => match self.store.find(sni) {
                Some(k) => Some(k),
                None if self.strict => None,
                None => Some(self.store.default_cert()),
            },
            None if self.strict => None,
            None => Some(self.store.default_cert()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::certs::load_pair;

    fn cert(names: &[&str]) -> LoadedCert {
        let c = rcgen::generate_simple_self_signed(
            names.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .unwrap();
        load_pair(&c.cert.pem(), &c.signing_key.serialize_pem()).unwrap()
    }

    #[test]
    fn exact_then_wildcard_then_nothing() {
        let exact = cert(&["a.example.com"]);
        let wild = cert(&["*.example.com"]);
        let default = cert(&["default.test"]);
        let store = CertStore::new(&[exact.clone(), wild.clone()], default.key.clone());
        assert!(Arc::ptr_eq(
            &store.find("a.example.com").unwrap(),
            &exact.key
        ));
        assert!(Arc::ptr_eq(
            &store.find("A.Example.COM.").unwrap(),
            &exact.key
        ));
        assert!(Arc::ptr_eq(
            &store.find("b.example.com").unwrap(),
            &wild.key
        ));
        assert!(store.find("example.com").is_none());
        assert!(store.find("x.b.example.com").is_none());
        assert!(store.find("other.org").is_none());
    }
}

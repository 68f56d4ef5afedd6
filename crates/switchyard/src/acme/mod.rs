//! ACME certificate resolvers (`certificatesResolvers.<name>.acme`): certificates obtained and
//! renewed automatically from Let's Encrypt or any RFC 8555 CA, with instant-acme as the protocol
//! client and our own scheduling around it.
//!
//! [`CertificateResolvers`] is built once from the static configuration (reading each resolver's
//! stored certificates, so they are served from the very first configuration), then started with
//! the watcher's recompile signal. Each compile tells it which domains routers want
//! ([`DomainRequest`]); each resolver's task ([`resolver`]) orders what is missing or due, and
//! signals a recompile so the new certificate is served at once. The data plane asks
//! [`Challenges`] for HTTP-01 and TLS-ALPN-01 answers; nothing here touches requests otherwise.
//!
//! Storage sits behind [`storage::CertStorage`]; `acme.json` ([`storage::FileStorage`]) is the
//! one implementation today. See `docs/acme.md` for options and the differences with Traefik.

mod account;
pub mod challenge;
pub mod dns;
mod order;
mod resolver;
pub mod settings;
pub mod storage;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::sync::Arc;

use switchyard_model::config::static_cfg::StaticConfig;
use tokio::sync::Notify;
use tracing::{error, info};

pub use challenge::{Challenges, Http01Answer};
use resolver::Resolver;
use settings::ResolverSettings;
use storage::{CertStorage, FileStorage};

use crate::tls::certs::LoadedCert;

/// The domains one router (or `defaultGeneratedCert`) wants from a resolver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainRequest {
    pub resolver: String,
    /// Main name first, then the SANs; lower-case.
    pub names: Vec<String>,
    /// Who asks (`router@provider`), for logs.
    pub origin: String,
}

/// Every configured ACME resolver.
#[derive(Debug, Default)]
pub struct CertificateResolvers {
    resolvers: BTreeMap<String, Arc<Resolver>>,
    /// Resolvers that cannot work, with the reason (bad settings, unreadable storage).
    unavailable: BTreeMap<String, String>,
    challenges: Arc<Challenges>,
}

impl CertificateResolvers {
    /// Reads every resolver's settings and stored data. Problems disable the resolver concerned
    /// and are returned as messages naming the resolver, option or file.
    pub fn new(cfg: &StaticConfig) -> (CertificateResolvers, Vec<String>) {
        let mut errors = Vec::new();
        let mut resolvers = BTreeMap::new();
        let mut unavailable = BTreeMap::new();
        let mut http_eps = HashSet::new();
        for (name, r) in &cfg.certificates_resolvers {
            let Some(acme) = &r.acme else {
                if r.tailscale.is_some() {
                    let msg = "tailscale certificate resolvers are not supported".to_owned();
                    errors.push(format!("certificatesResolvers.{name}.tailscale: {msg}"));
                    unavailable.insert(name.clone(), msg);
                }
                continue;
            };
            let built = ResolverSettings::new(name, acme, cfg).and_then(|s| {
                let dns = match &s.challenges.dns {
                    Some(d) => Some(dns::DnsProvider::from_env(&d.provider).map_err(|e| {
                        format!("certificatesResolvers.{name}.acme.dnsChallenge.provider: {e}")
                    })?),
                    None => None,
                };
                let storage: Arc<dyn CertStorage> = Arc::new(FileStorage::new(&s.storage));
                let data = storage
                    .load(name)
                    .map_err(|e| format!("certificatesResolvers.{name}.acme.storage: {e}"))?;
                Ok(Resolver::new(s, storage, data, dns))
            });
            match built {
                Ok(r) => {
                    if let Some(h) = &r.settings.challenges.http {
                        http_eps.insert(h.entry_point.clone());
                    }
                    resolvers.insert(name.clone(), Arc::new(r));
                }
                Err(e) => {
                    errors.push(format!("{e}; the resolver is disabled"));
                    unavailable.insert(name.clone(), e);
                }
            }
        }
        (
            CertificateResolvers {
                resolvers,
                unavailable,
                challenges: Arc::new(Challenges::new(http_eps)),
            },
            errors,
        )
    }

    /// Pending challenge answers, for the data plane.
    pub fn challenges(&self) -> Arc<Challenges> {
        self.challenges.clone()
    }

    /// Whether routers may name `resolver`; the error says why not.
    pub fn check(&self, resolver: &str) -> Result<(), String> {
        if self.resolvers.contains_key(resolver) {
            return Ok(());
        }
        match self.unavailable.get(resolver) {
            Some(why) => Err(format!(
                "certificate resolver {resolver:?} is unavailable: {why}"
            )),
            None => Err(format!("no certificate resolver named {resolver:?}")),
        }
    }

    /// Every certificate the resolvers hold now, to be served.
    pub fn certificates(&self) -> Vec<LoadedCert> {
        self.resolvers
            .values()
            .flat_map(|r| r.served.load().iter().cloned().collect::<Vec<_>>())
            .collect()
    }

    /// The certificate of `resolver` covering every name of `names` (`defaultGeneratedCert`).
    pub fn certificate_for(&self, resolver: &str, names: &[String]) -> Option<LoadedCert> {
        let r = self.resolvers.get(resolver)?;
        let served = r.served.load();
        served
            .iter()
            .find(|c| names.iter().all(|n| c.names.iter().any(|p| p == n)))
            .cloned()
    }

    /// Hands the domains wanted by the current configuration to the resolvers; those not
    /// covered by a valid certificate are ordered.
    pub fn request(&self, requests: &[DomainRequest]) {
        for (name, r) in &self.resolvers {
            let wanted: BTreeSet<Vec<String>> = requests
                .iter()
                .filter(|q| &q.resolver == name && !q.names.is_empty())
                .map(|q| q.names.clone())
                .collect();
            r.wanted.send_if_modified(|current| {
                if *current == wanted {
                    false
                } else {
                    *current = wanted;
                    true
                }
            });
        }
    }

    /// Starts one task per resolver; `changed` is signalled whenever a certificate was obtained
    /// or renewed, so the configuration is recompiled and the certificate served.
    pub fn start(&self, changed: Arc<Notify>) {
        for (name, r) in &self.resolvers {
            let path = Path::new(&r.settings.storage);
            if let Err(e) = storage::ensure_file(path) {
                error!(resolver = %name, error = %e, "ACME storage unusable; certificates will not be kept across restarts");
            }
            info!(resolver = %name, ca = %r.settings.ca_server, storage = %r.settings.storage, "starting certificate resolver");
            tokio::spawn(resolver::run(
                r.clone(),
                self.challenges.clone(),
                changed.clone(),
            ));
        }
    }
}

/// The names of a `defaultGeneratedCert` domain (main first), lower-cased.
pub fn generated_cert_names(gen: &switchyard_model::config::dynamic::GeneratedCert) -> Vec<String> {
    gen.domain.as_ref().map(domain_names).unwrap_or_default()
}

/// A `{main, sans}` domain's names, main first, lower-cased, without duplicates.
pub fn domain_names(d: &switchyard_model::config::dynamic::Domain) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in d.main.iter().chain(d.sans.iter()) {
        let n = n.trim().trim_end_matches('.').to_ascii_lowercase();
        if !n.is_empty() && !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// Whether `name` can be put in a certificate order: a DNS name (optionally `*.` first) or an
/// IP address.
pub fn valid_name(name: &str) -> bool {
    if name.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let bare = name.strip_prefix("*.").unwrap_or(name);
    !bare.is_empty()
        && bare.len() <= 253
        && bare.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("a.example.com"));
        assert!(valid_name("*.example.com"));
        assert!(valid_name("127.0.0.1"));
        assert!(!valid_name("*"));
        assert!(!valid_name("a..b"));
        assert!(!valid_name("*.*.a"));
        assert!(!valid_name("a b"));
    }

    #[test]
    fn unknown_and_unavailable_resolvers_are_explained() {
        let (r, errors) = CertificateResolvers::new(&StaticConfig::default());
        assert!(errors.is_empty());
        assert!(r
            .check("le")
            .unwrap_err()
            .contains("no certificate resolver"));
        assert!(r.certificates().is_empty());
    }
}

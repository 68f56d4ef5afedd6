//! TLS termination: certificates from every provider's `tls.certificates` (plus the default
//! certificate), TLS options compiled to rustls configurations, and the per-connection choice of
//! configuration from the ClientHello's SNI. A [`TlsSnapshot`] is part of each configuration
//! snapshot, so certificates and options change with a reload — and when a certificate file
//! changes on disk (see `runtime::watcher`).

pub mod certs;
pub mod options;
pub mod store;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use rustls::ServerConfig;
use switchyard_model::config::dynamic::{DynamicConfig, TlsOptions};

use certs::LoadedCert;
use store::CertStore;

/// Name of the TLS options every router uses unless it names others (global, not namespaced).
pub const DEFAULT_OPTIONS: &str = "default";

/// The compiled TLS side of one configuration snapshot.
#[derive(Debug)]
pub struct TlsSnapshot {
    /// Server configurations by qualified TLS options name (`default`, `modern@file`).
    pub configs: HashMap<Arc<str>, Arc<ServerConfig>>,
    pub store: Arc<CertStore>,
    /// Certificate files in use, watched for changes.
    pub files: Vec<PathBuf>,
}

impl TlsSnapshot {
    /// The configuration for `options`, falling back to `default`.
    pub fn config(&self, options: &str) -> Option<(Arc<str>, Arc<ServerConfig>)> {
        self.configs
            .get_key_value(options)
            .or_else(|| self.configs.get_key_value(DEFAULT_OPTIONS))
            .map(|(k, v)| (k.clone(), v.clone()))
    }
}

/// Builds the TLS snapshot from every provider's `tls` section. Problems (an unreadable
/// certificate, invalid options, `default` options defined twice) are returned as messages and the
/// offending object is skipped; everything else is served.
///
/// Certificates obtained by ACME resolvers (`acme`) are served too; a configured certificate for
/// the same name wins over them. `defaultGeneratedCert` picks the default certificate among them.
pub fn compile(
    configs: &BTreeMap<String, Arc<DynamicConfig>>,
    generated_default: &LoadedCert,
    acme: &crate::acme::CertificateResolvers,
) -> (TlsSnapshot, Vec<String>) {
    let mut errors = Vec::new();
    // ACME certificates first: on a name both serve, the configured certificate (later) wins.
    let mut certs: Vec<LoadedCert> = acme.certificates();
    let mut generated: Option<LoadedCert> = None;
    let mut default_cert: Option<LoadedCert> = None;
    let mut options: BTreeMap<String, TlsOptions> = BTreeMap::new();
    let mut default_defined_by: Vec<String> = Vec::new();

    for (provider, cfg) in configs {
        let Some(tls) = &cfg.tls else { continue };
        for (i, c) in tls.certificates.iter().enumerate() {
            let cert = c.cert_file.as_deref().unwrap_or_default();
            let key = c.key_file.as_deref().unwrap_or_default();
            match certs::load_pair(cert, key) {
                Ok(loaded) => certs.push(loaded),
                Err(e) => errors.push(format!(
                    "tls.certificates[{i}]@{provider}: {e}; certificate skipped"
                )),
            }
        }
        for (name, opts) in &tls.options {
            if name == DEFAULT_OPTIONS {
                default_defined_by.push(provider.clone());
                options.insert(DEFAULT_OPTIONS.to_owned(), opts.clone());
            } else {
                options.insert(format!("{name}@{provider}"), opts.clone());
            }
        }
        for (name, store) in &tls.stores {
            if name != "default" {
                errors.push(format!(
                    "tls.stores.{name}@{provider}: only the store \"default\" is used; ignored"
                ));
                continue;
            }
            if let Some(files) = &store.default_certificate {
                let cert = files.cert_file.as_deref().unwrap_or_default();
                let key = files.key_file.as_deref().unwrap_or_default();
                match certs::load_pair(cert, key) {
                    Ok(loaded) => default_cert = Some(loaded),
                    Err(e) => errors.push(format!("tls.stores.default.defaultCertificate@{provider}: {e}; using the generated default certificate")),
                }
            }
            if let Some(gen) = &store.default_generated_cert {
                // ACME side (the order itself) is requested by runtime::compile.
                let resolver = gen.resolver.as_deref().unwrap_or_default();
                let names = crate::acme::generated_cert_names(gen);
                match acme.check(resolver) {
                    Err(e) => errors.push(format!(
                        "tls.stores.default.defaultGeneratedCert@{provider}: {e}; using the default certificate"
                    )),
                    Ok(()) => generated = acme.certificate_for(resolver, &names),
                }
            }
        }
    }
    if default_defined_by.len() > 1 {
        errors.push(format!(
            "TLS options \"default\" are defined by several providers ({}); using the built-in defaults",
            default_defined_by.join(", ")
        ));
        options.remove(DEFAULT_OPTIONS);
    }
    options.entry(DEFAULT_OPTIONS.to_owned()).or_default();

    // Traefik: an ACME-generated default certificate takes precedence over defaultCertificate.
    let default = generated
        .or(default_cert)
        .unwrap_or_else(|| generated_default.clone());
    let mut files: Vec<PathBuf> = certs
        .iter()
        .chain(std::iter::once(&default))
        .flat_map(|c| c.files.clone())
        .collect();
    files.sort();
    files.dedup();
    let store = Arc::new(CertStore::new(&certs, default.key.clone()));
    let mut built = HashMap::new();
    for (name, opts) in &options {
        match options::server_config(opts, store.clone()) {
            Ok(cfg) => {
                built.insert(Arc::<str>::from(name.as_str()), cfg);
            }
            Err(e) => errors.push(format!("tls.options.{name}: {e}")),
        }
    }
    if !built.contains_key(DEFAULT_OPTIONS) {
        if let Ok(cfg) = options::server_config(&TlsOptions::default(), store.clone()) {
            built.insert(Arc::from(DEFAULT_OPTIONS), cfg);
        }
    }
    (
        TlsSnapshot {
            configs: built,
            store,
            files,
        },
        errors,
    )
}

/// The TLS options name a router refers to, qualified in its provider's namespace.
pub fn qualify_options(name: Option<&str>, provider: &str) -> String {
    match name.filter(|n| !n.is_empty()) {
        None => DEFAULT_OPTIONS.to_owned(),
        Some(DEFAULT_OPTIONS) => DEFAULT_OPTIONS.to_owned(),
        Some(n) if n.contains('@') => n.to_owned(),
        Some(n) => format!("{n}@{provider}"),
    }
}

/// The options for a host on an entry point: exact host, then a one-label wildcard, else
/// `default`.
pub fn options_for_host<'a>(
    hosts: &'a HashMap<String, Arc<str>>,
    host: Option<&str>,
) -> Option<&'a Arc<str>> {
    let host = host?.trim_end_matches('.').to_ascii_lowercase();
    if let Some(o) = hosts.get(&host) {
        return Some(o);
    }
    let (_, parent) = host.split_once('.')?;
    hosts.get(&format!("*.{parent}"))
}

//! The configuration runtime: the [`watcher`] keeps the latest configuration of every provider,
//! throttles and merges them, and asks [`compile`] for a new [`Snapshot`], which is swapped into
//! [`Shared::snapshot`] atomically. State that must survive reloads (upstream pools) lives in
//! registries outside the snapshot.

pub mod cert_watch;
pub mod compile;
pub mod internal;
pub mod middlewares;
pub mod report;
pub mod services;
pub mod watcher;

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use http::HeaderValue;

use crate::http::internal::Health;
use crate::http::router::RouterTable;
use crate::tls::TlsSnapshot;
pub use report::Report;

/// One compiled, immutable configuration.
#[derive(Debug)]
pub struct Snapshot {
    /// HTTP route tables, indexed by entry point index.
    pub http: Vec<EntryPointTables>,
    /// Certificates and TLS options.
    pub tls: Arc<TlsSnapshot>,
    /// Status and errors of every object, for `check`, the logs and (later) the API.
    pub report: Report,
    /// Domains the routers want from ACME certificate resolvers.
    pub acme_requests: Vec<crate::acme::DomainRequest>,
}

impl Snapshot {
    /// A snapshot that routes nothing (before the first configuration is compiled).
    pub fn empty(default_cert: &crate::tls::certs::LoadedCert) -> Self {
        let (tls, _) = crate::tls::compile(
            &Default::default(),
            default_cert,
            &crate::acme::CertificateResolvers::default(),
        );
        Self {
            http: Vec::new(),
            tls: Arc::new(tls),
            report: Report::default(),
            acme_requests: Vec::new(),
        }
    }
}

/// The routers of one entry point: plain HTTP and TLS ones are separate tables (a router with a
/// `tls` section serves only HTTPS, one without it only HTTP).
#[derive(Debug, Default)]
pub struct EntryPointTables {
    pub plain: RouterTable,
    pub secure: RouterTable,
    /// Host → TLS options name, to pick the configuration from the SNI.
    pub tls_hosts: HashMap<String, Arc<str>>,
    /// Whether TLS connections are expected on this entry point.
    pub has_tls: bool,
}

/// State shared by the data plane and the runtime.
#[derive(Debug)]
pub struct Shared {
    pub snapshot: ArcSwap<Snapshot>,
    pub health: Arc<Health>,
    /// This host's name, sent as `X-Forwarded-Server`.
    pub hostname: HeaderValue,
    /// ACME challenge answers (HTTP-01 tokens, TLS-ALPN-01 certificates) served before routing.
    pub acme: Arc<crate::acme::Challenges>,
    /// Metrics, access log and tracing sinks (inactive when none is configured).
    pub observe: Arc<crate::observe::Observers>,
}

/// The machine's hostname, as Go's `os.Hostname` would give it.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

//! The static ("install") configuration: everything Traefik reads once at start-up.
//!
//! [`StaticConfig`] holds every top-level section of Traefik 3.7 (`global`, `entryPoints`,
//! `providers`, `api`, `ping`, `log`, `accessLog`, `metrics`, `tracing`, `certificatesResolvers`,
//! `serversTransport`, `tcpServersTransport`, `hostResolver`, `core`, `experimental`, `spiffe`,
//! `ocsp`). It comes from exactly one source — a file, CLI flags or `TRAEFIK_*` variables — through
//! [`crate::decode`], which turns unknown keys into errors. Defaults noted on fields are Traefik's;
//! applying them is the runtime's job.

mod acme;
mod entrypoint;
mod observability;
mod providers;

use std::collections::BTreeMap;

use crate::decode::section;
use crate::Duration;

pub use super::common::{CertificateFiles, ClientTls, Domain, Spiffe};
pub use super::dynamic::{EncodedCharacters, ForwardingTimeouts, RouterTls};
pub use acme::*;
pub use entrypoint::*;
pub use observability::*;
pub use providers::*;

model! {
    /// The whole static configuration.
    pub struct StaticConfig {
        #[serde(with = "section")]
        pub global: Option<Global>,
        #[serde(rename = "serversTransport", with = "section")]
        pub servers_transport: Option<StaticServersTransport>,
        #[serde(rename = "tcpServersTransport", with = "section")]
        pub tcp_servers_transport: Option<StaticTcpServersTransport>,
        /// Listeners by name.
        pub entry_points: BTreeMap<String, EntryPoint>,
        #[serde(with = "section")]
        pub providers: Option<Providers>,
        #[serde(with = "section")]
        pub api: Option<Api>,
        #[serde(with = "section")]
        pub metrics: Option<Metrics>,
        #[serde(with = "section")]
        pub ping: Option<Ping>,
        #[serde(with = "section")]
        pub log: Option<Log>,
        #[serde(with = "section")]
        pub access_log: Option<AccessLog>,
        #[serde(with = "section")]
        pub tracing: Option<Tracing>,
        #[serde(with = "section")]
        pub host_resolver: Option<HostResolver>,
        /// ACME / Tailscale certificate resolvers by name.
        pub certificates_resolvers: BTreeMap<String, CertificateResolver>,
        #[serde(with = "section")]
        pub experimental: Option<Experimental>,
        #[serde(with = "section")]
        pub core: Option<Core>,
        #[serde(with = "section")]
        pub spiffe: Option<SpiffeClient>,
        #[serde(with = "section")]
        pub ocsp: Option<Ocsp>,
    }

    /// `global`: process-wide switches.
    pub struct Global {
        /// Default true.
        pub check_new_version: Option<bool>,
        /// Default false.
        pub send_anonymous_usage: Option<bool>,
        /// Default false (3.7).
        pub not_append_x_forwarded_for: Option<bool>,
    }

    /// `api`: the API and dashboard.
    pub struct Api {
        /// Serve the API on the `traefik` entry point without a router (default false).
        pub insecure: Option<bool>,
        /// Default true once `api` is set.
        pub dashboard: Option<bool>,
        /// Debug endpoints (default false).
        pub debug: Option<bool>,
        pub disable_dashboard_ad: Option<bool>,
        /// Default "/".
        pub base_path: Option<String>,
        pub dashboard_name: Option<String>,
    }

    /// `ping`: the health endpoint.
    pub struct Ping {
        /// Default "traefik".
        pub entry_point: Option<String>,
        pub manual_routing: Option<bool>,
        /// Status returned while shutting down (default 503).
        pub terminating_status_code: Option<u16>,
    }

    /// `core`.
    pub struct Core {
        /// `v3` (default) or `v2`.
        pub default_rule_syntax: Option<String>,
        /// Refuse the fallback to default TLS options when routers on one host disagree.
        #[serde(rename = "strictTLSOptions")]
        pub strict_tls_options: Option<bool>,
    }

    /// `hostResolver`: CNAME flattening.
    pub struct HostResolver {
        #[serde(rename = "cnameFlattening")]
        pub cname_flattening: Option<bool>,
        /// Default `/etc/resolv.conf`.
        pub resolv_config: Option<String>,
        /// Default 5.
        pub resolv_depth: Option<i64>,
    }

    /// `spiffe`: where to reach the SPIFFE workload API.
    pub struct SpiffeClient {
        #[serde(rename = "workloadAPIAddr")]
        pub workload_api_addr: Option<String>,
    }

    /// `ocsp`: OCSP stapling (3.5).
    pub struct Ocsp {
        /// Responder URL → replacement URL.
        pub responder_overrides: BTreeMap<String, String>,
    }

    /// `serversTransport`: the default HTTP upstream transport (`default@internal`).
    pub struct StaticServersTransport {
        pub insecure_skip_verify: Option<bool>,
        #[serde(rename = "rootCAs")]
        pub root_cas: Vec<String>,
        /// Default 200 here (unlike dynamic transports, where 0 means Go's 2).
        pub max_idle_conns_per_host: Option<i64>,
        #[serde(with = "section")]
        pub forwarding_timeouts: Option<ForwardingTimeouts>,
        #[serde(with = "section")]
        pub spiffe: Option<Spiffe>,
    }

    /// `tcpServersTransport`: the default TCP upstream transport.
    pub struct StaticTcpServersTransport {
        /// Default 15s.
        pub dial_keep_alive: Option<Duration>,
        /// Default 30s.
        pub dial_timeout: Option<Duration>,
        pub termination_delay: Option<Duration>,
        #[serde(rename = "tls", with = "section")]
        pub tls: Option<StaticTcpTransportTls>,
    }

    /// `tcpServersTransport.tls`.
    pub struct StaticTcpTransportTls {
        pub insecure_skip_verify: Option<bool>,
        #[serde(rename = "rootCAs")]
        pub root_cas: Vec<String>,
        #[serde(with = "section")]
        pub spiffe: Option<Spiffe>,
    }

    /// `experimental`.
    pub struct Experimental {
        /// Remote plugins by name.
        pub plugins: BTreeMap<String, PluginDescriptor>,
        /// Local plugins by name.
        pub local_plugins: BTreeMap<String, LocalPluginDescriptor>,
        pub abort_on_plugin_failure: Option<bool>,
        #[serde(with = "section")]
        pub fast_proxy: Option<FastProxy>,
        #[serde(rename = "otlplogs")]
        pub otlp_logs: Option<bool>,
        pub knative: Option<bool>,
        #[serde(rename = "kubernetesIngressNGINX")]
        pub kubernetes_ingress_nginx: Option<bool>,
        /// Deprecated: the Gateway provider is no longer experimental.
        pub kubernetes_gateway: Option<bool>,
    }

    /// `experimental.plugins.<name>`.
    pub struct PluginDescriptor {
        pub module_name: Option<String>,
        pub version: Option<String>,
        pub hash: Option<String>,
        #[serde(with = "section")]
        pub settings: Option<PluginSettings>,
    }

    /// `experimental.localPlugins.<name>`.
    pub struct LocalPluginDescriptor {
        pub module_name: Option<String>,
        #[serde(with = "section")]
        pub settings: Option<PluginSettings>,
    }

    /// Plugin sandbox settings (WASM plugins).
    pub struct PluginSettings {
        pub envs: Vec<String>,
        pub mounts: Vec<String>,
        pub use_unsafe: Option<bool>,
    }

    /// `experimental.fastProxy`.
    pub struct FastProxy {
        pub debug: Option<bool>,
    }
}

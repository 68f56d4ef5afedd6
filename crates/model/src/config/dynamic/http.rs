//! `http.routers`, `http.services` and `http.serversTransports`.
//!
//! A router matches requests (rule, entry points, TLS) and hands them through its middlewares to a
//! service; a service is exactly one of load balancer, weighted, mirroring, failover or
//! highest-random-weight (the runtime rejects zero or two, see [`Service::type_names`]); a servers
//! transport describes how upstream connections are made.

use std::collections::BTreeMap;

use crate::decode::section;
use crate::Duration;

use super::{CertificateFiles, Domain, Middleware, Spiffe};

model! {
    /// `http`: the HTTP part of a dynamic configuration.
    pub struct HttpConfig {
        pub routers: BTreeMap<String, Router>,
        pub services: BTreeMap<String, Service>,
        pub middlewares: BTreeMap<String, Middleware>,
        pub servers_transports: BTreeMap<String, ServersTransport>,
    }

    /// `http.routers.<name>`.
    pub struct Router {
        /// Omitted: the default entry points.
        pub entry_points: Vec<String>,
        /// Applied in order, after the entry point's middlewares.
        pub middlewares: Vec<String>,
        /// Required for leaf routers.
        pub service: Option<String>,
        pub rule: Option<String>,
        /// `v3` or `v2` (deprecated); default from `core.defaultRuleSyntax`.
        pub rule_syntax: Option<String>,
        /// 0 or unset: the rule's length.
        pub priority: Option<i64>,
        /// Present: HTTPS only; absent: plain HTTP only.
        #[serde(with = "section")]
        pub tls: Option<RouterTls>,
        #[serde(with = "section")]
        pub observability: Option<RouterObservability>,
        /// Parent routers for multi-layer routing (3.6).
        pub parent_refs: Vec<String>,
    }

    /// A router's (or an entry point's default) TLS settings.
    pub struct RouterTls {
        /// TLS options name (default `default`).
        pub options: Option<String>,
        pub cert_resolver: Option<String>,
        pub domains: Vec<Domain>,
    }

    /// Per-router observability switches; they override the entry point's.
    pub struct RouterObservability {
        pub access_logs: Option<bool>,
        pub metrics: Option<bool>,
        pub tracing: Option<bool>,
        /// `minimal` or `detailed`.
        pub trace_verbosity: Option<String>,
    }

    /// `http.services.<name>`: exactly one service type, plus service-level middlewares (3.7).
    pub struct Service {
        #[serde(with = "section")]
        pub load_balancer: Option<LoadBalancer>,
        #[serde(with = "section")]
        pub weighted: Option<Weighted>,
        #[serde(with = "section")]
        pub mirroring: Option<Mirroring>,
        #[serde(with = "section")]
        pub failover: Option<Failover>,
        #[serde(with = "section")]
        pub highest_random_weight: Option<HighestRandomWeight>,
        pub middlewares: Vec<String>,
    }

    /// `loadBalancer`: servers behind one service.
    pub struct LoadBalancer {
        pub servers: Vec<Server>,
        /// `wrr` (default), `p2c`, `hrw` or `leasttime`.
        pub strategy: Option<String>,
        #[serde(with = "section")]
        pub sticky: Option<Sticky>,
        #[serde(with = "section")]
        pub health_check: Option<HealthCheck>,
        #[serde(with = "section")]
        pub passive_health_check: Option<PassiveHealthCheck>,
        /// Default true.
        pub pass_host_header: Option<bool>,
        #[serde(with = "section")]
        pub response_forwarding: Option<ResponseForwarding>,
        /// Servers transport name (default `default@internal`).
        pub servers_transport: Option<String>,
    }

    /// One upstream server.
    pub struct Server {
        /// `http://`, `https://` or `h2c://`.
        pub url: Option<String>,
        /// Default 1.
        pub weight: Option<u32>,
        /// Join the URL's path with the request path (default false).
        pub preserve_path: Option<bool>,
    }

    /// `sticky`: session affinity.
    pub struct Sticky {
        #[serde(with = "section")]
        pub cookie: Option<StickyCookie>,
    }

    /// `sticky.cookie`.
    pub struct StickyCookie {
        pub name: Option<String>,
        pub secure: Option<bool>,
        pub http_only: Option<bool>,
        /// `none`, `lax` or `strict`.
        pub same_site: Option<String>,
        /// Seconds; 0 = session cookie, negative = expire now.
        pub max_age: Option<i64>,
        /// Default `/`.
        pub path: Option<String>,
        pub domain: Option<String>,
    }

    /// Active health check of a load balancer's servers.
    pub struct HealthCheck {
        pub scheme: Option<String>,
        /// `http` (default) or `grpc`.
        pub mode: Option<String>,
        pub path: Option<String>,
        /// Default GET.
        pub method: Option<String>,
        /// Expected status (else any 2xx/3xx).
        pub status: Option<u16>,
        pub port: Option<u16>,
        /// Default 30s.
        pub interval: Option<Duration>,
        /// Default: `interval`.
        pub unhealthy_interval: Option<Duration>,
        /// Default 5s.
        pub timeout: Option<Duration>,
        pub hostname: Option<String>,
        /// Default true.
        pub follow_redirects: Option<bool>,
        pub headers: BTreeMap<String, String>,
    }

    /// Passive health check (3.6): failed requests mark a server down for a while.
    pub struct PassiveHealthCheck {
        /// Default 10s.
        pub failure_window: Option<Duration>,
        /// Default 1.
        pub max_failed_attempts: Option<u32>,
    }

    /// `responseForwarding`.
    pub struct ResponseForwarding {
        /// Default 100ms; negative flushes after every write.
        pub flush_interval: Option<Duration>,
    }

    /// `healthCheck: {}` on a parent service: propagate children's health (no options).
    pub struct HealthCheckPropagation {}

    /// `weighted`: weighted round robin over services.
    pub struct Weighted {
        pub services: Vec<WeightedService>,
        #[serde(with = "section")]
        pub sticky: Option<Sticky>,
        #[serde(with = "section")]
        pub health_check: Option<HealthCheckPropagation>,
    }

    /// A child service with a weight.
    pub struct WeightedService {
        pub name: Option<String>,
        /// Default 1.
        pub weight: Option<u32>,
    }

    /// `highestRandomWeight` (3.6): rendezvous hashing over services.
    pub struct HighestRandomWeight {
        pub services: Vec<WeightedService>,
        #[serde(with = "section")]
        pub health_check: Option<HealthCheckPropagation>,
    }

    /// `mirroring`: send to `service`, copy a share of requests to the mirrors.
    pub struct Mirroring {
        pub service: Option<String>,
        /// Default true.
        pub mirror_body: Option<bool>,
        /// Default -1 (unlimited).
        pub max_body_size: Option<i64>,
        pub mirrors: Vec<MirrorService>,
        #[serde(with = "section")]
        pub health_check: Option<HealthCheckPropagation>,
    }

    /// A mirror and the percentage of requests it gets.
    pub struct MirrorService {
        pub name: Option<String>,
        /// Default 0.
        pub percent: Option<u32>,
    }

    /// `failover`: `service` until it is unhealthy (or answers listed errors), then `fallback`.
    pub struct Failover {
        pub service: Option<String>,
        pub fallback: Option<String>,
        #[serde(with = "section")]
        pub health_check: Option<HealthCheckPropagation>,
        #[serde(with = "section")]
        pub errors: Option<FailoverErrors>,
    }

    /// `failover.errors` (3.7): status-based failover.
    pub struct FailoverErrors {
        /// `500`, `500-599` …
        pub status: Vec<String>,
        /// Default -1; larger bodies answer 413.
        pub max_request_body_bytes: Option<i64>,
    }

    /// `http.serversTransports.<name>`: how upstream connections are made.
    pub struct ServersTransport {
        /// SNI sent upstream.
        pub server_name: Option<String>,
        pub insecure_skip_verify: Option<bool>,
        #[serde(rename = "rootCAs")]
        pub root_cas: Vec<String>,
        /// Client certificates for mTLS.
        pub certificates: Vec<CertificateFiles>,
        pub cipher_suites: Vec<String>,
        pub min_version: Option<String>,
        pub max_version: Option<String>,
        /// 0 means Go's default of 2.
        pub max_idle_conns_per_host: Option<i64>,
        #[serde(with = "section")]
        pub forwarding_timeouts: Option<ForwardingTimeouts>,
        #[serde(rename = "disableHTTP2")]
        pub disable_http2: Option<bool>,
        #[serde(rename = "peerCertURI")]
        pub peer_cert_uri: Option<String>,
        #[serde(with = "section")]
        pub spiffe: Option<Spiffe>,
    }

    /// Upstream timeouts (also used by the static `serversTransport`).
    pub struct ForwardingTimeouts {
        /// Default 30s.
        pub dial_timeout: Option<Duration>,
        /// Default 0 (none).
        pub response_header_timeout: Option<Duration>,
        /// Default 90s.
        pub idle_conn_timeout: Option<Duration>,
        /// HTTP/2 health-check ping after this idle time (default 0 = off).
        pub read_idle_timeout: Option<Duration>,
        /// Default 15s.
        pub ping_timeout: Option<Duration>,
    }
}

impl Service {
    /// The service types that are set, in Traefik's names; a valid service has exactly one.
    pub fn type_names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.load_balancer.is_some() {
            names.push("loadBalancer");
        }
        if self.weighted.is_some() {
            names.push("weighted");
        }
        if self.mirroring.is_some() {
            names.push("mirroring");
        }
        if self.failover.is_some() {
            names.push("failover");
        }
        if self.highest_random_weight.is_some() {
            names.push("highestRandomWeight");
        }
        names
    }
}

//! `tcp.routers`, `tcp.services`, `tcp.middlewares` and `tcp.serversTransports`.
//!
//! TCP routers match on connection facts only (`HostSNI`, `ClientIP`, `ALPN`), decide once per
//! connection, and either terminate TLS or pass it through. Services balance over `host:port`
//! servers.

use std::collections::BTreeMap;

use crate::decode::section;
use crate::Duration;

use super::{CertificateFiles, Domain, HealthCheckPropagation, Spiffe, WeightedService};

model! {
    /// `tcp`.
    pub struct TcpConfig {
        pub routers: BTreeMap<String, TcpRouter>,
        pub services: BTreeMap<String, TcpService>,
        pub middlewares: BTreeMap<String, TcpMiddleware>,
        pub servers_transports: BTreeMap<String, TcpServersTransport>,
    }

    /// `tcp.routers.<name>`.
    pub struct TcpRouter {
        pub entry_points: Vec<String>,
        pub middlewares: Vec<String>,
        pub service: Option<String>,
        pub rule: Option<String>,
        pub rule_syntax: Option<String>,
        pub priority: Option<i64>,
        /// Present: TLS connections only.
        #[serde(with = "section")]
        pub tls: Option<TcpRouterTls>,
    }

    /// `tcp.routers.<name>.tls`.
    pub struct TcpRouterTls {
        /// Forward the encrypted bytes instead of terminating.
        pub passthrough: Option<bool>,
        pub options: Option<String>,
        pub cert_resolver: Option<String>,
        pub domains: Vec<Domain>,
    }

    /// `tcp.services.<name>`: exactly one type.
    pub struct TcpService {
        #[serde(with = "section")]
        pub load_balancer: Option<TcpLoadBalancer>,
        #[serde(with = "section")]
        pub weighted: Option<TcpWeighted>,
    }

    /// `tcp.services.<name>.loadBalancer`.
    pub struct TcpLoadBalancer {
        pub servers: Vec<TcpServer>,
        pub servers_transport: Option<String>,
        /// Deprecated: set it on the servers transport.
        #[serde(with = "section")]
        pub proxy_protocol: Option<ProxyProtocol>,
        /// Milliseconds. Deprecated: set it on the servers transport.
        pub termination_delay: Option<i64>,
        #[serde(with = "section")]
        pub health_check: Option<TcpHealthCheck>,
    }

    /// One TCP upstream.
    pub struct TcpServer {
        /// `host:port`.
        pub address: Option<String>,
        /// Connect to it with TLS.
        pub tls: Option<bool>,
    }

    /// PROXY protocol towards upstreams.
    pub struct ProxyProtocol {
        /// 1 or 2.
        pub version: Option<u8>,
    }

    /// TCP health check (3.6).
    pub struct TcpHealthCheck {
        pub port: Option<u16>,
        /// Payload sent after connecting.
        pub send: Option<String>,
        /// Expected reply.
        pub expect: Option<String>,
        /// Default 30s.
        pub interval: Option<Duration>,
        pub unhealthy_interval: Option<Duration>,
        /// Default 5s.
        pub timeout: Option<Duration>,
    }

    /// `tcp.services.<name>.weighted`.
    pub struct TcpWeighted {
        pub services: Vec<WeightedService>,
        #[serde(with = "section")]
        pub health_check: Option<HealthCheckPropagation>,
    }

    /// `tcp.middlewares.<name>`: exactly one type.
    pub struct TcpMiddleware {
        #[serde(with = "section")]
        pub in_flight_conn: Option<TcpInFlightConn>,
        /// Deprecated alias of `ipAllowList`.
        #[serde(rename = "ipWhiteList", with = "section")]
        pub ip_white_list: Option<TcpIpAllowList>,
        #[serde(rename = "ipAllowList", with = "section")]
        pub ip_allow_list: Option<TcpIpAllowList>,
    }

    /// `inFlightConn`: simultaneous connections per client IP.
    pub struct TcpInFlightConn {
        pub amount: Option<i64>,
    }

    /// `ipAllowList` / `ipWhiteList` for TCP.
    pub struct TcpIpAllowList {
        pub source_range: Vec<String>,
    }

    /// `tcp.serversTransports.<name>`.
    pub struct TcpServersTransport {
        /// Default 15s.
        pub dial_keep_alive: Option<Duration>,
        /// Default 30s.
        pub dial_timeout: Option<Duration>,
        #[serde(with = "section")]
        pub proxy_protocol: Option<ProxyProtocol>,
        pub termination_delay: Option<Duration>,
        #[serde(with = "section")]
        pub tls: Option<TcpTransportTls>,
    }

    /// `tcp.serversTransports.<name>.tls`.
    pub struct TcpTransportTls {
        pub server_name: Option<String>,
        pub insecure_skip_verify: Option<bool>,
        #[serde(rename = "rootCAs")]
        pub root_cas: Vec<String>,
        pub certificates: Vec<CertificateFiles>,
        #[serde(rename = "peerCertURI")]
        pub peer_cert_uri: Option<String>,
        #[serde(with = "section")]
        pub spiffe: Option<Spiffe>,
    }
}

impl TcpService {
    /// The service types that are set; a valid service has exactly one.
    pub fn type_names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.load_balancer.is_some() {
            names.push("loadBalancer");
        }
        if self.weighted.is_some() {
            names.push("weighted");
        }
        names
    }
}

impl TcpMiddleware {
    /// The middleware types that are set; a valid middleware has exactly one.
    pub fn type_names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.in_flight_conn.is_some() {
            names.push("inFlightConn");
        }
        if self.ip_white_list.is_some() {
            names.push("ipWhiteList");
        }
        if self.ip_allow_list.is_some() {
            names.push("ipAllowList");
        }
        names
    }
}

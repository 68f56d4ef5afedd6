//! `providers`: where dynamic configuration comes from, with each provider's static options.
//!
//! Only the options live here; the providers themselves (file watching, Docker events, Kubernetes
//! watches, KV polling) are runtime code. Every provider is an optional section: present (even
//! empty, or `--providers.docker` as a bare flag) means enabled.

use std::collections::BTreeMap;

use crate::decode::section;
use crate::Duration;

use super::ClientTls;

model! {
    /// `providers`.
    pub struct Providers {
        /// Minimum gap between two applied configurations of one provider (default 2s).
        pub providers_throttle_duration: Option<Duration>,
        /// Provider order used as a routing tie-breaker (3.7).
        pub precedence: Vec<String>,
        #[serde(with = "section")]
        pub docker: Option<DockerProvider>,
        #[serde(with = "section")]
        pub swarm: Option<SwarmProvider>,
        #[serde(with = "section")]
        pub file: Option<FileProvider>,
        #[serde(rename = "kubernetesIngress", with = "section")]
        pub kubernetes_ingress: Option<KubernetesIngressProvider>,
        #[serde(rename = "kubernetesIngressNGINX", with = "section")]
        pub kubernetes_ingress_nginx: Option<KubernetesIngressNginxProvider>,
        #[serde(rename = "kubernetesCRD", with = "section")]
        pub kubernetes_crd: Option<KubernetesCrdProvider>,
        #[serde(rename = "kubernetesGateway", with = "section")]
        pub kubernetes_gateway: Option<KubernetesGatewayProvider>,
        #[serde(with = "section")]
        pub knative: Option<KnativeProvider>,
        #[serde(with = "section")]
        pub rest: Option<RestProvider>,
        #[serde(with = "section")]
        pub consul_catalog: Option<ConsulCatalogProvider>,
        #[serde(with = "section")]
        pub nomad: Option<NomadProvider>,
        #[serde(with = "section")]
        pub ecs: Option<EcsProvider>,
        #[serde(with = "section")]
        pub consul: Option<ConsulProvider>,
        #[serde(with = "section")]
        pub etcd: Option<EtcdProvider>,
        #[serde(rename = "zooKeeper", with = "section")]
        pub zoo_keeper: Option<ZooKeeperProvider>,
        #[serde(with = "section")]
        pub redis: Option<RedisProvider>,
        #[serde(with = "section")]
        pub http: Option<HttpProvider>,
        /// Provider plugins by name; their settings are opaque.
        pub plugin: BTreeMap<String, serde_json::Value>,
    }

    /// `providers.file`.
    pub struct FileProvider {
        /// One file (exclusive with `directory`).
        pub filename: Option<String>,
        /// A directory tree of `.yml`/`.yaml`/`.toml` files.
        pub directory: Option<String>,
        /// Default true.
        pub watch: Option<bool>,
        pub debug_log_generated_template: Option<bool>,
    }

    /// `providers.docker`.
    pub struct DockerProvider {
        /// Label constraints expression.
        pub constraints: Option<String>,
        /// Default true (event stream).
        pub watch: Option<bool>,
        /// Default `unix:///var/run/docker.sock`.
        pub endpoint: Option<String>,
        /// Default ``Host(`{{ normalize .Name }}`)``.
        pub default_rule: Option<String>,
        #[serde(with = "section")]
        pub tls: Option<ClientTls>,
        /// Default true.
        pub exposed_by_default: Option<bool>,
        #[serde(rename = "useBindPortIP")]
        pub use_bind_port_ip: Option<bool>,
        pub network: Option<String>,
        pub http_client_timeout: Option<Duration>,
        pub username: Option<String>,
        pub password: Option<String>,
        pub allow_empty_services: Option<bool>,
    }

    /// `providers.swarm`: the Docker options plus a polling interval.
    pub struct SwarmProvider {
        pub constraints: Option<String>,
        pub watch: Option<bool>,
        /// Default `unix:///var/run/docker.sock`.
        pub endpoint: Option<String>,
        pub default_rule: Option<String>,
        #[serde(with = "section")]
        pub tls: Option<ClientTls>,
        pub exposed_by_default: Option<bool>,
        #[serde(rename = "useBindPortIP")]
        pub use_bind_port_ip: Option<bool>,
        pub network: Option<String>,
        /// Default 15s.
        pub refresh_seconds: Option<Duration>,
        pub http_client_timeout: Option<Duration>,
        pub username: Option<String>,
        pub password: Option<String>,
        pub allow_empty_services: Option<bool>,
    }

    /// `providers.kubernetesCRD`.
    pub struct KubernetesCrdProvider {
        pub endpoint: Option<String>,
        pub token: Option<String>,
        pub cert_auth_file_path: Option<String>,
        pub namespaces: Vec<String>,
        pub allow_cross_namespace: Option<bool>,
        pub allow_external_name_services: Option<bool>,
        pub label_selector: Option<String>,
        pub ingress_class: Option<String>,
        pub throttle_duration: Option<Duration>,
        pub allow_empty_services: Option<bool>,
        #[serde(rename = "nativeLBByDefault")]
        pub native_lb_by_default: Option<bool>,
        pub disable_cluster_scope_resources: Option<bool>,
        pub cross_provider_namespaces: Vec<String>,
        #[serde(rename = "defaultTLSResourcesNamespace")]
        pub default_tls_resources_namespace: Option<String>,
        pub safe_naming: Option<bool>,
    }

    /// `providers.kubernetesIngress`.
    pub struct KubernetesIngressProvider {
        pub endpoint: Option<String>,
        pub token: Option<String>,
        pub cert_auth_file_path: Option<String>,
        pub namespaces: Vec<String>,
        pub label_selector: Option<String>,
        pub ingress_class: Option<String>,
        #[serde(with = "section")]
        pub ingress_endpoint: Option<IngressEndpoint>,
        pub throttle_duration: Option<Duration>,
        pub allow_empty_services: Option<bool>,
        pub allow_external_name_services: Option<bool>,
        /// Deprecated.
        pub disable_ingress_class_lookup: Option<bool>,
        pub disable_cluster_scope_resources: Option<bool>,
        #[serde(rename = "nativeLBByDefault")]
        pub native_lb_by_default: Option<bool>,
        pub strict_prefix_matching: Option<bool>,
        pub cross_provider_namespaces: Vec<String>,
    }

    /// `providers.kubernetesIngress.ingressEndpoint`: what to publish in Ingress status.
    pub struct IngressEndpoint {
        pub ip: Option<String>,
        pub hostname: Option<String>,
        pub published_service: Option<String>,
    }

    /// `providers.kubernetesGateway`.
    pub struct KubernetesGatewayProvider {
        pub endpoint: Option<String>,
        pub token: Option<String>,
        pub cert_auth_file_path: Option<String>,
        pub namespaces: Vec<String>,
        pub label_selector: Option<String>,
        pub throttle_duration: Option<Duration>,
        pub experimental_channel: Option<bool>,
        #[serde(with = "section")]
        pub status_address: Option<GatewayStatusAddress>,
        #[serde(rename = "nativeLBByDefault")]
        pub native_lb_by_default: Option<bool>,
        pub cross_provider_namespaces: Vec<String>,
        /// Default 50.
        pub qps: Option<f64>,
        /// Default 100.
        pub burst: Option<i64>,
        /// Restricts the provider to these Gateways.
        pub gateways: Vec<NamespacedName>,
    }

    /// `providers.kubernetesGateway.statusAddress`.
    pub struct GatewayStatusAddress {
        pub ip: Option<String>,
        pub hostname: Option<String>,
        #[serde(with = "section")]
        pub service: Option<NamespacedName>,
    }

    /// A Kubernetes object reference.
    pub struct NamespacedName {
        pub name: Option<String>,
        pub namespace: Option<String>,
    }

    /// `providers.kubernetesIngressNGINX`: ingress-nginx emulation (3.5).
    pub struct KubernetesIngressNginxProvider {
        pub endpoint: Option<String>,
        pub token: Option<String>,
        pub cert_auth_file_path: Option<String>,
        pub throttle_duration: Option<Duration>,
        /// Default `k8s.io/ingress-nginx`.
        pub controller_class: Option<String>,
        /// Default `nginx`.
        pub ingress_class: Option<String>,
        pub ingress_class_by_name: Option<bool>,
        pub watch_ingress_without_class: Option<bool>,
        pub watch_namespace: Option<String>,
        pub watch_namespace_selector: Option<String>,
        pub publish_service: Option<String>,
        pub publish_status_address: Vec<String>,
        pub default_backend_service: Option<String>,
        pub disable_svc_external_name: Option<bool>,
        pub allow_cross_namespace_resources: Option<bool>,
        pub allow_snippet_annotations: Option<bool>,
        pub http_entry_point: Option<String>,
        pub https_entry_point: Option<String>,
        #[serde(rename = "globalAuthURL")]
        pub global_auth_url: Option<String>,
        pub global_allowed_response_headers: Vec<String>,
        #[serde(rename = "customHTTPErrors")]
        pub custom_http_errors: Vec<String>,
        #[serde(with = "section")]
        pub ip_allow_list_strategy: Option<crate::config::dynamic::IpStrategy>,
        /// Seconds (default 60).
        pub proxy_connect_timeout: Option<i64>,
        /// Seconds (default 60).
        pub proxy_read_timeout: Option<i64>,
        /// Seconds (default 60).
        pub proxy_send_timeout: Option<i64>,
        /// Default "error timeout".
        pub proxy_next_upstream: Option<String>,
        pub proxy_next_upstream_timeout: Option<i64>,
        /// Default 3.
        pub proxy_next_upstream_tries: Option<i64>,
        /// Bytes (default 1048576).
        pub proxy_body_size: Option<i64>,
        pub proxy_buffering: Option<bool>,
        /// Bytes (default 8192).
        pub proxy_buffer_size: Option<i64>,
        /// Default 4.
        pub proxy_buffers_number: Option<i64>,
        pub proxy_request_buffering: Option<bool>,
        /// Bytes (default 16384).
        pub client_body_buffer_size: Option<i64>,
        /// Seconds (default 60).
        pub upstream_keepalive_timeout: Option<i64>,
        /// Default true.
        pub strict_validate_path_type: Option<bool>,
    }

    /// `providers.knative` (needs `experimental.knative`).
    pub struct KnativeProvider {
        pub endpoint: Option<String>,
        pub token: Option<String>,
        pub cert_auth_file_path: Option<String>,
        pub namespaces: Vec<String>,
        pub label_selector: Option<String>,
        pub public_entrypoints: Vec<String>,
        #[serde(with = "section")]
        pub public_service: Option<NamespacedName>,
        pub private_entrypoints: Vec<String>,
        #[serde(with = "section")]
        pub private_service: Option<NamespacedName>,
        pub throttle_duration: Option<Duration>,
    }

    /// `providers.rest`: `PUT /api/providers/rest`.
    pub struct RestProvider {
        pub insecure: Option<bool>,
    }

    /// `providers.consulCatalog`.
    pub struct ConsulCatalogProvider {
        pub constraints: Option<String>,
        #[serde(with = "section")]
        pub endpoint: Option<ConsulEndpoint>,
        /// Tag prefix (default `traefik`).
        pub prefix: Option<String>,
        /// Default 15s.
        pub refresh_interval: Option<Duration>,
        pub require_consistent: Option<bool>,
        pub stale: Option<bool>,
        pub cache: Option<bool>,
        pub exposed_by_default: Option<bool>,
        pub default_rule: Option<String>,
        pub connect_aware: Option<bool>,
        pub connect_by_default: Option<bool>,
        pub service_name: Option<String>,
        pub watch: Option<bool>,
        pub namespaces: Vec<String>,
        pub strict_checks: Vec<String>,
    }

    /// `providers.consulCatalog.endpoint`.
    pub struct ConsulEndpoint {
        pub address: Option<String>,
        pub scheme: Option<String>,
        pub datacenter: Option<String>,
        pub token: Option<String>,
        #[serde(with = "section")]
        pub tls: Option<ClientTls>,
        #[serde(with = "section")]
        pub http_auth: Option<HttpBasicAuth>,
        pub endpoint_wait_time: Option<Duration>,
    }

    /// Username and password for an HTTP API.
    pub struct HttpBasicAuth {
        pub username: Option<String>,
        pub password: Option<String>,
    }

    /// `providers.nomad`.
    pub struct NomadProvider {
        pub default_rule: Option<String>,
        pub constraints: Option<String>,
        #[serde(with = "section")]
        pub endpoint: Option<NomadEndpoint>,
        pub prefix: Option<String>,
        pub stale: Option<bool>,
        pub exposed_by_default: Option<bool>,
        pub refresh_interval: Option<Duration>,
        pub allow_empty_services: Option<bool>,
        pub watch: Option<bool>,
        pub throttle_duration: Option<Duration>,
        pub namespaces: Vec<String>,
    }

    /// `providers.nomad.endpoint`.
    pub struct NomadEndpoint {
        /// Default `http://127.0.0.1:4646`.
        pub address: Option<String>,
        pub region: Option<String>,
        pub token: Option<String>,
        #[serde(with = "section")]
        pub tls: Option<ClientTls>,
        pub endpoint_wait_time: Option<Duration>,
    }

    /// `providers.ecs`.
    pub struct EcsProvider {
        pub constraints: Option<String>,
        pub exposed_by_default: Option<bool>,
        pub ecs_anywhere: Option<bool>,
        /// Seconds (default 15).
        pub refresh_seconds: Option<i64>,
        pub default_rule: Option<String>,
        /// Default `["default"]`.
        pub clusters: Vec<String>,
        pub auto_discover_clusters: Option<bool>,
        pub healthy_tasks_only: Option<bool>,
        pub region: Option<String>,
        #[serde(rename = "accessKeyID")]
        pub access_key_id: Option<String>,
        pub secret_access_key: Option<String>,
    }

    /// `providers.consul` (KV).
    pub struct ConsulProvider {
        /// Default `traefik`.
        pub root_key: Option<String>,
        pub endpoints: Vec<String>,
        pub token: Option<String>,
        pub namespaces: Vec<String>,
        #[serde(with = "section")]
        pub tls: Option<ClientTls>,
    }

    /// `providers.etcd` (KV).
    pub struct EtcdProvider {
        pub root_key: Option<String>,
        pub endpoints: Vec<String>,
        pub username: Option<String>,
        pub password: Option<String>,
        #[serde(with = "section")]
        pub tls: Option<ClientTls>,
    }

    /// `providers.zooKeeper` (KV).
    pub struct ZooKeeperProvider {
        pub root_key: Option<String>,
        pub endpoints: Vec<String>,
        pub username: Option<String>,
        pub password: Option<String>,
    }

    /// `providers.redis` (KV).
    pub struct RedisProvider {
        pub root_key: Option<String>,
        pub endpoints: Vec<String>,
        pub username: Option<String>,
        pub password: Option<String>,
        pub db: Option<i64>,
        #[serde(with = "section")]
        pub tls: Option<ClientTls>,
        #[serde(with = "section")]
        pub sentinel: Option<RedisSentinel>,
    }

    /// `providers.redis.sentinel`.
    pub struct RedisSentinel {
        pub master_name: Option<String>,
        pub username: Option<String>,
        pub password: Option<String>,
        pub latency_strategy: Option<bool>,
        pub random_strategy: Option<bool>,
        pub replica_strategy: Option<bool>,
        pub use_disconnected_replicas: Option<bool>,
    }

    /// `providers.http`: poll an endpoint for a dynamic configuration.
    pub struct HttpProvider {
        pub endpoint: Option<String>,
        /// Default 5s.
        pub poll_interval: Option<Duration>,
        /// Default 5s.
        pub poll_timeout: Option<Duration>,
        pub headers: BTreeMap<String, String>,
        #[serde(with = "section")]
        pub tls: Option<ClientTls>,
        /// Default -1 (unlimited).
        pub max_response_body_size: Option<i64>,
    }
}

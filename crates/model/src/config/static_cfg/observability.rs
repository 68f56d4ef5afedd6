//! `log`, `accessLog`, `metrics` and `tracing`: what Traefik reports and where it sends it.
//!
//! Pure option shapes; formatting log lines, registering metrics and exporting spans are done by
//! the runtime's observability code.

use std::collections::BTreeMap;

use crate::decode::section;
use crate::Duration;

use super::ClientTls;

model! {
    /// `log`: Traefik's own log.
    pub struct Log {
        /// TRACE, DEBUG, INFO, WARN, ERROR (default), FATAL or PANIC.
        pub level: Option<String>,
        /// `common` (default) or `json`.
        pub format: Option<String>,
        pub no_color: Option<bool>,
        /// Stdout when unset.
        pub file_path: Option<String>,
        /// Rotation: megabytes before rotating.
        pub max_size: Option<i64>,
        /// Rotation: days to keep old files.
        pub max_age: Option<i64>,
        /// Rotation: old files to keep.
        pub max_backups: Option<i64>,
        /// Rotation: gzip rotated files.
        pub compress: Option<bool>,
        #[serde(with = "section")]
        pub otlp: Option<OtlpLogs>,
    }

    /// `accessLog`.
    pub struct AccessLog {
        /// Stdout when unset.
        pub file_path: Option<String>,
        /// `common` (default), `genericCLF` or `json`.
        pub format: Option<String>,
        #[serde(with = "section")]
        pub filters: Option<AccessLogFilters>,
        #[serde(with = "section")]
        pub fields: Option<AccessLogFields>,
        /// Lines buffered before writing (default 0).
        pub buffering_size: Option<i64>,
        pub add_internals: Option<bool>,
        #[serde(with = "section")]
        pub otlp: Option<OtlpLogs>,
        /// Keep writing the file/stdout output when OTLP is configured (3.7).
        pub dual_output: Option<bool>,
    }

    /// `accessLog.filters`: keep only matching lines.
    pub struct AccessLogFilters {
        /// e.g. `200`, `300-302`.
        pub status_codes: Vec<String>,
        pub retry_attempts: Option<bool>,
        pub min_duration: Option<Duration>,
    }

    /// `accessLog.fields`.
    pub struct AccessLogFields {
        /// `keep` (default) or `drop`.
        pub default_mode: Option<String>,
        /// Field name → `keep`/`drop`.
        pub names: BTreeMap<String, String>,
        #[serde(with = "section")]
        pub headers: Option<AccessLogHeaderFields>,
        #[serde(with = "section")]
        pub query_parameters: Option<AccessLogQueryParameters>,
    }

    /// `accessLog.fields.headers`.
    pub struct AccessLogHeaderFields {
        /// `drop` (default), `keep` or `redact`.
        pub default_mode: Option<String>,
        /// Header name → mode.
        pub names: BTreeMap<String, String>,
    }

    /// `accessLog.fields.queryParameters` (3.7).
    pub struct AccessLogQueryParameters {
        /// `keep` (default) or `drop`.
        pub default_mode: Option<String>,
    }

    /// OTLP export of logs or access logs.
    pub struct OtlpLogs {
        /// Default `traefik`.
        pub service_name: Option<String>,
        pub resource_attributes: BTreeMap<String, String>,
        #[serde(with = "section")]
        pub grpc: Option<OtlpGrpc>,
        #[serde(with = "section")]
        pub http: Option<OtlpHttp>,
    }

    /// An OTLP collector reached over gRPC.
    pub struct OtlpGrpc {
        /// Default `localhost:4317`.
        pub endpoint: Option<String>,
        pub insecure: Option<bool>,
        pub headers: BTreeMap<String, String>,
        #[serde(with = "section")]
        pub tls: Option<ClientTls>,
    }

    /// An OTLP collector reached over HTTP.
    pub struct OtlpHttp {
        /// Default `https://localhost:4318` (the signal path is appended).
        pub endpoint: Option<String>,
        pub headers: BTreeMap<String, String>,
        #[serde(with = "section")]
        pub tls: Option<ClientTls>,
    }

    /// `metrics`.
    pub struct Metrics {
        /// Also count `@internal` routers and services.
        pub add_internals: Option<bool>,
        #[serde(with = "section")]
        pub prometheus: Option<Prometheus>,
        #[serde(with = "section")]
        pub datadog: Option<Datadog>,
        #[serde(rename = "statsD", with = "section")]
        pub stats_d: Option<Statsd>,
        #[serde(rename = "influxDB2", with = "section")]
        pub influx_db2: Option<InfluxDb2>,
        #[serde(with = "section")]
        pub otlp: Option<OtlpMetrics>,
    }

    /// `metrics.prometheus`.
    pub struct Prometheus {
        /// Default `[0.1, 0.3, 1.2, 5]`.
        pub buckets: Vec<f64>,
        /// Default true.
        pub add_entry_points_labels: Option<bool>,
        /// Default false.
        pub add_routers_labels: Option<bool>,
        /// Default true.
        pub add_services_labels: Option<bool>,
        /// Default `traefik`.
        pub entry_point: Option<String>,
        pub manual_routing: Option<bool>,
        /// Metric label → request header.
        pub header_labels: BTreeMap<String, String>,
    }

    /// `metrics.datadog`.
    pub struct Datadog {
        /// Default `localhost:8125`.
        pub address: Option<String>,
        /// Default 10s.
        pub push_interval: Option<Duration>,
        pub add_entry_points_labels: Option<bool>,
        pub add_routers_labels: Option<bool>,
        pub add_services_labels: Option<bool>,
        /// Default `traefik`.
        pub prefix: Option<String>,
    }

    /// `metrics.statsD`.
    pub struct Statsd {
        /// Default `localhost:8125`.
        pub address: Option<String>,
        pub push_interval: Option<Duration>,
        pub add_entry_points_labels: Option<bool>,
        pub add_routers_labels: Option<bool>,
        pub add_services_labels: Option<bool>,
        pub prefix: Option<String>,
    }

    /// `metrics.influxDB2`.
    pub struct InfluxDb2 {
        /// Default `http://localhost:8086`.
        pub address: Option<String>,
        pub token: Option<String>,
        pub push_interval: Option<Duration>,
        pub org: Option<String>,
        pub bucket: Option<String>,
        pub add_entry_points_labels: Option<bool>,
        pub add_routers_labels: Option<bool>,
        pub add_services_labels: Option<bool>,
        pub additional_labels: BTreeMap<String, String>,
    }

    /// `metrics.otlp`.
    pub struct OtlpMetrics {
        #[serde(with = "section")]
        pub grpc: Option<OtlpGrpc>,
        #[serde(with = "section")]
        pub http: Option<OtlpHttp>,
        pub add_entry_points_labels: Option<bool>,
        pub add_routers_labels: Option<bool>,
        pub add_services_labels: Option<bool>,
        pub explicit_boundaries: Vec<f64>,
        /// Default 10s.
        pub push_interval: Option<Duration>,
        pub service_name: Option<String>,
        pub resource_attributes: BTreeMap<String, String>,
    }

    /// `tracing` (OTLP only in v3).
    pub struct Tracing {
        /// Default `traefik`.
        pub service_name: Option<String>,
        pub resource_attributes: BTreeMap<String, String>,
        /// Deprecated alias of `resourceAttributes`.
        pub global_attributes: BTreeMap<String, String>,
        pub captured_request_headers: Vec<String>,
        pub captured_response_headers: Vec<String>,
        /// Query parameters not redacted in spans.
        pub safe_query_params: Vec<String>,
        /// Default 1.0.
        pub sample_rate: Option<f64>,
        pub add_internals: Option<bool>,
        #[serde(with = "section")]
        pub otlp: Option<OtlpExporter>,
    }

    /// `tracing.otlp`: one of the two transports.
    pub struct OtlpExporter {
        #[serde(with = "section")]
        pub grpc: Option<OtlpGrpc>,
        #[serde(with = "section")]
        pub http: Option<OtlpHttp>,
    }
}

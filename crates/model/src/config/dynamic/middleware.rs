//! `http.middlewares.<name>`: the 24 open-source HTTP middlewares (plus the deprecated
//! `ipWhiteList` alias and `plugin`), each with every Traefik 3.7 option.
//!
//! A [`Middleware`] should set exactly one type; [`Middleware::type_names`] lets the runtime
//! reject zero or several. Behaviour lives in the runtime's `middleware/` modules.

use std::collections::BTreeMap;

use crate::decode::section;
use crate::Duration;

use super::ClientTls;

model! {
    /// One middleware definition: exactly one of the fields below should be set.
    pub struct Middleware {
        #[serde(with = "section")]
        pub add_prefix: Option<AddPrefix>,
        #[serde(with = "section")]
        pub strip_prefix: Option<StripPrefix>,
        #[serde(with = "section")]
        pub strip_prefix_regex: Option<StripPrefixRegex>,
        #[serde(with = "section")]
        pub replace_path: Option<ReplacePath>,
        #[serde(with = "section")]
        pub replace_path_regex: Option<ReplacePathRegex>,
        #[serde(with = "section")]
        pub chain: Option<Chain>,
        /// Deprecated alias of `ipAllowList`.
        #[serde(rename = "ipWhiteList", with = "section")]
        pub ip_white_list: Option<IpWhiteList>,
        #[serde(rename = "ipAllowList", with = "section")]
        pub ip_allow_list: Option<IpAllowList>,
        #[serde(with = "section")]
        pub headers: Option<Headers>,
        #[serde(with = "section")]
        pub errors: Option<ErrorPage>,
        #[serde(with = "section")]
        pub rate_limit: Option<RateLimit>,
        #[serde(with = "section")]
        pub redirect_regex: Option<RedirectRegex>,
        #[serde(with = "section")]
        pub redirect_scheme: Option<RedirectScheme>,
        #[serde(with = "section")]
        pub basic_auth: Option<BasicAuth>,
        #[serde(with = "section")]
        pub digest_auth: Option<DigestAuth>,
        #[serde(with = "section")]
        pub forward_auth: Option<ForwardAuth>,
        #[serde(with = "section")]
        pub in_flight_req: Option<InFlightReq>,
        #[serde(with = "section")]
        pub buffering: Option<Buffering>,
        #[serde(with = "section")]
        pub circuit_breaker: Option<CircuitBreaker>,
        #[serde(with = "section")]
        pub compress: Option<Compress>,
        #[serde(rename = "passTLSClientCert", with = "section")]
        pub pass_tls_client_cert: Option<PassTlsClientCert>,
        #[serde(with = "section")]
        pub retry: Option<Retry>,
        #[serde(with = "section")]
        pub content_type: Option<ContentType>,
        #[serde(with = "section")]
        pub grpc_web: Option<GrpcWeb>,
        #[serde(with = "section")]
        pub encoded_characters: Option<EncodedCharacters>,
        /// Plugin name → its opaque settings.
        pub plugin: BTreeMap<String, serde_json::Value>,
    }

    /// `addPrefix`.
    pub struct AddPrefix {
        pub prefix: Option<String>,
    }

    /// `stripPrefix`.
    pub struct StripPrefix {
        pub prefixes: Vec<String>,
        /// Deprecated.
        pub force_slash: Option<bool>,
    }

    /// `stripPrefixRegex`.
    pub struct StripPrefixRegex {
        pub regex: Vec<String>,
    }

    /// `replacePath`.
    pub struct ReplacePath {
        pub path: Option<String>,
    }

    /// `replacePathRegex`.
    pub struct ReplacePathRegex {
        pub regex: Option<String>,
        pub replacement: Option<String>,
    }

    /// `chain`.
    pub struct Chain {
        pub middlewares: Vec<String>,
    }

    /// `ipAllowList`.
    pub struct IpAllowList {
        pub source_range: Vec<String>,
        #[serde(with = "section")]
        pub ip_strategy: Option<IpStrategy>,
        /// Default 403.
        pub reject_status_code: Option<u16>,
    }

    /// `ipWhiteList` (deprecated).
    pub struct IpWhiteList {
        pub source_range: Vec<String>,
        #[serde(with = "section")]
        pub ip_strategy: Option<IpStrategy>,
    }

    /// How the client IP is picked from `X-Forwarded-For`.
    pub struct IpStrategy {
        /// n-th address from the right (overrides `excludedIPs`).
        pub depth: Option<i64>,
        #[serde(rename = "excludedIPs")]
        pub excluded_ips: Vec<String>,
        /// Mask IPv6 addresses to this prefix length (1–128).
        pub ipv6_subnet: Option<u8>,
    }

    /// `headers`: custom request/response headers, CORS and security headers.
    pub struct Headers {
        /// Header → value; `""` removes the header.
        pub custom_request_headers: BTreeMap<String, String>,
        pub custom_response_headers: BTreeMap<String, String>,
        pub access_control_allow_credentials: Option<bool>,
        pub access_control_allow_headers: Vec<String>,
        pub access_control_allow_methods: Vec<String>,
        pub access_control_allow_origin_list: Vec<String>,
        pub access_control_allow_origin_list_regex: Vec<String>,
        pub access_control_expose_headers: Vec<String>,
        pub access_control_max_age: Option<i64>,
        pub add_vary_header: Option<bool>,
        pub allowed_hosts: Vec<String>,
        pub hosts_proxy_headers: Vec<String>,
        /// Deprecated.
        pub ssl_redirect: Option<bool>,
        /// Deprecated.
        pub ssl_temporary_redirect: Option<bool>,
        /// Deprecated.
        pub ssl_host: Option<String>,
        pub ssl_proxy_headers: BTreeMap<String, String>,
        /// Deprecated.
        pub ssl_force_host: Option<bool>,
        pub sts_seconds: Option<i64>,
        pub sts_include_subdomains: Option<bool>,
        pub sts_preload: Option<bool>,
        #[serde(rename = "forceSTSHeader")]
        pub force_sts_header: Option<bool>,
        pub frame_deny: Option<bool>,
        pub custom_frame_options_value: Option<String>,
        pub content_type_nosniff: Option<bool>,
        pub browser_xss_filter: Option<bool>,
        #[serde(rename = "customBrowserXSSValue")]
        pub custom_browser_xss_value: Option<String>,
        pub content_security_policy: Option<String>,
        pub content_security_policy_report_only: Option<String>,
        pub public_key: Option<String>,
        pub referrer_policy: Option<String>,
        /// Deprecated.
        pub feature_policy: Option<String>,
        pub permissions_policy: Option<String>,
        pub is_development: Option<bool>,
    }

    /// `errors`: serve error pages from another service.
    pub struct ErrorPage {
        /// `500`, `500-599`, `404,418` …
        pub status: Vec<String>,
        /// Original status → status sent to the client.
        pub status_rewrites: BTreeMap<String, u16>,
        pub service: Option<String>,
        /// Path queried on the service; `{status}`, `{originalStatus}`, `{url}` are replaced.
        pub query: Option<String>,
        /// Request headers forwarded to the error service.
        pub error_request_headers: Vec<String>,
    }

    /// `rateLimit`: token bucket per source.
    pub struct RateLimit {
        /// Requests per `period`; 0 = no limit.
        pub average: Option<i64>,
        /// Default 1s.
        pub period: Option<Duration>,
        /// Default 1.
        pub burst: Option<i64>,
        #[serde(with = "section")]
        pub source_criterion: Option<SourceCriterion>,
        /// Share the buckets through Redis (3.4).
        #[serde(with = "section")]
        pub redis: Option<RateLimitRedis>,
    }

    /// `rateLimit.redis`.
    pub struct RateLimitRedis {
        /// Default `localhost:6379`.
        pub endpoints: Vec<String>,
        #[serde(with = "section")]
        pub tls: Option<ClientTls>,
        pub username: Option<String>,
        pub password: Option<String>,
        pub db: Option<i64>,
        pub pool_size: Option<i64>,
        pub min_idle_conns: Option<i64>,
        pub max_active_conns: Option<i64>,
        /// Default 3s.
        pub read_timeout: Option<Duration>,
        /// Default 3s.
        pub write_timeout: Option<Duration>,
        /// Default 5s.
        pub dial_timeout: Option<Duration>,
    }

    /// What identifies a client for `rateLimit` and `inFlightReq` (one of the three).
    pub struct SourceCriterion {
        #[serde(with = "section")]
        pub ip_strategy: Option<IpStrategy>,
        pub request_header_name: Option<String>,
        pub request_host: Option<bool>,
    }

    /// `redirectRegex`.
    pub struct RedirectRegex {
        pub regex: Option<String>,
        pub replacement: Option<String>,
        pub permanent: Option<bool>,
    }

    /// `redirectScheme`.
    pub struct RedirectScheme {
        pub scheme: Option<String>,
        /// A string in Traefik (numbers are accepted and kept as text).
        pub port: Option<String>,
        pub permanent: Option<bool>,
    }

    /// `basicAuth`.
    pub struct BasicAuth {
        /// `user:hash` (MD5/apr1, SHA1, bcrypt).
        pub users: Vec<String>,
        pub users_file: Option<String>,
        /// Default `traefik`.
        pub realm: Option<String>,
        pub remove_header: Option<bool>,
        /// Header that receives the authenticated user name.
        pub header_field: Option<String>,
    }

    /// `digestAuth`.
    pub struct DigestAuth {
        /// `user:realm:hash`.
        pub users: Vec<String>,
        pub users_file: Option<String>,
        pub remove_header: Option<bool>,
        pub realm: Option<String>,
        pub header_field: Option<String>,
    }

    /// `forwardAuth`: ask another server whether the request may pass.
    pub struct ForwardAuth {
        pub address: Option<String>,
        #[serde(with = "section")]
        pub tls: Option<ClientTls>,
        /// Deprecated.
        pub trust_forward_header: Option<bool>,
        pub auth_response_headers: Vec<String>,
        pub auth_response_headers_regex: Option<String>,
        pub auth_request_headers: Vec<String>,
        pub add_auth_cookies_to_response: Vec<String>,
        pub header_field: Option<String>,
        /// Default false.
        pub forward_body: Option<bool>,
        /// Default -1.
        pub max_body_size: Option<i64>,
        pub preserve_location_header: Option<bool>,
        pub preserve_request_method: Option<bool>,
        /// Where to send the client when auth answers 401 (3.7).
        #[serde(rename = "authSigninURL")]
        pub auth_signin_url: Option<String>,
        /// Default -1 (3.7).
        pub max_response_body_size: Option<i64>,
    }

    /// `inFlightReq`: limit simultaneous requests per source.
    pub struct InFlightReq {
        pub amount: Option<i64>,
        #[serde(with = "section")]
        pub source_criterion: Option<SourceCriterion>,
    }

    /// `buffering`.
    pub struct Buffering {
        /// 0 = unlimited; over it: 413.
        pub max_request_body_bytes: Option<i64>,
        /// Default 1 MiB.
        pub mem_request_body_bytes: Option<i64>,
        /// 0 = unlimited; over it: 500.
        pub max_response_body_bytes: Option<i64>,
        /// Default 1 MiB.
        pub mem_response_body_bytes: Option<i64>,
        pub retry_expression: Option<String>,
    }

    /// `circuitBreaker`.
    pub struct CircuitBreaker {
        pub expression: Option<String>,
        /// Default 100ms.
        pub check_period: Option<Duration>,
        /// Default 10s.
        pub fallback_duration: Option<Duration>,
        /// Default 10s.
        pub recovery_duration: Option<Duration>,
        /// Default 503.
        pub response_code: Option<u16>,
    }

    /// `compress`.
    pub struct Compress {
        pub excluded_content_types: Vec<String>,
        pub included_content_types: Vec<String>,
        /// Default 1024.
        pub min_response_body_bytes: Option<i64>,
        /// Default `[gzip, br, zstd]`, in preference order.
        pub encodings: Vec<String>,
        pub default_encoding: Option<String>,
    }

    /// `passTLSClientCert`.
    pub struct PassTlsClientCert {
        pub pem: Option<bool>,
        #[serde(with = "section")]
        pub info: Option<TlsClientCertificateInfo>,
    }

    /// `passTLSClientCert.info`.
    pub struct TlsClientCertificateInfo {
        pub not_after: Option<bool>,
        pub not_before: Option<bool>,
        pub sans: Option<bool>,
        pub serial_number: Option<bool>,
        #[serde(with = "section")]
        pub subject: Option<TlsClientCertificateSubject>,
        #[serde(with = "section")]
        pub issuer: Option<TlsClientCertificateIssuer>,
    }

    /// `passTLSClientCert.info.subject`.
    pub struct TlsClientCertificateSubject {
        pub country: Option<bool>,
        pub province: Option<bool>,
        pub locality: Option<bool>,
        pub organization: Option<bool>,
        pub organizational_unit: Option<bool>,
        pub common_name: Option<bool>,
        pub serial_number: Option<bool>,
        pub domain_component: Option<bool>,
    }

    /// `passTLSClientCert.info.issuer`.
    pub struct TlsClientCertificateIssuer {
        pub country: Option<bool>,
        pub province: Option<bool>,
        pub locality: Option<bool>,
        pub organization: Option<bool>,
        pub common_name: Option<bool>,
        pub serial_number: Option<bool>,
        pub domain_component: Option<bool>,
    }

    /// `retry`.
    pub struct Retry {
        /// Required.
        pub attempts: Option<u32>,
        /// Exponential backoff start.
        pub initial_interval: Option<Duration>,
        /// Overall retry budget (3.7).
        pub timeout: Option<Duration>,
        /// Default 2 MiB (3.7).
        pub max_request_body_bytes: Option<i64>,
        /// Retry on these statuses too (3.7).
        pub status: Vec<String>,
        /// Needs `status` (3.7).
        pub disable_retry_on_network_error: Option<bool>,
        pub retry_non_idempotent_method: Option<bool>,
    }

    /// `contentType`: re-enable Content-Type sniffing.
    pub struct ContentType {
        pub auto_detect: Option<bool>,
    }

    /// `grpcWeb`.
    pub struct GrpcWeb {
        /// `*` allowed.
        pub allow_origins: Vec<String>,
    }

    /// Which percent-encoded characters a path may contain: the `encodedCharacters` middleware
    /// (defaults all false) and the entry point option (defaults all true) share this shape.
    pub struct EncodedCharacters {
        pub allow_encoded_slash: Option<bool>,
        pub allow_encoded_back_slash: Option<bool>,
        pub allow_encoded_null_character: Option<bool>,
        pub allow_encoded_semicolon: Option<bool>,
        pub allow_encoded_percent: Option<bool>,
        pub allow_encoded_question_mark: Option<bool>,
        pub allow_encoded_hash: Option<bool>,
    }
}

impl Middleware {
    /// The middleware types that are set, in Traefik's names; a valid middleware has exactly one.
    /// Every configured plugin counts as `plugin`.
    pub fn type_names(&self) -> Vec<&'static str> {
        let checks: [(bool, &'static str); 25] = [
            (self.add_prefix.is_some(), "addPrefix"),
            (self.strip_prefix.is_some(), "stripPrefix"),
            (self.strip_prefix_regex.is_some(), "stripPrefixRegex"),
            (self.replace_path.is_some(), "replacePath"),
            (self.replace_path_regex.is_some(), "replacePathRegex"),
            (self.chain.is_some(), "chain"),
            (self.ip_white_list.is_some(), "ipWhiteList"),
            (self.ip_allow_list.is_some(), "ipAllowList"),
            (self.headers.is_some(), "headers"),
            (self.errors.is_some(), "errors"),
            (self.rate_limit.is_some(), "rateLimit"),
            (self.redirect_regex.is_some(), "redirectRegex"),
            (self.redirect_scheme.is_some(), "redirectScheme"),
            (self.basic_auth.is_some(), "basicAuth"),
            (self.digest_auth.is_some(), "digestAuth"),
            (self.forward_auth.is_some(), "forwardAuth"),
            (self.in_flight_req.is_some(), "inFlightReq"),
            (self.buffering.is_some(), "buffering"),
            (self.circuit_breaker.is_some(), "circuitBreaker"),
            (self.compress.is_some(), "compress"),
            (self.pass_tls_client_cert.is_some(), "passTLSClientCert"),
            (self.retry.is_some(), "retry"),
            (self.content_type.is_some(), "contentType"),
            (self.grpc_web.is_some(), "grpcWeb"),
            (self.encoded_characters.is_some(), "encodedCharacters"),
        ];
        let mut names: Vec<&'static str> = checks
            .iter()
            .filter(|(set, _)| *set)
            .map(|(_, name)| *name)
            .collect();
        names.extend(self.plugin.keys().map(|_| "plugin"));
        names
    }
}

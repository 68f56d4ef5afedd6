//! `entryPoints.<name>`: the listeners.
//!
//! An entry point is bound once at start and never re-bound by a dynamic reload; these types only
//! carry what the user configured (address, HTTP behaviour, HTTP/2 and HTTP/3 settings, trusted
//! forwarding headers, PROXY protocol, timeouts, UDP session timeout, observability switches).

use crate::decode::section;
use crate::Duration;

use super::{EncodedCharacters, RouterTls};

model! {
    /// One listener.
    pub struct EntryPoint {
        /// `[host]:port[/tcp|/udp]`; required.
        pub address: Option<String>,
        /// Let user routers answer ACME challenges (default false).
        #[serde(rename = "allowACMEByPass")]
        pub allow_acme_by_pass: Option<bool>,
        /// `SO_REUSEPORT` (default false).
        pub reuse_port: Option<bool>,
        /// Routers without `entryPoints` attach to the `asDefault` entry points.
        pub as_default: Option<bool>,
        #[serde(with = "section")]
        pub transport: Option<EntryPointTransport>,
        #[serde(with = "section")]
        pub proxy_protocol: Option<EntryPointProxyProtocol>,
        #[serde(with = "section")]
        pub forwarded_headers: Option<ForwardedHeaders>,
        #[serde(with = "section")]
        pub http: Option<EntryPointHttp>,
        #[serde(rename = "http2", with = "section")]
        pub http2: Option<EntryPointHttp2>,
        #[serde(rename = "http3", with = "section")]
        pub http3: Option<EntryPointHttp3>,
        #[serde(with = "section")]
        pub udp: Option<EntryPointUdp>,
        #[serde(with = "section")]
        pub observability: Option<EntryPointObservability>,
    }

    /// `entryPoints.<name>.http`.
    pub struct EntryPointHttp {
        #[serde(with = "section")]
        pub redirections: Option<Redirections>,
        /// Middlewares (`name@provider`) prepended to every router on this entry point.
        pub middlewares: Vec<String>,
        /// Default TLS for routers on this entry point; `{}` means TLS with the default cert.
        #[serde(with = "section")]
        pub tls: Option<RouterTls>,
        /// Which percent-encoded characters a request path may contain (all allowed by default).
        #[serde(with = "section")]
        pub encoded_characters: Option<EncodedCharacters>,
        /// Default false: `;` in the query separates parameters like `&`.
        pub encode_query_semicolons: Option<bool>,
        /// Default true.
        pub sanitize_path: Option<bool>,
        /// Default 1048576.
        pub max_header_bytes: Option<u64>,
        /// Deprecated spelling of `aliasHeadersStrategy`: `keep`, `delete` or `reject`.
        pub underscore_headers_strategy: Option<String>,
        /// `keep`, `delete` or `reject` requests with headers whose names alias others.
        pub alias_headers_strategy: Option<String>,
    }

    /// `entryPoints.<name>.http.redirections`.
    pub struct Redirections {
        #[serde(with = "section")]
        pub entry_point: Option<RedirectEntryPoint>,
    }

    /// `entryPoints.<name>.http.redirections.entryPoint`.
    pub struct RedirectEntryPoint {
        /// Target entry point name or `:port`.
        pub to: Option<String>,
        /// Default "https".
        pub scheme: Option<String>,
        /// Default true.
        pub permanent: Option<bool>,
        /// Default MaxInt-1.
        pub priority: Option<i64>,
    }

    /// `entryPoints.<name>.http2`.
    pub struct EntryPointHttp2 {
        /// Default 250.
        pub max_concurrent_streams: Option<u32>,
        /// Default 4096.
        pub max_decoder_header_table_size: Option<u32>,
        /// Default 4096.
        pub max_encoder_header_table_size: Option<u32>,
    }

    /// `entryPoints.<name>.http3`: HTTP/3 on the same port over UDP.
    pub struct EntryPointHttp3 {
        /// Port advertised in `Alt-Svc` (default: the entry point's port).
        pub advertised_port: Option<u16>,
    }

    /// `entryPoints.<name>.forwardedHeaders`.
    pub struct ForwardedHeaders {
        /// Trust `X-Forwarded-*` from everyone.
        pub insecure: Option<bool>,
        /// IPs/CIDRs whose `X-Forwarded-*` headers are kept.
        #[serde(rename = "trustedIPs")]
        pub trusted_ips: Vec<String>,
        /// Hop-by-hop headers named in `Connection` that may survive the middleware chain.
        pub connection: Vec<String>,
        /// Do not append the client IP to `X-Forwarded-For` (3.7).
        pub not_append_x_forwarded_for: Option<bool>,
        /// Also set `X-Forwarded-Scheme` and `X-Scheme`. Switchyard extension kept for
        /// compatibility with older spec text; Traefik 3.7 has no such key.
        pub add_x_forwarded_scheme_headers: Option<bool>,
    }

    /// `entryPoints.<name>.proxyProtocol`.
    pub struct EntryPointProxyProtocol {
        pub insecure: Option<bool>,
        #[serde(rename = "trustedIPs")]
        pub trusted_ips: Vec<String>,
    }

    /// `entryPoints.<name>.transport`.
    pub struct EntryPointTransport {
        #[serde(with = "section")]
        pub life_cycle: Option<LifeCycle>,
        #[serde(with = "section")]
        pub responding_timeouts: Option<RespondingTimeouts>,
        /// Close keep-alive connections after this long (0 = never).
        pub keep_alive_max_time: Option<Duration>,
        /// Close keep-alive connections after this many requests (0 = never).
        pub keep_alive_max_requests: Option<u64>,
    }

    /// `entryPoints.<name>.transport.lifeCycle`.
    pub struct LifeCycle {
        /// Keep accepting for this long after a stop signal (default 0).
        pub request_accept_grace_timeout: Option<Duration>,
        /// Then wait this long for in-flight requests (default 10s).
        #[serde(rename = "graceTimeOut")]
        pub grace_time_out: Option<Duration>,
    }

    /// `entryPoints.<name>.transport.respondingTimeouts`.
    pub struct RespondingTimeouts {
        /// Default 60s.
        pub read_timeout: Option<Duration>,
        /// Default 0 (none).
        pub write_timeout: Option<Duration>,
        /// Default 180s.
        pub idle_timeout: Option<Duration>,
    }

    /// `entryPoints.<name>.udp`.
    pub struct EntryPointUdp {
        /// Idle session lifetime (default 3s).
        pub timeout: Option<Duration>,
    }

    /// `entryPoints.<name>.observability` (per-router settings override these).
    pub struct EntryPointObservability {
        pub access_logs: Option<bool>,
        pub metrics: Option<bool>,
        pub tracing: Option<bool>,
        /// `minimal` or `detailed`.
        pub trace_verbosity: Option<String>,
    }
}

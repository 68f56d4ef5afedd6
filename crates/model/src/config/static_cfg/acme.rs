//! `certificatesResolvers.<name>`: ACME (Let's Encrypt and friends) and Tailscale.
//!
//! Option shapes only; the ACME client, challenge solvers and `acme.json` storage are runtime code.

use crate::decode::section;
use crate::Duration;

model! {
    /// One certificate resolver.
    pub struct CertificateResolver {
        #[serde(with = "section")]
        pub acme: Option<Acme>,
        #[serde(with = "section")]
        pub tailscale: Option<Tailscale>,
    }

    /// `certificatesResolvers.<name>.tailscale`: certificates from the local tailscaled (no options).
    pub struct Tailscale {}

    /// `certificatesResolvers.<name>.acme`.
    pub struct Acme {
        pub email: Option<String>,
        pub email_addresses: Vec<String>,
        /// Default `https://acme-v02.api.letsencrypt.org/directory`.
        #[serde(rename = "caServer")]
        pub ca_server: Option<String>,
        pub preferred_chain: Option<String>,
        pub profile: Option<String>,
        /// Default `acme.json`.
        pub storage: Option<String>,
        /// EC256, EC384, RSA2048, RSA4096 (default), RSA8192.
        #[serde(rename = "keyType")]
        pub key_type: Option<String>,
        #[serde(with = "section")]
        pub eab: Option<Eab>,
        /// Hours (default 2160).
        pub certificates_duration: Option<i64>,
        pub disable_common_name: Option<bool>,
        /// CA certificates (paths or PEM) trusted for the ACME server.
        pub ca_certificates: Vec<String>,
        pub ca_system_cert_pool: Option<bool>,
        pub ca_server_name: Option<String>,
        /// Default 2m.
        pub client_timeout: Option<Duration>,
        /// Default 30s.
        pub client_response_header_timeout: Option<Duration>,
        /// Default 30s.
        pub certificate_timeout: Option<Duration>,
        #[serde(with = "section")]
        pub dns_challenge: Option<DnsChallenge>,
        #[serde(with = "section")]
        pub http_challenge: Option<HttpChallenge>,
        #[serde(with = "section")]
        pub tls_challenge: Option<TlsChallenge>,
    }

    /// `acme.eab`: External Account Binding.
    pub struct Eab {
        pub kid: Option<String>,
        #[serde(rename = "hmacEncoded")]
        pub hmac_encoded: Option<String>,
    }

    /// `acme.httpChallenge` (HTTP-01).
    pub struct HttpChallenge {
        pub entry_point: Option<String>,
        pub delay: Option<Duration>,
    }

    /// `acme.tlsChallenge` (TLS-ALPN-01).
    pub struct TlsChallenge {
        pub delay: Option<Duration>,
    }

    /// `acme.dnsChallenge` (DNS-01).
    pub struct DnsChallenge {
        /// A lego DNS provider name; credentials come from the environment.
        pub provider: Option<String>,
        pub resolvers: Vec<String>,
        #[serde(with = "section")]
        pub propagation: Option<DnsPropagation>,
        /// Deprecated: use `propagation.delayBeforeChecks`.
        pub delay_before_check: Option<Duration>,
        /// Deprecated: use `propagation.disableChecks`.
        pub disable_propagation_check: Option<bool>,
    }

    /// `acme.dnsChallenge.propagation`.
    pub struct DnsPropagation {
        pub disable_checks: Option<bool>,
        #[serde(rename = "disableANSChecks")]
        pub disable_ans_checks: Option<bool>,
        #[serde(rename = "requireAllRNS")]
        pub require_all_rns: Option<bool>,
        pub delay_before_checks: Option<Duration>,
    }
}

//! `tls`: certificates, named TLS options and certificate stores.
//!
//! Option `default` and store `default` are global (not namespaced by provider); only store
//! `default` is honoured. Certificate values may be file paths or inline PEM; loading them is the
//! runtime's job.

use std::collections::BTreeMap;

use crate::decode::section;

use super::{CertificateFiles, Domain};

model! {
    /// `tls`.
    pub struct TlsConfig {
        pub certificates: Vec<TlsCertificate>,
        pub options: BTreeMap<String, TlsOptions>,
        pub stores: BTreeMap<String, TlsStore>,
    }

    /// `tls.certificates[]`.
    pub struct TlsCertificate {
        pub cert_file: Option<String>,
        pub key_file: Option<String>,
        /// Ignored by Traefik: certificates always go to store `default`.
        pub stores: Vec<String>,
    }

    /// `tls.options.<name>`.
    pub struct TlsOptions {
        /// `VersionTLS10` … `VersionTLS13` (default TLS12).
        pub min_version: Option<String>,
        pub max_version: Option<String>,
        /// Go cipher suite names.
        pub cipher_suites: Vec<String>,
        pub curve_preferences: Vec<String>,
        #[serde(with = "section")]
        pub client_auth: Option<ClientAuth>,
        /// Default false.
        pub sni_strict: Option<bool>,
        /// Default `h2, http/1.1, acme-tls/1`.
        pub alpn_protocols: Vec<String>,
        pub disable_session_tickets: Option<bool>,
        /// Deprecated.
        pub prefer_server_cipher_suites: Option<bool>,
    }

    /// `tls.options.<name>.clientAuth`: mutual TLS.
    pub struct ClientAuth {
        /// CA files (paths or PEM).
        pub ca_files: Vec<String>,
        /// NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven or
        /// RequireAndVerifyClientCert.
        pub client_auth_type: Option<String>,
    }

    /// `tls.stores.<name>`.
    pub struct TlsStore {
        #[serde(with = "section")]
        pub default_certificate: Option<CertificateFiles>,
        #[serde(with = "section")]
        pub default_generated_cert: Option<GeneratedCert>,
    }

    /// `tls.stores.default.defaultGeneratedCert`: an ACME-issued default certificate.
    pub struct GeneratedCert {
        pub resolver: Option<String>,
        #[serde(with = "section")]
        pub domain: Option<Domain>,
    }
}

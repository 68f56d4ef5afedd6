//! Small shapes shared by the static and dynamic schemas: client TLS settings, SPIFFE peer
//! checks, certificate file pairs and TLS domains.
//!
//! They are re-exported from both [`super::static_cfg`] and [`super::dynamic`], so callers can use
//! whichever path reads better.

model! {
    /// Client-side TLS for connections Traefik makes (Docker/Kubernetes/KV APIs, forwardAuth,
    /// OTLP exporters, Redis): CA, client certificate, and verification switch. Values may be
    /// paths or inline PEM.
    pub struct ClientTls {
        pub ca: Option<String>,
        pub cert: Option<String>,
        pub key: Option<String>,
        pub insecure_skip_verify: Option<bool>,
    }

    /// SPIFFE peer verification: allowed IDs (take precedence) or a trust domain.
    pub struct Spiffe {
        pub ids: Vec<String>,
        pub trust_domain: Option<String>,
    }

    /// A certificate and its key (paths or inline PEM), e.g. mTLS client certificates.
    pub struct CertificateFiles {
        pub cert_file: Option<String>,
        pub key_file: Option<String>,
    }

    /// A TLS domain: `main` plus subject alternative names.
    pub struct Domain {
        pub main: Option<String>,
        pub sans: Vec<String>,
    }
}

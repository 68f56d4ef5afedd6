//! TLS options (`tls.options.<name>`) compiled into rustls server configurations: protocol
//! versions, cipher suites and curves (Traefik's Go names), ALPN, client authentication (all five
//! of Go's types), `sniStrict` and `disableSessionTickets`.
//!
//! rustls speaks TLS 1.2 and 1.3 only: `minVersion: VersionTLS10/11` is accepted and means 1.2.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::aws_lc_rs::{self as provider, cipher_suite, kx_group};
use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
    SupportedCipherSuite,
};
use switchyard_model::config::dynamic::TlsOptions;

use super::store::{CertStore, SniResolver};
use crate::http::upstream::load_certs;

/// Traefik's default ALPN list.
pub const DEFAULT_ALPN: &[&str] = &["h2", "http/1.1", "acme-tls/1"];

fn suite(name: &str) -> Result<Option<SupportedCipherSuite>, String> {
    Ok(Some(match name {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => {
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        }
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => {
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        }
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"
        | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" => {
            cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => {
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        }
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => {
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
        }
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" => {
            cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        // TLS 1.3 suites are not configurable in Go either; naming them is accepted.
        "TLS_AES_128_GCM_SHA256" | "TLS_AES_256_GCM_SHA384" | "TLS_CHACHA20_POLY1305_SHA256" => {
            return Ok(None)
        }
        other => {
            return Err(format!(
            "cipherSuites: {other:?} is not supported (rustls offers only AEAD suites with ECDHE)"
        ))
        }
    }))
}

fn curve(name: &str) -> Result<&'static dyn SupportedKxGroup, String> {
    Ok(match name {
        "CurveP256" | "secp256r1" | "P256" => kx_group::SECP256R1,
        "CurveP384" | "secp384r1" | "P384" => kx_group::SECP384R1,
        "X25519" | "x25519" => kx_group::X25519,
        "X25519MLKEM768" | "x25519mlkem768" => kx_group::X25519MLKEM768,
        "SecP256r1MLKEM768" | "secp256r1mlkem768" => kx_group::SECP256R1MLKEM768,
        other => return Err(format!("curvePreferences: {other:?} is not supported")),
    })
}

/// Protocol versions from `minVersion`/`maxVersion`.
fn versions(opts: &TlsOptions) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    fn rank(v: &str, key: &str) -> Result<u8, String> {
        match v {
            "VersionTLS10" => Ok(10),
            "VersionTLS11" => Ok(11),
            "VersionTLS12" => Ok(12),
            "VersionTLS13" => Ok(13),
            other => Err(format!(
                "{key}: unknown version {other:?} (expected VersionTLS10..VersionTLS13)"
            )),
        }
    }
    let min = match opts.min_version.as_deref().filter(|v| !v.is_empty()) {
        Some(v) => rank(v, "minVersion")?,
        None => 12,
    };
    let max = match opts.max_version.as_deref().filter(|v| !v.is_empty()) {
        Some(v) => rank(v, "maxVersion")?,
        None => 13,
    };
    if max < 12 {
        return Err("maxVersion: TLS 1.0 and 1.1 are not supported".to_owned());
    }
    if min > max {
        return Err("minVersion is above maxVersion".to_owned());
    }
    let mut out = Vec::new();
    if min <= 12 {
        out.push(&rustls::version::TLS12);
    }
    if max >= 13 {
        out.push(&rustls::version::TLS13);
    }
    Ok(out)
}

/// Builds the server configuration for one set of options over `store`.
pub fn server_config(
    opts: &TlsOptions,
    store: Arc<CertStore>,
) -> Result<Arc<ServerConfig>, String> {
    let mut provider = provider::default_provider();
    if !opts.cipher_suites.is_empty() {
        let mut tls12 = Vec::new();
        for name in &opts.cipher_suites {
            if let Some(s) = suite(name)? {
                tls12.push(s);
            }
        }
        provider
            .cipher_suites
            .retain(|s| matches!(s, SupportedCipherSuite::Tls13(_)) || tls12.contains(s));
    }
    if !opts.curve_preferences.is_empty() {
        provider.kx_groups = opts
            .curve_preferences
            .iter()
            .map(|c| curve(c))
            .collect::<Result<_, _>>()?;
    }
    let provider = Arc::new(provider);
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions(opts)?)
        .map_err(|e| format!("incompatible options: {e}"))?;
    let builder = match client_verifier(opts, &provider)? {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let strict = opts.sni_strict.unwrap_or(false);
    let mut config = builder.with_cert_resolver(Arc::new(SniResolver { store, strict }));
    config.alpn_protocols = if opts.alpn_protocols.is_empty() {
        DEFAULT_ALPN.iter().map(|p| p.as_bytes().to_vec()).collect()
    } else {
        opts.alpn_protocols
            .iter()
            .map(|p| p.as_bytes().to_vec())
            .collect()
    };
    config.ignore_client_order = true;
    if !opts.disable_session_tickets.unwrap_or(false) {
        config.ticketer = provider::Ticketer::new().map_err(|e| format!("session tickets: {e}"))?;
    }
    Ok(Arc::new(config))
}

fn client_verifier(
    opts: &TlsOptions,
    provider: &Arc<CryptoProvider>,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, String> {
    let Some(auth) = &opts.client_auth else {
        return Ok(None);
    };
    let kind = auth.client_auth_type.as_deref().unwrap_or("");
    let roots = || -> Result<Arc<RootCertStore>, String> {
        if auth.ca_files.is_empty() {
            return Err(format!("clientAuth.caFiles: required for {kind}"));
        }
        let mut roots = RootCertStore::empty();
        for (i, ca) in auth.ca_files.iter().enumerate() {
            for cert in load_certs(ca).map_err(|e| format!("clientAuth.caFiles[{i}]: {e}"))? {
                roots
                    .add(cert)
                    .map_err(|e| format!("clientAuth.caFiles[{i}]: {e}"))?;
            }
        }
        Ok(Arc::new(roots))
    };
    let verified = |optional: bool| -> Result<Option<Arc<dyn ClientCertVerifier>>, String> {
        let builder = WebPkiClientVerifier::builder_with_provider(roots()?, provider.clone());
        let builder = if optional {
            builder.allow_unauthenticated()
        } else {
            builder
        };
        Ok(Some(
            builder.build().map_err(|e| format!("clientAuth: {e}"))?,
        ))
    };
    match kind {
        "" | "NoClientCert" => Ok(None),
        "RequestClientCert" => Ok(Some(Arc::new(AnyClientCert { mandatory: false, provider: provider.clone() }))),
        "RequireAnyClientCert" => Ok(Some(Arc::new(AnyClientCert { mandatory: true, provider: provider.clone() }))),
        "VerifyClientCertIfGiven" => verified(true),
        "RequireAndVerifyClientCert" => verified(false),
        other => Err(format!(
            "clientAuth.clientAuthType: unknown type {other:?} (expected NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert)"
        )),
    }
}

/// Go's `RequestClientCert` / `RequireAnyClientCert`: ask for a certificate, accept any (the
/// handshake signature is still checked, proving possession of the key).
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end: &CertificateDer<'_>,
        _inter: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::certs::generate_default;

    fn store() -> Arc<CertStore> {
        Arc::new(CertStore::new(&[], generate_default().unwrap().key))
    }

    #[test]
    fn defaults_build() {
        let c = server_config(&TlsOptions::default(), store()).unwrap();
        assert_eq!(
            c.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec(), b"acme-tls/1".to_vec()]
        );
    }

    #[test]
    fn bad_options_are_named() {
        let o = TlsOptions {
            cipher_suites: vec!["TLS_RSA_WITH_RC4_128_SHA".into()],
            ..Default::default()
        };
        assert!(server_config(&o, store())
            .unwrap_err()
            .contains("cipherSuites"));
        let o = TlsOptions {
            curve_preferences: vec!["CurveP521".into()],
            ..Default::default()
        };
        assert!(server_config(&o, store())
            .unwrap_err()
            .contains("curvePreferences"));
        let o = TlsOptions {
            min_version: Some("VersionTLS14".into()),
            ..Default::default()
        };
        assert!(server_config(&o, store())
            .unwrap_err()
            .contains("minVersion"));
        let o = TlsOptions {
            min_version: Some("VersionTLS13".into()),
            max_version: Some("VersionTLS12".into()),
            ..Default::default()
        };
        assert!(server_config(&o, store()).is_err());
    }

    #[test]
    fn versions_map() {
        let o = TlsOptions {
            min_version: Some("VersionTLS13".into()),
            ..Default::default()
        };
        assert_eq!(versions(&o).unwrap().len(), 1);
        let o = TlsOptions {
            min_version: Some("VersionTLS10".into()),
            max_version: Some("VersionTLS12".into()),
            ..Default::default()
        };
        assert_eq!(versions(&o).unwrap().len(), 1);
    }
}

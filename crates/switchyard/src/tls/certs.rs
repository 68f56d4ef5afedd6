//! Loading certificates: a `certFile`/`keyFile` pair (each a path or inline PEM) becomes a rustls
//! `CertifiedKey` plus the names it is valid for (DNS SANs, else the subject CN). The default
//! certificate is generated here when none is configured, as Traefik does.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::crypto::aws_lc_rs::sign::any_supported_type;
use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;

use crate::http::upstream::{load_certs, load_key};

/// A certificate ready to serve.
#[derive(Debug, Clone)]
pub struct LoadedCert {
    pub key: Arc<CertifiedKey>,
    /// Lower-cased DNS names (wildcards as `*.example.com`) and IP addresses it covers.
    pub names: Vec<String>,
    /// Files it was read from (for change detection).
    pub files: Vec<PathBuf>,
}

fn file_of(v: &str) -> Option<PathBuf> {
    (!v.contains("-----BEGIN")).then(|| PathBuf::from(v))
}

/// Loads one certificate pair; the error names the file.
pub fn load_pair(cert: &str, key: &str) -> Result<LoadedCert, String> {
    if cert.is_empty() || key.is_empty() {
        return Err("certFile and keyFile are both required".to_owned());
    }
    let chain = load_certs(cert).map_err(|e| e.to_string())?;
    let private = load_key(key).map_err(|e| e.to_string())?;
    let signing = any_supported_type(&private)
        .map_err(|e| format!("{}: unsupported private key: {e}", label(key)))?;
    let names = names_of(&chain[0]).map_err(|e| format!("{}: {e}", label(cert)))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| {
        format!(
            "{} and {}: the key does not match the certificate: {e}",
            label(cert),
            label(key)
        )
    })?;
    Ok(LoadedCert {
        key: Arc::new(certified),
        names,
        files: [file_of(cert), file_of(key)]
            .into_iter()
            .flatten()
            .collect(),
    })
}

fn label(v: &str) -> &str {
    if v.contains("-----BEGIN") {
        "(inline PEM)"
    } else {
        v
    }
}

/// The names a certificate serves: DNS and IP SANs, else the subject's common name.
fn names_of(cert: &CertificateDer<'_>) -> Result<Vec<String>, String> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let (_, parsed) = X509Certificate::from_der(cert.as_ref())
        .map_err(|e| format!("invalid certificate: {e}"))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = parsed.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => names.push(d.trim_end_matches('.').to_ascii_lowercase()),
                GeneralName::IPAddress(bytes) => match bytes.len() {
                    4 => names.push(
                        std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string(),
                    ),
                    16 => {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(bytes);
                        names.push(std::net::Ipv6Addr::from(a).to_string());
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    }
    if names.is_empty() {
        for cn in parsed.subject().iter_common_name() {
            if let Ok(cn) = cn.as_str() {
                names.push(cn.to_ascii_lowercase());
            }
        }
    }
    Ok(names)
}

/// Traefik's fallback certificate: self-signed, CN `TRAEFIK DEFAULT CERT`, SAN
/// `<random>.<random>.traefik.default`, valid for a year. (ECDSA P-256 rather than Traefik's
/// RSA-2048: faster handshakes, and nobody should trust it either way.)
pub fn generate_default() -> Result<LoadedCert, String> {
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let san = format!(
        "{:032x}.{:032x}.traefik.default",
        seed,
        seed.rotate_left(64) ^ u128::from(std::process::id())
    );
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let mut params = CertificateParams::new(vec![san]).map_err(|e| e.to_string())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "TRAEFIK DEFAULT CERT");
    params.distinguished_name = dn;
    let now = std::time::SystemTime::now();
    params.not_before = now.into();
    params.not_after = (now + std::time::Duration::from_secs(365 * 24 * 3600)).into();
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    load_pair(&cert.pem(), &key.serialize_pem())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_cert_is_traefiks_shape() {
        let c = generate_default().unwrap();
        assert_eq!(c.names.len(), 1);
        assert!(c.names[0].ends_with(".traefik.default"), "{:?}", c.names);
        assert!(c.files.is_empty());
    }

    #[test]
    fn errors_name_the_file() {
        let e = load_pair("/nonexistent/cert.pem", "/nonexistent/key.pem").unwrap_err();
        assert!(e.contains("/nonexistent/cert.pem"), "{e}");
        assert!(load_pair("", "x").is_err());
    }

    #[test]
    fn mismatched_key_is_rejected() {
        let a = rcgen::generate_simple_self_signed(vec!["a.test".to_owned()]).unwrap();
        let b = rcgen::generate_simple_self_signed(vec!["b.test".to_owned()]).unwrap();
        let e = load_pair(&a.cert.pem(), &b.signing_key.serialize_pem()).unwrap_err();
        assert!(e.contains("does not match"), "{e}");
        let ok = load_pair(&a.cert.pem(), &a.signing_key.serialize_pem()).unwrap();
        assert_eq!(ok.names, vec!["a.test"]);
    }
}

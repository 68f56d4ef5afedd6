//! `/api/certificates`: the certificates Switchyard serves by name, described as Traefik 3.7 does
//! (SHA-256 fingerprints, SANs, validity, issuer and subject, key and signature algorithm) with a
//! status from the time left: `expired`, `warning` under 30 days, else `enabled`.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate, X509Name};

/// One certificate, parsed once per compilation.
#[derive(Debug, Clone)]
pub(crate) struct Cert {
    pub(crate) name: String,
    pub(crate) common_name: String,
    pub(crate) issuer_org: String,
    pub(crate) issuer_cn: String,
    pub(crate) sans: Vec<String>,
    /// Unix seconds.
    pub(crate) not_after: i64,
    /// The representation without `status` (added when served: it depends on the time).
    json: Map<String, Value>,
}

impl Cert {
    /// Parses a DER certificate; `None` when it cannot be read.
    pub(crate) fn parse(der: &[u8]) -> Option<Cert> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let hex = |bytes: &[u8]| -> String { bytes.iter().map(|b| format!("{b:02x}")).collect() };
        let fingerprint = hex(&Sha256::digest(der));
        let spki = hex(&Sha256::digest(cert.public_key().raw));
        let mut sans: Vec<String> = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(d) => sans.push((*d).to_owned()),
                    GeneralName::IPAddress(b) => {
                        if let Ok(v4) = <[u8; 4]>::try_from(*b) {
                            sans.push(std::net::Ipv4Addr::from(v4).to_string());
                        } else if let Ok(v6) = <[u8; 16]>::try_from(*b) {
                            sans.push(std::net::Ipv6Addr::from(v6).to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
        sans.sort();
        let first = |name: &X509Name<'_>, oid: &x509_parser::der_parser::Oid<'_>| -> String {
            name.iter_attributes()
                .find(|a| a.attr_type() == oid)
                .and_then(|a| a.as_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        use x509_parser::oid_registry as oids;
        let common_name = first(cert.subject(), &oids::OID_X509_COMMON_NAME);
        let issuer_org = first(cert.issuer(), &oids::OID_X509_ORGANIZATION_NAME);
        let issuer_cn = first(cert.issuer(), &oids::OID_X509_COMMON_NAME);
        let issuer_country = first(cert.issuer(), &oids::OID_X509_COUNTRY_NAME);
        let organization = first(cert.subject(), &oids::OID_X509_ORGANIZATION_NAME);
        let country = first(cert.subject(), &oids::OID_X509_COUNTRY_NAME);
        let not_after = cert.validity().not_after.timestamp();
        let not_before = cert.validity().not_before.timestamp();
        let (key_type, key_size) = key_info(&cert);
        let mut json = Map::new();
        let mut put = |k: &str, v: Value| {
            json.insert(k.to_owned(), v);
        };
        put("name", Value::from(fingerprint.clone()));
        put("sans", Value::from(sans.clone()));
        put("notAfter", Value::from(timestamp(not_after)));
        put("notBefore", Value::from(timestamp(not_before)));
        put("serialNumber", Value::from(cert.serial.to_string()));
        put("commonName", Value::from(common_name.clone()));
        for (k, v) in [
            ("issuerOrg", &issuer_org),
            ("issuerCN", &issuer_cn),
            ("issuerCountry", &issuer_country),
            ("organization", &organization),
            ("country", &country),
        ] {
            if !v.is_empty() {
                put(k, Value::from(v.clone()));
            }
        }
        put("version", Value::from(format!("v{}", cert.version().0 + 1)));
        put("keyType", Value::from(key_type));
        if key_size > 0 {
            put("keySize", Value::from(key_size));
        }
        put(
            "signatureAlgorithm",
            Value::from(signature_algorithm(
                &cert.signature_algorithm.algorithm.to_id_string(),
            )),
        );
        put("certFingerprint", Value::from(fingerprint.clone()));
        put("publicKeyFingerprint", Value::from(spki));
        Some(Cert {
            name: fingerprint,
            common_name,
            issuer_org,
            issuer_cn,
            sans,
            not_after,
            json,
        })
    }

    /// Traefik's status for the time left at `now` (Unix seconds).
    pub(crate) fn status(&self, now: i64) -> &'static str {
        let left = self.not_after.saturating_sub(now);
        if left < 0 {
            "expired"
        } else if left < 30 * 24 * 3600 {
            "warning"
        } else {
            "enabled"
        }
    }

    /// Traefik's issuer for sorting: the organization, else the common name.
    pub(crate) fn issuer(&self) -> &str {
        if self.issuer_org.is_empty() {
            &self.issuer_cn
        } else {
            &self.issuer_org
        }
    }

    /// The API representation at `now`.
    pub(crate) fn to_json(&self, now: i64) -> Value {
        let mut o = self.json.clone();
        o.insert("status".into(), json!(self.status(now)));
        Value::Object(o)
    }
}

/// Go's `time.Time` JSON of a whole second.
fn timestamp(secs: i64) -> String {
    super::rfc3339(u64::try_from(secs).unwrap_or(0), 0)
}

/// Go's key type and size: RSA modulus bits, ECDSA curve bits, else `Unknown`.
fn key_info(cert: &X509Certificate<'_>) -> (&'static str, usize) {
    let spki = cert.public_key();
    match spki.parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => ("RSA", rsa.key_size()),
        Ok(x509_parser::public_key::PublicKey::EC(_)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_default();
            let bits = match curve.as_str() {
                "1.2.840.10045.3.1.1" => 192,
                "1.3.132.0.33" => 224,
                "1.2.840.10045.3.1.7" => 256,
                "1.3.132.0.34" => 384,
                "1.3.132.0.35" => 521,
                _ => 0,
            };
            ("ECDSA", bits)
        }
        _ => ("Unknown", 0),
    }
}

/// Go's `x509.SignatureAlgorithm.String()` for a signature algorithm OID.
fn signature_algorithm(oid: &str) -> &'static str {
    match oid {
        "1.2.840.113549.1.1.2" => "MD2-RSA",
        "1.2.840.113549.1.1.4" => "MD5-RSA",
        "1.2.840.113549.1.1.5" => "SHA1-RSA",
        "1.2.840.113549.1.1.11" => "SHA256-RSA",
        "1.2.840.113549.1.1.12" => "SHA384-RSA",
        "1.2.840.113549.1.1.13" => "SHA512-RSA",
        "1.2.840.113549.1.1.10" => "SHA256-RSAPSS",
        "1.2.840.10040.4.3" => "DSA-SHA1",
        "2.16.840.1.101.3.4.3.2" => "DSA-SHA256",
        "1.2.840.10045.4.1" => "ECDSA-SHA1",
        "1.2.840.10045.4.3.2" => "ECDSA-SHA256",
        "1.2.840.10045.4.3.3" => "ECDSA-SHA384",
        "1.2.840.10045.4.3.4" => "ECDSA-SHA512",
        "1.3.101.112" => "Ed25519",
        _ => "0",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_a_generated_certificate() {
        let mut params =
            rcgen::CertificateParams::new(vec!["b.example.com".into(), "a.example.com".into()])
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "a.example.com");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Org");
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress("10.0.0.1".parse().unwrap()));
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let c = Cert::parse(cert.der()).unwrap();
        let v = c.to_json(0);
        assert_eq!(
            v["sans"],
            json!(["10.0.0.1", "a.example.com", "b.example.com"])
        );
        assert_eq!(v["commonName"], "a.example.com");
        assert_eq!(v["organization"], "Org");
        assert_eq!(v["issuerOrg"], "Org");
        assert_eq!(v["keyType"], "ECDSA");
        assert_eq!(v["keySize"], 256);
        assert_eq!(v["signatureAlgorithm"], "ECDSA-SHA256");
        assert_eq!(v["version"], "v3");
        assert_eq!(v["name"], v["certFingerprint"]);
        assert_eq!(v["status"], "enabled");
        assert_eq!(c.status(c.not_after + 1), "expired");
        assert_eq!(c.status(c.not_after - 3600), "warning");
        assert_eq!(c.issuer(), "Org");
        assert!(Cert::parse(b"not a certificate").is_none());
    }
}

//! `passTLSClientCert`: passes the client certificate of a mutual-TLS connection to the upstream,
//! as `X-Forwarded-Tls-Client-Cert` (the certificates, base64 DER without PEM armour, URL-escaped,
//! comma-separated; `pem: true`) and/or `X-Forwarded-Tls-Client-Cert-Info` (selected subject,
//! issuer, serial, validity and SAN fields; `info`). It never answers on its own; without a client
//! certificate it removes both headers so a client cannot forge them.

use base64::Engine as _;
use http::header::{HeaderName, HeaderValue};
use http::{Request, Response};
use rustls::pki_types::CertificateDer;
use switchyard_model::config::dynamic::{
    PassTlsClientCert as Config, TlsClientCertificateInfo, TlsClientCertificateIssuer,
    TlsClientCertificateSubject,
};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate, X509Name};

use super::{BoxFuture, Middleware, Next};
use crate::http::body::Body;
use crate::http::service::RequestCtx;

const CERT: HeaderName = HeaderName::from_static("x-forwarded-tls-client-cert");
const CERT_INFO: HeaderName = HeaderName::from_static("x-forwarded-tls-client-cert-info");

/// Which distinguished-name attributes to write, in Traefik's order.
#[derive(Debug, Clone, Copy, Default)]
struct DnFields {
    domain_component: bool,
    country: bool,
    province: bool,
    locality: bool,
    organization: bool,
    organizational_unit: bool,
    common_name: bool,
    serial_number: bool,
}

impl DnFields {
    fn subject(c: &TlsClientCertificateSubject) -> Self {
        Self {
            domain_component: c.domain_component.unwrap_or(false),
            country: c.country.unwrap_or(false),
            province: c.province.unwrap_or(false),
            locality: c.locality.unwrap_or(false),
            organization: c.organization.unwrap_or(false),
            organizational_unit: c.organizational_unit.unwrap_or(false),
            common_name: c.common_name.unwrap_or(false),
            serial_number: c.serial_number.unwrap_or(false),
        }
    }

    fn issuer(c: &TlsClientCertificateIssuer) -> Self {
        Self {
            domain_component: c.domain_component.unwrap_or(false),
            country: c.country.unwrap_or(false),
            province: c.province.unwrap_or(false),
            locality: c.locality.unwrap_or(false),
            organization: c.organization.unwrap_or(false),
            organizational_unit: false,
            common_name: c.common_name.unwrap_or(false),
            serial_number: c.serial_number.unwrap_or(false),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct InfoFields {
    subject: Option<DnFields>,
    issuer: Option<DnFields>,
    serial_number: bool,
    not_before: bool,
    not_after: bool,
    sans: bool,
}

impl InfoFields {
    fn new(c: &TlsClientCertificateInfo) -> Self {
        Self {
            subject: c.subject.as_ref().map(DnFields::subject),
            issuer: c.issuer.as_ref().map(DnFields::issuer),
            serial_number: c.serial_number.unwrap_or(false),
            not_before: c.not_before.unwrap_or(false),
            not_after: c.not_after.unwrap_or(false),
            sans: c.sans.unwrap_or(false),
        }
    }
}

#[derive(Debug)]
pub struct PassTlsClientCert {
    pem: bool,
    info: Option<InfoFields>,
}

impl PassTlsClientCert {
    pub fn new(cfg: &Config) -> Result<Self, String> {
        Ok(Self {
            pem: cfg.pem.unwrap_or(false),
            info: cfg.info.as_ref().map(InfoFields::new),
        })
    }
}

impl Middleware for PassTlsClientCert {
    fn call<'a>(
        &'a self,
        mut req: Request<Body>,
        ctx: &'a RequestCtx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Response<Body>> {
        Box::pin(async move {
            let headers = req.headers_mut();
            headers.remove(&CERT);
            headers.remove(&CERT_INFO);
            if let Some(chain) = ctx.client_certs.as_deref().filter(|c| !c.is_empty()) {
                if self.pem {
                    if let Ok(v) = HeaderValue::from_str(&pem_header(chain)) {
                        headers.insert(CERT, v);
                    }
                }
                if let Some(fields) = &self.info {
                    let value = info_header(chain, fields);
                    if !value.is_empty() {
                        if let Ok(v) = HeaderValue::from_str(&value) {
                            headers.insert(CERT_INFO, v);
                        }
                    }
                }
            }
            next.run(req, ctx).await
        })
    }
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn pem_header(chain: &[CertificateDer<'static>]) -> String {
    chain
        .iter()
        .map(|c| query_escape(&base64::engine::general_purpose::STANDARD.encode(c.as_ref())))
        .collect::<Vec<_>>()
        .join(",")
}

fn info_header(chain: &[CertificateDer<'static>], fields: &InfoFields) -> String {
    chain
        .iter()
        .filter_map(|c| {
            X509Certificate::from_der(c.as_ref())
                .ok()
                .map(|(_, cert)| cert_info(&cert, fields))
        })
        .filter(|s| !s.is_empty())
        .map(|s| query_escape(&s))
        .collect::<Vec<_>>()
        .join(",")
}

fn cert_info(cert: &X509Certificate<'_>, f: &InfoFields) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(dn) = &f.subject {
        parts.push(format!("Subject=\"{}\"", dn_string(cert.subject(), dn)));
    }
    if let Some(dn) = &f.issuer {
        parts.push(format!("Issuer=\"{}\"", dn_string(cert.issuer(), dn)));
    }
    if f.serial_number {
        parts.push(format!("SerialNumber=\"{}\"", cert.serial));
    }
    if f.not_before {
        parts.push(format!("NB=\"{}\"", cert.validity().not_before.timestamp()));
    }
    if f.not_after {
        parts.push(format!("NA=\"{}\"", cert.validity().not_after.timestamp()));
    }
    if f.sans {
        parts.push(format!("SAN=\"{}\"", sans(cert).join(",")));
    }
    parts.join(";")
}

fn dn_string(name: &X509Name<'_>, f: &DnFields) -> String {
    use x509_parser::oid_registry as oids;
    let wanted = [
        (f.domain_component, oids::OID_DOMAIN_COMPONENT, "DC"),
        (f.country, oids::OID_X509_COUNTRY_NAME, "C"),
        (f.province, oids::OID_X509_STATE_OR_PROVINCE_NAME, "ST"),
        (f.locality, oids::OID_X509_LOCALITY_NAME, "L"),
        (f.organization, oids::OID_X509_ORGANIZATION_NAME, "O"),
        (
            f.organizational_unit,
            oids::OID_X509_ORGANIZATIONAL_UNIT,
            "OU",
        ),
        (f.common_name, oids::OID_X509_COMMON_NAME, "CN"),
        (f.serial_number, oids::OID_X509_SERIALNUMBER, "SN"),
    ];
    let mut out: Vec<String> = Vec::new();
    for (on, oid, label) in wanted {
        if !on {
            continue;
        }
        for attr in name.iter_attributes().filter(|a| a.attr_type() == &oid) {
            if let Ok(v) = attr.as_str() {
                out.push(format!("{label}={v}"));
            }
        }
    }
    out.join(",")
}

fn sans(cert: &X509Certificate<'_>) -> Vec<String> {
    let mut dns = Vec::new();
    let mut emails = Vec::new();
    let mut ips = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => dns.push(d.to_string()),
                GeneralName::RFC822Name(e) => emails.push(e.to_string()),
                GeneralName::IPAddress(b) if b.len() == 4 => {
                    ips.push(std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string())
                }
                GeneralName::IPAddress(b) if b.len() == 16 => {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(b);
                    ips.push(std::net::Ipv6Addr::from(a).to_string());
                }
                _ => {}
            }
        }
    }
    dns.into_iter().chain(emails).chain(ips).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_escape_is_gos() {
        assert_eq!(
            query_escape("a b=\"c\",d;e/f+g"),
            "a+b%3D%22c%22%2Cd%3Be%2Ff%2Bg"
        );
    }

    #[test]
    fn info_fields_in_traefiks_order() {
        let mut params =
            rcgen::CertificateParams::new(vec!["client.test".to_owned(), "10.0.0.1".to_owned()])
                .unwrap();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CountryName, "FR");
        dn.push(rcgen::DnType::OrganizationName, "Cheese");
        dn.push(rcgen::DnType::CommonName, "client");
        params.distinguished_name = dn;
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let der = cert.der().clone();
        let fields = InfoFields {
            subject: Some(DnFields {
                country: true,
                organization: true,
                common_name: true,
                ..DnFields::default()
            }),
            issuer: Some(DnFields {
                common_name: true,
                ..DnFields::default()
            }),
            sans: true,
            ..InfoFields::default()
        };
        let (_, parsed) = X509Certificate::from_der(der.as_ref()).unwrap();
        assert_eq!(
            cert_info(&parsed, &fields),
            "Subject=\"C=FR,O=Cheese,CN=client\";Issuer=\"CN=client\";SAN=\"client.test,10.0.0.1\""
        );
        let pem = pem_header(std::slice::from_ref(&der));
        assert!(!pem.contains("BEGIN") && !pem.contains('\n'));
        let b64 = pem
            .replace("%2B", "+")
            .replace("%2F", "/")
            .replace("%3D", "=");
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap(),
            der.as_ref()
        );
    }
}

//! `traefik_tls_certs_not_after`: one series per served certificate, labelled as Traefik labels
//! it (`cn`: the subject's common name, `serial`: the serial number in decimal, `sans`: the DNS
//! names joined with `,`), valued with its expiry as a Unix timestamp.

use rustls::pki_types::CertificateDer;

/// One certificate's labels and expiry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct CertSeries {
    pub(super) cn: String,
    pub(super) serial: String,
    pub(super) sans: String,
    pub(super) not_after: i64,
}

/// The series of `cert` (a leaf certificate), `None` when it does not parse.
pub(super) fn series(cert: &CertificateDer<'_>) -> Option<CertSeries> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let (_, parsed) = X509Certificate::from_der(cert.as_ref()).ok()?;
    // Go keeps the last common name of the subject.
    let cn = parsed
        .subject()
        .iter_common_name()
        .filter_map(|c| c.as_str().ok())
        .last()
        .unwrap_or_default()
        .to_owned();
    let mut sans = Vec::new();
    if let Ok(Some(san)) = parsed.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::DNSName(d) = name {
                sans.push(*d);
            }
        }
    }
    Some(CertSeries {
        cn,
        serial: parsed.tbs_certificate.serial.to_string(),
        sans: sans.join(","),
        not_after: parsed.validity().not_after.timestamp(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_traefiks() {
        let mut params =
            rcgen::CertificateParams::new(vec!["a.test".to_owned(), "b.test".to_owned()]).unwrap();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, "a.test");
        params.distinguished_name = dn;
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x01, 0x00]));
        params.not_after = rcgen::date_time_ymd(2030, 1, 2);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let s = series(cert.der()).unwrap();
        assert_eq!(s.cn, "a.test");
        assert_eq!(s.serial, "256");
        assert_eq!(s.sans, "a.test,b.test");
        assert_eq!(s.not_after, 1_893_542_400);
    }
}

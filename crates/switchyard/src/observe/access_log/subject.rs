//! `TLSClientSubject`: the client certificate's subject as Go's `pkix.Name.String()` writes it
//! (RFC 2253 style, most specific first: `CN=client,OU=b,OU=a,O=Org,C=FR`).

use rustls::pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Go's attribute order in `Name.ToRDNSequence` (it prints the sequence reversed), and names.
const ORDER: [(&str, &str); 9] = [
    ("2.5.4.6", "C"),
    ("2.5.4.8", "ST"),
    ("2.5.4.7", "L"),
    ("2.5.4.9", "STREET"),
    ("2.5.4.17", "POSTALCODE"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.3", "CN"),
    ("2.5.4.5", "SERIALNUMBER"),
];

/// The subject of `cert`, `None` when it cannot be parsed.
pub(super) fn go_subject(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(cert.as_ref()).ok()?;
    let mut standard: [Vec<String>; 9] = Default::default();
    // Attributes Go has no field for, printed last as `oid=#<DER hex>`.
    let mut extra: Vec<(String, String)> = Vec::new();
    for attr in cert.subject().iter_attributes() {
        let oid = attr.attr_type().to_id_string();
        let value = match attr.as_str() {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(attr.as_slice()).into_owned(),
        };
        match ORDER.iter().position(|(o, _)| *o == oid) {
            // CommonName and SerialNumber are single fields in Go (the last one wins).
            Some(i @ (7 | 8)) => standard[i] = vec![value],
            Some(i) => standard[i].push(value),
            None => extra.push((oid, value)),
        }
    }
    // Go's sequence: extras, then one RDN per standard attribute type in ORDER (its values
    // joined with `+`); printed reversed.
    let mut parts: Vec<String> = Vec::new();
    for (i, values) in standard.iter().enumerate() {
        if values.is_empty() || (i >= 7 && values.iter().all(String::is_empty)) {
            continue;
        }
        let rdn: Vec<String> = values
            .iter()
            .map(|v| format!("{}={}", ORDER[i].1, escape(v)))
            .collect();
        parts.push(rdn.join("+"));
    }
    for (oid, v) in &extra {
        parts.insert(0, format!("{oid}=#{}", der_string_hex(v)));
    }
    parts.reverse();
    Some(parts.join(","))
}

/// RFC 2253 escaping as Go does it.
fn escape(v: &str) -> String {
    let n = v.chars().count();
    let mut out = String::with_capacity(v.len());
    for (k, c) in v.chars().enumerate() {
        let esc = match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => true,
            ' ' => k == 0 || k + 1 == n,
            '#' => k == 0,
            _ => false,
        };
        if esc {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Hex of the DER encoding Go's `asn1.Marshal` gives a string: PrintableString when every
/// character is in its set, UTF8String otherwise.
fn der_string_hex(v: &str) -> String {
    let printable = v.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b' ' | b'\'' | b'(' | b')' | b'+' | b',' | b'-' | b'.' | b'/' | b':' | b'=' | b'?'
            )
    });
    let mut der = vec![if printable { 0x13 } else { 0x0c }];
    let len = v.len();
    if len < 0x80 {
        der.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        der.push(0x80 | (bytes.len() - skip) as u8);
        der.extend_from_slice(&bytes[skip..]);
    }
    der.extend_from_slice(v.as_bytes());
    der.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_is_printed_like_go() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CountryName, "FR");
        dn.push(rcgen::DnType::OrganizationName, "Org, Inc");
        dn.push(rcgen::DnType::OrganizationalUnitName, "a");
        dn.push(rcgen::DnType::LocalityName, "Paris");
        dn.push(rcgen::DnType::CommonName, "client one");
        dn.push(
            rcgen::DnType::CustomDnType(vec![1, 2, 840, 113_549, 1, 9, 1]),
            "me@example.com",
        );
        params.distinguished_name = dn;
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let subject = go_subject(cert.der()).unwrap();
        assert_eq!(
            subject,
            "CN=client one,OU=a,O=Org\\, Inc,L=Paris,C=FR,1.2.840.113549.1.9.1=#0c0e6d65406578616d706c652e636f6d"
        );
    }

    #[test]
    fn escaping() {
        assert_eq!(escape(" a#b "), "\\ a#b\\ ");
        assert_eq!(escape("#x"), "\\#x");
        assert_eq!(escape("a+b;c<d>\"e\\"), "a\\+b\\;c\\<d\\>\\\"e\\\\");
    }
}

//! `certificatesResolvers.<name>.acme` checked once at start: defaults filled in as Traefik
//! does, and every problem reported with the resolver and option it comes from. A resolver whose
//! settings are invalid is left out (as Traefik skips it) and the routers naming it are served with
//! the other certificates.

use std::time::Duration;

use switchyard_model::config::static_cfg::{Acme, StaticConfig};

/// Let's Encrypt's production directory, Traefik's default `caServer`.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// Private key type of issued certificates (`keyType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Ec256,
    Ec384,
    Rsa2048,
    Rsa4096,
    Rsa8192,
}

impl KeyType {
    fn parse(s: &str) -> Option<KeyType> {
        Some(match s.to_ascii_uppercase().as_str() {
            "EC256" | "P256" => KeyType::Ec256,
            "EC384" | "P384" => KeyType::Ec384,
            "RSA2048" | "2048" => KeyType::Rsa2048,
            "RSA4096" | "4096" => KeyType::Rsa4096,
            "RSA8192" | "8192" => KeyType::Rsa8192,
            _ => return None,
        })
    }
}

/// How domains are validated. Traefik lets one resolver hold several; the order of preference
/// here is DNS-01 (the only one that can validate wildcards), HTTP-01, then TLS-ALPN-01.
#[derive(Debug, Clone, Default)]
pub struct Challenges {
    pub http: Option<HttpChallenge>,
    pub tls: Option<TlsChallenge>,
    pub dns: Option<DnsChallenge>,
}

#[derive(Debug, Clone)]
pub struct HttpChallenge {
    pub entry_point: String,
    pub delay: Duration,
}

#[derive(Debug, Clone)]
pub struct TlsChallenge {
    pub delay: Duration,
}

#[derive(Debug, Clone)]
pub struct DnsChallenge {
    pub provider: String,
    /// `host:port` of recursive resolvers used for propagation checks (empty: the system's).
    pub resolvers: Vec<String>,
    pub delay_before_checks: Duration,
    pub disable_checks: bool,
    pub disable_ans_checks: bool,
    pub require_all_rns: bool,
}

/// A resolver's validated settings.
#[derive(Debug, Clone)]
pub struct ResolverSettings {
    pub name: String,
    pub email: String,
    pub ca_server: String,
    pub storage: String,
    pub key_type: KeyType,
    /// `eab.kid` and the decoded `eab.hmacEncoded`.
    pub eab: Option<(String, Vec<u8>)>,
    pub certificates_duration: Duration,
    pub preferred_chain: Option<String>,
    pub profile: Option<String>,
    pub disable_common_name: bool,
    pub ca_certificates: Vec<String>,
    pub ca_system_cert_pool: bool,
    pub ca_server_name: Option<String>,
    pub client_timeout: Duration,
    pub client_response_header_timeout: Duration,
    pub certificate_timeout: Duration,
    pub challenges: Challenges,
}

fn duration(
    resolver: &str,
    option: &str,
    v: Option<switchyard_model::Duration>,
    default: Duration,
) -> Result<Duration, String> {
    match v {
        None => Ok(default),
        Some(d) => d.as_std().ok_or_else(|| {
            format!("certificatesResolvers.{resolver}.acme.{option}: must not be negative")
        }),
    }
}

impl ResolverSettings {
    /// Validates one resolver. Entry point names are checked against the static configuration.
    pub fn new(name: &str, acme: &Acme, cfg: &StaticConfig) -> Result<ResolverSettings, String> {
        let at = |option: &str| format!("certificatesResolvers.{name}.acme.{option}");
        let key_type = match acme.key_type.as_deref().filter(|k| !k.is_empty()) {
            None => KeyType::Rsa4096,
            Some(k) => KeyType::parse(k).ok_or_else(|| {
                format!(
                    "{}: unknown key type {k:?} (expected EC256, EC384, RSA2048, RSA4096 or RSA8192)",
                    at("keyType")
                )
            })?,
        };
        let eab = match &acme.eab {
            None => None,
            Some(eab) => {
                let kid = eab.kid.clone().unwrap_or_default();
                let hmac = eab.hmac_encoded.clone().unwrap_or_default();
                if kid.is_empty() || hmac.is_empty() {
                    return Err(format!(
                        "{}: both kid and hmacEncoded are required",
                        at("eab")
                    ));
                }
                Some((
                    kid,
                    decode_hmac(&hmac).ok_or_else(|| {
                        format!("{}: not base64url-encoded", at("eab.hmacEncoded"))
                    })?,
                ))
            }
        };
        let hours = acme.certificates_duration.unwrap_or(2160);
        if hours <= 0 {
            return Err(format!(
                "{}: must be a positive number of hours",
                at("certificatesDuration")
            ));
        }
        let mut challenges = Challenges::default();
        if let Some(h) = &acme.http_challenge {
            let ep = h.entry_point.clone().unwrap_or_default();
            if ep.is_empty() {
                return Err(format!(
                    "{}: an entry point is required",
                    at("httpChallenge.entryPoint")
                ));
            }
            if !cfg.entry_points.contains_key(&ep) {
                return Err(format!(
                    "{}: entry point {ep:?} doesn't exist",
                    at("httpChallenge.entryPoint")
                ));
            }
            challenges.http = Some(HttpChallenge {
                entry_point: ep,
                delay: duration(name, "httpChallenge.delay", h.delay, Duration::ZERO)?,
            });
        }
        if let Some(t) = &acme.tls_challenge {
            challenges.tls = Some(TlsChallenge {
                delay: duration(name, "tlsChallenge.delay", t.delay, Duration::ZERO)?,
            });
        }
        if let Some(d) = &acme.dns_challenge {
            let provider = d.provider.clone().unwrap_or_default();
            if provider.is_empty() {
                return Err(format!(
                    "{}: a DNS provider is required",
                    at("dnsChallenge.provider")
                ));
            }
            let p = d.propagation.clone().unwrap_or_default();
            challenges.dns = Some(DnsChallenge {
                provider,
                resolvers: d.resolvers.iter().map(|r| with_port(r, 53)).collect(),
                delay_before_checks: duration(
                    name,
                    "dnsChallenge.propagation.delayBeforeChecks",
                    p.delay_before_checks.or(d.delay_before_check),
                    Duration::ZERO,
                )?,
                disable_checks: p
                    .disable_checks
                    .or(d.disable_propagation_check)
                    .unwrap_or(false),
                disable_ans_checks: p.disable_ans_checks.unwrap_or(false),
                require_all_rns: p.require_all_rns.unwrap_or(false),
            });
        }
        if challenges.http.is_none() && challenges.tls.is_none() && challenges.dns.is_none() {
            return Err(format!(
                "certificatesResolvers.{name}.acme: no challenge configured (httpChallenge, tlsChallenge or dnsChallenge)"
            ));
        }
        let ca_server = acme
            .ca_server
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| LETS_ENCRYPT.to_owned());
        if !ca_server.starts_with("https://") && !ca_server.starts_with("http://") {
            return Err(format!(
                "{}: {ca_server:?} is not an http(s) URL",
                at("caServer")
            ));
        }
        Ok(ResolverSettings {
            name: name.to_owned(),
            email: acme.email.clone().unwrap_or_default(),
            ca_server,
            storage: acme
                .storage
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "acme.json".to_owned()),
            key_type,
            eab,
            certificates_duration: Duration::from_secs(u64::try_from(hours).unwrap_or(2160) * 3600),
            preferred_chain: acme.preferred_chain.clone().filter(|s| !s.is_empty()),
            profile: acme.profile.clone().filter(|s| !s.is_empty()),
            disable_common_name: acme.disable_common_name.unwrap_or(false),
            ca_certificates: acme.ca_certificates.clone(),
            ca_system_cert_pool: acme.ca_system_cert_pool.unwrap_or(false),
            ca_server_name: acme.ca_server_name.clone().filter(|s| !s.is_empty()),
            client_timeout: duration(
                name,
                "clientTimeout",
                acme.client_timeout,
                Duration::from_secs(120),
            )?,
            client_response_header_timeout: duration(
                name,
                "clientResponseHeaderTimeout",
                acme.client_response_header_timeout,
                Duration::from_secs(30),
            )?,
            certificate_timeout: duration(
                name,
                "certificateTimeout",
                acme.certificate_timeout,
                Duration::from_secs(30),
            )?,
            challenges,
        })
    }

    /// Traefik's check interval for renewals, derived from `certificatesDuration` (a 90-day
    /// certificate is looked at daily). Renewal itself is timed from each certificate's validity.
    pub fn check_interval(&self) -> Duration {
        let hours = self.certificates_duration.as_secs() / 3600;
        Duration::from_secs(match hours {
            h if h >= 365 * 24 => 7 * 24 * 3600,
            h if h >= 90 * 24 => 24 * 3600,
            h if h >= 7 * 24 => 3600,
            h if h >= 24 => 600,
            _ => 60,
        })
    }
}

/// `hmacEncoded` is base64url (unpadded, as CAs hand it out); padded and standard alphabets are
/// accepted too.
fn decode_hmac(v: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
    use base64::Engine as _;
    let v = v.trim();
    URL_SAFE_NO_PAD
        .decode(v)
        .or_else(|_| URL_SAFE.decode(v))
        .or_else(|_| STANDARD.decode(v))
        .ok()
}

/// `host` or `host:port` (IPv6 in brackets) with a default port.
pub fn with_port(addr: &str, port: u16) -> String {
    let addr = addr.trim();
    if addr.parse::<std::net::SocketAddr>().is_ok() {
        return addr.to_owned();
    }
    if addr.parse::<std::net::Ipv6Addr>().is_ok() {
        return format!("[{addr}]:{port}");
    }
    match addr.rsplit_once(':') {
        Some((_, p)) if p.parse::<u16>().is_ok() && !addr.ends_with(']') => addr.to_owned(),
        _ => format!("{addr}:{port}"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use switchyard_model::config::static_cfg::{EntryPoint, HttpChallenge as H};

    fn cfg() -> StaticConfig {
        let mut c = StaticConfig::default();
        c.entry_points.insert("web".into(), EntryPoint::default());
        c
    }

    #[test]
    fn defaults_are_traefiks() {
        let acme = Acme {
            tls_challenge: Some(Default::default()),
            ..Acme::default()
        };
        let s = ResolverSettings::new("le", &acme, &cfg()).unwrap();
        assert_eq!(s.ca_server, LETS_ENCRYPT);
        assert_eq!(s.storage, "acme.json");
        assert_eq!(s.key_type, KeyType::Rsa4096);
        assert_eq!(s.certificates_duration, Duration::from_secs(2160 * 3600));
        assert_eq!(s.check_interval(), Duration::from_secs(24 * 3600));
        assert_eq!(s.certificate_timeout, Duration::from_secs(30));
    }

    #[test]
    fn errors_name_resolver_and_option() {
        let bad = |acme: Acme| ResolverSettings::new("le", &acme, &cfg()).unwrap_err();
        let e = bad(Acme::default());
        assert!(
            e.contains("certificatesResolvers.le.acme") && e.contains("no challenge"),
            "{e}"
        );
        let e = bad(Acme {
            key_type: Some("EC521".into()),
            tls_challenge: Some(Default::default()),
            ..Acme::default()
        });
        assert!(e.contains("certificatesResolvers.le.acme.keyType"), "{e}");
        let e = bad(Acme {
            http_challenge: Some(H {
                entry_point: Some("nope".into()),
                delay: None,
            }),
            ..Acme::default()
        });
        assert!(
            e.contains("httpChallenge.entryPoint") && e.contains("nope"),
            "{e}"
        );
        let e = bad(Acme {
            eab: Some(switchyard_model::config::static_cfg::Eab {
                kid: Some("k".into()),
                hmac_encoded: None,
            }),
            tls_challenge: Some(Default::default()),
            ..Acme::default()
        });
        assert!(e.contains("acme.eab"), "{e}");
    }

    #[test]
    fn key_types_and_ports() {
        assert_eq!(KeyType::parse("ec384"), Some(KeyType::Ec384));
        assert_eq!(KeyType::parse("RSA8192"), Some(KeyType::Rsa8192));
        assert_eq!(with_port("1.1.1.1", 53), "1.1.1.1:53");
        assert_eq!(with_port("ns.example:5353", 53), "ns.example:5353");
        assert_eq!(with_port("::1", 53), "[::1]:53");
        assert_eq!(with_port("[::1]:54", 53), "[::1]:54");
        assert_eq!(decode_hmac("YWJj"), Some(b"abc".to_vec()));
    }
}

//! The DNS providers themselves (`exec`, `httpreq`, `rfc2136`), configured from the environment
//! as lego documents them. Errors name the provider and the variable or command at fault.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};

use super::wire::{self, TsigKey, TxtUpdate};
use super::{env, env_secs, Timing, TxtRecord};

/// A configured DNS provider.
#[derive(Debug, Clone)]
pub enum DnsProvider {
    Exec {
        path: String,
        raw: bool,
        timing: Timing,
    },
    HttpReq {
        endpoint: String,
        raw: bool,
        basic_auth: Option<String>,
        http_timeout: Duration,
        timing: Timing,
    },
    Rfc2136 {
        nameserver: SocketAddr,
        key: Option<TsigKey>,
        ttl: u32,
        dns_timeout: Duration,
        timing: Timing,
    },
}

impl DnsProvider {
    /// The provider `name`, configured from the environment.
    pub fn from_env(name: &str) -> Result<DnsProvider, String> {
        let timing = |prefix: &str, timeout: u64| -> Result<Timing, String> {
            Ok(Timing {
                propagation_timeout: env_secs(&format!("{prefix}_PROPAGATION_TIMEOUT"), timeout)?,
                polling_interval: env_secs(&format!("{prefix}_POLLING_INTERVAL"), 2)?,
            })
        };
        let raw = |var: &str| env(var).is_some_and(|m| m.eq_ignore_ascii_case("RAW"));
        match name {
            "exec" => Ok(DnsProvider::Exec {
                path: env("EXEC_PATH").ok_or("exec: EXEC_PATH is not set")?,
                raw: raw("EXEC_MODE"),
                timing: timing("EXEC", 60)?,
            }),
            "httpreq" => {
                let endpoint =
                    env("HTTPREQ_ENDPOINT").ok_or("httpreq: HTTPREQ_ENDPOINT is not set")?;
                endpoint
                    .parse::<http::Uri>()
                    .ok()
                    .filter(|u| u.scheme().is_some() && u.authority().is_some())
                    .ok_or_else(|| {
                        format!("httpreq: HTTPREQ_ENDPOINT {endpoint:?} is not a URL")
                    })?;
                let basic_auth = match (env("HTTPREQ_USERNAME"), env("HTTPREQ_PASSWORD")) {
                    (Some(u), Some(p)) => Some(format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
                    )),
                    _ => None,
                };
                Ok(DnsProvider::HttpReq {
                    endpoint: endpoint.trim_end_matches('/').to_owned(),
                    raw: raw("HTTPREQ_MODE"),
                    basic_auth,
                    http_timeout: env_secs("HTTPREQ_HTTP_TIMEOUT", 30)?,
                    timing: timing("HTTPREQ", 60)?,
                })
            }
            "rfc2136" => {
                let ns =
                    env("RFC2136_NAMESERVER").ok_or("rfc2136: RFC2136_NAMESERVER is not set")?;
                let addr = crate::acme::settings::with_port(&ns, 53);
                let nameserver = resolve(&addr).ok_or_else(|| {
                    format!("rfc2136: RFC2136_NAMESERVER {ns:?} cannot be resolved")
                })?;
                let key = tsig_from_env()?;
                let ttl = match env("RFC2136_TTL") {
                    None => 120,
                    Some(v) => v.parse().map_err(|_| {
                        format!("rfc2136: RFC2136_TTL: expected seconds, got {v:?}")
                    })?,
                };
                Ok(DnsProvider::Rfc2136 {
                    nameserver,
                    key,
                    ttl,
                    dns_timeout: env_secs("RFC2136_DNS_TIMEOUT", 10)?,
                    timing: timing("RFC2136", 60)?,
                })
            }
            other => Err(format!(
                "DNS provider {other:?} is not supported (supported: exec, httpreq, rfc2136)"
            )),
        }
    }

    pub fn timing(&self) -> Timing {
        match self {
            DnsProvider::Exec { timing, .. }
            | DnsProvider::HttpReq { timing, .. }
            | DnsProvider::Rfc2136 { timing, .. } => *timing,
        }
    }

    /// Publishes the record.
    pub async fn present(&self, rec: &TxtRecord) -> Result<(), String> {
        self.act(rec, true).await
    }

    /// Removes the record.
    pub async fn cleanup(&self, rec: &TxtRecord) -> Result<(), String> {
        self.act(rec, false).await
    }

    async fn act(&self, rec: &TxtRecord, present: bool) -> Result<(), String> {
        let verb = if present { "present" } else { "cleanup" };
        match self {
            DnsProvider::Exec { path, raw, timing } => {
                let args: Vec<&str> = if *raw {
                    vec![verb, &rec.domain, &rec.token, &rec.key_authorization]
                } else {
                    vec![verb, &rec.fqdn, &rec.value]
                };
                let run = tokio::process::Command::new(path)
                    .args(&args)
                    .kill_on_drop(true)
                    .output();
                let out = tokio::time::timeout(timing.propagation_timeout, run)
                    .await
                    .map_err(|_| format!("exec: {path} {verb} did not finish in time"))?
                    .map_err(|e| format!("exec: cannot run {path}: {e}"))?;
                if !out.status.success() {
                    return Err(format!(
                        "exec: {path} {verb} {} failed ({}): {}",
                        rec.fqdn,
                        out.status,
                        String::from_utf8_lossy(&out.stderr).trim()
                    ));
                }
                Ok(())
            }
            DnsProvider::HttpReq {
                endpoint,
                raw,
                basic_auth,
                http_timeout,
                ..
            } => {
                let body = if *raw {
                    serde_json::json!({"domain": rec.domain, "token": rec.token, "keyAuth": rec.key_authorization})
                } else {
                    serde_json::json!({"fqdn": rec.fqdn, "value": rec.value})
                };
                let url = format!("{endpoint}/{verb}");
                post_json(&url, &body, basic_auth.as_deref(), *http_timeout)
                    .await
                    .map_err(|e| format!("httpreq: POST {url}: {e}"))
            }
            DnsProvider::Rfc2136 {
                nameserver,
                key,
                ttl,
                dns_timeout,
                ..
            } => {
                let zone = super::propagation::find_zone(&[*nameserver], &rec.fqdn, *dns_timeout)
                    .await
                    .map_err(|e| format!("rfc2136: cannot find the zone of {}: {e}", rec.fqdn))?;
                let update = TxtUpdate {
                    zone: &zone,
                    fqdn: &rec.fqdn,
                    value: &rec.value,
                    ttl: *ttl,
                    add: present,
                };
                wire::send_update(*nameserver, &update, key.as_ref(), *dns_timeout)
                    .await
                    .map_err(|e| format!("rfc2136: {e}"))
            }
        }
    }
}

fn resolve(addr: &str) -> Option<SocketAddr> {
    use std::net::ToSocketAddrs;
    addr.to_socket_addrs().ok()?.next()
}

/// The TSIG key from `RFC2136_TSIG_KEY`/`_SECRET`/`_ALGORITHM`, or from a BIND key file
/// (`RFC2136_TSIG_FILE`, as `tsig-keygen` writes it). No key: updates go unsigned.
fn tsig_from_env() -> Result<Option<TsigKey>, String> {
    let (mut name, mut secret, mut algorithm) = (
        env("RFC2136_TSIG_KEY"),
        env("RFC2136_TSIG_SECRET"),
        env("RFC2136_TSIG_ALGORITHM"),
    );
    if let Ok(file) = std::env::var("RFC2136_TSIG_FILE") {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("rfc2136: RFC2136_TSIG_FILE {file}: {e}"))?;
        let (n, a, s) = parse_bind_key(&text)
            .ok_or_else(|| format!("rfc2136: RFC2136_TSIG_FILE {file}: not a BIND key file"))?;
        name = Some(n);
        algorithm = Some(a);
        secret = Some(s);
    }
    let (Some(name), Some(secret)) = (name, secret) else {
        return Ok(None);
    };
    let alg_text = algorithm.unwrap_or_else(|| "hmac-sha1.".to_owned());
    let algorithm = TsigKey::canonical_algorithm(&alg_text)
        .ok_or_else(|| format!("rfc2136: RFC2136_TSIG_ALGORITHM {alg_text:?} is not supported"))?;
    let secret = base64::engine::general_purpose::STANDARD
        .decode(secret.trim())
        .map_err(|_| "rfc2136: RFC2136_TSIG_SECRET is not base64".to_owned())?;
    Ok(Some(TsigKey {
        name: if name.ends_with('.') {
            name
        } else {
            format!("{name}.")
        },
        algorithm: algorithm.to_owned(),
        secret,
    }))
}

/// `key "name" { algorithm hmac-sha256; secret "base64"; };`
fn parse_bind_key(text: &str) -> Option<(String, String, String)> {
    let after = text.split_once("key")?.1.trim_start();
    let name = after.strip_prefix('"')?.split_once('"')?.0.to_owned();
    let field = |k: &str| {
        let rest = text.split_once(k)?.1;
        let v = rest.split_once(';')?.0.trim().trim_matches('"').to_owned();
        Some(v)
    };
    Some((name, field("algorithm")?, field("secret")?))
}

fn native_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    roots
}

/// POSTs JSON over http or https; a non-2xx answer is an error with the body's start.
async fn post_json(
    url: &str,
    body: &serde_json::Value,
    auth: Option<&str>,
    timeout: Duration,
) -> Result<(), String> {
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(native_roots())
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, Full<Bytes>>(connector);
    let mut req = http::Request::post(url).header("content-type", "application/json");
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let req = req
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| e.to_string())?;
    let fut = async {
        let rsp = client.request(req).await.map_err(|e| e.to_string())?;
        let status = rsp.status();
        let text = rsp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if !status.is_success() {
            let snippet: String = String::from_utf8_lossy(&text).chars().take(200).collect();
            return Err(format!("{status}: {snippet}"));
        }
        Ok(())
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| format!("no answer within {timeout:?}"))?
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bind_key_files() {
        let text = "key \"acme-key\" {\n\talgorithm hmac-sha256;\n\tsecret \"c2VjcmV0\";\n};\n";
        assert_eq!(
            parse_bind_key(text),
            Some(("acme-key".into(), "hmac-sha256".into(), "c2VjcmV0".into()))
        );
        assert_eq!(parse_bind_key("garbage"), None);
    }

    #[test]
    fn unknown_provider_is_named() {
        let e = DnsProvider::from_env("route53").unwrap_err();
        assert!(e.contains("route53") && e.contains("exec"), "{e}");
    }
}

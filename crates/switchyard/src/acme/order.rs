//! One certificate order, start to finish: create the order, answer each authorization with the
//! resolver's preferred challenge (DNS-01, else HTTP-01, else TLS-ALPN-01; wildcards need DNS-01),
//! wait for validation, then send a CSR for a fresh key of the configured `keyType` and download
//! the chain. Challenge answers are always withdrawn afterwards, whatever the outcome.

use std::time::Duration;

use instant_acme::{
    Account, AuthorizationStatus, CertificateIdentifier, ChallengeType, Identifier, NewOrder,
    OrderStatus, RetryPolicy,
};

use super::challenge::Challenges;
use super::dns::{self, DnsProvider, TxtRecord};
use super::settings::{KeyType, ResolverSettings};

/// Why an order failed; rate limiting is told apart so the retry waits longer.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum OrderError {
    #[error("{0}")]
    Failed(String),
    #[error("rate limited by the CA: {0}")]
    RateLimited(String),
}

impl From<String> for OrderError {
    fn from(s: String) -> Self {
        OrderError::Failed(s)
    }
}

fn acme_err(what: &str, e: instant_acme::Error) -> OrderError {
    if let instant_acme::Error::Api(p) = &e {
        if p.r#type.as_deref() == Some("urn:ietf:params:acme:error:rateLimited") {
            return OrderError::RateLimited(format!("{what}: {e}"));
        }
    }
    OrderError::Failed(format!("{what}: {e}"))
}

/// A certificate chain and its private key, PEM.
#[derive(Debug, Clone)]
pub(crate) struct Issued {
    pub(crate) chain_pem: String,
    pub(crate) key_pem: String,
}

/// What an order needs from its resolver.
pub(crate) struct OrderContext<'a> {
    pub settings: &'a ResolverSettings,
    pub account: &'a Account,
    pub challenges: &'a Challenges,
    pub dns: Option<&'a DnsProvider>,
}

/// A challenge answer to withdraw.
enum Cleanup {
    Http(String),
    Tls(String),
    Dns(TxtRecord),
}

/// Orders a certificate for `names` (the first is the common name unless `disableCommonName`).
pub(crate) async fn obtain(
    ctx: &OrderContext<'_>,
    names: &[String],
    replaces: Option<CertificateIdentifier<'static>>,
) -> Result<Issued, OrderError> {
    let mut cleanups = Vec::new();
    let result = run(ctx, names, replaces, &mut cleanups).await;
    for c in cleanups {
        match c {
            Cleanup::Http(token) => ctx.challenges.remove_http(&token),
            Cleanup::Tls(domain) => ctx.challenges.remove_tls(&domain),
            Cleanup::Dns(rec) => {
                if let Some(p) = ctx.dns {
                    if let Err(e) = p.cleanup(&rec).await {
                        tracing::warn!(resolver = %ctx.settings.name, record = %rec.fqdn, error = %e, "cannot remove the DNS-01 record");
                    }
                }
            }
        }
    }
    result
}

fn identifier(name: &str) -> Identifier {
    match name.parse::<std::net::IpAddr>() {
        Ok(ip) => Identifier::Ip(ip),
        Err(_) => Identifier::Dns(name.to_owned()),
    }
}

async fn run(
    ctx: &OrderContext<'_>,
    names: &[String],
    replaces: Option<CertificateIdentifier<'static>>,
    cleanups: &mut Vec<Cleanup>,
) -> Result<Issued, OrderError> {
    let s = ctx.settings;
    let ids: Vec<Identifier> = names.iter().map(|n| identifier(n)).collect();
    let mut new_order = NewOrder::new(&ids);
    if let Some(p) = &s.profile {
        new_order = new_order.profile(p);
    }
    if let Some(r) = replaces {
        new_order = new_order.replaces(r);
    }
    let mut order = ctx
        .account
        .new_order(&new_order)
        .await
        .map_err(|e| acme_err("cannot create the order", e))?;

    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz = authz.map_err(|e| acme_err("cannot fetch an authorization", e))?;
        match authz.status {
            AuthorizationStatus::Valid => continue,
            AuthorizationStatus::Pending => {}
            other => {
                return Err(OrderError::Failed(format!(
                    "authorization for {} is {other:?}",
                    authz.identifier()
                )))
            }
        }
        let domain = authz.identifier().to_string();
        let wildcard = authz.wildcard;
        let offered: Vec<ChallengeType> =
            authz.challenges.iter().map(|c| c.r#type.clone()).collect();
        let kind = choose(s, wildcard, &offered).ok_or_else(|| {
            OrderError::Failed(if wildcard && s.challenges.dns.is_none() {
                format!("{domain}: a wildcard certificate needs dnsChallenge")
            } else {
                format!("{domain}: the CA offers none of the configured challenges ({offered:?})")
            })
        })?;
        let mut challenge = authz
            .challenge(kind.clone())
            .ok_or_else(|| OrderError::Failed(format!("{domain}: challenge vanished")))?;
        let key_auth = challenge.key_authorization();
        let bare = domain.trim_start_matches("*.").to_owned();
        let delay = match kind {
            ChallengeType::Http01 => {
                ctx.challenges.add_http(&challenge.token, key_auth.as_str());
                cleanups.push(Cleanup::Http(challenge.token.clone()));
                s.challenges.http.as_ref().map(|h| h.delay)
            }
            ChallengeType::TlsAlpn01 => {
                ctx.challenges
                    .add_tls(&bare, key_auth.digest().as_ref())
                    .map_err(|e| {
                        format!("{domain}: cannot build the TLS-ALPN-01 certificate: {e}")
                    })?;
                cleanups.push(Cleanup::Tls(bare.clone()));
                s.challenges.tls.as_ref().map(|t| t.delay)
            }
            _ => {
                let (Some(provider), Some(cfg)) = (ctx.dns, s.challenges.dns.as_ref()) else {
                    return Err(OrderError::Failed(format!("{domain}: no DNS provider")));
                };
                let rec = TxtRecord::new(
                    &bare,
                    &challenge.token,
                    key_auth.as_str(),
                    &key_auth.dns_value(),
                );
                provider
                    .present(&rec)
                    .await
                    .map_err(|e| format!("{domain}: cannot publish the DNS-01 record: {e}"))?;
                cleanups.push(Cleanup::Dns(rec.clone()));
                dns::wait_for_txt(cfg, provider.timing(), &rec)
                    .await
                    .map_err(|e| format!("{domain}: {e}"))?;
                None
            }
        };
        if let Some(d) = delay.filter(|d| !d.is_zero()) {
            tokio::time::sleep(d).await;
        }
        challenge
            .set_ready()
            .await
            .map_err(|e| acme_err(&format!("{domain}: the CA refused the challenge"), e))?;
    }

    let validation = RetryPolicy::new()
        .initial_delay(Duration::from_millis(250))
        .backoff(1.5)
        .timeout(Duration::from_secs(90));
    let status = order
        .poll_ready(&validation)
        .await
        .map_err(|e| acme_err("validation did not complete", e))?;
    if status != OrderStatus::Ready {
        return Err(OrderError::Failed(invalid_reason(&mut order).await));
    }

    let (csr, key_pem) = csr(s, names).await?;
    order
        .finalize_csr(&csr)
        .await
        .map_err(|e| acme_err("the CA refused the certificate request", e))?;
    let chain_pem = order
        .poll_certificate(
            &RetryPolicy::new().timeout(s.certificate_timeout.max(Duration::from_secs(1))),
        )
        .await
        .map_err(|e| acme_err("no certificate within certificateTimeout", e))?;
    Ok(Issued { chain_pem, key_pem })
}

/// DNS-01 if configured, then HTTP-01, then TLS-ALPN-01, among those the CA offers.
fn choose(
    s: &ResolverSettings,
    wildcard: bool,
    offered: &[ChallengeType],
) -> Option<ChallengeType> {
    let c = &s.challenges;
    let prefs = [
        (c.dns.is_some(), ChallengeType::Dns01),
        (c.http.is_some() && !wildcard, ChallengeType::Http01),
        (c.tls.is_some() && !wildcard, ChallengeType::TlsAlpn01),
    ];
    prefs
        .into_iter()
        .find(|(on, t)| *on && offered.contains(t))
        .map(|(_, t)| t)
}

/// The CA's reason an order became invalid: the first failed challenge's error.
async fn invalid_reason(order: &mut instant_acme::Order) -> String {
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut authz)) = authorizations.next().await {
        if authz.refresh().await.is_err() {
            continue;
        }
        let domain = authz.identifier().to_string();
        for c in &authz.challenges {
            if let Some(err) = &c.error {
                return format!("{domain}: {:?} challenge failed: {err}", c.r#type);
            }
        }
    }
    "the order became invalid (the CA gave no reason)".to_owned()
}

/// A fresh key of the configured type and a CSR for `names`.
async fn csr(s: &ResolverSettings, names: &[String]) -> Result<(Vec<u8>, String), OrderError> {
    let key_type = s.key_type;
    let key = tokio::task::spawn_blocking(move || generate_key(key_type))
        .await
        .map_err(|e| format!("key generation failed: {e}"))??;
    let mut params = rcgen::CertificateParams::new(names.to_vec())
        .map_err(|e| format!("cannot build the certificate request: {e}"))?;
    let mut dn = rcgen::DistinguishedName::new();
    if let Some(first) = names
        .first()
        .filter(|n| !s.disable_common_name && n.len() <= 64)
    {
        dn.push(rcgen::DnType::CommonName, first.as_str());
    }
    params.distinguished_name = dn;
    let req = params
        .serialize_request(&key)
        .map_err(|e| format!("cannot sign the certificate request: {e}"))?;
    Ok((req.der().to_vec(), key.serialize_pem()))
}

/// Generates a private key of `key_type` (RSA through aws-lc-rs).
pub(crate) fn generate_key(key_type: KeyType) -> Result<rcgen::KeyPair, String> {
    use rcgen::{
        KeyPair, RsaKeySize, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_RSA_SHA256,
    };
    let fail = |e: rcgen::Error| format!("cannot generate a {key_type:?} key: {e}");
    match key_type {
        KeyType::Ec256 => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(fail),
        KeyType::Ec384 => KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).map_err(fail),
        KeyType::Rsa2048 => {
            KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048).map_err(fail)
        }
        KeyType::Rsa4096 => {
            KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_4096).map_err(fail)
        }
        KeyType::Rsa8192 => {
            use aws_lc_rs::encoding::AsDer;
            let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa8192)
                .map_err(|_| "cannot generate an RSA8192 key".to_owned())?;
            let der = rsa
                .as_der()
                .map_err(|_| "cannot encode an RSA8192 key".to_owned())?;
            let pkcs8 = rustls::pki_types::PrivatePkcs8KeyDer::from(der.as_ref().to_vec());
            KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &PKCS_RSA_SHA256).map_err(fail)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keys_of_every_type_sign_a_csr() {
        for kt in [KeyType::Ec256, KeyType::Ec384, KeyType::Rsa2048] {
            let key = generate_key(kt).unwrap();
            let params = rcgen::CertificateParams::new(vec!["a.test".to_owned()]).unwrap();
            params.serialize_request(&key).unwrap();
            assert!(key
                .serialize_pem()
                .starts_with("-----BEGIN PRIVATE KEY-----"));
        }
    }

    #[test]
    fn rate_limits_are_told_apart() {
        let p: instant_acme::Problem = serde_json::from_str(
            r#"{"type":"urn:ietf:params:acme:error:rateLimited","detail":"too many","status":429}"#,
        )
        .unwrap();
        assert!(matches!(
            acme_err("x", instant_acme::Error::Api(p)),
            OrderError::RateLimited(_)
        ));
    }
}

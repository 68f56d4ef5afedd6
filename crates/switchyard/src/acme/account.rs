//! The ACME client side of a resolver: the HTTP client that talks to the CA (trusting
//! `caCertificates`, checking the name `caServerName`, bounded by `clientResponseHeaderTimeout`
//! and `clientTimeout`), and the account — restored from storage when its key can be used,
//! registered (with `email` and `eab`) otherwise.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::BodyExt;
use instant_acme::{
    Account, BodyWrapper, BytesResponse, ExternalAccountKey, HttpClient, NewAccount,
};
use rustls::pki_types::PrivatePkcs8KeyDer;

use super::settings::ResolverSettings;
use super::storage::{Registration, StoredAccount};
use crate::http::upstream::load_certs;

type Client = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    BodyWrapper<Bytes>,
>;

/// The HTTP client used for the CA, with Traefik's timeouts.
pub(crate) struct CaClient {
    client: Client,
    header_timeout: Duration,
    total_timeout: Duration,
}

impl CaClient {
    pub(crate) fn new(s: &ResolverSettings) -> Result<CaClient, String> {
        let at = |o: &str| format!("certificatesResolvers.{}.acme.{o}", s.name);
        let mut roots = rustls::RootCertStore::empty();
        if s.ca_certificates.is_empty() || s.ca_system_cert_pool {
            let native = rustls_native_certs::load_native_certs();
            for cert in native.certs {
                let _ = roots.add(cert);
            }
        }
        for ca in &s.ca_certificates {
            let certs = load_certs(ca).map_err(|e| format!("{}: {e}", at("caCertificates")))?;
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| format!("{}: {ca}: {e}", at("caCertificates")))?;
            }
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        if let Some(name) = &s.ca_server_name {
            let name = rustls::pki_types::ServerName::try_from(name.clone())
                .map_err(|e| format!("{}: {name:?}: {e}", at("caServerName")))?;
            builder =
                builder.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name));
        }
        let connector = builder.enable_http1().enable_http2().build();
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(connector);
        Ok(CaClient {
            client,
            header_timeout: s.client_response_header_timeout,
            total_timeout: s.client_timeout,
        })
    }
}

impl HttpClient for CaClient {
    fn request(
        &self,
        req: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let fut = self.client.request(req);
        let (header_timeout, total_timeout) = (self.header_timeout, self.total_timeout);
        Box::pin(async move {
            let whole = async move {
                let rsp = tokio::time::timeout(header_timeout, fut)
                    .await
                    .map_err(|_| {
                        other("no response headers from the CA within clientResponseHeaderTimeout")
                    })?
                    .map_err(|e| instant_acme::Error::Other(Box::new(e)))?;
                let (parts, body) = rsp.into_parts();
                let body = body
                    .collect()
                    .await
                    .map_err(|e| instant_acme::Error::Other(Box::new(e)))?
                    .to_bytes();
                Ok(BytesResponse {
                    parts,
                    body: Box::new(body),
                })
            };
            tokio::time::timeout(total_timeout, whole)
                .await
                .map_err(|_| other("the CA did not answer within clientTimeout"))?
        })
    }
}

fn other(msg: &'static str) -> instant_acme::Error {
    instant_acme::Error::Str(msg)
}

/// Whether a stored account can be used with this resolver: same CA, same email, and a key
/// instant-acme can sign with (P-256 PKCS#8; Traefik's RSA account keys cannot be reused).
fn usable(stored: &StoredAccount, s: &ResolverSettings) -> Option<(String, Vec<u8>)> {
    let reg = stored.registration.as_ref()?;
    if reg.uri.is_empty() || stored.email != s.email || !same_origin(&reg.uri, &s.ca_server) {
        return None;
    }
    let der = STANDARD.decode(stored.private_key.trim()).ok()?;
    instant_acme::Key::from_pkcs8_der(PrivatePkcs8KeyDer::from(der.as_slice())).ok()?;
    Some((reg.uri.clone(), der))
}

fn same_origin(a: &str, b: &str) -> bool {
    let origin = |u: &str| {
        u.parse::<http::Uri>()
            .ok()
            .and_then(|u| Some((u.scheme_str()?.to_owned(), u.authority()?.to_string())))
    };
    origin(a).is_some() && origin(a) == origin(b)
}

/// Restores the stored account or registers a new one. The second value is the account to store
/// when it changed (a new registration).
pub(crate) async fn account(
    s: &ResolverSettings,
    stored: Option<&StoredAccount>,
) -> Result<(Account, Option<StoredAccount>), String> {
    let http = || CaClient::new(s).map(|c| Box::new(c) as Box<dyn HttpClient>);
    if let Some((uri, der)) = stored.and_then(|a| usable(a, s)) {
        let account = Account::builder_with_http(http()?)
            .from_parts(uri, PrivatePkcs8KeyDer::from(der), s.ca_server.clone())
            .await
            .map_err(|e| format!("cannot reach the ACME server {}: {e}", s.ca_server))?;
        return Ok((account, None));
    }
    if stored.is_some() {
        tracing::info!(resolver = %s.name, "the stored ACME account is for another CA or email, or its key type is not supported; registering a new account");
    }
    let contact = (!s.email.is_empty()).then(|| format!("mailto:{}", s.email));
    let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
    let eab = s
        .eab
        .as_ref()
        .map(|(kid, key)| ExternalAccountKey::new(kid.clone(), key));
    let (account, credentials) = Account::builder_with_http(http()?)
        .create(
            &NewAccount {
                contact: &contacts,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            s.ca_server.clone(),
            eab.as_ref(),
        )
        .await
        .map_err(|e| format!("cannot register an account with {}: {e}", s.ca_server))?;
    let stored = StoredAccount {
        email: s.email.clone(),
        registration: Some(Registration {
            body: serde_json::json!({"status": "valid", "contact": contacts}),
            uri: account.id().to_owned(),
        }),
        private_key: STANDARD.encode(credentials.private_key().secret_pkcs8_der()),
        key_type: Some("P256".to_owned()),
    };
    tracing::info!(resolver = %s.name, account = %account.id(), "registered a new ACME account");
    Ok((account, Some(stored)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert!(same_origin(
            "https://ca.test:14000/my-account/1",
            "https://ca.test:14000/dir"
        ));
        assert!(!same_origin(
            "https://ca.test:14000/my-account/1",
            "https://other.test/dir"
        ));
        assert!(!same_origin("garbage", "garbage"));
    }
}

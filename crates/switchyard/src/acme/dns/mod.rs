//! DNS-01: publishing `_acme-challenge.<domain>` TXT records through a DNS provider, and waiting
//! until they are visible before the CA is told to look.
//!
//! Providers follow lego's conventions (Traefik's `dnsChallenge.provider` names a lego provider
//! and takes its credentials from the environment), for the three that need no vendor API:
//!
//! - `exec`: runs `$EXEC_PATH present|cleanup <fqdn> <value>` (`EXEC_MODE=RAW`: `<domain> <token>
//!   <keyAuth>`).
//! - `httpreq`: POSTs `{"fqdn","value"}` (`HTTPREQ_MODE=RAW`: `{"domain","token","keyAuth"}`) to
//!   `$HTTPREQ_ENDPOINT/present` and `/cleanup`, with optional basic auth.
//! - `rfc2136`: a dynamic DNS update signed with TSIG, sent to `$RFC2136_NAMESERVER`.
//!
//! Every variable may instead be given as `<NAME>_FILE`, a file holding the value (lego's rule).

mod propagation;
mod providers;
pub mod wire;

use std::time::Duration;

pub use propagation::{system_resolvers, wait_for_txt};
pub use providers::DnsProvider;

/// One DNS-01 record to publish.
#[derive(Debug, Clone)]
pub struct TxtRecord {
    /// The domain being validated (without `*.`).
    pub domain: String,
    /// `_acme-challenge.<domain>.`
    pub fqdn: String,
    /// The TXT value: base64url(SHA-256(key authorization)).
    pub value: String,
    pub token: String,
    pub key_authorization: String,
}

impl TxtRecord {
    pub fn new(domain: &str, token: &str, key_authorization: &str, value: &str) -> Self {
        let domain = domain
            .trim_start_matches("*.")
            .trim_end_matches('.')
            .to_owned();
        TxtRecord {
            fqdn: format!("_acme-challenge.{domain}."),
            domain,
            value: value.to_owned(),
            token: token.to_owned(),
            key_authorization: key_authorization.to_owned(),
        }
    }
}

/// An environment variable, or the contents of the file named by `<NAME>_FILE`.
fn env(name: &str) -> Option<String> {
    if let Ok(v) = std::env::var(name) {
        if !v.is_empty() {
            return Some(v);
        }
    }
    let file = std::env::var(format!("{name}_FILE")).ok()?;
    std::fs::read_to_string(file)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// A number of seconds from the environment (lego's `*_PROPAGATION_TIMEOUT` and friends).
fn env_secs(name: &str, default: u64) -> Result<Duration, String> {
    match env(name) {
        None => Ok(Duration::from_secs(default)),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| format!("{name}: expected a number of seconds, got {v:?}")),
    }
}

/// How long to wait for propagation and how often to look, per provider.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub propagation_timeout: Duration,
    pub polling_interval: Duration,
}

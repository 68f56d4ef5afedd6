//! What a compilation found: every router, service and middleware with its status and errors.
//! Invalid objects are reported here instead of failing the whole configuration.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// Traefik's object statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Enabled,
    Warning,
    Disabled,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Enabled => "enabled",
            Status::Warning => "warning",
            Status::Disabled => "disabled",
        })
    }
}

/// A router as compiled.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouterReport {
    pub entry_points: Vec<String>,
    pub rule: String,
    pub priority: i64,
    pub service: String,
    pub middlewares: Vec<String>,
    pub provider: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub error: Vec<String>,
}

/// A service or middleware as compiled.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReport {
    pub kind: String,
    pub provider: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub error: Vec<String>,
}

/// Everything one compilation found, keyed by qualified name.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub routers: BTreeMap<String, RouterReport>,
    pub services: BTreeMap<String, ObjectReport>,
    pub middlewares: BTreeMap<String, ObjectReport>,
    /// TLS problems: skipped certificates, invalid options, conflicts.
    pub tls: Vec<String>,
    /// The certificates served by name (configured and ACME ones, each once; not the default),
    /// leaf first, for the API's `/api/certificates`.
    #[serde(skip)]
    pub certificates: Vec<rustls_pki_types::CertificateDer<'static>>,
}

impl Report {
    /// Every error, as `kind name: message` lines.
    pub fn errors(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, r) in &self.routers {
            out.extend(r.error.iter().map(|e| format!("router {name}: {e}")));
        }
        for (name, s) in &self.services {
            out.extend(s.error.iter().map(|e| format!("service {name}: {e}")));
        }
        for (name, m) in &self.middlewares {
            out.extend(m.error.iter().map(|e| format!("middleware {name}: {e}")));
        }
        out.extend(self.tls.iter().cloned());
        out
    }
}

//! PLACEHOLDER (being written): Prometheus metrics with Traefik's names (`traefik_*`).

use std::sync::Arc;

use switchyard_model::config::static_cfg::StaticConfig;

use super::record::Record;
use crate::http::service_state::ServiceState;

/// The Prometheus registry and its series.
#[derive(Debug)]
pub struct Metrics {}

/// Counts an open connection until dropped (`traefik_open_connections`).
#[derive(Debug)]
pub struct ConnectionGuard {}

impl Metrics {
    /// `None` when `metrics.prometheus` is not configured.
    pub fn from_static(
        cfg: &StaticConfig,
        _services: Arc<ServiceState>,
    ) -> Result<Option<Self>, String> {
        Ok(cfg
            .metrics
            .as_ref()
            .and_then(|m| m.prometheus.as_ref())
            .map(|_| Metrics {}))
    }

    /// Whether `Record::request_headers` is needed (`headerLabels`).
    pub fn wants_request_headers(&self) -> bool {
        false
    }

    /// One finished request.
    pub fn on_request(&self, _r: &Record) {}

    /// A connection was accepted on `entry_point` (`protocol`: `TCP`, `UDP`).
    pub fn open_connection(
        &self,
        _entry_point: &Arc<str>,
        _protocol: &'static str,
    ) -> ConnectionGuard {
        ConnectionGuard {}
    }

    /// A configuration reload was attempted.
    pub fn on_reload(&self, _success: bool) {}

    /// The certificates now served (`traefik_tls_certs_not_after`).
    pub fn on_certificates(&self, _tls: &crate::tls::TlsSnapshot) {}

    /// The exposition text for `/metrics`.
    pub fn render(&self) -> String {
        String::new()
    }
}

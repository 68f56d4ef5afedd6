//! PLACEHOLDER (being written): Traefik's access log (`accessLog`).

use switchyard_model::config::static_cfg::StaticConfig;

use super::record::Record;

/// The access log writer.
#[derive(Debug)]
pub struct AccessLog {}

impl AccessLog {
    /// `None` when `accessLog` is not configured. May run outside a tokio runtime.
    pub fn from_static(cfg: &StaticConfig) -> Result<Option<Self>, String> {
        Ok(cfg.access_log.as_ref().map(|_| AccessLog {}))
    }

    /// Whether `Record::request_headers` is needed.
    pub fn wants_request_headers(&self) -> bool {
        false
    }

    /// Whether `Record::response_headers` is needed.
    pub fn wants_response_headers(&self) -> bool {
        false
    }

    /// One finished request.
    pub fn log(&self, _r: &Record) {}

    /// SIGUSR1: reopen the file (logrotate).
    pub fn reopen(&self) {}

    /// Writes out buffered lines (shutdown).
    pub fn flush(&self) {}
}

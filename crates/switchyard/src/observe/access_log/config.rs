//! `accessLog` options, resolved once at startup into what the hot path reads.

use std::time::Duration;

use switchyard_model::config::static_cfg::AccessLog as AccessLogConfig;
use tracing::{error, warn};

use super::format::{FIELDS, FIELD_COUNT};
use crate::middleware::code_ranges::CodeRanges;

/// The line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    /// Traefik's extended CLF (`common`, the default).
    Common,
    /// Plain CLF (`genericCLF`): Traefik's without the last four fields.
    GenericClf,
    Json,
}

/// What happens to a header (`accessLog.fields.headers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HeaderMode {
    Keep,
    Drop,
    Redact,
}

/// Header modes: the default and per-header overrides (lowercase names).
#[derive(Debug, Clone)]
pub(super) struct HeaderModes {
    pub(super) default: HeaderMode,
    pub(super) names: Vec<(String, HeaderMode)>,
}

impl HeaderModes {
    /// The mode for the (lowercase) header `name`.
    pub(super) fn mode(&self, name: &str) -> HeaderMode {
        self.names
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or(self.default, |(_, m)| *m)
    }

    /// Whether any header can be logged.
    pub(super) fn any(&self) -> bool {
        self.default != HeaderMode::Drop || self.names.iter().any(|(_, m)| *m != HeaderMode::Drop)
    }
}

/// `accessLog.filters`: a line is kept when any configured filter matches.
#[derive(Debug, Clone)]
pub(super) struct Filters {
    /// Status ranges (Traefik's `NewHTTPCodeRanges`: `"200,300-302"`).
    pub(super) status_codes: CodeRanges,
    pub(super) retry_attempts: bool,
    /// Zero: off.
    pub(super) min_duration: Duration,
}

impl Filters {
    /// Traefik's `keepAccessLog`.
    pub(super) fn keep(&self, status: u16, retries: u32, duration: Duration) -> bool {
        if self.status_codes.is_empty() && !self.retry_attempts && self.min_duration.is_zero() {
            return true;
        }
        self.status_codes.contains(status)
            || (self.retry_attempts && retries > 0)
            || (!self.min_duration.is_zero() && duration > self.min_duration)
    }
}

/// Everything the hot path reads.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) format: Format,
    /// Per [`super::format::Field`]: whether the field is written.
    pub(super) keep: [bool; FIELD_COUNT],
    pub(super) headers: HeaderModes,
    /// `fields.queryParameters.defaultMode: drop`: `RequestPath` without its query.
    pub(super) drop_query: bool,
    pub(super) add_internals: bool,
    pub(super) filters: Option<Filters>,
    /// Stdout when `None`.
    pub(super) file_path: Option<String>,
    /// `bufferingSize`: lines held before a write (0: write at once).
    pub(super) buffering: usize,
}

impl Settings {
    pub(super) fn from_config(cfg: &AccessLogConfig) -> Result<Settings, String> {
        let format = match cfg.format.as_deref().map(str::trim) {
            None | Some("") => Format::Common,
            Some(f) if f.eq_ignore_ascii_case("common") => Format::Common,
            Some(f) if f.eq_ignore_ascii_case("genericCLF") => Format::GenericClf,
            Some(f) if f.eq_ignore_ascii_case("json") => Format::Json,
            Some(f) => {
                error!(
                    "Unsupported access log format: {f:?}, defaulting to common format instead."
                );
                Format::Common
            }
        };

        let fields = cfg.fields.as_ref();
        let default_keep = match fields.and_then(|f| f.default_mode.as_deref()) {
            None => true,
            Some(m) => field_mode(m, true, "accessLog.fields.defaultMode"),
        };
        let mut keep = [default_keep; FIELD_COUNT];
        if let Some(f) = fields {
            for (name, mode) in &f.names {
                let key = format!("accessLog.fields.names.{name}");
                match FIELDS.iter().find(|(_, n)| n.eq_ignore_ascii_case(name)) {
                    Some((field, _)) => {
                        keep[*field as usize] = field_mode(mode, default_keep, &key)
                    }
                    None => warn!("{key}: unknown access log field (ignored)"),
                }
            }
        }

        let header_cfg = fields.and_then(|f| f.headers.as_ref());
        let default = match header_cfg.and_then(|h| h.default_mode.as_deref()) {
            None => HeaderMode::Drop,
            Some(m) => header_mode(m, HeaderMode::Drop, "accessLog.fields.headers.defaultMode"),
        };
        let names = header_cfg
            .map(|h| {
                h.names
                    .iter()
                    .map(|(name, mode)| {
                        let key = format!("accessLog.fields.headers.names.{name}");
                        (name.to_ascii_lowercase(), header_mode(mode, default, &key))
                    })
                    .collect()
            })
            .unwrap_or_default();

        let drop_query = match fields
            .and_then(|f| f.query_parameters.as_ref())
            .and_then(|q| q.default_mode.as_deref())
        {
            None => false,
            Some(m) => !field_mode(m, true, "accessLog.fields.queryParameters.defaultMode"),
        };

        let filters = match &cfg.filters {
            None => None,
            Some(f) => {
                let status_codes = CodeRanges::parse(&f.status_codes)
                    .map_err(|e| format!("accessLog.filters.statusCodes: {e}"))?;
                let min_duration = match f.min_duration {
                    None => Duration::ZERO,
                    Some(d) if d.is_negative() => {
                        return Err(format!(
                            "accessLog.filters.minDuration: negative duration {}ns",
                            d.as_nanos()
                        ))
                    }
                    Some(d) => d.as_std().unwrap_or_default(),
                };
                Some(Filters {
                    status_codes,
                    retry_attempts: f.retry_attempts.unwrap_or(false),
                    min_duration,
                })
            }
        };

        let buffering = match cfg.buffering_size {
            None => 0,
            Some(n) if n < 0 => {
                return Err(format!(
                    "accessLog.bufferingSize: must not be negative (got {n})"
                ))
            }
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        };

        if cfg.otlp.is_some() {
            warn!("accessLog.otlp: OTLP export of access logs is not supported; writing to the file or stdout");
        }

        Ok(Settings {
            format,
            keep,
            headers: HeaderModes { default, names },
            drop_query,
            add_internals: cfg.add_internals.unwrap_or(false),
            filters,
            file_path: cfg.file_path.clone().filter(|p| !p.trim().is_empty()),
            buffering,
        })
    }
}

/// `keep` / `drop`; anything else falls back to `default` as in Traefik (with a warning).
fn field_mode(mode: &str, default: bool, key: &str) -> bool {
    match mode.trim().to_ascii_lowercase().as_str() {
        "keep" => true,
        "drop" => false,
        other => {
            warn!("{key}: unknown mode {other:?} (expected keep or drop); using the default");
            default
        }
    }
}

/// `keep` / `drop` / `redact`; anything else falls back to `default` as in Traefik.
fn header_mode(mode: &str, default: HeaderMode, key: &str) -> HeaderMode {
    match mode.trim().to_ascii_lowercase().as_str() {
        "keep" => HeaderMode::Keep,
        "drop" => HeaderMode::Drop,
        "redact" => HeaderMode::Redact,
        other => {
            warn!(
                "{key}: unknown mode {other:?} (expected keep, drop or redact); using the default"
            );
            default
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_like_traefik() {
        let none = Filters {
            status_codes: CodeRanges::default(),
            retry_attempts: false,
            min_duration: Duration::ZERO,
        };
        assert!(none.keep(500, 0, Duration::ZERO));
        let f = Filters {
            status_codes: CodeRanges::parse(&["200,300-302"]).unwrap(),
            retry_attempts: true,
            min_duration: Duration::from_millis(10),
        };
        assert!(f.keep(200, 0, Duration::ZERO));
        assert!(f.keep(301, 0, Duration::ZERO));
        assert!(!f.keep(303, 0, Duration::ZERO));
        assert!(f.keep(503, 1, Duration::ZERO));
        assert!(f.keep(503, 0, Duration::from_millis(11)));
        assert!(!f.keep(503, 0, Duration::from_millis(10)));
    }

    #[test]
    fn header_modes() {
        let h = HeaderModes {
            default: HeaderMode::Drop,
            names: vec![("user-agent".into(), HeaderMode::Keep)],
        };
        assert_eq!(h.mode("user-agent"), HeaderMode::Keep);
        assert_eq!(h.mode("referer"), HeaderMode::Drop);
        assert!(h.any());
        let none = HeaderModes {
            default: HeaderMode::Drop,
            names: vec![("x".into(), HeaderMode::Drop)],
        };
        assert!(!none.any());
    }
}

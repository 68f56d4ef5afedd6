//! The process log: `log.level` (Traefik's names, default ERROR), `log.format` (`common` or
//! `json`), `log.filePath` (appended to; stdout otherwise), `log.noColor`.

use std::fs::OpenOptions;
use std::sync::Mutex;

use switchyard_model::config::static_cfg::Log;
use tracing_subscriber::EnvFilter;

/// Maps Traefik's level names to a tracing filter directive.
pub fn level_directive(level: Option<&str>) -> Result<&'static str, String> {
    let level = level.unwrap_or("ERROR");
    Ok(match level.to_ascii_uppercase().as_str() {
        "TRACE" => "trace",
        "DEBUG" => "debug",
        "INFO" => "info",
        "WARN" | "WARNING" => "warn",
        "ERROR" | "FATAL" | "PANIC" | "" => "error",
        other => return Err(format!("log.level: unknown level {other:?} (expected TRACE, DEBUG, INFO, WARN, ERROR, FATAL or PANIC)")),
    })
}

/// Installs the global subscriber. `SWITCHYARD_LOG` (a tracing filter) overrides `log.level`.
pub fn init(cfg: Option<&Log>) -> Result<(), String> {
    let level = level_directive(cfg.and_then(|l| l.level.as_deref()))?;
    let filter = match std::env::var("SWITCHYARD_LOG") {
        Ok(f) if !f.is_empty() => {
            EnvFilter::try_new(f).map_err(|e| format!("SWITCHYARD_LOG: {e}"))?
        }
        _ => EnvFilter::new(format!("{level},hyper=warn,h2=warn,rustls=warn")),
    };
    let json = match cfg.and_then(|l| l.format.as_deref()) {
        None | Some("") => false,
        Some(f) if f.eq_ignore_ascii_case("common") => false,
        Some(f) if f.eq_ignore_ascii_case("json") => true,
        Some(f) => {
            return Err(format!(
                "log.format: unknown format {f:?} (expected common or json)"
            ))
        }
    };
    let no_color = cfg.and_then(|l| l.no_color).unwrap_or(false);
    let file = match cfg
        .and_then(|l| l.file_path.as_deref())
        .filter(|p| !p.is_empty())
    {
        Some(path) => Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("log.filePath {path}: {e}"))?,
        ),
        None => None,
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = match (file, json) {
        (Some(f), true) => builder.json().with_writer(Mutex::new(f)).try_init(),
        (Some(f), false) => builder
            .with_ansi(false)
            .with_writer(Mutex::new(f))
            .try_init(),
        (None, true) => builder.json().try_init(),
        (None, false) => builder.with_ansi(!no_color).try_init(),
    };
    result.map_err(|e| format!("cannot install the logger: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert_eq!(level_directive(None).unwrap(), "error");
        assert_eq!(level_directive(Some("debug")).unwrap(), "debug");
        assert_eq!(level_directive(Some("FATAL")).unwrap(), "error");
        assert!(level_directive(Some("LOUD")).unwrap_err().contains("LOUD"));
    }
}

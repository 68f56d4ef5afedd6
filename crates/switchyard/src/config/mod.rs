//! Finding and decoding the static configuration, exactly as Traefik does: a configuration file
//! (`--configFile`, else the default search list), or CLI flags, or `TRAEFIK_*` environment
//! variables. The three are mutually exclusive; the first found wins. Then the implicit entry
//! points are added (`http` on :80 when none is defined, `traefik` on :8080 when the API, ping or
//! metrics want it).

use std::path::{Path, PathBuf};

use switchyard_model::config::static_cfg::{EntryPoint, StaticConfig};
use switchyard_model::decode::{self, Format};

/// Where the static configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaticSource {
    File(PathBuf),
    Flags,
    Environment,
    Defaults,
}

impl std::fmt::Display for StaticSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StaticSource::File(p) => write!(f, "file {}", p.display()),
            StaticSource::Flags => f.write_str("command-line flags"),
            StaticSource::Environment => f.write_str("TRAEFIK_* environment variables"),
            StaticSource::Defaults => f.write_str("defaults (no file, flags or environment found)"),
        }
    }
}

/// A decoded static configuration and its source.
#[derive(Debug, Clone)]
pub struct LoadedStatic {
    pub config: StaticConfig,
    pub source: StaticSource,
}

/// Splits `--configFile` (any case, `=value` or separate value) out of the flags.
pub fn take_config_file(args: &[String]) -> Result<(Option<PathBuf>, Vec<String>), String> {
    let mut file = None;
    let mut rest = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        let body = arg.trim_start_matches('-');
        let (key, value) = match body.split_once('=') {
            Some((k, v)) => (k, Some(v.to_owned())),
            None => (body, None),
        };
        if arg.starts_with('-') && key.eq_ignore_ascii_case("configfile") {
            let value = match value {
                Some(v) => v,
                None => {
                    i += 1;
                    args.get(i).cloned().ok_or("--configFile needs a value")?
                }
            };
            file = Some(PathBuf::from(value));
        } else {
            rest.push(arg.clone());
        }
        i += 1;
    }
    Ok((file, rest))
}

/// The default configuration file search list.
pub fn search_paths() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = vec![
        PathBuf::from("/etc/traefik"),
        PathBuf::from("/etc/switchyard"),
    ];
    if let Ok(xdg) = std::env::var("XDG_CONFIG_HOME") {
        dirs.push(PathBuf::from(xdg));
    }
    if let Ok(home) = std::env::var("HOME") {
        dirs.push(Path::new(&home).join(".config"));
    }
    dirs.push(PathBuf::from("."));
    let mut out = Vec::new();
    for dir in dirs {
        for base in ["traefik", "switchyard"] {
            for ext in ["yml", "yaml", "toml"] {
                out.push(dir.join(format!("{base}.{ext}")));
            }
        }
    }
    out
}

/// Loads the static configuration from the first source found.
pub fn load(args: &[String], env: &[(String, String)]) -> Result<LoadedStatic, String> {
    let (file, flags) = take_config_file(args)?;
    let file = match file {
        Some(f) => Some(f),
        None => search_paths().into_iter().find(|p| p.is_file()),
    };
    let (mut config, source) = if let Some(path) = file {
        let format = Format::from_path(&path).ok_or_else(|| {
            format!(
                "{}: unsupported configuration file extension (expected .yml, .yaml or .toml)",
                path.display()
            )
        })?;
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let cfg = decode::from_text::<StaticConfig>(&text, format, &path.display().to_string())
            .map_err(|e| e.to_string())?;
        (cfg, StaticSource::File(path))
    } else if !flags.is_empty() {
        (
            decode::from_flags::<StaticConfig>(&flags).map_err(|e| e.to_string())?,
            StaticSource::Flags,
        )
    } else if env.iter().any(|(k, _)| k.starts_with("TRAEFIK_")) {
        let cfg = decode::from_env::<StaticConfig>(env.iter().cloned(), "TRAEFIK_")
            .map_err(|e| e.to_string())?;
        (cfg, StaticSource::Environment)
    } else {
        (StaticConfig::default(), StaticSource::Defaults)
    };
    apply_implicit(&mut config);
    Ok(LoadedStatic { config, source })
}

fn entry_point(address: &str) -> EntryPoint {
    EntryPoint {
        address: Some(address.to_owned()),
        ..EntryPoint::default()
    }
}

/// Adds Traefik's implicit entry points.
pub fn apply_implicit(cfg: &mut StaticConfig) {
    if cfg.entry_points.is_empty() {
        cfg.entry_points
            .insert("http".to_owned(), entry_point(":80"));
    }
    let api_insecure = cfg
        .api
        .as_ref()
        .is_some_and(|a| a.insecure.unwrap_or(false));
    let ping_on_traefik = cfg.ping.as_ref().is_some_and(|p| {
        !p.manual_routing.unwrap_or(false)
            && p.entry_point.as_deref().unwrap_or("traefik") == "traefik"
    });
    let prometheus_on_traefik = cfg
        .metrics
        .as_ref()
        .and_then(|m| m.prometheus.as_ref())
        .is_some_and(|p| {
            !p.manual_routing.unwrap_or(false)
                && p.entry_point.as_deref().unwrap_or("traefik") == "traefik"
        });
    if (api_insecure || ping_on_traefik || prometheus_on_traefik)
        && !cfg.entry_points.contains_key("traefik")
    {
        cfg.entry_points
            .insert("traefik".to_owned(), entry_point(":8080"));
    }
}

/// Static sections (and options) that decode but are not implemented yet, by name.
pub fn unsupported_sections(cfg: &StaticConfig) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |set: bool, name: &str| {
        if set {
            out.push(name.to_owned());
        }
    };
    add(
        cfg.access_log.as_ref().is_some_and(|a| a.otlp.is_some()),
        "accessLog.otlp",
    );
    add(
        cfg.log.as_ref().is_some_and(|l| l.otlp.is_some()),
        "log.otlp",
    );
    if let Some(m) = &cfg.metrics {
        add(m.datadog.is_some(), "metrics.datadog");
        add(m.stats_d.is_some(), "metrics.statsD");
        add(m.influx_db2.is_some(), "metrics.influxDB2");
        add(m.otlp.is_some(), "metrics.otlp");
    }
    add(cfg.tcp_servers_transport.is_some(), "tcpServersTransport");
    add(cfg.host_resolver.is_some(), "hostResolver");
    add(cfg.experimental.is_some(), "experimental");
    add(cfg.spiffe.is_some(), "spiffe");
    add(cfg.ocsp.is_some(), "ocsp");
    for (name, ep) in &cfg.entry_points {
        let http = ep.http.as_ref();
        add(
            ep.proxy_protocol.is_some(),
            &format!("entryPoints.{name}.proxyProtocol"),
        );
        add(ep.udp.is_some(), &format!("entryPoints.{name}.udp"));
        add(
            http.is_some_and(|h| h.underscore_headers_strategy.is_some()),
            &format!("entryPoints.{name}.http.underscoreHeadersStrategy"),
        );
        add(
            !http.map(|h| h.middlewares.is_empty()).unwrap_or(true),
            &format!("entryPoints.{name}.http.middlewares"),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn config_file_flag_forms() {
        let (f, rest) =
            take_config_file(&s(&["--configFile=/a.yml", "--log.level=DEBUG"])).unwrap();
        assert_eq!(f, Some(PathBuf::from("/a.yml")));
        assert_eq!(rest, s(&["--log.level=DEBUG"]));
        let (f, _) = take_config_file(&s(&["--configfile", "/b.toml"])).unwrap();
        assert_eq!(f, Some(PathBuf::from("/b.toml")));
        assert!(take_config_file(&s(&["--configFile"])).is_err());
    }

    #[test]
    fn implicit_entry_points() {
        let mut cfg = StaticConfig::default();
        apply_implicit(&mut cfg);
        assert_eq!(cfg.entry_points["http"].address.as_deref(), Some(":80"));
        assert!(!cfg.entry_points.contains_key("traefik"));

        let mut cfg = StaticConfig {
            ping: Some(Default::default()),
            ..Default::default()
        };
        apply_implicit(&mut cfg);
        assert_eq!(
            cfg.entry_points["traefik"].address.as_deref(),
            Some(":8080")
        );
    }
}

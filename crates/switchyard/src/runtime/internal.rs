//! The `internal` provider: routers and services Switchyard defines itself from the static
//! configuration, as Traefik does (`ping@internal` on entry point `traefik`, ...). They are merged
//! like any provider's configuration, so they show up in reports the same way.

use std::collections::BTreeMap;

use switchyard_model::config::dynamic::{DynamicConfig, HttpConfig, Router};
use switchyard_model::config::static_cfg::StaticConfig;

/// Name of the internal provider.
pub const PROVIDER: &str = "internal";

/// Internal routers' priority (Traefik's MaxInt64 for ping/ACME/metrics).
pub const MAX_PRIORITY: i64 = i64::MAX;

/// Highest priority a user router may set (`MaxInt64 - 1000`).
pub const MAX_USER_PRIORITY: i64 = i64::MAX - 1000;

/// Internal services that exist today.
pub const SERVICES: &[&str] = &["ping", "noop", "whoami"];

/// Internal services Traefik has that Switchyard does not serve yet.
pub const PLANNED_SERVICES: &[&str] = &["api", "dashboard", "prometheus", "rest", "acme-http"];

/// The entry point ping is served on.
pub fn ping_entry_point(cfg: &StaticConfig) -> Option<String> {
    let ping = cfg.ping.as_ref()?;
    Some(
        ping.entry_point
            .clone()
            .unwrap_or_else(|| "traefik".to_owned()),
    )
}

/// The internal provider's dynamic configuration for `cfg`.
pub fn config(cfg: &StaticConfig) -> DynamicConfig {
    let mut routers = BTreeMap::new();
    if let Some(ping) = &cfg.ping {
        if !ping.manual_routing.unwrap_or(false) {
            let ep = ping_entry_point(cfg).unwrap_or_default();
            routers.insert(
                "ping".to_owned(),
                Router {
                    entry_points: vec![ep],
                    rule: Some("PathPrefix(`/ping`)".to_owned()),
                    priority: Some(MAX_PRIORITY),
                    service: Some("ping@internal".to_owned()),
                    ..Router::default()
                },
            );
        }
    }
    DynamicConfig {
        http: Some(HttpConfig {
            routers,
            ..HttpConfig::default()
        }),
        ..DynamicConfig::default()
    }
}

//! The `internal` provider: routers and services Switchyard defines itself from the static
//! configuration, as Traefik does (`ping@internal` on entry point `traefik`, ...). They are merged
//! like any provider's configuration, so they show up in reports the same way.

use std::collections::BTreeMap;

use switchyard_model::config::dynamic::{
    DynamicConfig, HttpConfig, Middleware, RedirectScheme, Router,
};
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
    let mut middlewares = BTreeMap::new();
    for (ep_name, ep) in &cfg.entry_points {
        let redirect = ep
            .http
            .as_ref()
            .and_then(|h| h.redirections.as_ref())
            .and_then(|r| r.entry_point.as_ref());
        let Some(redirect) = redirect else { continue };
        let Some(to) = redirect.to.as_deref().filter(|t| !t.is_empty()) else {
            continue;
        };
        // `to` is an entry point name or a `:port`.
        let (target, port) = match to.strip_prefix(':') {
            Some(port) => (port.to_owned(), port.to_owned()),
            None => {
                let port = cfg
                    .entry_points
                    .get(to)
                    .and_then(|t| t.address.as_deref())
                    .and_then(|a| crate::http::entrypoint::parse_address(a).ok())
                    .map(|(addr, _)| addr.port().to_string())
                    .unwrap_or_default();
                (to.to_owned(), port)
            }
        };
        let name = format!("{ep_name}-to-{target}");
        let middleware = format!("redirect-{name}");
        middlewares.insert(
            middleware.clone(),
            Middleware {
                redirect_scheme: Some(RedirectScheme {
                    scheme: Some(
                        redirect
                            .scheme
                            .clone()
                            .unwrap_or_else(|| "https".to_owned()),
                    ),
                    port: Some(port),
                    permanent: Some(redirect.permanent.unwrap_or(true)),
                }),
                ..Middleware::default()
            },
        );
        routers.insert(
            name,
            Router {
                entry_points: vec![ep_name.clone()],
                rule: Some("HostRegexp(`^.+$`)".to_owned()),
                priority: Some(
                    redirect
                        .priority
                        .filter(|p| *p != 0)
                        .unwrap_or(MAX_PRIORITY - 1),
                ),
                middlewares: vec![format!("{middleware}@internal")],
                service: Some("noop@internal".to_owned()),
                ..Router::default()
            },
        );
    }
    DynamicConfig {
        http: Some(HttpConfig {
            routers,
            middlewares,
            ..HttpConfig::default()
        }),
        ..DynamicConfig::default()
    }
}

//! The `internal` provider: routers and services Switchyard defines itself from the static
//! configuration, as Traefik does (`ping@internal` on entry point `traefik`, ...). They are merged
//! like any provider's configuration, so they show up in reports the same way.

use std::collections::BTreeMap;

use switchyard_model::config::dynamic::{
    DynamicConfig, HttpConfig, Middleware, RedirectRegex, RedirectScheme, Router, StripPrefix,
};
use switchyard_model::config::static_cfg::StaticConfig;

/// Name of the internal provider.
pub const PROVIDER: &str = "internal";

/// Internal routers' priority (Traefik's MaxInt64 for ping/ACME/metrics).
pub const MAX_PRIORITY: i64 = i64::MAX;

/// Highest priority a user router may set (`MaxInt64 - 1000`).
pub const MAX_USER_PRIORITY: i64 = i64::MAX - 1000;

/// Internal services that exist today.
pub const SERVICES: &[&str] = &["ping", "noop", "whoami", "api", "dashboard", "prometheus"];

/// Internal services Traefik has that Switchyard does not serve yet.
pub const PLANNED_SERVICES: &[&str] = &["rest", "acme-http"];

/// The entry point Traefik puts its own routers on.
const TRAEFIK_EP: &str = "traefik";

/// Traefik's `dashboard_redirect@internal` regex: `/` (only) goes to `/dashboard/`.
const DASHBOARD_REDIRECT: &str = r"^(http:\/\/(\[[\w:.]+\]|[\w\._-]+)(:\d+)?)\/$";

/// The entry point ping is served on.
pub fn ping_entry_point(cfg: &StaticConfig) -> Option<String> {
    let ping = cfg.ping.as_ref()?;
    Some(
        ping.entry_point
            .clone()
            .unwrap_or_else(|| "traefik".to_owned()),
    )
}

/// A router of the internal provider.
fn router(ep: &str, rule: &str, priority: i64, service: &str) -> Router {
    Router {
        entry_points: vec![ep.to_owned()],
        rule: Some(rule.to_owned()),
        priority: Some(priority),
        service: Some(service.to_owned()),
        ..Router::default()
    }
}

/// `api.insecure` (routers `api`, `dashboard`, `debug` on entry point `traefik`, and the
/// dashboard's middlewares) and `metrics.prometheus` (router `prometheus`), as Traefik's internal
/// provider defines them.
fn api_and_metrics(
    cfg: &StaticConfig,
    routers: &mut BTreeMap<String, Router>,
    middlewares: &mut BTreeMap<String, Middleware>,
) {
    if let Some(api) = cfg.api.as_ref().filter(|a| a.insecure.unwrap_or(false)) {
        routers.insert(
            "api".to_owned(),
            router(
                TRAEFIK_EP,
                "PathPrefix(`/api`)",
                MAX_PRIORITY - 1,
                "api@internal",
            ),
        );
        if api.dashboard.unwrap_or(true) {
            let mut dashboard = router(
                TRAEFIK_EP,
                "PathPrefix(`/`)",
                MAX_PRIORITY - 2,
                "dashboard@internal",
            );
            dashboard.middlewares = vec![
                "dashboard_redirect@internal".to_owned(),
                "dashboard_stripprefix@internal".to_owned(),
            ];
            routers.insert("dashboard".to_owned(), dashboard);
            middlewares.insert(
                "dashboard_redirect".to_owned(),
                Middleware {
                    redirect_regex: Some(RedirectRegex {
                        regex: Some(DASHBOARD_REDIRECT.to_owned()),
                        replacement: Some("${1}/dashboard/".to_owned()),
                        permanent: Some(true),
                    }),
                    ..Middleware::default()
                },
            );
            middlewares.insert(
                "dashboard_stripprefix".to_owned(),
                Middleware {
                    strip_prefix: Some(StripPrefix {
                        prefixes: vec!["/dashboard/".to_owned(), "/dashboard".to_owned()],
                        force_slash: None,
                    }),
                    ..Middleware::default()
                },
            );
        }
        if api.debug.unwrap_or(false) {
            routers.insert(
                "debug".to_owned(),
                router(
                    TRAEFIK_EP,
                    "PathPrefix(`/debug`)",
                    MAX_PRIORITY - 1,
                    "api@internal",
                ),
            );
        }
    }
    let prometheus = cfg.metrics.as_ref().and_then(|m| m.prometheus.as_ref());
    if let Some(p) = prometheus.filter(|p| !p.manual_routing.unwrap_or(false)) {
        let ep = p
            .entry_point
            .as_deref()
            .filter(|e| !e.is_empty())
            .unwrap_or(TRAEFIK_EP);
        routers.insert(
            "prometheus".to_owned(),
            router(
                ep,
                "PathPrefix(`/metrics`)",
                MAX_PRIORITY,
                "prometheus@internal",
            ),
        );
    }
}

/// Traefik's `provider.Normalize`: runs of characters other than letters and digits become `-`.
fn normalize(name: &str) -> String {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// The internal provider's dynamic configuration for `cfg`.
pub fn config(cfg: &StaticConfig) -> DynamicConfig {
    let mut routers = BTreeMap::new();
    let mut middlewares = BTreeMap::new();
    api_and_metrics(cfg, &mut routers, &mut middlewares);
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
        // `to` is a `:port` or an entry point name (Traefik skips the redirection when that entry
        // point does not exist).
        let port = match to.strip_prefix(':') {
            Some(port) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
                port.to_owned()
            }
            _ => {
                let Some(port) = cfg
                    .entry_points
                    .get(to)
                    .and_then(|t| t.address.as_deref())
                    .and_then(|a| crate::http::entrypoint::parse_address(a).ok())
                    .map(|(addr, _)| addr.port().to_string())
                else {
                    continue;
                };
                port
            }
        };
        let name = normalize(&format!("{ep_name}-to-{to}"));
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
                rule: Some(if ep.allow_acme_by_pass.unwrap_or(false) {
                    "HostRegexp(`^.+$`) && !PathPrefix(`/.well-known/acme-challenge/`)".to_owned()
                } else {
                    "HostRegexp(`^.+$`)".to_owned()
                }),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(yaml: &str) -> StaticConfig {
        switchyard_model::decode::from_text(yaml, switchyard_model::decode::Format::Yaml, "test")
            .unwrap()
    }

    fn http(yaml: &str) -> HttpConfig {
        config(&cfg(yaml)).http.unwrap()
    }

    #[test]
    fn insecure_api_routers() {
        let h = http("api:\n  insecure: true\n  debug: true\n");
        let api = &h.routers["api"];
        assert_eq!(api.rule.as_deref(), Some("PathPrefix(`/api`)"));
        assert_eq!(api.priority, Some(i64::MAX - 1));
        assert_eq!(api.entry_points, ["traefik"]);
        let dashboard = &h.routers["dashboard"];
        assert_eq!(dashboard.priority, Some(i64::MAX - 2));
        assert_eq!(
            dashboard.middlewares,
            [
                "dashboard_redirect@internal",
                "dashboard_stripprefix@internal"
            ]
        );
        assert_eq!(h.routers["debug"].service.as_deref(), Some("api@internal"));
        let redirect = h.middlewares["dashboard_redirect"]
            .redirect_regex
            .as_ref()
            .unwrap();
        assert_eq!(
            redirect.regex.as_deref(),
            Some(r"^(http:\/\/(\[[\w:.]+\]|[\w\._-]+)(:\d+)?)\/$")
        );
        assert_eq!(
            h.middlewares["dashboard_stripprefix"]
                .strip_prefix
                .as_ref()
                .unwrap()
                .prefixes,
            ["/dashboard/", "/dashboard"]
        );
    }

    #[test]
    fn api_variants() {
        assert!(http("api: {}\n").routers.is_empty());
        let h = http("api:\n  insecure: true\n  dashboard: false\n");
        assert_eq!(h.routers.keys().collect::<Vec<_>>(), ["api"]);
        assert!(h.middlewares.is_empty());
    }

    #[test]
    fn prometheus_router() {
        let h = http("metrics:\n  prometheus:\n    entryPoint: metrics\n");
        let p = &h.routers["prometheus"];
        assert_eq!(p.entry_points, ["metrics"]);
        assert_eq!(p.priority, Some(i64::MAX));
        assert_eq!(p.rule.as_deref(), Some("PathPrefix(`/metrics`)"));
        let h = http("metrics:\n  prometheus: {}\n");
        assert_eq!(h.routers["prometheus"].entry_points, ["traefik"]);
        assert!(http("metrics:\n  prometheus:\n    manualRouting: true\n")
            .routers
            .is_empty());
    }

    #[test]
    fn redirections() {
        let h = http(
            "entryPoints:\n  web_1:\n    address: ':80'\n    allowACMEByPass: true\n    http:\n      redirections:\n        entryPoint:\n          to: ':8443'\n  web2:\n    address: ':81'\n    http:\n      redirections:\n        entryPoint:\n          to: nowhere\n",
        );
        let r = &h.routers["web-1-to-8443"];
        assert_eq!(
            r.rule.as_deref(),
            Some("HostRegexp(`^.+$`) && !PathPrefix(`/.well-known/acme-challenge/`)")
        );
        assert_eq!(r.middlewares, ["redirect-web-1-to-8443@internal"]);
        let m = h.middlewares["redirect-web-1-to-8443"]
            .redirect_scheme
            .as_ref()
            .unwrap();
        assert_eq!(m.port.as_deref(), Some("8443"));
        // A target entry point that does not exist: no redirection, as in Traefik.
        assert_eq!(h.routers.len(), 1);
    }
}

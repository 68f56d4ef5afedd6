//! Compiling merged provider configurations into a [`Snapshot`]. Pure with respect to the data
//! plane: it runs off the hot path (on a blocking thread) and only touches registries that are
//! built to outlive snapshots (upstream pools).
//!
//! Validation is per object, as in Traefik: a router with a bad rule, a missing or broken service,
//! an unknown entry point or an unknown middleware is disabled and its error recorded; everything
//! else keeps serving.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use http::uri::Authority;
use switchyard_model::config::dynamic::{
    DynamicConfig, LoadBalancer as LbConfig, Router, Service as ServiceConfig,
};
use switchyard_rule::{HttpRule, Syntax};

use super::internal;
use super::report::{ObjectReport, Report, RouterReport, Status};
use super::Snapshot;
use crate::http::balancer::WeightedRoundRobin;
use crate::http::entrypoint::{EntryPointSpec, Transport};
use crate::http::internal::{Health, Internal};
use crate::http::router::{Route, RouterTable};
use crate::http::service::{
    Handler, LoadBalancer, Service, UpstreamScheme, UpstreamServer, Weighted,
};
use crate::http::upstream::{TransportSettings, UpstreamRegistry};

/// Traefik's default provider precedence, used to break priority ties.
pub const DEFAULT_PRECEDENCE: &[&str] = &[
    "kubernetesgateway",
    "kubernetescrd",
    "kubernetes",
    "kubernetesingressnginx",
    "swarm",
    "docker",
    "file",
    "redis",
    "knative",
    "consul",
    "consulcatalog",
    "nomad",
    "etcd",
    "ecs",
    "http",
    "zookeeper",
    "rest",
];

/// What compilation needs from the static configuration, fixed for the process lifetime.
#[derive(Debug)]
pub struct CompileContext {
    pub entry_points: Vec<Arc<EntryPointSpec>>,
    pub default_syntax: Syntax,
    pub precedence: Vec<String>,
    pub default_transport: TransportSettings,
    pub upstreams: Arc<UpstreamRegistry>,
    pub health: Arc<Health>,
    pub hostname: Arc<str>,
    pub ping_terminating_status: http::StatusCode,
}

impl CompileContext {
    /// Entry points a router without `entryPoints` attaches to: those marked `asDefault` if any,
    /// else every TCP entry point except `traefik`.
    fn default_entry_points(&self) -> Vec<usize> {
        let tcp = || {
            self.entry_points
                .iter()
                .filter(|e| e.transport == Transport::Tcp)
        };
        if tcp().any(|e| e.as_default) {
            tcp().filter(|e| e.as_default).map(|e| e.index).collect()
        } else {
            tcp()
                .filter(|e| &*e.name != "traefik")
                .map(|e| e.index)
                .collect()
        }
    }

    fn precedence_rank(&self, provider: &str) -> usize {
        if provider == internal::PROVIDER {
            return 0;
        }
        self.precedence
            .iter()
            .position(|p| p.eq_ignore_ascii_case(provider))
            .map(|i| i + 1)
            .unwrap_or(usize::MAX)
    }
}

/// Splits `name@provider`, or qualifies a bare name in `provider`'s namespace.
pub fn qualify(name: &str, provider: &str) -> (String, String) {
    match name.rsplit_once('@') {
        Some((n, p)) => (n.to_owned(), p.to_owned()),
        None => (name.to_owned(), provider.to_owned()),
    }
}

struct Compiler<'a> {
    ctx: &'a CompileContext,
    configs: &'a BTreeMap<String, Arc<DynamicConfig>>,
    services: HashMap<String, Result<Arc<Service>, String>>,
    visiting: HashSet<String>,
    transports_used: HashSet<String>,
    report: Report,
}

/// Compiles the latest configuration of every provider into a snapshot.
pub fn compile(ctx: &CompileContext, configs: &BTreeMap<String, Arc<DynamicConfig>>) -> Snapshot {
    let mut c = Compiler {
        ctx,
        configs,
        services: HashMap::new(),
        visiting: HashSet::new(),
        transports_used: HashSet::new(),
        report: Report::default(),
    };
    let mut per_ep: Vec<Vec<Route>> = ctx.entry_points.iter().map(|_| Vec::new()).collect();

    for (provider, cfg) in configs {
        let Some(http) = &cfg.http else { continue };
        for (name, router) in &http.routers {
            c.router(provider, name, router, &mut per_ep);
        }
        // Services nobody references are still validated and reported.
        for name in http.services.keys() {
            let _ = c.service(&format!("{name}@{provider}"));
        }
        for (name, mw) in &http.middlewares {
            let types = mw.type_names();
            let error = match types.len() {
                0 => "no middleware type defined".to_owned(),
                1 => format!("middleware type {:?} is not supported yet", types[0]),
                _ => format!(
                    "only one middleware type per middleware, found {}",
                    types.join(", ")
                ),
            };
            c.report.middlewares.insert(
                format!("{name}@{provider}"),
                ObjectReport {
                    kind: types.first().map(|t| t.to_string()).unwrap_or_default(),
                    provider: provider.clone(),
                    status: Status::Disabled,
                    error: vec![error],
                },
            );
        }
    }
    ctx.upstreams.retain(&c.transports_used);
    let http = per_ep.into_iter().map(RouterTable::new).collect();
    Snapshot {
        http,
        report: c.report,
    }
}

impl Compiler<'_> {
    fn router(&mut self, provider: &str, name: &str, router: &Router, per_ep: &mut [Vec<Route>]) {
        let qualified = format!("{name}@{provider}");
        let mut errors: Vec<String> = Vec::new();
        let mut warnings: Vec<String> = Vec::new();
        let rule_text = router.rule.clone().unwrap_or_default();

        if name.contains('@') {
            errors.push(format!(
                "invalid router name {name:?}: '@' is reserved for provider namespaces"
            ));
        }
        let syntax = match router.rule_syntax.as_deref() {
            None | Some("") => Ok(self.ctx.default_syntax),
            Some(s) => s
                .parse::<Syntax>()
                .map_err(|_| format!("ruleSyntax: unknown syntax {s:?} (expected v2 or v3)")),
        };
        let rule = match syntax {
            Err(e) => {
                errors.push(e);
                None
            }
            Ok(_) if rule_text.trim().is_empty() => {
                errors.push("rule: empty rule".to_owned());
                None
            }
            Ok(syntax) => match HttpRule::parse(&rule_text, syntax) {
                Ok(r) => Some(r),
                Err(e) => {
                    errors.push(format!("rule {rule_text:?}: {e}"));
                    None
                }
            },
        };
        let priority = match router.priority {
            Some(p) if p != 0 => p,
            _ => i64::try_from(rule_text.len()).unwrap_or(i64::MAX),
        };
        if provider != internal::PROVIDER && priority > internal::MAX_USER_PRIORITY {
            errors.push(format!(
                "priority {priority} is above the maximum {}",
                internal::MAX_USER_PRIORITY
            ));
        }

        // Entry points.
        let mut eps: Vec<usize> = Vec::new();
        let ep_names: Vec<String> = if router.entry_points.is_empty() {
            self.ctx
                .default_entry_points()
                .iter()
                .map(|&i| self.ctx.entry_points[i].name.to_string())
                .collect()
        } else {
            router.entry_points.clone()
        };
        for ep in &ep_names {
            match self.ctx.entry_points.iter().find(|e| &*e.name == ep) {
                Some(spec) if spec.transport == Transport::Tcp => eps.push(spec.index),
                Some(_) => warnings.push(format!("entryPoint {ep:?} is a UDP entry point")),
                None => warnings.push(format!("entryPoint {ep:?} doesn't exist")),
            }
        }
        if eps.is_empty() {
            errors.append(&mut warnings);
            errors.push("no valid entryPoint for this router".to_owned());
        }

        if router.tls.is_some() {
            errors.push(
                "TLS routers are not supported yet (HTTPS termination is planned)".to_owned(),
            );
        }
        if !router.parent_refs.is_empty() {
            errors.push("parentRefs (multi-layer routing) is not supported yet".to_owned());
        }

        // Middlewares: entry point ones first, then the router's.
        let mut middlewares: Vec<String> = Vec::new();
        for &i in &eps {
            for m in &self.ctx.entry_points[i].middlewares {
                if !middlewares.contains(m) {
                    middlewares.push(m.clone());
                }
            }
        }
        for m in &router.middlewares {
            let (n, p) = qualify(m, provider);
            middlewares.push(format!("{n}@{p}"));
        }
        for m in &middlewares {
            let (n, p) = qualify(m, provider);
            let exists = self
                .configs
                .get(&p)
                .and_then(|c| c.http.as_ref())
                .is_some_and(|h| h.middlewares.contains_key(&n));
            if exists {
                errors.push(format!(
                    "middleware {m:?}: middlewares are not supported yet"
                ));
            } else {
                errors.push(format!("middleware {m:?} does not exist"));
            }
        }

        // Service.
        let service_name = match router.service.as_deref() {
            Some(s) if !s.is_empty() => {
                let (n, p) = qualify(s, provider);
                format!("{n}@{p}")
            }
            _ => {
                errors.push("the router has no service".to_owned());
                String::new()
            }
        };
        let service = if service_name.is_empty() {
            None
        } else {
            match self.service(&service_name) {
                Ok(s) => Some(s),
                Err(e) => {
                    errors.push(e);
                    None
                }
            }
        };

        let status = if !errors.is_empty() {
            Status::Disabled
        } else if !warnings.is_empty() {
            Status::Warning
        } else {
            Status::Enabled
        };
        let mut all_errors = errors;
        all_errors.extend(warnings);
        self.report.routers.insert(
            qualified.clone(),
            RouterReport {
                entry_points: ep_names,
                rule: rule_text,
                priority,
                service: service_name,
                middlewares,
                provider: provider.to_owned(),
                status,
                error: all_errors,
            },
        );
        if status == Status::Disabled {
            return;
        }
        let (Some(rule), Some(service)) = (rule, service) else {
            return;
        };
        let name: Arc<str> = qualified.into();
        let handler = Arc::new(Handler {
            router: name.clone(),
            service,
        });
        let precedence = self.ctx.precedence_rank(provider);
        for &i in &eps {
            per_ep[i].push(Route {
                name: name.clone(),
                rule: rule.clone(),
                priority,
                precedence,
                handler: handler.clone(),
            });
        }
    }

    /// The compiled service `qualified` (`name@provider`), or why it cannot be used.
    fn service(&mut self, qualified: &str) -> Result<Arc<Service>, String> {
        if let Some(done) = self.services.get(qualified) {
            return done.clone();
        }
        if !self.visiting.insert(qualified.to_owned()) {
            return Err(format!(
                "the service {qualified:?} references itself (cycle)"
            ));
        }
        let result = self.build_service(qualified);
        self.visiting.remove(qualified);
        let (name, provider) = qualify(qualified, "");
        if provider != internal::PROVIDER {
            let cfg = self.lookup_service(&name, &provider);
            if let Some(cfg) = cfg {
                self.report.services.insert(
                    qualified.to_owned(),
                    ObjectReport {
                        kind: cfg
                            .type_names()
                            .first()
                            .map(|t| t.to_string())
                            .unwrap_or_default(),
                        provider: provider.clone(),
                        status: if result.is_ok() {
                            Status::Enabled
                        } else {
                            Status::Disabled
                        },
                        error: result.as_ref().err().cloned().into_iter().collect(),
                    },
                );
            }
        }
        self.services.insert(qualified.to_owned(), result.clone());
        result
    }

    fn lookup_service(&self, name: &str, provider: &str) -> Option<&ServiceConfig> {
        self.configs
            .get(provider)?
            .http
            .as_ref()?
            .services
            .get(name)
    }

    fn build_service(&mut self, qualified: &str) -> Result<Arc<Service>, String> {
        let (name, provider) = qualify(qualified, "");
        if provider == internal::PROVIDER {
            return self.internal_service(&name);
        }
        let Some(cfg) = self.lookup_service(&name, &provider).cloned() else {
            return Err(format!("the service {qualified:?} does not exist"));
        };
        let types = cfg.type_names();
        if types.len() != 1 {
            return Err(if types.is_empty() {
                "no service type defined".to_owned()
            } else {
                format!(
                    "only one service type per service, found {}",
                    types.join(", ")
                )
            });
        }
        if !cfg.middlewares.is_empty() {
            return Err("service middlewares are not supported yet".to_owned());
        }
        if let Some(lb) = &cfg.load_balancer {
            return self
                .load_balancer(qualified, &provider, lb)
                .map(|lb| Arc::new(Service::LoadBalancer(lb)));
        }
        if let Some(w) = &cfg.weighted {
            if w.sticky.is_some() || w.health_check.is_some() {
                return Err("weighted: sticky and healthCheck are not supported yet".to_owned());
            }
            let mut children = Vec::new();
            let mut weights = Vec::new();
            for (i, s) in w.services.iter().enumerate() {
                let Some(child) = s.name.as_deref().filter(|n| !n.is_empty()) else {
                    return Err(format!("weighted.services[{i}].name is required"));
                };
                let (n, p) = qualify(child, &provider);
                let child = self
                    .service(&format!("{n}@{p}"))
                    .map_err(|e| format!("weighted.services[{i}]: {e}"))?;
                children.push(child);
                weights.push(s.weight.unwrap_or(1));
            }
            let wrr = WeightedRoundRobin::new(&weights);
            return Ok(Arc::new(Service::Weighted(Weighted { children, wrr })));
        }
        Err(format!("service type {:?} is not supported yet", types[0]))
    }

    fn internal_service(&self, name: &str) -> Result<Arc<Service>, String> {
        let internal = match name {
            "ping" => Internal::Ping {
                health: self.ctx.health.clone(),
                terminating_status: self.ctx.ping_terminating_status,
            },
            "noop" => Internal::Noop,
            "whoami" => Internal::Whoami {
                hostname: self.ctx.hostname.clone(),
            },
            n if internal::PLANNED_SERVICES.contains(&n) => {
                return Err(format!(
                    "the internal service \"{n}@internal\" is not supported yet"
                ))
            }
            n => return Err(format!("the service \"{n}@internal\" does not exist")),
        };
        Ok(Arc::new(Service::Internal(internal)))
    }

    fn load_balancer(
        &mut self,
        qualified: &str,
        provider: &str,
        lb: &LbConfig,
    ) -> Result<LoadBalancer, String> {
        match lb.strategy.as_deref() {
            None | Some("") => {}
            Some(s) if s.eq_ignore_ascii_case("wrr") => {}
            Some(s) => {
                return Err(format!(
                    "loadBalancer.strategy {s:?} is not supported yet (only wrr)"
                ))
            }
        }
        for (set, key) in [
            (lb.sticky.is_some(), "sticky"),
            (lb.health_check.is_some(), "healthCheck"),
            (lb.passive_health_check.is_some(), "passiveHealthCheck"),
        ] {
            if set {
                return Err(format!("loadBalancer.{key} is not supported yet"));
            }
        }
        let mut servers = Vec::new();
        let mut weights = Vec::new();
        for (i, s) in lb.servers.iter().enumerate() {
            let url = s.url.as_deref().unwrap_or_default();
            let server = parse_server_url(url, s.preserve_path.unwrap_or(false))
                .map_err(|e| format!("loadBalancer.servers[{i}].url {url:?}: {e}"))?;
            servers.push(server);
            weights.push(s.weight.unwrap_or(1));
        }
        let (transport_key, settings) = match lb.servers_transport.as_deref() {
            None | Some("") | Some("default@internal") => (
                "default@internal".to_owned(),
                self.ctx.default_transport.clone(),
            ),
            Some(t) => {
                let (n, p) = qualify(t, provider);
                let cfg = self
                    .configs
                    .get(&p)
                    .and_then(|c| c.http.as_ref())
                    .and_then(|h| h.servers_transports.get(&n))
                    .ok_or_else(|| {
                        format!("loadBalancer.serversTransport: \"{n}@{p}\" does not exist")
                    })?;
                (format!("{n}@{p}"), TransportSettings::from_dynamic(cfg))
            }
        };
        let client = self
            .ctx
            .upstreams
            .get(&transport_key, &settings)
            .map_err(|e| format!("serversTransport \"{transport_key}\": {e}"))?;
        self.transports_used.insert(transport_key);
        Ok(LoadBalancer {
            name: qualified.into(),
            wrr: WeightedRoundRobin::new(&weights),
            servers,
            pass_host_header: lb.pass_host_header.unwrap_or(true),
            client,
        })
    }
}

/// Parses a server URL (`http://`, `https://`, `h2c://`).
fn parse_server_url(url: &str, preserve_path: bool) -> Result<UpstreamServer, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("invalid URL: {e}"))?;
    let scheme = match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("http") => UpstreamScheme::Http,
        Some(s) if s.eq_ignore_ascii_case("https") => UpstreamScheme::Https,
        Some(s) if s.eq_ignore_ascii_case("h2c") => UpstreamScheme::H2c,
        Some(s) => {
            return Err(format!(
                "unsupported scheme {s:?} (expected http, https or h2c)"
            ))
        }
        None => return Err("missing scheme (expected http://, https:// or h2c://)".to_owned()),
    };
    let authority: Authority = uri.authority().cloned().ok_or("missing host")?;
    if authority.host().is_empty() {
        return Err("missing host".to_owned());
    }
    let path = uri.path();
    let path_prefix = (preserve_path && path != "/" && !path.is_empty()).then(|| path.to_owned());
    Ok(UpstreamServer {
        url: url.into(),
        scheme,
        authority,
        path_prefix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls() {
        let s = parse_server_url("http://127.0.0.1:8080/ignored", false).unwrap();
        assert_eq!(s.scheme, UpstreamScheme::Http);
        assert_eq!(s.authority.as_str(), "127.0.0.1:8080");
        assert!(s.path_prefix.is_none());
        let s = parse_server_url("h2c://backend:9000/base", true).unwrap();
        assert_eq!(s.scheme, UpstreamScheme::H2c);
        assert_eq!(s.path_prefix.as_deref(), Some("/base"));
        assert!(parse_server_url("ftp://x", false)
            .unwrap_err()
            .contains("unsupported scheme"));
        assert!(parse_server_url("localhost:80", false).is_err());
        assert!(parse_server_url("", false).is_err());
    }

    #[test]
    fn qualify_names() {
        assert_eq!(qualify("a", "file"), ("a".into(), "file".into()));
        assert_eq!(qualify("a@docker", "file"), ("a".into(), "docker".into()));
    }
}

//! Compiling merged provider configurations into a [`Snapshot`]. Pure with respect to the data
//! plane: it runs off the hot path (on a blocking thread) and only touches registries that are
//! built to outlive snapshots (upstream pools).
//!
//! Validation is per object, as in Traefik: a router with a bad rule, a missing or broken service,
//! an unknown entry point or an unknown middleware is disabled and its error recorded; everything
//! else keeps serving.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use switchyard_model::config::dynamic::{DynamicConfig, Router};
use switchyard_rule::{HttpRule, Syntax};

use super::internal;
use super::report::{Report, RouterReport, Status};
use super::{EntryPointTables, Snapshot};
use crate::http::entrypoint::{EntryPointSpec, Transport};
use crate::http::internal::Health;
use crate::http::router::{Route, RouterTable};
use crate::http::service::{Handler, Service};
use crate::http::upstream::{TransportSettings, UpstreamRegistry};
use crate::middleware::{Middleware, MiddlewareState};
use crate::tls::certs::LoadedCert;
use crate::tls::{qualify_options, TlsSnapshot};

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
    pub middleware_state: Arc<MiddlewareState>,
    pub service_state: Arc<crate::http::service_state::ServiceState>,
    /// The generated fallback certificate (Traefik's "TRAEFIK DEFAULT CERT"), made once.
    pub default_cert: LoadedCert,
    /// ACME certificate resolvers: their certificates are served, routers' domains requested.
    pub acme: Arc<crate::acme::CertificateResolvers>,
    /// The API state, when `api` is configured (`api@internal`, `dashboard@internal`).
    pub api: Option<Arc<crate::api::ApiState>>,
    /// Prometheus metrics, when configured (`prometheus@internal`).
    pub metrics: Option<Arc<crate::observe::metrics::Metrics>>,
}

impl CompileContext {
    /// Entry points a router without `entryPoints` attaches to: those marked `asDefault` if any,
    /// else every TCP entry point; never `traefik` (Traefik's rule, even when it is `asDefault`).
    fn default_entry_points(&self) -> Vec<usize> {
        let tcp = || {
            self.entry_points
                .iter()
                .filter(|e| e.transport == Transport::Tcp && &*e.name != "traefik")
        };
        if tcp().any(|e| e.as_default) {
            tcp().filter(|e| e.as_default).map(|e| e.index).collect()
        } else {
            tcp().map(|e| e.index).collect()
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

/// One compilation's working state; its `impl` blocks are split by object kind
/// (routers here, services in `services.rs`, middlewares in `middlewares.rs`).
pub(super) struct Compiler<'a> {
    pub(super) ctx: &'a CompileContext,
    pub(super) configs: &'a BTreeMap<String, Arc<DynamicConfig>>,
    pub(super) services: HashMap<String, Result<Arc<Service>, String>>,
    pub(super) middlewares: HashMap<String, Result<Vec<Arc<dyn Middleware>>, String>>,
    /// Names being built, to detect reference cycles.
    pub(super) visiting: HashSet<String>,
    pub(super) transports_used: HashSet<String>,
    pub(super) report: Report,
    pub(super) tls: &'a TlsSnapshot,
    /// Domains routers want from certificate resolvers.
    pub(super) acme_requests: Vec<crate::acme::DomainRequest>,
}

/// Routes of one entry point while they are collected.
#[derive(Default)]
struct EpRoutes {
    plain: Vec<Route>,
    secure: Vec<Route>,
    /// Host → TLS options name, from the Host() rules of TLS routers.
    tls_hosts: HashMap<String, Arc<str>>,
    /// Hosts claimed by TLS routers with different options.
    conflicts: HashSet<String>,
}

/// Compiles the latest configuration of every provider into a snapshot.
pub fn compile(ctx: &CompileContext, configs: &BTreeMap<String, Arc<DynamicConfig>>) -> Snapshot {
    let (tls, tls_errors) = crate::tls::compile(configs, &ctx.default_cert, &ctx.acme);
    let mut c = Compiler {
        ctx,
        configs,
        services: HashMap::new(),
        middlewares: HashMap::new(),
        visiting: HashSet::new(),
        transports_used: HashSet::new(),
        report: Report {
            tls: tls_errors,
            ..Report::default()
        },
        tls: &tls,
        acme_requests: generated_cert_requests(configs),
    };
    let mut per_ep: Vec<EpRoutes> = ctx
        .entry_points
        .iter()
        .map(|_| EpRoutes::default())
        .collect();

    for (provider, cfg) in configs {
        let Some(http) = &cfg.http else { continue };
        for (name, router) in &http.routers {
            c.router(provider, name, router, &mut per_ep);
        }
        // Services nobody references are still validated and reported.
        for name in http.services.keys() {
            let _ = c.service(&format!("{name}@{provider}"));
        }
        for name in http.middlewares.keys() {
            let _ = c.middleware(&format!("{name}@{provider}"));
        }
    }
    ctx.upstreams.retain(&c.transports_used);
    let mut report = c.report;
    report.certificates = tls
        .store
        .certificates()
        .iter()
        .filter_map(|k| k.cert.first().cloned())
        .collect();
    let acme_requests = c.acme_requests;
    let http = per_ep
        .into_iter()
        .zip(&ctx.entry_points)
        .map(|(mut ep, spec)| {
            for host in &ep.conflicts {
                ep.tls_hosts.remove(host);
                report.tls.push(format!(
                    "entryPoint {:?}: TLS routers for host {host:?} use different TLS options; the host uses \"default\"",
                    spec.name
                ));
            }
            let has_tls = !ep.secure.is_empty() || spec.tls.is_some();
            EntryPointTables {
                plain: RouterTable::new(ep.plain),
                secure: RouterTable::new(ep.secure),
                tls_hosts: ep.tls_hosts,
                has_tls,
            }
        })
        .collect();
    Snapshot {
        http,
        tls: Arc::new(tls),
        report,
        acme_requests,
    }
}

/// `tls.stores.default.defaultGeneratedCert`: its domain is ordered like a router's.
fn generated_cert_requests(
    configs: &BTreeMap<String, Arc<DynamicConfig>>,
) -> Vec<crate::acme::DomainRequest> {
    let mut out = Vec::new();
    for (provider, cfg) in configs {
        let Some(tls) = &cfg.tls else { continue };
        let Some(gen) = tls
            .stores
            .get("default")
            .and_then(|s| s.default_generated_cert.as_ref())
        else {
            continue;
        };
        out.push(crate::acme::DomainRequest {
            resolver: gen.resolver.clone().unwrap_or_default(),
            names: crate::acme::generated_cert_names(gen),
            origin: format!("tls.stores.default.defaultGeneratedCert@{provider}"),
        });
    }
    out
}

impl Compiler<'_> {
    fn router(&mut self, provider: &str, name: &str, router: &Router, per_ep: &mut [EpRoutes]) {
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

        // TLS: the router's own section, else its entry points' `http.tls` default.
        let router_tls_options = router
            .tls
            .as_ref()
            .map(|t| qualify_options(t.options.as_deref(), provider));
        let mut tls_per_ep: Vec<Option<Arc<str>>> = Vec::new();
        for &i in &eps {
            let ep_tls = self.ctx.entry_points[i].tls.as_ref();
            let options = router_tls_options
                .clone()
                .or_else(|| ep_tls.map(|t| qualify_options(t.options.as_deref(), provider)));
            if let Some(o) = &options {
                if !self.tls.configs.contains_key(o.as_str()) {
                    errors.push(format!("tls.options: unknown or invalid TLS options {o:?}"));
                }
            }
            tls_per_ep.push(options.map(Arc::from));
        }
        let resolver = router
            .tls
            .as_ref()
            .and_then(|t| t.cert_resolver.as_deref())
            .filter(|r| !r.is_empty());
        if let Some(Err(e)) = resolver.map(|r| self.ctx.acme.check(r)) {
            warnings.push(format!(
                "tls.certResolver: {e}; served with the configured certificates"
            ));
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
        let mut chain: Vec<Arc<dyn Middleware>> = Vec::new();
        for m in &middlewares {
            match self.middleware(m) {
                Ok(list) => chain.extend(list),
                Err(e) => errors.push(e),
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
                service: service_name.clone(),
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
            service_name: service_name.into(),
            middlewares: chain,
            service,
        });
        let precedence = self.ctx.precedence_rank(provider);
        let domains = rule.domains();
        if let Some(r) = resolver.filter(|r| self.ctx.acme.check(r).is_ok()) {
            self.acme_requests(r, &name, router, &domains);
        }
        for (&i, tls_options) in eps.iter().zip(tls_per_ep) {
            let ep = &mut per_ep[i];
            let route = Route {
                name: name.clone(),
                rule: rule.clone(),
                priority,
                precedence,
                tls_options: tls_options.clone(),
                handler: handler.clone(),
                observe: {
                    let ep_default = self.ctx.entry_points[i].observe;
                    let o = router.observability.as_ref();
                    crate::observe::record::Switches {
                        access_log: o
                            .and_then(|o| o.access_logs)
                            .unwrap_or(ep_default.access_log),
                        metrics: o.and_then(|o| o.metrics).unwrap_or(ep_default.metrics),
                        tracing: o.and_then(|o| o.tracing).unwrap_or(ep_default.tracing),
                    }
                },
            };
            match tls_options {
                None => ep.plain.push(route),
                Some(options) => {
                    for host in &domains {
                        match ep.tls_hosts.get(host) {
                            Some(existing) if *existing != options => {
                                ep.conflicts.insert(host.clone());
                            }
                            _ => {
                                ep.tls_hosts.insert(host.clone(), options.clone());
                            }
                        }
                    }
                    ep.secure.push(route);
                }
            }
        }
    }
}

impl Compiler<'_> {
    /// The certificates a router with `tls.certResolver` wants: one per `tls.domains` entry, else
    /// one for all its `Host()` names (as Traefik). Names that cannot be ordered are reported.
    fn acme_requests(&mut self, resolver: &str, router: &str, cfg: &Router, hosts: &[String]) {
        let sets: Vec<Vec<String>> = match cfg.tls.as_ref().map(|t| &t.domains) {
            Some(d) if !d.is_empty() => d.iter().map(crate::acme::domain_names).collect(),
            _ => vec![hosts.to_vec()],
        };
        for set in sets {
            let (names, bad): (Vec<String>, Vec<String>) =
                set.into_iter().partition(|n| crate::acme::valid_name(n));
            if !bad.is_empty() {
                self.report.tls.push(format!(
                    "router {router}: tls.certResolver {resolver:?}: cannot order a certificate for {bad:?}; skipped"
                ));
            }
            if !names.is_empty() {
                self.acme_requests.push(crate::acme::DomainRequest {
                    resolver: resolver.to_owned(),
                    names,
                    origin: router.to_owned(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualify_names() {
        assert_eq!(qualify("a", "file"), ("a".into(), "file".into()));
        assert_eq!(qualify("a@docker", "file"), ("a".into(), "docker".into()));
    }
}

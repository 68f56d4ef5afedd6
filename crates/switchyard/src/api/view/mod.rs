//! The API's picture of the runtime: every router, service and middleware the way Traefik 3.7's
//! `runtime.Configuration` holds it after a build, computed once per compilation from the merged
//! provider configurations, the static configuration and the compile [`Report`].
//!
//! Traefik's view has rules of its own that the API reproduces here:
//! - routers get the default entry points written in, and a router on an entry point with a
//!   "model" (`http.tls`, `http.middlewares`, `observability`, or `core.defaultRuleSyntax`) is
//!   copied per entry point (`<ep>-<name>` when it has several), with the model's TLS and
//!   middlewares applied;
//! - a router's errors stop at the first failure of its build (entry points, priority, TLS
//!   options, service, middlewares, then the rule), with Traefik's messages;
//! - services and middlewares only get errors (and load balancers a `serverStatus`) when a router
//!   build reaches them; `usedBy` lists the routers naming them directly.
//!
//! Object-level failures Traefik words its own way (a bad server URL, an invalid middleware
//! option) carry Switchyard's message from the report; a router the compiler disabled is never
//! shown enabled. TCP and UDP are not served by Switchyard yet: their objects are validated here
//! the way Traefik's builders would (entry points, references, types, rules).

mod http;
mod tcp;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use switchyard_model::config::dynamic::{DynamicConfig, Router, RouterObservability, RouterTls};
use switchyard_model::config::static_cfg::StaticConfig;
use switchyard_rule::Syntax;

use super::shape::Object;
use crate::runtime::report::Report;

/// Where a service's `serverStatus` comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Live {
    None,
    /// An HTTP load balancer: the live health state (`ServiceState::servers_of`), else (the
    /// compiler dropped it) its server URLs, up, as Traefik shows a built load balancer.
    Http(Vec<String>),
    /// A TCP load balancer: its addresses, shown up as Traefik shows them without health checks.
    Tcp(Vec<String>),
}

/// One router, service or middleware as the API lists it.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Qualified name.
    pub(crate) name: String,
    pub(crate) provider: String,
    /// The `/api/rawdata` object (no `name`, `provider`, `type`, `serverStatus`, `priorityStr`).
    pub(crate) json: Object,
    pub(crate) status: &'static str,
    /// Lower-case type (`loadbalancer`, `basicauth` …), empty when none.
    pub(crate) kind: String,
    pub(crate) rule: String,
    pub(crate) service: String,
    pub(crate) middlewares: Vec<String>,
    pub(crate) priority: i64,
    pub(crate) entry_points: usize,
    pub(crate) servers: usize,
    pub(crate) live: Live,
}

impl Entry {
    fn new(name: String, provider: &str, json: Object, status: &'static str) -> Self {
        Entry {
            name,
            provider: provider.to_owned(),
            json,
            status,
            kind: String::new(),
            rule: String::new(),
            service: String::new(),
            middlewares: Vec::new(),
            priority: 0,
            entry_points: 0,
            servers: 0,
            live: Live::None,
        }
    }
}

/// Everything the API shows about the dynamic configuration.
#[derive(Debug, Default)]
pub(crate) struct View {
    pub(crate) routers: BTreeMap<String, Entry>,
    pub(crate) services: BTreeMap<String, Entry>,
    pub(crate) middlewares: BTreeMap<String, Entry>,
    pub(crate) tcp_routers: BTreeMap<String, Entry>,
    pub(crate) tcp_services: BTreeMap<String, Entry>,
    pub(crate) tcp_middlewares: BTreeMap<String, Entry>,
    pub(crate) udp_routers: BTreeMap<String, Entry>,
    pub(crate) udp_services: BTreeMap<String, Entry>,
    /// The certificates served by name, each once.
    pub(crate) certificates: Vec<super::certs::Cert>,
}

/// An entry point's model: what Traefik applies to the routers on it.
#[derive(Debug, Clone, Default)]
struct Model {
    tls: Option<RouterTls>,
    middlewares: Vec<String>,
    observability: Option<RouterObservability>,
    rule_syntax: String,
}

/// What the view needs from the static configuration, fixed for the process lifetime.
#[derive(Debug, Default)]
pub(crate) struct Statics {
    /// Entry point name → UDP?
    udp: BTreeMap<String, bool>,
    models: BTreeMap<String, Model>,
    /// Entry points of routers that name none (sorted, as Traefik).
    default_eps: Vec<String>,
    default_syntax: Syntax,
    /// Internal services that exist (`api`, `ping` …), without `@internal`.
    internal_services: Vec<String>,
    /// Routers Traefik's internal provider defines that Switchyard handles outside routing (the
    /// ACME HTTP-01 challenge routers): shown as Traefik shows them.
    synthetic: BTreeMap<String, Router>,
}

impl Statics {
    pub(crate) fn new(cfg: &StaticConfig) -> Self {
        let udp: BTreeMap<String, bool> = cfg
            .entry_points
            .iter()
            .map(|(name, ep)| {
                let address = ep.address.as_deref().unwrap_or_default();
                let udp = address
                    .rsplit_once('/')
                    .is_some_and(|(_, p)| p.eq_ignore_ascii_case("udp"));
                (name.clone(), udp)
            })
            .collect();
        let any_default = cfg
            .entry_points
            .values()
            .any(|e| e.as_default.unwrap_or(false));
        let default_eps = cfg
            .entry_points
            .iter()
            .filter(|(_, e)| !any_default || e.as_default.unwrap_or(false))
            .filter(|(n, _)| !udp[*n] && n.as_str() != "traefik")
            .map(|(n, _)| n.clone())
            .collect();
        let rule_syntax = cfg
            .core
            .as_ref()
            .and_then(|c| c.default_rule_syntax.clone())
            .unwrap_or_default();
        let default_syntax = if rule_syntax.eq_ignore_ascii_case("v2") {
            Syntax::V2
        } else {
            Syntax::V3
        };
        let mut models = BTreeMap::new();
        for (name, ep) in &cfg.entry_points {
            let http = ep.http.as_ref();
            let middlewares = http.map(|h| h.middlewares.clone()).unwrap_or_default();
            let tls = http.and_then(|h| h.tls.clone());
            if middlewares.is_empty()
                && tls.is_none()
                && rule_syntax.is_empty()
                && ep.observability.is_none()
            {
                continue;
            }
            let observability = ep.observability.as_ref().map(|o| RouterObservability {
                access_logs: Some(o.access_logs.unwrap_or(true)),
                metrics: Some(o.metrics.unwrap_or(true)),
                tracing: Some(o.tracing.unwrap_or(true)),
                trace_verbosity: Some(
                    o.trace_verbosity
                        .clone()
                        .unwrap_or_else(|| "minimal".to_owned()),
                ),
            });
            models.insert(
                name.clone(),
                Model {
                    tls,
                    middlewares,
                    observability,
                    rule_syntax: rule_syntax.clone(),
                },
            );
        }
        let mut internal_services = vec!["noop".to_owned()];
        if let Some(api) = &cfg.api {
            internal_services.push("api".to_owned());
            if api.dashboard.unwrap_or(true) {
                internal_services.push("dashboard".to_owned());
            }
        }
        if cfg.ping.is_some() {
            internal_services.push("ping".to_owned());
        }
        if cfg.metrics.as_ref().is_some_and(|m| m.prometheus.is_some()) {
            internal_services.push("prometheus".to_owned());
        }
        if cfg.providers.as_ref().is_some_and(|p| p.rest.is_some()) {
            internal_services.push("rest".to_owned());
        }
        let synthetic = acme_routers(cfg);
        if !synthetic.is_empty() {
            internal_services.push("acme-http".to_owned());
        }
        Statics {
            udp,
            models,
            default_eps,
            default_syntax,
            internal_services,
            synthetic,
        }
    }

    fn is_tcp(&self, ep: &str) -> bool {
        self.udp.get(ep) == Some(&false)
    }

    fn is_udp(&self, ep: &str) -> bool {
        self.udp.get(ep) == Some(&true)
    }

    fn syntax(&self, rule_syntax: Option<&str>) -> Syntax {
        match rule_syntax {
            Some(s) if s.eq_ignore_ascii_case("v2") => Syntax::V2,
            Some(s) if s.eq_ignore_ascii_case("v3") => Syntax::V3,
            Some(s) if !s.is_empty() && !s.eq_ignore_ascii_case("default") => Syntax::V3,
            _ => self.default_syntax,
        }
    }
}

/// Traefik's `acme-http` (priority MaxInt64) and `acme-http-bypass` routers for the HTTP-01
/// challenge entry points (split by `allowACMEByPass`). Switchyard answers the challenges before
/// routing, so these exist only in the API.
fn acme_routers(cfg: &StaticConfig) -> BTreeMap<String, Router> {
    let mut eps: Vec<String> = Vec::new();
    let mut bypass: Vec<String> = Vec::new();
    for resolver in cfg.certificates_resolvers.values() {
        let Some(ep) = resolver
            .acme
            .as_ref()
            .and_then(|a| a.http_challenge.as_ref())
            .and_then(|h| h.entry_point.clone())
            .filter(|e| !e.is_empty())
        else {
            continue;
        };
        if eps.contains(&ep) || bypass.contains(&ep) {
            continue;
        }
        let allow = cfg
            .entry_points
            .get(&ep)
            .and_then(|e| e.allow_acme_by_pass)
            .unwrap_or(false);
        if allow {
            bypass.push(ep);
        } else {
            eps.push(ep);
        }
    }
    let router = |eps: Vec<String>, priority: Option<i64>, syntax: Option<&str>| Router {
        entry_points: eps,
        rule: Some("PathPrefix(`/.well-known/acme-challenge/`)".to_owned()),
        rule_syntax: syntax.map(str::to_owned),
        service: Some("acme-http@internal".to_owned()),
        priority,
        ..Router::default()
    };
    let mut out = BTreeMap::new();
    if !eps.is_empty() {
        out.insert(
            "acme-http".to_owned(),
            router(eps, Some(i64::MAX), Some("default")),
        );
    }
    // Traefik sets no syntax on the bypass router.
    if !bypass.is_empty() {
        out.insert("acme-http-bypass".to_owned(), router(bypass, None, None));
    }
    out
}

/// Errors of one object: deduplicated, critical ones disable it.
#[derive(Debug, Default)]
struct Errors {
    list: Vec<String>,
    critical: bool,
}

impl Errors {
    fn add(&mut self, e: String, critical: bool) {
        if !self.list.contains(&e) {
            self.list.push(e);
        }
        self.critical |= critical;
    }

    fn status(&self) -> &'static str {
        if self.critical {
            "disabled"
        } else if self.list.is_empty() {
            "enabled"
        } else {
            "warning"
        }
    }
}

/// A service or middleware while routers are built.
struct Node<'a, T> {
    cfg: Option<&'a T>,
    provider: String,
    errors: Errors,
    used_by: Vec<String>,
    /// The build reached it (load balancers: their servers are live).
    reached: bool,
    result: Option<Result<(), String>>,
}

impl<'a, T> Node<'a, T> {
    fn new(cfg: Option<&'a T>, provider: &str) -> Self {
        Node {
            cfg,
            provider: provider.to_owned(),
            errors: Errors::default(),
            used_by: Vec::new(),
            reached: false,
            result: None,
        }
    }
}

/// Builds the view.
pub(crate) fn build(
    st: &Statics,
    configs: &BTreeMap<String, Arc<DynamicConfig>>,
    report: &Report,
) -> View {
    let mut certificates: Vec<super::certs::Cert> = Vec::new();
    for der in &report.certificates {
        if let Some(c) = super::certs::Cert::parse(der) {
            if !certificates.iter().any(|x| x.name == c.name) {
                certificates.push(c);
            }
        }
    }
    let mut view = View {
        certificates,
        ..View::default()
    };
    http::Http::new(st, configs, report).run(&mut view);
    tcp::Tcp::new(st, configs).run(&mut view);
    tcp::udp(st, configs, &mut view);
    view
}

/// A derived router: Traefik's name, its configuration after the model, and where it came from.
struct Derived {
    name: String,
    router: Router,
    original: String,
}

/// Applies default entry points and entry point models to `name`'s router.
fn derive(st: &Statics, name: &str, r: &Router) -> Vec<Derived> {
    let mut base = r.clone();
    if base.entry_points.is_empty() {
        base.entry_points = st.default_eps.clone();
    }
    let original = name.to_owned();
    if st.models.is_empty() || !r.parent_refs.is_empty() {
        return vec![Derived {
            name: original.clone(),
            router: base,
            original,
        }];
    }
    if base.rule_syntax.as_deref().unwrap_or_default().is_empty() {
        if let Some(m) = st.models.values().next() {
            base.rule_syntax = Some(m.rule_syntax.clone()).filter(|s| !s.is_empty());
        }
    }
    let eps = std::mem::take(&mut base.entry_points);
    let mut out = Vec::new();
    let mut plain = false;
    for ep in &eps {
        match st.models.get(ep) {
            Some(m) => {
                let mut cp = base.clone();
                cp.entry_points = vec![ep.clone()];
                if cp.tls.is_none() {
                    cp.tls = m.tls.clone();
                }
                cp.middlewares = m
                    .middlewares
                    .iter()
                    .chain(&base.middlewares)
                    .cloned()
                    .collect();
                if let Some(mo) = &m.observability {
                    // A router's own section got `traceVerbosity: minimal` when it was decoded.
                    if let Some(o) = &mut cp.observability {
                        o.trace_verbosity
                            .get_or_insert_with(|| "minimal".to_owned());
                    }
                    let o = cp.observability.get_or_insert_with(Default::default);
                    if o.access_logs.is_none() {
                        o.access_logs = mo.access_logs;
                    }
                    if o.metrics.is_none() {
                        o.metrics = mo.metrics;
                    }
                    if o.tracing.is_none() {
                        o.tracing = mo.tracing;
                    }
                    if o.trace_verbosity.is_none() {
                        o.trace_verbosity = mo.trace_verbosity.clone();
                    }
                }
                let n = if eps.len() > 1 {
                    format!("{ep}-{name}")
                } else {
                    name.to_owned()
                };
                out.push(Derived {
                    name: n,
                    router: cp,
                    original: original.clone(),
                });
            }
            None => {
                base.entry_points.push(ep.clone());
                plain = true;
            }
        }
    }
    if plain {
        out.push(Derived {
            name: original.clone(),
            router: base,
            original,
        });
    }
    out
}

fn observability(r: &Router) -> Value {
    let o = r.observability.clone().unwrap_or_default();
    serde_json::json!({
        "accessLogs": o.access_logs.unwrap_or(true),
        "metrics": o.metrics.unwrap_or(true),
        "tracing": o.tracing.unwrap_or(true),
        "traceVerbosity": o.trace_verbosity.unwrap_or_else(|| "minimal".to_owned()),
    })
}

/// What HTTP and TCP routers show alike: the configured fields they share, and the list entry.
struct RouterFields<'a> {
    entry_points: &'a [String],
    middlewares: &'a [String],
    service: String,
    rule: String,
    rule_syntax: Option<&'a str>,
    priority: i64,
}

impl RouterFields<'_> {
    /// Adds the shared configured fields (those that are set) to `json`.
    fn insert(&self, json: &mut Object) {
        if !self.entry_points.is_empty() {
            json.insert("entryPoints".into(), strings(self.entry_points));
        }
        if !self.middlewares.is_empty() {
            json.insert("middlewares".into(), strings(self.middlewares));
        }
        if !self.service.is_empty() {
            json.insert("service".into(), Value::from(self.service.clone()));
        }
        if !self.rule.is_empty() {
            json.insert("rule".into(), Value::from(self.rule.clone()));
        }
        if let Some(s) = self.rule_syntax.filter(|s| !s.is_empty()) {
            json.insert("ruleSyntax".into(), Value::from(s));
        }
        if self.priority != 0 {
            json.insert("priority".into(), Value::from(self.priority));
        }
    }

    /// Adds `error`, `status` and `using`, and makes the list entry.
    fn entry(
        self,
        name: String,
        provider: &str,
        mut json: Object,
        errors: &Errors,
        using: &[String],
    ) -> Entry {
        let status = errors.status();
        if !errors.list.is_empty() {
            json.insert("error".into(), strings(&errors.list));
        }
        json.insert("status".into(), Value::from(status));
        if !using.is_empty() {
            json.insert("using".into(), strings(using));
        }
        let mut e = Entry::new(name, provider, json, status);
        e.rule = self.rule;
        e.service = self.service;
        e.middlewares = self.middlewares.to_vec();
        e.priority = self.priority;
        e.entry_points = self.entry_points.len();
        e
    }
}

fn strings(v: &[String]) -> Value {
    Value::from(v.to_vec())
}

fn type_kind(types: &[&str]) -> String {
    types.first().map(|t| t.to_lowercase()).unwrap_or_default()
}

fn finish(json: &mut Object, errors: &Errors, used_by: &mut [String]) -> &'static str {
    if !errors.list.is_empty() {
        json.insert("error".into(), strings(&errors.list));
    }
    let status = errors.status();
    json.insert("status".into(), Value::from(status));
    used_by.sort();
    if !used_by.is_empty() {
        json.insert("usedBy".into(), strings(used_by));
    }
    status
}

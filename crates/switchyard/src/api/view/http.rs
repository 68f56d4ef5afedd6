//! The HTTP side of the emulated build: routers (entry points, priority, TLS options, service,
//! middlewares, rule, in Traefik's order), services and middlewares (existence, types, children,
//! the compiler's verdict on their own options), then `usedBy`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde_json::Value;
use switchyard_model::config::dynamic::{DynamicConfig, Middleware, Router, Service};
use switchyard_rule::HttpRule;

use super::super::query::qualify;
use super::super::shape::{self, Object};
use super::{derive, finish, observability, strings, type_kind, RouterFields};
use super::{Derived, Entry, Errors, Live, Node, Statics, View};
use crate::runtime::internal;
use crate::runtime::report::{Report, Status};

/// Errors of Switchyard's compiler that wrap a child's failure: the view words those itself.
const CHILD_ERRORS: &[&str] = &[
    "weighted.services[",
    "highestRandomWeight.services[",
    "mirroring.service",
    "mirroring.mirrors[",
    "failover.service",
    "failover.fallback",
    "middlewares[",
    "chain.middlewares[",
    "errors.service",
];

fn own_error(e: &str) -> bool {
    !CHILD_ERRORS.iter().any(|p| e.starts_with(p))
}

/// The HTTP side of the emulated build.
pub(super) struct Http<'a> {
    st: &'a Statics,
    configs: &'a BTreeMap<String, Arc<DynamicConfig>>,
    report: &'a Report,
    services: BTreeMap<String, Node<'a, Service>>,
    middlewares: BTreeMap<String, Node<'a, Middleware>>,
    tls_options: HashSet<String>,
    visiting: HashSet<String>,
}

impl<'a> Http<'a> {
    pub(super) fn new(
        st: &'a Statics,
        configs: &'a BTreeMap<String, Arc<DynamicConfig>>,
        report: &'a Report,
    ) -> Self {
        let mut services = BTreeMap::new();
        let mut middlewares = BTreeMap::new();
        let mut tls_options = HashSet::new();
        for name in &st.internal_services {
            services.insert(
                format!("{name}@{}", internal::PROVIDER),
                Node::new(None, internal::PROVIDER),
            );
        }
        for (provider, cfg) in configs {
            if let Some(http) = &cfg.http {
                for (name, s) in &http.services {
                    services.insert(format!("{name}@{provider}"), Node::new(Some(s), provider));
                }
                for (name, m) in &http.middlewares {
                    middlewares.insert(format!("{name}@{provider}"), Node::new(Some(m), provider));
                }
            }
            if let Some(tls) = &cfg.tls {
                tls_options.extend(tls.options.keys().map(|o| {
                    if o == "default" {
                        o.clone()
                    } else {
                        format!("{o}@{provider}")
                    }
                }));
            }
        }
        Http {
            st,
            configs,
            report,
            services,
            middlewares,
            tls_options,
            visiting: HashSet::new(),
        }
    }

    pub(super) fn run(mut self, view: &mut View) {
        let configs = self.configs;
        let st = self.st;
        for (name, r) in &st.synthetic {
            for d in derive(st, name, r) {
                let entry = self.router(internal::PROVIDER, d);
                view.routers.insert(entry.name.clone(), entry);
            }
        }
        for (provider, cfg) in configs {
            let Some(http) = &cfg.http else { continue };
            for (name, r) in &http.routers {
                let mut r = std::borrow::Cow::Borrowed(r);
                if provider == internal::PROVIDER && r.rule_syntax.is_none() {
                    r.to_mut().rule_syntax = Some("default".to_owned());
                }
                for d in derive(self.st, name, &r) {
                    let entry = self.router(provider, d);
                    view.routers.insert(entry.name.clone(), entry);
                }
            }
        }
        // usedBy: routers naming a service or middleware directly.
        for r in view.routers.values() {
            if !r.service.is_empty() {
                if let Some(s) = self.services.get_mut(&qualify(&r.service, &r.provider)) {
                    s.used_by.push(r.name.clone());
                }
            }
            for m in &r.middlewares {
                if let Some(n) = self.middlewares.get_mut(&qualify(m, &r.provider)) {
                    n.used_by.push(r.name.clone());
                }
            }
        }
        for (name, node) in std::mem::take(&mut self.services) {
            view.services
                .insert(name.clone(), service_entry(name, node));
        }
        for (name, node) in std::mem::take(&mut self.middlewares) {
            view.middlewares
                .insert(name.clone(), middleware_entry(name, node));
        }
    }

    fn router(&mut self, provider: &str, d: Derived) -> Entry {
        let Derived {
            name,
            mut router,
            original,
        } = d;
        let qualified = format!("{name}@{provider}");
        let mut errors = Errors::default();
        let rule = router.rule.clone().unwrap_or_default();
        let using: Vec<String> = router
            .entry_points
            .iter()
            .filter(|ep| self.st.is_tcp(ep))
            .cloned()
            .collect();
        for ep in &router.entry_points {
            if !self.st.is_tcp(ep) {
                errors.add(format!("entryPoint {ep:?} doesn't exist"), false);
            }
        }
        let mut priority = router.priority.unwrap_or(0);
        if using.is_empty() {
            errors.add("no valid entryPoint for this router".to_owned(), true);
        } else {
            if priority == 0 {
                priority = i64::try_from(rule.len()).unwrap_or(i64::MAX);
            }
            if priority > internal::MAX_USER_PRIORITY && provider != internal::PROVIDER {
                errors.add(
                    format!(
                        "the router priority {priority} exceeds the max user-defined priority {}",
                        internal::MAX_USER_PRIORITY
                    ),
                    true,
                );
            } else {
                self.build_router(provider, &mut router, &rule, &mut errors);
            }
        }
        // Never show enabled what the compiler disabled.
        if let Some(rep) = self.report.routers.get(&format!("{original}@{provider}")) {
            if rep.status == Status::Disabled && !errors.critical {
                for e in &rep.error {
                    errors.add(e.clone(), true);
                }
                errors.critical = true;
            }
        }
        let fields = RouterFields {
            entry_points: &router.entry_points,
            middlewares: &router.middlewares,
            service: router.service.clone().unwrap_or_default(),
            rule,
            rule_syntax: router.rule_syntax.as_deref(),
            priority,
        };
        let mut json = Object::new();
        fields.insert(&mut json);
        if let Some(tls) = &router.tls {
            json.insert("tls".into(), Value::Object(shape::object(tls)));
        }
        if !router.parent_refs.is_empty() {
            json.insert("parentRefs".into(), strings(&router.parent_refs));
        }
        json.insert("observability".into(), observability(&router));
        fields.entry(qualified, provider, json, &errors, &using)
    }

    /// Traefik's `buildRouterHandler`, then the rule: stops at the first failure.
    fn build_router(
        &mut self,
        provider: &str,
        router: &mut Router,
        rule: &str,
        errors: &mut Errors,
    ) {
        if let Some(tls) = &router.tls {
            let options = tls.options.as_deref().unwrap_or_default();
            if !options.is_empty() && options != "default" {
                let q = qualify(options, provider);
                if !self.tls_options.contains(&q) {
                    errors.add(
                        format!("building router handler: unknown TLS options: {q}"),
                        true,
                    );
                    return;
                }
            }
        }
        router.middlewares = router
            .middlewares
            .iter()
            .map(|m| qualify(m, provider))
            .collect();
        let service = router.service.as_deref().unwrap_or_default();
        if service.is_empty() {
            errors.add(
                "router has no service and no child routers".to_owned(),
                true,
            );
            errors.add(
                "router must have either a service or child routers".to_owned(),
                true,
            );
            return;
        }
        if let Err(e) = self.service(&qualify(service, provider)) {
            errors.add(e, true);
            return;
        }
        for m in router.middlewares.clone() {
            if let Err(e) = self.middleware(&m) {
                errors.add(e, true);
                return;
            }
        }
        let syntax = self.st.syntax(router.rule_syntax.as_deref());
        if let Err(e) = HttpRule::parse(rule, syntax) {
            errors.add(format!("error while parsing rule {rule}: {e}"), true);
            if router.tls.is_some() {
                errors.add(
                    format!("invalid rule {rule}, error: error while parsing rule {rule}: {e}"),
                    true,
                );
            }
        }
    }

    /// The compiler's own verdict on a service or middleware, unless it is about a child.
    fn reported(&self, q: &str, middleware: bool) -> Result<(), String> {
        let rep = if middleware {
            self.report.middlewares.get(q)
        } else {
            self.report.services.get(q)
        };
        match rep {
            Some(r) if r.status == Status::Disabled => match r.error.first() {
                Some(e) if own_error(e) => Err(e.clone()),
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }

    fn service(&mut self, q: &str) -> Result<(), String> {
        if let Some(name) = q.strip_suffix("@internal") {
            if self.services.contains_key(q) || name == "whoami" {
                if let Some(n) = self.services.get_mut(q) {
                    n.reached = true;
                }
                return Ok(());
            }
            return Err(match name {
                "api" | "dashboard" | "ping" | "prometheus" | "rest" => {
                    format!("{name} is not enabled")
                }
                _ => format!("the service {q:?} does not exist"),
            });
        }
        let Some(node) = self.services.get_mut(q) else {
            return Err(format!("the service {q:?} does not exist"));
        };
        if let Some(done) = &node.result {
            return done.clone();
        }
        let (Some(cfg), provider) = (node.cfg, node.provider.clone()) else {
            return Ok(());
        };
        if !self.visiting.insert(q.to_owned()) {
            return Err(format!("the service {q:?} references itself (cycle)"));
        }
        let result = self.build_service(q, cfg, &provider);
        self.visiting.remove(q);
        if let Some(node) = self.services.get_mut(q) {
            if let Err(e) = &result {
                node.errors.add(e.clone(), true);
            }
            node.result = Some(result.clone());
        }
        result
    }

    fn build_service(&mut self, q: &str, cfg: &'a Service, provider: &str) -> Result<(), String> {
        let types = cfg.type_names();
        if types.len() > 1 {
            return Err("cannot create service: multi-types service not supported, consider declaring two different pieces of service instead".to_owned());
        }
        if cfg.load_balancer.is_some() {
            self.reported(q, false)?;
            // Built: its servers have a status.
            if let Some(node) = self.services.get_mut(q) {
                node.reached = true;
            }
        } else if let Some(w) = &cfg.weighted {
            for s in &w.services {
                let name = s.name.as_deref().unwrap_or_default();
                self.service(&qualify(name, provider))
                    .map_err(|e| format!("building HTTP service {name:?}: {e}"))?;
            }
            self.reported(q, false)?;
        } else if let Some(h) = &cfg.highest_random_weight {
            for s in &h.services {
                let name = s.name.as_deref().unwrap_or_default();
                self.service(&qualify(name, provider))
                    .map_err(|e| format!("building HTTP service {name:?}: {e}"))?;
            }
            self.reported(q, false)?;
        } else if let Some(m) = &cfg.mirroring {
            self.service(&qualify(m.service.as_deref().unwrap_or_default(), provider))?;
            for mirror in &m.mirrors {
                self.service(&qualify(
                    mirror.name.as_deref().unwrap_or_default(),
                    provider,
                ))?;
            }
            self.reported(q, false)?;
        } else if let Some(f) = &cfg.failover {
            self.service(&qualify(f.service.as_deref().unwrap_or_default(), provider))?;
            self.reported(q, false)?;
            self.service(&qualify(
                f.fallback.as_deref().unwrap_or_default(),
                provider,
            ))?;
        } else {
            return Err(format!("the service {q:?} does not have any type defined"));
        }
        for m in &cfg.middlewares {
            self.middleware(&qualify(m, provider))?;
        }
        Ok(())
    }

    fn middleware(&mut self, q: &str) -> Result<(), String> {
        let Some(node) = self.middlewares.get_mut(q) else {
            return Err(format!("middleware {q:?} does not exist"));
        };
        if let Some(done) = &node.result {
            return done.clone();
        }
        node.reached = true;
        let (Some(cfg), provider) = (node.cfg, node.provider.clone()) else {
            return Ok(());
        };
        if !self.visiting.insert(format!("middleware:{q}")) {
            return Err(format!("the middleware {q:?} references itself (cycle)"));
        }
        let result = self.build_middleware(q, cfg, &provider);
        self.visiting.remove(&format!("middleware:{q}"));
        if let Some(node) = self.middlewares.get_mut(q) {
            if let Err(e) = &result {
                node.errors.add(e.clone(), true);
            }
            node.result = Some(result.clone());
        }
        result
    }

    fn build_middleware(
        &mut self,
        q: &str,
        cfg: &'a Middleware,
        provider: &str,
    ) -> Result<(), String> {
        match cfg.type_names().len() {
            0 => {
                return Err(format!(
                "invalid middleware {q:?} configuration: invalid middleware type or middleware does not exist"
            ))
            }
            1 => {}
            _ => return Err("cannot create middleware: multi-types middleware not supported, consider declaring two different pieces of middleware instead".to_owned()),
        }
        if let Some(chain) = &cfg.chain {
            for m in &chain.middlewares {
                self.middleware(&qualify(m, provider))?;
            }
        }
        if let Some(e) = &cfg.errors {
            let service = e.service.as_deref().unwrap_or_default();
            if !service.is_empty() {
                self.service(&qualify(service, provider))?;
            }
        }
        self.reported(q, true)
    }
}

fn service_entry(name: String, mut node: Node<'_, Service>) -> Entry {
    let Some(cfg) = node.cfg else {
        let mut json = Object::new();
        let status = finish(&mut json, &node.errors, &mut node.used_by);
        return Entry::new(name, &node.provider, json, status);
    };
    let transport = cfg
        .load_balancer
        .as_ref()
        .and_then(|lb| lb.servers_transport.as_deref())
        .filter(|t| node.reached && !t.is_empty())
        .map(|t| qualify(t, &node.provider));
    let mut json = shape::http_service(cfg, &name, transport);
    let status = finish(&mut json, &node.errors, &mut node.used_by);
    let mut e = Entry::new(name, &node.provider, json, status);
    e.kind = type_kind(&cfg.type_names());
    if let Some(lb) = &cfg.load_balancer {
        e.servers = lb.servers.len();
        if node.reached {
            e.live = Live::Http(
                lb.servers
                    .iter()
                    .map(|s| s.url.clone().unwrap_or_default())
                    .collect(),
            );
        }
    }
    e
}

fn middleware_entry(name: String, mut node: Node<'_, Middleware>) -> Entry {
    let Some(cfg) = node.cfg else {
        let mut json = Object::new();
        let status = finish(&mut json, &node.errors, &mut node.used_by);
        return Entry::new(name, &node.provider, json, status);
    };
    let mut json = shape::http_middleware(cfg, &node.provider, node.reached);
    let status = finish(&mut json, &node.errors, &mut node.used_by);
    let mut e = Entry::new(name, &node.provider, json, status);
    let types = cfg.type_names();
    e.kind = match types.first() {
        Some(&"plugin") => cfg
            .plugin
            .keys()
            .next()
            .map(|k| k.to_lowercase())
            .unwrap_or_default(),
        _ => type_kind(&types),
    };
    e
}

//! The TCP and UDP sides of the emulated build. Switchyard does not route TCP or UDP yet: these
//! objects are validated the way Traefik's builders would (entry points, references, types, TLS
//! options, rules), with Traefik's messages.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde_json::Value;
use switchyard_model::config::dynamic::{
    DynamicConfig, TcpMiddleware, TcpRouter, TcpService, UdpRouter, UdpService,
};
use switchyard_rule::TcpRule;

use super::super::query::qualify;
use super::super::shape::{self, Object};
use super::{finish, strings, type_kind, Entry, Errors, Live, Node, RouterFields, Statics, View};

/// The TCP side of the emulated build.
pub(super) struct Tcp<'a> {
    st: &'a Statics,
    configs: &'a BTreeMap<String, Arc<DynamicConfig>>,
    services: BTreeMap<String, Node<'a, TcpService>>,
    middlewares: BTreeMap<String, Node<'a, TcpMiddleware>>,
    tls_options: HashSet<String>,
    visiting: HashSet<String>,
}

impl<'a> Tcp<'a> {
    pub(super) fn new(st: &'a Statics, configs: &'a BTreeMap<String, Arc<DynamicConfig>>) -> Self {
        let mut services = BTreeMap::new();
        let mut middlewares = BTreeMap::new();
        let mut tls_options = HashSet::new();
        for (provider, cfg) in configs {
            if let Some(tcp) = &cfg.tcp {
                for (name, s) in &tcp.services {
                    services.insert(format!("{name}@{provider}"), Node::new(Some(s), provider));
                }
                for (name, m) in &tcp.middlewares {
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
        Tcp {
            st,
            configs,
            services,
            middlewares,
            tls_options,
            visiting: HashSet::new(),
        }
    }

    pub(super) fn run(mut self, view: &mut View) {
        let configs = self.configs;
        for (provider, cfg) in configs {
            let Some(tcp) = &cfg.tcp else { continue };
            for (name, r) in &tcp.routers {
                let entry = self.router(provider, name, r);
                view.tcp_routers.insert(entry.name.clone(), entry);
            }
        }
        for r in view.tcp_routers.values() {
            if let Some(s) = self.services.get_mut(&qualify(&r.service, &r.provider)) {
                s.used_by.push(r.name.clone());
            }
        }
        for (name, mut node) in std::mem::take(&mut self.services) {
            let Some(cfg) = node.cfg else { continue };
            let transport = cfg
                .load_balancer
                .as_ref()
                .and_then(|lb| lb.servers_transport.as_deref())
                .filter(|t| node.reached && !t.is_empty())
                .map(|t| qualify(t, &node.provider));
            let mut json = shape::tcp_service(cfg, transport);
            let status = finish(&mut json, &node.errors, &mut node.used_by);
            let mut e = Entry::new(name.clone(), &node.provider, json, status);
            e.kind = type_kind(&cfg.type_names());
            if let Some(lb) = &cfg.load_balancer {
                e.servers = lb.servers.len();
                if node.reached {
                    e.live = Live::Tcp(
                        lb.servers
                            .iter()
                            .map(|s| s.address.clone().unwrap_or_default())
                            .collect(),
                    );
                }
            }
            view.tcp_services.insert(name, e);
        }
        // Traefik does not fill `usedBy` for TCP middlewares.
        for (name, node) in std::mem::take(&mut self.middlewares) {
            let Some(cfg) = node.cfg else { continue };
            let mut json = shape::object(cfg);
            let status = finish(&mut json, &node.errors, &mut Vec::new());
            let mut e = Entry::new(name.clone(), &node.provider, json, status);
            e.kind = type_kind(&cfg.type_names());
            view.tcp_middlewares.insert(name, e);
        }
    }

    fn router(&mut self, provider: &str, name: &str, r: &TcpRouter) -> Entry {
        let mut router = r.clone();
        if router.entry_points.is_empty() {
            router.entry_points = self.st.default_eps.clone();
        }
        // `core.defaultRuleSyntax` gives every entry point a TCP model with that syntax.
        if router.rule_syntax.as_deref().unwrap_or_default().is_empty() {
            router.rule_syntax = self
                .st
                .models
                .values()
                .next()
                .map(|m| m.rule_syntax.clone())
                .filter(|s| !s.is_empty());
        }
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
            let syntax = self.st.syntax(router.rule_syntax.as_deref());
            let parsed = TcpRule::parse(&rule, syntax);
            if priority == 0 {
                priority = match &parsed {
                    Ok(p) if p.is_catch_all() => -1,
                    _ => i64::try_from(rule.len()).unwrap_or(i64::MAX),
                };
            }
            self.build_router(provider, &mut router, &rule, parsed, &mut errors);
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
            json.insert("tls".into(), Value::Object(shape::tcp_router_tls(tls)));
        }
        fields.entry(
            format!("{name}@{provider}"),
            provider,
            json,
            &errors,
            &using,
        )
    }

    fn build_router(
        &mut self,
        provider: &str,
        router: &mut TcpRouter,
        rule: &str,
        parsed: Result<TcpRule, switchyard_rule::RuleError>,
        errors: &mut Errors,
    ) {
        let service = router.service.clone().unwrap_or_default();
        if service.is_empty() {
            errors.add("the service is missing on the router".to_owned(), true);
            return;
        }
        if rule.is_empty() {
            errors.add("router has no rule".to_owned(), true);
            return;
        }
        let domains = match parsed {
            Ok(p) => p.domains(),
            Err(e) => {
                errors.add(format!("invalid rule: {rule:?} , {e}"), true);
                return;
            }
        };
        let tls = router.tls.clone();
        if tls.is_none() && domains.first().is_some_and(|d| d != "*") {
            errors.add(
                format!("invalid rule: {rule:?} , has HostSNI matcher, but no TLS on router"),
                true,
            );
            return;
        }
        let terminating = tls
            .as_ref()
            .is_some_and(|t| !t.passthrough.unwrap_or(false));
        if terminating && !domains.is_empty() {
            let options = tls
                .as_ref()
                .and_then(|t| t.options.as_deref())
                .unwrap_or_default();
            if !options.is_empty() && options != "default" {
                let q = qualify(options, provider);
                if !self.tls_options.contains(&q) {
                    errors.add(format!("unknown TLS options: {q}"), true);
                    return;
                }
            }
        }
        router.middlewares = router
            .middlewares
            .iter()
            .map(|m| qualify(m, provider))
            .collect();
        if let Err(e) = self.service(&qualify(&service, provider)) {
            errors.add(e, true);
            return;
        }
        for m in router.middlewares.clone() {
            if let Err(e) = self.middleware(&m) {
                errors.add(e, true);
                return;
            }
        }
    }

    fn service(&mut self, q: &str) -> Result<(), String> {
        let Some(node) = self.services.get_mut(q) else {
            return Err(format!("the service {q:?} does not exist"));
        };
        if let Some(done) = &node.result {
            return done.clone();
        }
        let (Some(cfg), provider) = (node.cfg, node.provider.clone()) else {
            return Ok(());
        };
        node.reached = cfg.type_names().len() == 1 && cfg.load_balancer.is_some();
        if !self.visiting.insert(q.to_owned()) {
            return Err(format!("the service {q:?} references itself (cycle)"));
        }
        let result = match (cfg.type_names().len(), &cfg.weighted) {
            (0, _) => Err(format!("the service {q:?} does not have any type defined")),
            (1, Some(w)) => w.services.iter().try_for_each(|s| {
                self.service(&qualify(s.name.as_deref().unwrap_or_default(), &provider))
            }),
            (1, None) => Ok(()),
            _ => Err("cannot create service: multi-types service not supported, consider declaring two different pieces of service instead".to_owned()),
        };
        self.visiting.remove(q);
        if let Some(node) = self.services.get_mut(q) {
            if let Err(e) = &result {
                node.errors.add(e.clone(), true);
            }
            node.result = Some(result.clone());
        }
        result
    }

    fn middleware(&mut self, q: &str) -> Result<(), String> {
        let Some(node) = self.middlewares.get_mut(q) else {
            return Err(format!("middleware {q:?} does not exist"));
        };
        if let Some(done) = &node.result {
            return done.clone();
        }
        node.reached = true;
        let result = match node.cfg.map(|c| c.type_names().len()) {
            Some(1) => Ok(()),
            Some(0) => Err(format!(
                "invalid middleware {q:?} configuration: invalid middleware type or middleware does not exist"
            )),
            _ => Err("cannot create middleware: multi-types middleware not supported, consider declaring two different pieces of middleware instead".to_owned()),
        };
        if let Err(e) = &result {
            node.errors.add(e.clone(), true);
        }
        node.result = Some(result.clone());
        result
    }
}

/// The UDP side: routers (entry points, service) and services.
pub(super) fn udp(st: &Statics, configs: &BTreeMap<String, Arc<DynamicConfig>>, view: &mut View) {
    let mut services: BTreeMap<String, Node<'_, UdpService>> = BTreeMap::new();
    for (provider, cfg) in configs {
        if let Some(udp) = &cfg.udp {
            for (name, s) in &udp.services {
                services.insert(format!("{name}@{provider}"), Node::new(Some(s), provider));
            }
        }
    }
    for (provider, cfg) in configs {
        let Some(udp) = &cfg.udp else { continue };
        for (name, r) in &udp.routers {
            let entry = udp_router(st, provider, name, r, &mut services);
            view.udp_routers.insert(entry.name.clone(), entry);
        }
    }
    for (name, mut node) in services {
        let Some(cfg) = node.cfg else { continue };
        let mut json = shape::udp_service(cfg);
        let status = finish(&mut json, &node.errors, &mut node.used_by);
        let mut e = Entry::new(name.clone(), &node.provider, json, status);
        e.kind = type_kind(&cfg.type_names());
        e.servers = cfg.load_balancer.as_ref().map_or(0, |lb| lb.servers.len());
        view.udp_services.insert(name, e);
    }
}

fn udp_router(
    st: &Statics,
    provider: &str,
    name: &str,
    r: &UdpRouter,
    services: &mut BTreeMap<String, Node<'_, UdpService>>,
) -> Entry {
    let mut errors = Errors::default();
    let using: Vec<String> = if r.entry_points.is_empty() {
        st.udp
            .iter()
            .filter(|(_, udp)| **udp)
            .map(|(n, _)| n.clone())
            .collect()
    } else {
        for ep in &r.entry_points {
            if !st.is_udp(ep) {
                errors.add(format!("entryPoint {ep:?} doesn't exist"), false);
            }
        }
        r.entry_points
            .iter()
            .filter(|ep| st.is_udp(ep))
            .cloned()
            .collect()
    };
    let service = r.service.clone().unwrap_or_default();
    let qualified_service = qualify(&service, provider);
    if using.is_empty() {
        errors.add("no valid entryPoint for this router".to_owned(), true);
    } else if let Err(e) = udp_service_build(&qualified_service, services) {
        errors.add(e, true);
    }
    if let Some(node) = services.get_mut(&qualified_service) {
        node.used_by.push(format!("{name}@{provider}"));
    }
    let mut json = Object::new();
    if !r.entry_points.is_empty() {
        json.insert("entryPoints".into(), strings(&r.entry_points));
    }
    if !service.is_empty() {
        json.insert("service".into(), Value::from(service.clone()));
    }
    let status = errors.status();
    if !errors.list.is_empty() {
        json.insert("error".into(), strings(&errors.list));
    }
    json.insert("status".into(), Value::from(status));
    if !using.is_empty() {
        json.insert("using".into(), strings(&using));
    }
    let mut e = Entry::new(format!("{name}@{provider}"), provider, json, status);
    e.service = service;
    e.entry_points = r.entry_points.len();
    e
}

fn udp_service_build(
    q: &str,
    services: &mut BTreeMap<String, Node<'_, UdpService>>,
) -> Result<(), String> {
    let Some(node) = services.get_mut(q) else {
        return Err(format!("the UDP service {q:?} does not exist"));
    };
    if let Some(done) = &node.result {
        return done.clone();
    }
    node.reached = true;
    let provider = node.provider.clone();
    // Mark before descending: a cycle ends at the memo.
    node.result = Some(Ok(()));
    let result = match node.cfg.map(|c| (c.type_names().len(), c.weighted.clone())) {
        Some((1, Some(w))) => w.services.iter().try_for_each(|s| {
            udp_service_build(
                &qualify(s.name.as_deref().unwrap_or_default(), &provider),
                services,
            )
        }),
        Some((1, None)) => Ok(()),
        Some((0, _)) => Err(format!(
            "the UDP service {q:?} does not have any type defined"
        )),
        _ => Err("cannot create service: multi-types service not supported, consider declaring two different pieces of service instead".to_owned()),
    };
    if let Some(node) = services.get_mut(q) {
        if let Err(e) = &result {
            node.errors.add(e.clone(), true);
        }
        node.result = Some(result.clone());
    }
    result
}

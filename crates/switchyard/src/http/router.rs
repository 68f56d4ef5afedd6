//! The per-entry-point route table. Routes are kept in Traefik's order (priority descending, then
//! provider precedence, then name) and the first match wins. To avoid scanning every router, routes
//! whose rule can only match a fixed set of exact hosts are indexed by host; a lookup walks the
//! host's bucket and the host-independent routes together, in table order.

use std::collections::HashMap;
use std::sync::Arc;

use switchyard_rule::{HttpRequestView, HttpRule};

use super::service::Handler;

/// A compiled, enabled router attached to one entry point.
#[derive(Debug)]
pub struct Route {
    /// Qualified name (`name@provider`).
    pub name: Arc<str>,
    pub rule: HttpRule,
    pub priority: i64,
    /// Rank of the router's provider in the precedence list (lower wins ties).
    pub precedence: usize,
    /// For TLS routers, the TLS options they require (for the domain-fronting check).
    pub tls_options: Option<Arc<str>>,
    pub handler: Arc<Handler>,
    /// The router's observability switches on this entry point.
    pub observe: crate::observe::record::Switches,
}

/// The routes of one entry point (HTTP side), ready for lookup.
#[derive(Debug, Default)]
pub struct RouterTable {
    routes: Vec<Route>,
    by_host: HashMap<Box<str>, Vec<u32>>,
    any_host: Vec<u32>,
}

impl RouterTable {
    /// Sorts the routes into Traefik's order and builds the host index.
    pub fn new(mut routes: Vec<Route>) -> Self {
        routes.sort_by(|a, b| {
            b.priority
                .cmp(&a.priority)
                .then(a.precedence.cmp(&b.precedence))
                .then_with(|| a.name.cmp(&b.name))
        });
        let mut by_host: HashMap<Box<str>, Vec<u32>> = HashMap::new();
        let mut any_host = Vec::new();
        for (i, route) in routes.iter().enumerate() {
            let i = i as u32;
            match route.rule.required_hosts() {
                Some(hosts) => {
                    for host in hosts {
                        let bucket = by_host.entry(host.into_boxed_str()).or_default();
                        if bucket.last() != Some(&i) {
                            bucket.push(i);
                        }
                    }
                }
                None => any_host.push(i),
            }
        }
        Self {
            routes,
            by_host,
            any_host,
        }
    }

    /// All routes, in match order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The first route (in Traefik's order) whose rule matches.
    pub fn find(&self, req: &HttpRequestView<'_>) -> Option<&Route> {
        let hosted: &[u32] = self.by_host.get(req.host).map(Vec::as_slice).unwrap_or(&[]);
        let (mut a, mut b) = (hosted.iter().peekable(), self.any_host.iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(&&x), Some(&&y)) => {
                    if x < y {
                        a.next();
                        x
                    } else {
                        b.next();
                        y
                    }
                }
                (Some(&&x), None) => {
                    a.next();
                    x
                }
                (None, Some(&&y)) => {
                    b.next();
                    y
                }
                (None, None) => return None,
            };
            let route = &self.routes[next as usize];
            if route.rule.matches(req) {
                return Some(route);
            }
        }
    }
}

//! Building services for the compiler: `loadBalancer` (servers, strategy, sticky cookie, transport
//! and pool from the registry, health state from the [`ServiceState`] registry, which starts the
//! health-check tasks of new states), the composite types (`weighted`, `mirroring`, `failover`,
//! `highestRandomWeight`, with their health-propagation requirements), service-level
//! `middlewares`, and the internal services. A service is built once per compilation (memoized),
//! reference cycles are errors, and an invalid service is reported and disables the routers that
//! use it.
//!
//! [`ServiceState`]: crate::http::service_state::ServiceState

use std::sync::Arc;

use http::uri::Authority;
use switchyard_model::config::dynamic::{
    Failover as FailoverConfig, HighestRandomWeight as HrwConfig, LoadBalancer as LbConfig,
    Mirroring as MirroringConfig, Service as ServiceConfig, Weighted as WeightedConfig,
};

use super::compile::{qualify, Compiler};
use super::internal;
use super::report::{ObjectReport, Status};
use crate::http::balancer::WeightedRoundRobin;
use crate::http::failover::FailoverErrors;
use crate::http::health::{self, HealthCheckSpec};
use crate::http::internal::Internal;
use crate::http::mirror::Mirror;
use crate::http::passive::PassivePolicy;
use crate::http::service::{
    Failover, HealthSupport, HighestRandomWeight, LoadBalancer, Mirroring, Service, UpstreamScheme,
    UpstreamServer, Weighted, WithMiddlewares,
};
use crate::http::service_state::{BalancerIdentity, BalancerState};
use crate::http::sticky::Sticky;
use crate::http::strategy::Strategy;
use crate::http::upstream::TransportSettings;
use crate::middleware::code_ranges::CodeRanges;

impl Compiler<'_> {
    /// The compiled service `qualified` (`name@provider`), or why it cannot be used.
    pub(super) fn service(&mut self, qualified: &str) -> Result<Arc<Service>, String> {
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
        let service = if let Some(lb) = &cfg.load_balancer {
            Service::LoadBalancer(self.load_balancer(qualified, &provider, lb)?)
        } else if let Some(w) = &cfg.weighted {
            Service::Weighted(self.weighted(qualified, &provider, w)?)
        } else if let Some(m) = &cfg.mirroring {
            Service::Mirroring(self.mirroring(&provider, m)?)
        } else if let Some(f) = &cfg.failover {
            Service::Failover(self.failover(qualified, &provider, f)?)
        } else if let Some(h) = &cfg.highest_random_weight {
            Service::HighestRandomWeight(self.highest_random_weight(qualified, &provider, h)?)
        } else {
            return Err(format!("service type {:?} is not supported", types[0]));
        };
        if cfg.middlewares.is_empty() {
            return Ok(Arc::new(service));
        }
        let mut middlewares = Vec::new();
        for (i, m) in cfg.middlewares.iter().enumerate() {
            let (n, p) = qualify(m, &provider);
            let list = self
                .middleware(&format!("{n}@{p}"))
                .map_err(|e| format!("middlewares[{i}]: {e}"))?;
            middlewares.extend(list);
        }
        Ok(Arc::new(Service::WithMiddlewares(WithMiddlewares {
            middlewares,
            inner: Arc::new(service),
        })))
    }

    /// One named child service (`option` is the key, for errors): `(name as written, service)`.
    fn child(
        &mut self,
        provider: &str,
        option: &str,
        name: Option<&str>,
    ) -> Result<(String, Arc<Service>), String> {
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return Err(format!("{option} is required"));
        };
        let (n, p) = qualify(name, provider);
        let child = self
            .service(&format!("{n}@{p}"))
            .map_err(|e| format!("{option}: {e}"))?;
        Ok((name.to_owned(), child))
    }

    fn failover(
        &mut self,
        qualified: &str,
        provider: &str,
        f: &FailoverConfig,
    ) -> Result<Failover, String> {
        let (main_name, main) = self.child(provider, "failover.service", f.service.as_deref())?;
        let errors = match &f.errors {
            Some(e) if !e.status.is_empty() => Some(FailoverErrors {
                status: CodeRanges::parse(&e.status)
                    .map_err(|x| format!("failover.errors.status: {x}"))?,
                max_body: body_limit(e.max_request_body_bytes),
            }),
            _ => None,
        };
        // Without status-based failover, the main service's health is what triggers it.
        let main_health = match require_health(&main, &main_name, qualified) {
            Ok(()) => true,
            Err(_) if errors.is_some() => false,
            Err(e) => return Err(e),
        };
        let (fallback_name, fallback) =
            self.child(provider, "failover.fallback", f.fallback.as_deref())?;
        let health_check = f.health_check.is_some();
        if health_check {
            require_health(&fallback, &fallback_name, qualified)?;
        }
        Ok(Failover {
            main,
            fallback,
            main_health,
            health_check,
            errors,
        })
    }

    fn mirroring(&mut self, provider: &str, m: &MirroringConfig) -> Result<Mirroring, String> {
        let (_, main) = self.child(provider, "mirroring.service", m.service.as_deref())?;
        let mut mirrors = Vec::with_capacity(m.mirrors.len());
        for (i, mirror) in m.mirrors.iter().enumerate() {
            let option = format!("mirroring.mirrors[{i}]");
            let (name, service) =
                self.child(provider, &format!("{option}.name"), mirror.name.as_deref())?;
            let percent = mirror.percent.unwrap_or(0);
            if percent > 100 {
                return Err(format!(
                    "{option}.percent: percent must be between 0 and 100, got {percent}"
                ));
            }
            mirrors.push(Mirror::new(service, name, u64::from(percent)));
        }
        Ok(Mirroring::new(
            main,
            mirrors,
            m.mirror_body.unwrap_or(true),
            body_limit(m.max_body_size),
            m.health_check.is_some(),
        ))
    }

    fn highest_random_weight(
        &mut self,
        qualified: &str,
        provider: &str,
        h: &HrwConfig,
    ) -> Result<HighestRandomWeight, String> {
        let names: Vec<Option<String>> = h.services.iter().map(|s| s.name.clone()).collect();
        let children = self.children(provider, "highestRandomWeight.services", &names)?;
        let health_check = h.health_check.is_some();
        if health_check {
            for (name, child) in &children {
                require_health(child, name, qualified)?;
            }
        }
        let (names, children) = children.into_iter().unzip();
        Ok(HighestRandomWeight {
            children,
            names,
            weights: h.services.iter().map(|s| s.weight.unwrap_or(1)).collect(),
            health_check,
        })
    }

    /// Builds the child services of a composite service: `(name as written, service)`.
    fn children(
        &mut self,
        provider: &str,
        option: &str,
        names: &[Option<String>],
    ) -> Result<Vec<(String, Arc<Service>)>, String> {
        names
            .iter()
            .enumerate()
            .map(|(i, name)| self.child(provider, &format!("{option}[{i}].name"), name.as_deref()))
            .collect()
    }

    fn weighted(
        &mut self,
        qualified: &str,
        provider: &str,
        w: &WeightedConfig,
    ) -> Result<Weighted, String> {
        let names: Vec<Option<String>> = w.services.iter().map(|s| s.name.clone()).collect();
        let children = self.children(provider, "weighted.services", &names)?;
        let health_check = w.health_check.is_some();
        if health_check {
            for (name, child) in &children {
                require_health(child, name, qualified)?;
            }
        }
        let weights: Vec<u32> = w.services.iter().map(|s| s.weight.unwrap_or(1)).collect();
        let targets: Vec<&str> = children.iter().map(|(n, _)| n.as_str()).collect();
        let sticky = w
            .sticky
            .as_ref()
            .and_then(|s| s.cookie.as_ref())
            .map(|c| Sticky::new(c, qualified, &targets, "weighted.sticky.cookie"));
        Ok(Weighted {
            wrr: WeightedRoundRobin::new(&weights),
            children: children.into_iter().map(|(_, c)| c).collect(),
            weights,
            sticky,
            health_check,
        })
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
            "api" | "dashboard" => match &self.ctx.api {
                Some(api) if name == "api" => Internal::Api(api.clone()),
                Some(api) if api.dashboard_enabled() => Internal::Dashboard(api.clone()),
                Some(_) => return Err("dashboard is not enabled".to_owned()),
                None => return Err("api is not enabled".to_owned()),
            },
            "prometheus" => match &self.ctx.metrics {
                Some(m) => Internal::Prometheus(m.clone()),
                None => {
                    return Err(
                        "the service \"prometheus@internal\" does not exist: Prometheus metrics are not enabled (static configuration `metrics.prometheus`)".to_owned(),
                    )
                }
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
        let strategy = Strategy::parse(lb.strategy.as_deref())?;
        let mut servers = Vec::new();
        for (i, s) in lb.servers.iter().enumerate() {
            let url = s.url.as_deref().unwrap_or_default();
            let mut server = parse_server_url(url, s.preserve_path.unwrap_or(false))
                .map_err(|e| format!("loadBalancer.servers[{i}].url {url:?}: {e}"))?;
            server.weight = s.weight.unwrap_or(1);
            servers.push(server);
        }
        let health = lb
            .health_check
            .as_ref()
            .map(HealthCheckSpec::new)
            .transpose()?
            .map(Arc::new);
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
        self.transports_used.insert(transport_key.clone());

        let urls: Vec<Arc<str>> = servers.iter().map(|s| s.url.clone()).collect();
        let identity = BalancerIdentity {
            servers: urls.iter().map(|u| u.to_string()).collect(),
            health_check: lb.health_check.clone(),
            passive_health_check: lb.passive_health_check.clone(),
            transport: (transport_key, settings),
        };
        let state = self.ctx.service_state.balancer(qualified, identity, |id| {
            let state = BalancerState::new(id);
            if let Some(spec) = &health {
                health::start(
                    spec.clone(),
                    qualified.into(),
                    &state,
                    &urls,
                    client.clone(),
                );
            }
            state
        });
        let targets: Vec<&str> = urls.iter().map(|u| &**u).collect();
        let sticky = lb
            .sticky
            .as_ref()
            .and_then(|s| s.cookie.as_ref())
            .map(|c| Sticky::new(c, qualified, &targets, "loadBalancer.sticky.cookie"));
        let weights: Vec<u32> = servers.iter().map(|s| s.weight).collect();
        Ok(LoadBalancer {
            name: qualified.into(),
            wrr: WeightedRoundRobin::new(&weights),
            strategy,
            servers,
            pass_host_header: lb.pass_host_header.unwrap_or(true),
            client,
            state,
            sticky,
            passive: lb
                .passive_health_check
                .as_ref()
                .map(|p| PassivePolicy::new(p, health.is_some())),
            health_checked: health.is_some(),
        })
    }
}

/// A body size limit: negative means none.
fn body_limit(v: Option<i64>) -> Option<u64> {
    v.and_then(|n| u64::try_from(n).ok())
}

/// A parent with `healthCheck: {}` needs every child to report its health.
fn require_health(child: &Service, name: &str, parent: &str) -> Result<(), String> {
    match child.health_support() {
        HealthSupport::Enabled => Ok(()),
        HealthSupport::Disabled(kind) => Err(format!(
            "cannot register {name} as updater for {parent}: healthCheck not enabled in config for this {kind} service"
        )),
        HealthSupport::Unsupported => Err(format!(
            "child service {name} of {parent} does not report its health (it cannot be health checked)"
        )),
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
        weight: 1,
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
}

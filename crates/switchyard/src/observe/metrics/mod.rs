//! Prometheus metrics with Traefik's names, types, labels and help texts (`metrics.prometheus`),
//! served as text by `prometheus@internal`.
//!
//! Every finished request arrives as a [`Record`] ([`Metrics::on_request`]) and is counted in up
//! to three groups of series: the entry point's (`traefik_entrypoint_*`, unless
//! `addEntryPointsLabels: false`), the router's (`traefik_router_*`, with `addRoutersLabels`) and
//! the service's (`traefik_service_*`, unless `addServicesLabels: false`; only when a server was
//! tried, as Traefik counts at the load balancer). A series holds atomics; looking it up takes a
//! shared lock and allocates nothing once it exists ([`series`]). The exposition text is built
//! only when scraped ([`Metrics::render`]).
//!
//! Internal traffic (an `@internal` router or service) is left out unless `metrics.addInternals`.
//! Series of routers and services that are gone from the configuration ([`Metrics::on_config`])
//! are dropped once they have been scraped, as Traefik does.

mod certs;
mod series;
mod text;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use http::header::{HeaderName, HeaderValue};
use http::Method;
use switchyard_model::config::static_cfg::StaticConfig;

use super::record::{Protocol, Record};
use crate::http::service_state::ServiceState;
use certs::CertSeries;
use series::{Counter, HeaderValues, Labels, Probe, Requests, SeriesMap};
use text::{Family, Kind, LabelSet, Value};

/// Traefik's default histogram buckets (seconds).
pub const DEFAULT_BUCKETS: [f64; 4] = [0.1, 0.3, 1.2, 5.0];

/// The Prometheus registry and its series.
#[derive(Debug)]
pub struct Metrics {
    opts: Options,
    state: Arc<ServiceState>,
    entry_points: Group,
    routers: Group,
    services: Group,
    retries: SeriesMap<Counter>,
    open_connections: RwLock<OpenConnections>,
    reloads: Counter,
    /// Unix time of the last successful reload (0: none yet).
    last_reload_success: AtomicU64,
    certificates: Mutex<Vec<CertSeries>>,
    /// The routers and services of the running configuration; `None` until the first one.
    live: RwLock<Option<Live>>,
}

/// `traefik_open_connections` gauges by entry point and protocol.
type OpenConnections = HashMap<(Arc<str>, &'static str), Arc<AtomicI64>>;

/// `metrics.prometheus` and `metrics.addInternals`, checked.
#[derive(Debug)]
struct Options {
    buckets: Vec<f64>,
    entry_points: bool,
    routers: bool,
    services: bool,
    internals: bool,
    /// `headerLabels`: label names and the request headers they take their values from.
    header_labels: Vec<String>,
    header_names: Vec<HeaderName>,
}

/// The request series of one level (entry point, router or service).
#[derive(Debug, Default)]
struct Group {
    requests: SeriesMap<Requests>,
    tls: SeriesMap<Counter>,
}

/// Qualified names in the running configuration.
#[derive(Debug, Default)]
struct Live {
    routers: HashSet<String>,
    services: HashSet<String>,
}

impl Live {
    fn has_router(&self, name: &str) -> bool {
        name.ends_with("@internal") || self.routers.contains(name)
    }
    fn has_service(&self, name: &str) -> bool {
        name.ends_with("@internal") || self.services.contains(name)
    }
}

/// Counts an open connection until dropped (`traefik_open_connections`).
#[derive(Debug)]
pub struct ConnectionGuard {
    gauge: Arc<AtomicI64>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.gauge.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// `None` when `metrics.prometheus` is not configured; errors name the offending key.
    pub fn from_static(
        cfg: &StaticConfig,
        services: Arc<ServiceState>,
    ) -> Result<Option<Self>, String> {
        let Some(metrics) = cfg.metrics.as_ref() else {
            return Ok(None);
        };
        let Some(prom) = metrics.prometheus.as_ref() else {
            return Ok(None);
        };
        let buckets = buckets(&prom.buckets)?;
        let mut header_labels = Vec::new();
        let mut header_names = Vec::new();
        for (label, header) in &prom.header_labels {
            let key = format!("metrics.prometheus.headerLabels.{label}");
            if !valid_label_name(label) {
                return Err(format!(
                    "{key}: {label:?} is not a valid Prometheus label name"
                ));
            }
            if RESERVED_LABELS.contains(&label.as_str()) {
                return Err(format!("{key}: {label:?} is one of Traefik's own labels"));
            }
            let name = HeaderName::from_bytes(header.trim().as_bytes())
                .map_err(|_| format!("{key}: {header:?} is not a valid header name"))?;
            header_labels.push(label.clone());
            header_names.push(name);
        }
        Ok(Some(Metrics {
            opts: Options {
                buckets,
                entry_points: prom.add_entry_points_labels.unwrap_or(true),
                routers: prom.add_routers_labels.unwrap_or(false),
                services: prom.add_services_labels.unwrap_or(true),
                internals: metrics.add_internals.unwrap_or(false),
                header_labels,
                header_names,
            },
            state: services,
            entry_points: Group::default(),
            routers: Group::default(),
            services: Group::default(),
            retries: SeriesMap::default(),
            open_connections: RwLock::new(HashMap::new()),
            reloads: Counter::default(),
            last_reload_success: AtomicU64::new(0),
            certificates: Mutex::new(Vec::new()),
            live: RwLock::new(None),
        }))
    }

    /// Whether `Record::request_headers` is needed (`headerLabels`).
    pub fn wants_request_headers(&self) -> bool {
        !self.opts.header_names.is_empty()
    }

    /// One finished request.
    pub fn on_request(&self, r: &Record) {
        let t = &r.trail;
        let internal = r.internal
            || t.service
                .as_deref()
                .is_some_and(|s| s.ends_with("@internal"));
        if internal && !self.opts.internals {
            return;
        }
        let code = match r.protocol {
            Protocol::Grpc | Protocol::GrpcWeb => grpc_code(grpc_status_of(r)),
            _ => r.status,
        };
        let headers = HeaderValues {
            names: &self.opts.header_names,
            map: r.request_headers.as_ref(),
        };
        let tls = r.tls.as_ref().map(|t| (t.version, t.cipher));
        let probe = |scope, service| Probe {
            scope,
            service,
            code,
            method: method_label(&r.method),
            protocol: r.protocol.as_str(),
            tls_version: "",
            tls_cipher: "",
            headers,
        };
        let bounds = &self.opts.buckets;
        let sizes = (r.request_size, r.response_size);
        let router_metrics = t.switches.unwrap_or(r.entry_point_switches).metrics;
        if self.opts.entry_points && r.entry_point_switches.metrics {
            let p = probe(&r.entry_point, None);
            self.entry_points
                .record(&p, tls, 1, r.duration, sizes, bounds);
        }
        if self.opts.routers && router_metrics {
            if let (Some(router), Some(service)) = (&t.router, &t.service) {
                let p = probe(router, Some(service));
                self.routers.record(&p, tls, 1, r.duration, sizes, bounds);
            }
        }
        if self.opts.services && router_metrics {
            // Traefik counts at the load balancer, once per attempt: only requests that were
            // sent to a server, each retry again (with the final status and sizes).
            if let (Some(_), Some(service)) = (&t.server_url, service_label(r)) {
                let attempts = t.retry_attempts.saturating_add(1);
                let p = probe(service, None);
                self.services.record(
                    &p,
                    tls,
                    u64::from(attempts),
                    r.duration / attempts,
                    sizes,
                    bounds,
                );
            }
            if t.retry_attempts > 0 {
                if let Some(service) = &t.service {
                    self.retries
                        .with(&Probe::scope(service), Counter::default, |c| {
                            c.add(u64::from(t.retry_attempts))
                        });
                }
            }
        }
    }

    /// A connection was accepted on `entry_point` (`protocol`: `TCP`, `UDP`).
    pub fn open_connection(
        &self,
        entry_point: &Arc<str>,
        protocol: &'static str,
    ) -> ConnectionGuard {
        let key = (entry_point.clone(), protocol);
        let existing = self
            .open_connections
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned();
        let gauge = match existing {
            Some(g) => g,
            None => self
                .open_connections
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(key)
                .or_default()
                .clone(),
        };
        gauge.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard { gauge }
    }

    /// A configuration reload was attempted.
    pub fn on_reload(&self, success: bool) {
        self.reloads.add(1);
        if success {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default();
            self.last_reload_success.store(now, Ordering::Relaxed);
        }
    }

    /// The routers and services of the configuration now running: series of others are dropped
    /// after the next scrape.
    pub fn on_config(&self, report: &crate::runtime::Report) {
        let live = Live {
            routers: report.routers.keys().cloned().collect(),
            services: report
                .services
                .keys()
                .cloned()
                .chain(report.routers.values().map(|r| r.service.clone()))
                .collect(),
        };
        *self.live.write().unwrap_or_else(PoisonError::into_inner) = Some(live);
    }

    /// The certificates now served (`traefik_tls_certs_not_after`).
    pub fn on_certificates(&self, tls: &crate::tls::TlsSnapshot) {
        let mut list: Vec<CertSeries> = tls
            .store
            .certificates()
            .iter()
            .filter_map(|key| key.cert.first())
            .filter_map(certs::series)
            .collect();
        list.sort();
        list.dedup();
        *self
            .certificates
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = list;
    }

    /// The exposition text for `/metrics`.
    pub fn render(&self) -> String {
        let mut families = Vec::with_capacity(24);

        let mut reloads = Family::new(
            "traefik_config_reloads_total",
            "Config reloads",
            Kind::Counter,
        );
        reloads.push(Vec::new(), Value::Number(self.reloads.get() as f64));
        families.push(reloads);
        let mut success = Family::new(
            "traefik_config_last_reload_success",
            "Last config reload success",
            Kind::Gauge,
        );
        success.push(
            Vec::new(),
            Value::Number(self.last_reload_success.load(Ordering::Relaxed) as f64),
        );
        families.push(success);

        let mut open = Family::new(
            "traefik_open_connections",
            "How many open connections exist, by entryPoint and protocol",
            Kind::Gauge,
        );
        for ((ep, protocol), gauge) in self
            .open_connections
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            open.push(
                vec![
                    ("entrypoint", ep.to_string()),
                    ("protocol", (*protocol).to_owned()),
                ],
                Value::Number(gauge.load(Ordering::Relaxed) as f64),
            );
        }
        families.push(open);

        let mut certs = Family::new(
            "traefik_tls_certs_not_after",
            "Certificate expiration timestamp",
            Kind::Gauge,
        );
        for c in self
            .certificates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            certs.push(
                vec![
                    ("cn", c.cn.clone()),
                    ("serial", c.serial.clone()),
                    ("sans", c.sans.clone()),
                ],
                Value::Number(c.not_after as f64),
            );
        }
        families.push(certs);

        if self.opts.entry_points {
            self.render_group(&mut families, &ENTRY_POINT, &self.entry_points);
        }
        if self.opts.routers {
            self.render_group(&mut families, &ROUTER, &self.routers);
        }
        if self.opts.services {
            self.render_group(&mut families, &SERVICE, &self.services);
            let mut retries = Family::new(
                "traefik_service_retries_total",
                "How many request retries happened on a service.",
                Kind::Counter,
            );
            self.retries.for_each(|e| {
                retries.push(
                    vec![("service", e.labels.scope.to_string())],
                    Value::Number(e.value.get() as f64),
                );
            });
            families.push(retries);
            let mut up = Family::new(
                "traefik_service_server_up",
                "service server is up, described by gauge value of 0 or 1.",
                Kind::Gauge,
            );
            for (service, url, is_up) in self.state.health_checked_servers() {
                up.push(
                    vec![("service", service), ("url", url.to_string())],
                    Value::Number(if is_up { 1.0 } else { 0.0 }),
                );
            }
            families.push(up);
        }

        families.sort_by_key(|f| f.name());
        let mut out = String::with_capacity(8192);
        for f in families {
            f.write(&mut out);
        }
        self.drop_stale();
        out
    }

    /// The families of one level.
    fn render_group<'a>(
        &'a self,
        families: &mut Vec<Family<'a>>,
        names: &GroupNames,
        group: &Group,
    ) {
        let mut total = Family::new(names.requests, names.requests_help, Kind::Counter);
        // Without the header labels, which only `*_requests_total` carries.
        let mut by_labels: BTreeMap<LabelSet<'a>, Aggregate> = BTreeMap::new();
        group.requests.for_each(|e| {
            let mut labels = names.labels(&e.labels);
            let base = labels.clone();
            for (i, label) in self.opts.header_labels.iter().enumerate() {
                let value = e.labels.headers.get(i).map(|v| v.to_string());
                labels.push((label.as_str(), value.unwrap_or_default()));
            }
            total.push(labels, Value::Number(e.value.count.get() as f64));
            by_labels
                .entry(base)
                .or_insert_with(|| Aggregate::new(self.opts.buckets.len()))
                .add(&e.value);
        });
        let mut duration = Family::new(names.duration, names.duration_help, Kind::Histogram);
        let mut request_bytes =
            Family::new(names.request_bytes, names.request_bytes_help, Kind::Counter);
        let mut response_bytes = Family::new(
            names.response_bytes,
            names.response_bytes_help,
            Kind::Counter,
        );
        for (labels, agg) in by_labels {
            let mut cumulative = 0;
            let buckets = self
                .opts
                .buckets
                .iter()
                .zip(&agg.buckets)
                .map(|(bound, n)| {
                    cumulative += n;
                    (*bound, cumulative)
                })
                .collect();
            duration.push(
                labels.clone(),
                Value::Histogram {
                    buckets,
                    count: agg.count,
                    sum: agg.sum_nanos as f64 / 1e9,
                },
            );
            request_bytes.push(labels.clone(), Value::Number(agg.request_bytes as f64));
            response_bytes.push(labels, Value::Number(agg.response_bytes as f64));
        }
        let mut tls = Family::new(names.tls, names.tls_help, Kind::Counter);
        group.tls.for_each(|e| {
            let mut labels = names.scope_labels(&e.labels);
            labels.push(("tls_version", e.labels.tls_version.to_owned()));
            labels.push(("tls_cipher", cipher_name(e.labels.tls_cipher)));
            tls.push(labels, Value::Number(e.value.get() as f64));
        });
        families.extend([total, duration, request_bytes, response_bytes, tls]);
    }

    /// Drops the series of routers and services no longer configured (they have just been
    /// scraped once).
    fn drop_stale(&self) {
        let live = self.live.read().unwrap_or_else(PoisonError::into_inner);
        let Some(live) = live.as_ref() else { return };
        let router_ok = |l: &Labels| {
            live.has_router(&l.scope) && l.service.as_deref().is_none_or(|s| live.has_service(s))
        };
        let service_ok = |l: &Labels| live.has_service(&l.scope);
        self.routers.requests.retain(router_ok);
        self.routers.tls.retain(router_ok);
        self.services.requests.retain(service_ok);
        self.services.tls.retain(service_ok);
        self.retries.retain(service_ok);
    }

    /// Forgets every request series (tests).
    #[cfg(test)]
    fn clear(&self) {
        for g in [&self.entry_points, &self.routers, &self.services] {
            g.requests.clear();
            g.tls.clear();
        }
        self.retries.clear();
    }
}

impl Group {
    /// Counts `n` requests (of `duration` each) in the series `probe` names, and in its TLS
    /// series when the connection had TLS.
    fn record(
        &self,
        probe: &Probe<'_>,
        tls: Option<(&'static str, &'static str)>,
        n: u64,
        duration: Duration,
        (request_bytes, response_bytes): (u64, u64),
        bounds: &[f64],
    ) {
        self.requests.with(
            probe,
            || Requests::new(bounds.len()),
            |v| v.observe(bounds, n, duration, request_bytes, response_bytes),
        );
        if let Some((version, cipher)) = tls {
            let p = Probe {
                tls_version: version,
                tls_cipher: cipher,
                service: probe.service,
                ..Probe::scope(probe.scope)
            };
            self.tls.with(&p, Counter::default, |c| c.add(n));
        }
    }
}

/// A request series' values summed over its header-label values.
struct Aggregate {
    buckets: Vec<u64>,
    count: u64,
    sum_nanos: u64,
    request_bytes: u64,
    response_bytes: u64,
}

impl Aggregate {
    fn new(bounds: usize) -> Self {
        Self {
            buckets: vec![0; bounds + 1],
            count: 0,
            sum_nanos: 0,
            request_bytes: 0,
            response_bytes: 0,
        }
    }

    fn add(&mut self, v: &Requests) {
        for (sum, b) in self.buckets.iter_mut().zip(v.buckets.iter()) {
            *sum += b.get();
        }
        self.count += v.count.get();
        self.sum_nanos = self.sum_nanos.saturating_add(v.sum_nanos.get());
        self.request_bytes += v.request_bytes.get();
        self.response_bytes += v.response_bytes.get();
    }
}

/// Family names and help texts of one level, and how its series are labelled.
struct GroupNames {
    /// The label the series' scope goes in (`entrypoint`, `router`, `service`).
    scope: &'static str,
    /// Whether the router's service is a label too.
    service: bool,
    requests: &'static str,
    requests_help: &'static str,
    tls: &'static str,
    tls_help: &'static str,
    duration: &'static str,
    duration_help: &'static str,
    request_bytes: &'static str,
    request_bytes_help: &'static str,
    response_bytes: &'static str,
    response_bytes_help: &'static str,
}

impl GroupNames {
    fn scope_labels<'a>(&self, l: &Labels) -> LabelSet<'a> {
        let mut labels = vec![(self.scope, l.scope.to_string())];
        if self.service {
            labels.push(("service", l.service.as_deref().unwrap_or("").to_owned()));
        }
        labels
    }

    fn labels<'a>(&self, l: &Labels) -> LabelSet<'a> {
        let mut labels = self.scope_labels(l);
        labels.push(("code", l.code.to_string()));
        labels.push(("method", l.method.to_owned()));
        labels.push(("protocol", l.protocol.to_owned()));
        labels
    }
}

const ENTRY_POINT: GroupNames = GroupNames {
    scope: "entrypoint",
    service: false,
    requests: "traefik_entrypoint_requests_total",
    requests_help: "How many HTTP requests processed on an entrypoint, partitioned by status code, protocol, and method.",
    tls: "traefik_entrypoint_requests_tls_total",
    tls_help: "How many HTTP requests with TLS processed on an entrypoint, partitioned by TLS Version and TLS cipher Used.",
    duration: "traefik_entrypoint_request_duration_seconds",
    duration_help: "How long it took to process the request on an entrypoint, partitioned by status code, protocol, and method.",
    request_bytes: "traefik_entrypoint_requests_bytes_total",
    request_bytes_help: "The total size of requests in bytes handled by an entrypoint, partitioned by status code, protocol, and method.",
    response_bytes: "traefik_entrypoint_responses_bytes_total",
    response_bytes_help: "The total size of responses in bytes handled by an entrypoint, partitioned by status code, protocol, and method.",
};

const ROUTER: GroupNames = GroupNames {
    scope: "router",
    service: true,
    requests: "traefik_router_requests_total",
    requests_help: "How many HTTP requests are processed on a router, partitioned by service, status code, protocol, and method.",
    tls: "traefik_router_requests_tls_total",
    tls_help: "How many HTTP requests with TLS are processed on a router, partitioned by service, TLS Version, and TLS cipher Used.",
    duration: "traefik_router_request_duration_seconds",
    duration_help: "How long it took to process the request on a router, partitioned by service, status code, protocol, and method.",
    request_bytes: "traefik_router_requests_bytes_total",
    request_bytes_help: "The total size of requests in bytes handled by a router, partitioned by service, status code, protocol, and method.",
    response_bytes: "traefik_router_responses_bytes_total",
    response_bytes_help: "The total size of responses in bytes handled by a router, partitioned by service, status code, protocol, and method.",
};

const SERVICE: GroupNames = GroupNames {
    scope: "service",
    service: false,
    requests: "traefik_service_requests_total",
    requests_help: "How many HTTP requests processed on a service, partitioned by status code, protocol, and method.",
    tls: "traefik_service_requests_tls_total",
    tls_help: "How many HTTP requests with TLS processed on a service, partitioned by TLS version and TLS cipher.",
    duration: "traefik_service_request_duration_seconds",
    duration_help: "How long it took to process the request on a service, partitioned by status code, protocol, and method.",
    request_bytes: "traefik_service_requests_bytes_total",
    request_bytes_help: "The total size of requests in bytes received by a service, partitioned by status code, protocol, and method.",
    response_bytes: "traefik_service_responses_bytes_total",
    response_bytes_help: "The total size of responses in bytes returned by a service, partitioned by status code, protocol, and method.",
};

/// Labels Traefik sets itself (a `headerLabels` entry may not reuse them).
const RESERVED_LABELS: &[&str] = &[
    "code",
    "method",
    "protocol",
    "entrypoint",
    "router",
    "service",
    "tls_version",
    "tls_cipher",
    "url",
    "le",
];

/// `metrics.prometheus.buckets`, checked: strictly increasing; a trailing `+Inf` is implied.
fn buckets(configured: &[f64]) -> Result<Vec<f64>, String> {
    if configured.is_empty() {
        return Ok(DEFAULT_BUCKETS.to_vec());
    }
    let mut list = configured.to_vec();
    if list.last() == Some(&f64::INFINITY) {
        list.pop();
    }
    if list.iter().any(|b| b.is_nan()) {
        return Err("metrics.prometheus.buckets: NaN is not a bucket bound".to_owned());
    }
    if list.windows(2).any(|w| w[0] >= w[1]) {
        return Err(format!(
            "metrics.prometheus.buckets: bounds must be in strictly increasing order, got {configured:?}"
        ));
    }
    Ok(list)
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (reserved by Prometheus).
fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

/// Traefik's `method` label: the standard methods as sent, anything else `EXTENSION_METHOD`.
fn method_label(m: &Method) -> &'static str {
    match m.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "CONNECT" => "CONNECT",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "PATCH" => "PATCH",
        "PRI" => "PRI",
        _ => "EXTENSION_METHOD",
    }
}

/// The service a request's `traefik_service_*` series are labelled with: the load balancer
/// that sent it to a server.
fn service_label(r: &Record) -> Option<&Arc<str>> {
    r.trail.lb_service.as_ref().or(r.trail.service.as_ref())
}

/// The response's `grpc-status`, when known.
fn grpc_status_of(r: &Record) -> Option<&HeaderValue> {
    r.grpc_status.as_ref()
}

/// gRPC status names, by code (Go's `codes.Code` JSON names).
const GRPC_CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The `code` label of a gRPC or gRPC-Web request, as Traefik computes it from `grpc-status`: a
/// code 0–16 (or its quoted name), anything else or nothing is 2 (`Unknown`).
fn grpc_code(status: Option<&HeaderValue>) -> u16 {
    const UNKNOWN: u16 = 2;
    let Some(v) = status.map(HeaderValue::as_bytes) else {
        return UNKNOWN;
    };
    if let Some(name) = v.strip_prefix(b"\"").and_then(|v| v.strip_suffix(b"\"")) {
        return GRPC_CODES
            .iter()
            .position(|n| n.as_bytes() == name)
            .and_then(|i| u16::try_from(i).ok())
            .unwrap_or(UNKNOWN);
    }
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return UNKNOWN;
    }
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|c| usize::from(*c) < GRPC_CODES.len())
        .unwrap_or(UNKNOWN)
}

/// The cipher suite as Go (and so Traefik) names it: rustls calls the TLS 1.3 suites `TLS13_*`.
fn cipher_name(rustls_name: &str) -> String {
    match rustls_name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => rustls_name.to_owned(),
    }
}

#[cfg(test)]
mod tests;

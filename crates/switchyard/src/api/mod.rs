//! The API (`api@internal`) and the dashboard (`dashboard@internal`): Traefik 3.7's `/api/*` JSON
//! built from the merged dynamic configuration and the compile report, and the embedded web UI.
//!
//! After every compilation [`ApiState::update`] rebuilds the [`view::View`] (Traefik's runtime
//! picture: statuses, errors, `usedBy`, defaults) and swaps it in; requests only read it, plus the
//! live health of load balancer servers for `serverStatus`. Endpoints, query parameters, status
//! codes and bodies follow Traefik (see `docs/api.md`); nothing here panics on input.

mod certs;
pub mod dashboard;
mod dump;
mod query;
mod shape;
mod view;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use switchyard_model::config::dynamic::DynamicConfig;
use switchyard_model::config::static_cfg::StaticConfig;

use crate::http::body::{full, text_response, Body};
use crate::http::service_state::ServiceState;
use crate::runtime::Report;
use query::{Criterion, ListKind, Query};
use shape::Object;
use view::{Entry, Live, Statics, View};

/// Process-wide API state, shared by `api@internal` and `dashboard@internal`.
#[derive(Debug)]
pub struct ApiState {
    view: ArcSwap<View>,
    services: Arc<ServiceState>,
    statics: Statics,
    /// `api.basePath` as configured (default `/`).
    base_path: String,
    dashboard: bool,
    debug: bool,
    entry_points: Vec<Object>,
    version: Value,
    /// The static configuration for the support dump, anonymized.
    static_dump: Value,
    features: Value,
    providers: Vec<&'static str>,
}

impl ApiState {
    pub fn new(cfg: &StaticConfig, services: Arc<ServiceState>) -> Self {
        let api = cfg.api.clone().unwrap_or_default();
        let base_path = api
            .base_path
            .clone()
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| "/".to_owned());
        let mut version = json!({
            "Version": crate::VERSION,
            "Codename": "switchyard",
            "startDate": rfc3339_now(),
        });
        if api.disable_dashboard_ad.unwrap_or(false) {
            version["disableDashboardAd"] = Value::Bool(true);
        }
        if let Some(name) = api.dashboard_name.as_deref().filter(|n| !n.is_empty()) {
            version["dashboardName"] = Value::from(name);
        }
        Self {
            view: ArcSwap::from_pointee(View::default()),
            services,
            statics: Statics::new(cfg),
            base_path,
            dashboard: api.dashboard.unwrap_or(true),
            debug: api.debug.unwrap_or(false),
            entry_points: cfg
                .entry_points
                .iter()
                .map(|(name, ep)| shape::entry_point(name, ep))
                .collect(),
            version,
            static_dump: dump::anonymize(serde_json::to_value(cfg).unwrap_or_default()),
            features: features(cfg),
            providers: providers(cfg),
        }
    }

    /// Whether `api.dashboard` is on: without it Traefik has no `dashboard@internal` service
    /// (routers naming it fail with "dashboard is not enabled").
    pub fn dashboard_enabled(&self) -> bool {
        self.dashboard
    }

    /// Called after every compilation with the merged provider configurations (provider name →
    /// configuration, `internal` included) and the report.
    pub fn update(&self, configs: &BTreeMap<String, Arc<DynamicConfig>>, report: &Report) {
        self.view
            .store(Arc::new(view::build(&self.statics, configs, report)));
    }

    /// `api@internal`: answers `<basePath>/api/...` (the full request path).
    pub fn serve(&self, req: &Request<Body>) -> Response<Body> {
        let path = req.uri().path();
        let prefix = self.base_path.trim_end_matches('/');
        let Some(rest) = path.strip_prefix(prefix) else {
            return not_found();
        };
        if self.dashboard && path == self.base_path {
            return redirect(&format!("{prefix}/dashboard/"));
        }
        if self.dashboard {
            if let Some(rel) = rest.strip_prefix("/dashboard/") {
                return dashboard::serve(rel);
            }
        }
        let Some(route) = self.route(rest) else {
            return not_found();
        };
        if req.method() != Method::GET {
            let mut resp = Response::new(crate::http::body::empty());
            *resp.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            return resp;
        }
        let query = Query::parse(req.uri().query());
        let view = self.view.load();
        match route {
            Route::RawData => json_response(StatusCode::OK, &self.rawdata(&view, true)),
            Route::SupportDump => self.support_dump(&view),
            Route::Overview => self.overview(&view),
            Route::Version => {
                let mut resp = json_response(StatusCode::OK, &self.version);
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json; charset=UTF-8"),
                );
                resp
            }
            Route::EntryPoints => {
                let items: Vec<&Object> = self.entry_points.iter().collect();
                paged(&query, &items, |o| Value::Object((*o).clone()))
            }
            Route::EntryPoint(name) => match self
                .entry_points
                .iter()
                .find(|o| o.get("name").and_then(Value::as_str) == Some(name.as_str()))
            {
                Some(o) => json_response(StatusCode::OK, &Value::Object(o.clone())),
                None => api_error(
                    StatusCode::NOT_FOUND,
                    &format!("entry point not found: {name}"),
                ),
            },
            Route::Certificates => {
                let now = unix_now();
                let criterion = Criterion::new(&query);
                let mut items: Vec<&certs::Cert> = view
                    .certificates
                    .iter()
                    .filter(|c| {
                        criterion
                            .as_ref()
                            .is_none_or(|k| k.keep_cert(c, c.status(now)))
                    })
                    .collect();
                query::sort_certs(&query, &mut items, now);
                paged(&query, &items, |c| c.to_json(now))
            }
            Route::Certificate(name) => match view.certificates.iter().find(|c| c.name == name) {
                Some(c) => json_response(StatusCode::OK, &c.to_json(unix_now())),
                None => api_error(
                    StatusCode::NOT_FOUND,
                    &format!("certificate not found: {name}"),
                ),
            },
            Route::List(kind) => self.list(&view, kind, &query),
            Route::Item(kind, name) => self.item(&view, kind, &name),
            Route::DebugVars => json_response(
                StatusCode::OK,
                &json!({"cmdline": std::env::args().collect::<Vec<_>>()}),
            ),
        }
    }

    /// `dashboard@internal`: maps the request path (what the internal dashboard router's
    /// `dashboard_stripprefix` left, or the unstripped `<basePath>/dashboard/...`) to an asset.
    pub fn serve_dashboard(&self, req: &Request<Body>) -> Response<Body> {
        let path = req.uri().path();
        let prefix = self.base_path.trim_end_matches('/');
        let path = path.strip_prefix(prefix).unwrap_or(path);
        let rel = path.trim_start_matches('/');
        let rel = match rel.strip_prefix("dashboard") {
            Some("") => "",
            Some(r) if r.starts_with('/') => r.trim_start_matches('/'),
            _ => rel,
        };
        dashboard::serve(rel)
    }

    fn route(&self, rest: &str) -> Option<Route> {
        if self.debug {
            match rest {
                "/debug/vars" => return Some(Route::DebugVars),
                _ if rest.starts_with("/debug/") => return None,
                _ => {}
            }
        }
        let rest = rest.strip_prefix("/api/")?;
        let segments: Vec<&str> = rest.split('/').collect();
        let name = |s: &str| -> Option<String> {
            (!s.is_empty()).then(|| query::percent_decode(s, false).unwrap_or_else(|| s.to_owned()))
        };
        Some(match segments.as_slice() {
            ["rawdata"] => Route::RawData,
            ["support-dump"] => Route::SupportDump,
            ["overview"] => Route::Overview,
            ["version"] => Route::Version,
            ["entrypoints"] => Route::EntryPoints,
            ["entrypoints", id] => Route::EntryPoint(name(id)?),
            ["certificates"] => Route::Certificates,
            ["certificates", id] => Route::Certificate(name(id)?),
            [proto, object] => Route::List(Kind::parse(proto, object)?),
            [proto, object, id] => Route::Item(Kind::parse(proto, object)?, name(id)?),
            _ => return None,
        })
    }

    fn live_status(&self, e: &Entry) -> Option<Value> {
        let map: serde_json::Map<String, Value> = match &e.live {
            Live::None => return None,
            Live::Http(urls) => match self.services.servers_of(&e.name) {
                Some(live) => live
                    .into_iter()
                    .map(|(url, up)| (url.to_string(), Value::from(if up { "UP" } else { "DOWN" })))
                    .collect(),
                None => urls
                    .iter()
                    .map(|u| (u.clone(), Value::from("UP")))
                    .collect(),
            },
            Live::Tcp(addresses) => addresses
                .iter()
                .map(|a| (a.clone(), Value::from("UP")))
                .collect(),
        };
        (!map.is_empty()).then_some(Value::Object(map))
    }

    /// The list/item representation: the raw object plus name, provider, type, …
    fn represent(&self, kind: Kind, e: &Entry) -> Value {
        let mut o = e.json.clone();
        if kind.object == Collection::Routers && kind.proto == Proto::Http {
            if let Some(Value::Object(tls)) = o.get_mut("tls") {
                if tls
                    .get("options")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .is_empty()
                {
                    tls.insert("options".into(), Value::from("default"));
                }
            }
        }
        o.insert("name".into(), Value::from(e.name.clone()));
        o.insert("provider".into(), Value::from(e.provider.clone()));
        match kind.object {
            Collection::Routers if kind.proto != Proto::Udp => {
                o.insert("priorityStr".into(), Value::from(e.priority.to_string()));
            }
            Collection::Services | Collection::Middlewares if !e.kind.is_empty() => {
                o.insert("type".into(), Value::from(e.kind.clone()));
            }
            _ => {}
        }
        if let Some(s) = self.live_status(e) {
            o.insert("serverStatus".into(), s);
        }
        Value::Object(o)
    }

    fn list(&self, view: &View, kind: Kind, q: &Query) -> Response<Body> {
        let criterion = Criterion::new(q);
        let keep = |e: &Entry| match &criterion {
            None => true,
            Some(c) => match (kind.proto, kind.object) {
                (Proto::Udp, Collection::Routers) => c.keep_udp_router(e),
                (_, Collection::Routers) => c.keep_router(e),
                _ => c.keep_object(e),
            },
        };
        let mut items: Vec<&Entry> = kind.map(view).values().filter(|e| keep(e)).collect();
        let list_kind = match kind.object {
            Collection::Routers => ListKind::Router,
            Collection::Services => ListKind::Service,
            Collection::Middlewares => ListKind::Middleware,
        };
        query::sort(q, list_kind, &mut items);
        paged(q, &items, |e| self.represent(kind, e))
    }

    fn item(&self, view: &View, kind: Kind, name: &str) -> Response<Body> {
        match kind.map(view).get(name) {
            Some(e) => json_response(StatusCode::OK, &self.represent(kind, e)),
            None => api_error(
                StatusCode::NOT_FOUND,
                &format!("{} not found: {name}", kind.object.singular()),
            ),
        }
    }

    /// `/api/rawdata` (`with_status`: the services' `serverStatus`).
    fn rawdata(&self, view: &View, with_status: bool) -> Value {
        let raw = |map: &BTreeMap<String, Entry>, live: bool| -> Option<Value> {
            let live = live && with_status;
            (!map.is_empty()).then(|| {
                Value::Object(
                    map.values()
                        .map(|e| {
                            let mut o = e.json.clone();
                            if let Some(s) = live.then(|| self.live_status(e)).flatten() {
                                o.insert("serverStatus".into(), s);
                            }
                            (e.name.clone(), Value::Object(o))
                        })
                        .collect(),
                )
            })
        };
        let mut out = Object::new();
        for (key, value) in [
            ("routers", raw(&view.routers, false)),
            ("middlewares", raw(&view.middlewares, false)),
            ("services", raw(&view.services, true)),
            ("tcpRouters", raw(&view.tcp_routers, false)),
            ("tcpMiddlewares", raw(&view.tcp_middlewares, false)),
            ("tcpServices", raw(&view.tcp_services, true)),
            ("udpRouters", raw(&view.udp_routers, false)),
            ("udpServices", raw(&view.udp_services, false)),
        ] {
            if let Some(v) = value {
                out.insert(key.into(), v);
            }
        }
        Value::Object(out)
    }

    fn support_dump(&self, view: &View) -> Response<Body> {
        let version = json!({
            "version": self.version["Version"],
            "codename": self.version["Codename"],
            "startDate": self.version["startDate"],
        });
        let bytes = |v: &Value| serde_json::to_vec(v).unwrap_or_default();
        let mtime = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let archive = dump::tar_gz(
            &[
                ("version.json", bytes(&version)),
                ("static-config.json", bytes(&self.static_dump)),
                ("runtime-config.json", bytes(&self.rawdata(view, false))),
            ],
            mtime,
        );
        let mut resp = Response::new(full(Bytes::from(archive)));
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/gzip"),
        );
        headers.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=support-dump.tar.gz"),
        );
        resp
    }

    fn overview(&self, view: &View) -> Response<Body> {
        let now = unix_now();
        let counts = |map: &BTreeMap<String, Entry>| {
            json!({
                "total": map.len(),
                "warnings": map.values().filter(|e| e.status == "warning").count(),
                "errors": map.values().filter(|e| e.status == "disabled").count(),
            })
        };
        let body = json!({
            "http": {
                "routers": counts(&view.routers),
                "services": counts(&view.services),
                "middlewares": counts(&view.middlewares),
            },
            "tcp": {
                "routers": counts(&view.tcp_routers),
                "services": counts(&view.tcp_services),
                "middlewares": counts(&view.tcp_middlewares),
            },
            "udp": {
                "routers": counts(&view.udp_routers),
                "services": counts(&view.udp_services),
            },
            "certificates": {
                "total": view.certificates.len(),
                "warnings": view.certificates.iter().filter(|c| c.status(now) == "warning").count(),
                "errors": view.certificates.iter().filter(|c| c.status(now) == "expired").count(),
            },
            "features": self.features,
            "providers": self.providers,
        });
        json_response(StatusCode::OK, &body)
    }
}

#[derive(Debug)]
enum Route {
    RawData,
    SupportDump,
    Overview,
    Version,
    EntryPoints,
    EntryPoint(String),
    Certificates,
    Certificate(String),
    List(Kind),
    Item(Kind, String),
    DebugVars,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    Http,
    Tcp,
    Udp,
}

/// What a list holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Collection {
    Routers,
    Services,
    Middlewares,
}

impl Collection {
    fn singular(self) -> &'static str {
        match self {
            Collection::Routers => "router",
            Collection::Services => "service",
            Collection::Middlewares => "middleware",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Kind {
    proto: Proto,
    object: Collection,
}

impl Kind {
    fn parse(proto: &str, object: &str) -> Option<Kind> {
        let proto = match proto {
            "http" => Proto::Http,
            "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            _ => return None,
        };
        let object = match object {
            "routers" => Collection::Routers,
            "services" => Collection::Services,
            "middlewares" if proto != Proto::Udp => Collection::Middlewares,
            _ => return None,
        };
        Some(Kind { proto, object })
    }

    fn map(self, view: &View) -> &BTreeMap<String, Entry> {
        match (self.proto, self.object) {
            (Proto::Http, Collection::Routers) => &view.routers,
            (Proto::Http, Collection::Services) => &view.services,
            (Proto::Http, Collection::Middlewares) => &view.middlewares,
            (Proto::Tcp, Collection::Routers) => &view.tcp_routers,
            (Proto::Tcp, Collection::Services) => &view.tcp_services,
            (Proto::Tcp, Collection::Middlewares) => &view.tcp_middlewares,
            (Proto::Udp, Collection::Routers) => &view.udp_routers,
            (Proto::Udp, _) => &view.udp_services,
        }
    }
}

/// One page of `items` with `X-Next-Page`, or Traefik's 400.
fn paged<T>(q: &Query, items: &[T], render: impl Fn(&T) -> Value) -> Response<Body> {
    match query::paginate(q, items.len()) {
        Err(msg) => api_error(StatusCode::BAD_REQUEST, &msg),
        Ok(page) => {
            let body: Vec<Value> = items
                .get(page.start..page.end)
                .unwrap_or_default()
                .iter()
                .map(render)
                .collect();
            let mut resp = json_response(StatusCode::OK, &Value::Array(body));
            if let Ok(v) = HeaderValue::from_str(&page.next.to_string()) {
                resp.headers_mut().insert("x-next-page", v);
            }
            resp
        }
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let mut bytes = serde_json::to_vec(body).unwrap_or_default();
    bytes.push(b'\n');
    let mut resp = Response::new(full(Bytes::from(bytes)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Traefik's `writeError`: `{"message": …}` sent as `http.Error` does (text/plain, nosniff).
fn api_error(status: StatusCode, message: &str) -> Response<Body> {
    let mut resp = json_response(status, &json!({ "message": message }));
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

fn not_found() -> Response<Body> {
    text_response(StatusCode::NOT_FOUND, "404 page not found\n")
}

fn redirect(location: &str) -> Response<Body> {
    let mut resp = Response::new(crate::http::body::empty());
    *resp.status_mut() = StatusCode::FOUND;
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// `/api/overview` `features`: the first configured backend of each kind, as Traefik names it.
fn features(cfg: &StaticConfig) -> Value {
    let metrics = cfg.metrics.as_ref().map_or("", |m| {
        if m.prometheus.is_some() {
            "Prometheus"
        } else if m.datadog.is_some() {
            "Datadog"
        } else if m.stats_d.is_some() {
            "StatsD"
        } else if m.influx_db2.is_some() {
            "InfluxDB2"
        } else if m.otlp.is_some() {
            "OTLP"
        } else {
            ""
        }
    });
    json!({
        "tracing": if cfg.tracing.is_some() { "OTLP" } else { "" },
        "metrics": metrics,
        "accessLog": cfg.access_log.is_some(),
    })
}

/// `/api/overview` `providers`: Traefik's provider field names, in its order.
fn providers(cfg: &StaticConfig) -> Vec<&'static str> {
    let Some(p) = &cfg.providers else {
        return Vec::new();
    };
    [
        (p.docker.is_some(), "Docker"),
        (p.swarm.is_some(), "Swarm"),
        (p.file.is_some(), "File"),
        (p.kubernetes_ingress.is_some(), "KubernetesIngress"),
        (
            p.kubernetes_ingress_nginx.is_some(),
            "KubernetesIngressNGINX",
        ),
        (p.kubernetes_crd.is_some(), "KubernetesCRD"),
        (p.kubernetes_gateway.is_some(), "KubernetesGateway"),
        (p.knative.is_some(), "Knative"),
        (p.rest.is_some(), "Rest"),
        (p.consul_catalog.is_some(), "ConsulCatalog"),
        (p.nomad.is_some(), "Nomad"),
        (p.ecs.is_some(), "Ecs"),
        (p.consul.is_some(), "Consul"),
        (p.etcd.is_some(), "Etcd"),
        (p.zoo_keeper.is_some(), "ZooKeeper"),
        (p.redis.is_some(), "Redis"),
        (p.http.is_some(), "HTTP"),
    ]
    .into_iter()
    .filter(|(set, _)| *set)
    .map(|(_, name)| name)
    .collect()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The current time as Go's `time.Time` JSON (RFC 3339, nanoseconds, UTC).
fn rfc3339_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(now.as_secs(), now.subsec_nanos())
}

fn rfc3339(secs: u64, nanos: u32) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut out = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, Method, Uri, Version};
use switchyard_model::config::static_cfg::{Metrics as MetricsCfg, Prometheus, StaticConfig};

use super::*;
use crate::observe::record::{TlsInfo, TrailData};

fn metrics_with(prom: Prometheus, internals: bool) -> Metrics {
    let cfg = StaticConfig {
        metrics: Some(MetricsCfg {
            add_internals: Some(internals),
            prometheus: Some(prom),
            ..MetricsCfg::default()
        }),
        ..StaticConfig::default()
    };
    Metrics::from_static(&cfg, Arc::new(ServiceState::default()))
        .unwrap()
        .unwrap()
}

fn metrics() -> Metrics {
    metrics_with(
        Prometheus {
            add_routers_labels: Some(true),
            ..Prometheus::default()
        },
        false,
    )
}

fn record(status: u16) -> Record {
    Record {
        start: SystemTime::now(),
        duration: Duration::from_millis(200),
        entry_point: Arc::from("web"),
        client: SocketAddr::from(([127, 0, 0, 1], 1234)),
        method: Method::GET,
        uri: Uri::from_static("/"),
        version: Version::HTTP_11,
        host: "x".to_owned(),
        request_headers: None,
        request_size: 0,
        tls: None,
        protocol: Protocol::Http,
        status,
        response_size: 10,
        response_headers: None,
        grpc_status: None,
        entry_point_switches: Default::default(),
        internal: false,
        trail: TrailData {
            router: Some(Arc::from("r@file")),
            service: Some(Arc::from("s@file")),
            server_url: Some(Arc::from("http://127.0.0.1:1")),
            ..TrailData::default()
        },
    }
}

/// The value of the sample line starting with `series` (name and labels, exactly).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

#[test]
fn counts_requests_at_every_level() {
    let m = metrics();
    m.on_request(&record(200));
    m.on_request(&record(200));
    let mut post = record(404);
    post.method = Method::POST;
    post.request_size = 5;
    m.on_request(&post);
    let t = m.render();
    assert_eq!(
        value(
            &t,
            r#"traefik_entrypoint_requests_total{code="200",entrypoint="web",method="GET",protocol="http"}"#
        ),
        Some(2.0),
        "{t}"
    );
    assert_eq!(
        value(
            &t,
            r#"traefik_router_requests_total{code="404",method="POST",protocol="http",router="r@file",service="s@file"}"#
        ),
        Some(1.0),
        "{t}"
    );
    assert_eq!(
        value(
            &t,
            r#"traefik_service_requests_bytes_total{code="404",method="POST",protocol="http",service="s@file"}"#
        ),
        Some(5.0),
        "{t}"
    );
    assert_eq!(
        value(
            &t,
            r#"traefik_service_responses_bytes_total{code="200",method="GET",protocol="http",service="s@file"}"#
        ),
        Some(20.0),
        "{t}"
    );
    // 0.2 s: above 0.1, within 0.3.
    let b = |le: &str| {
        value(
            &t,
            &format!(
                r#"traefik_entrypoint_request_duration_seconds_bucket{{code="200",entrypoint="web",method="GET",protocol="http",le="{le}"}}"#
            ),
        )
    };
    assert_eq!(
        (b("0.1"), b("0.3"), b("1.2"), b("5"), b("+Inf")),
        (Some(0.0), Some(2.0), Some(2.0), Some(2.0), Some(2.0))
    );
    assert_eq!(
        value(
            &t,
            r#"traefik_entrypoint_request_duration_seconds_sum{code="200",entrypoint="web",method="GET",protocol="http"}"#
        ),
        Some(0.4)
    );
    assert!(t.contains("# TYPE traefik_entrypoint_request_duration_seconds histogram\n"));
    assert!(t.contains("# HELP traefik_config_reloads_total Config reloads\n"));
}

#[test]
fn routers_are_off_by_default_and_levels_can_be_turned_off() {
    let m = metrics_with(
        Prometheus {
            add_entry_points_labels: Some(false),
            ..Prometheus::default()
        },
        false,
    );
    m.on_request(&record(200));
    let t = m.render();
    assert!(!t.contains("traefik_entrypoint_"), "{t}");
    assert!(!t.contains("traefik_router_"), "{t}");
    assert!(t.contains("traefik_service_requests_total{"), "{t}");
    let m = metrics_with(
        Prometheus {
            add_services_labels: Some(false),
            ..Prometheus::default()
        },
        false,
    );
    m.on_request(&record(200));
    assert!(!m.render().contains("traefik_service_"));
}

#[test]
fn services_count_only_requests_sent_to_a_server_and_each_attempt() {
    let m = metrics();
    let mut rejected = record(401);
    rejected.trail.server_url = None;
    m.on_request(&rejected);
    let mut retried = record(502);
    retried.trail.retry_attempts = 2;
    m.on_request(&retried);
    let t = m.render();
    assert!(
        !t.contains(r#"traefik_service_requests_total{code="401""#),
        "{t}"
    );
    assert_eq!(
        value(
            &t,
            r#"traefik_router_requests_total{code="401",method="GET",protocol="http",router="r@file",service="s@file"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &t,
            r#"traefik_service_requests_total{code="502",method="GET",protocol="http",service="s@file"}"#
        ),
        Some(3.0),
        "{t}"
    );
    assert_eq!(
        value(&t, r#"traefik_service_retries_total{service="s@file"}"#),
        Some(2.0)
    );
    assert_eq!(
        value(
            &t,
            r#"traefik_entrypoint_requests_total{code="502",entrypoint="web",method="GET",protocol="http"}"#
        ),
        Some(1.0)
    );
}

#[test]
fn internal_traffic_is_left_out_unless_asked() {
    let mut ping = record(200);
    ping.internal = true;
    ping.trail.router = Some(Arc::from("ping@internal"));
    ping.trail.service = Some(Arc::from("ping@internal"));
    ping.trail.server_url = None;
    // A user router to an internal service (manualRouting) is internal traffic too.
    let mut scrape = record(200);
    scrape.trail.service = Some(Arc::from("prometheus@internal"));
    scrape.trail.server_url = None;
    let m = metrics();
    m.on_request(&ping);
    m.on_request(&scrape);
    assert!(!m.render().contains("requests_total{"));
    let m = metrics_with(
        Prometheus {
            add_routers_labels: Some(true),
            ..Prometheus::default()
        },
        true,
    );
    m.on_request(&ping);
    let t = m.render();
    assert_eq!(
        value(
            &t,
            r#"traefik_router_requests_total{code="200",method="GET",protocol="http",router="ping@internal",service="ping@internal"}"#
        ),
        Some(1.0),
        "{t}"
    );
}

#[test]
fn header_labels_only_on_requests_total() {
    let m = metrics_with(
        Prometheus {
            header_labels: [("useragent".to_owned(), "User-Agent".to_owned())].into(),
            ..Prometheus::default()
        },
        false,
    );
    assert!(m.wants_request_headers());
    let mut headers = HeaderMap::new();
    headers.insert("user-agent", "curl/8".parse().unwrap());
    let mut a = record(200);
    a.request_headers = Some(headers);
    m.on_request(&a);
    m.on_request(&record(200)); // no headers: ""
    let t = m.render();
    assert_eq!(
        value(
            &t,
            r#"traefik_entrypoint_requests_total{code="200",entrypoint="web",method="GET",protocol="http",useragent="curl/8"}"#
        ),
        Some(1.0),
        "{t}"
    );
    assert_eq!(
        value(
            &t,
            r#"traefik_entrypoint_requests_total{code="200",entrypoint="web",method="GET",protocol="http",useragent=""}"#
        ),
        Some(1.0),
        "{t}"
    );
    // The other families are summed over the header values.
    assert_eq!(
        value(
            &t,
            r#"traefik_entrypoint_request_duration_seconds_count{code="200",entrypoint="web",method="GET",protocol="http"}"#
        ),
        Some(2.0),
        "{t}"
    );
}

#[test]
fn tls_series_use_gos_names() {
    let m = metrics();
    let mut r = record(200);
    r.tls = Some(TlsInfo {
        version: "1.3",
        cipher: "TLS13_AES_128_GCM_SHA256",
        client_certs: None,
    });
    m.on_request(&r);
    let t = m.render();
    assert_eq!(
        value(
            &t,
            r#"traefik_entrypoint_requests_tls_total{entrypoint="web",tls_cipher="TLS_AES_128_GCM_SHA256",tls_version="1.3"}"#
        ),
        Some(1.0),
        "{t}"
    );
    assert_eq!(
        value(
            &t,
            r#"traefik_router_requests_tls_total{router="r@file",service="s@file",tls_cipher="TLS_AES_128_GCM_SHA256",tls_version="1.3"}"#
        ),
        Some(1.0),
        "{t}"
    );
}

#[test]
fn methods_and_grpc_codes_are_traefiks() {
    assert_eq!(method_label(&Method::PATCH), "PATCH");
    assert_eq!(
        method_label(&Method::from_bytes(b"PROPFIND").unwrap()),
        "EXTENSION_METHOD"
    );
    let code = |s: &str| grpc_code(Some(&HeaderValue::from_str(s).unwrap()));
    assert_eq!(grpc_code(None), 2);
    assert_eq!(code("0"), 0);
    assert_eq!(code("14"), 14);
    assert_eq!(code("17"), 2);
    assert_eq!(code("\"NOT_FOUND\""), 5);
    assert_eq!(code("foo"), 2);
    assert_eq!(code("+1"), 2);
    let m = metrics();
    let mut r = record(200);
    r.protocol = Protocol::Grpc;
    m.on_request(&r);
    assert!(m
        .render()
        .contains(r#"traefik_entrypoint_requests_total{code="2",entrypoint="web",method="GET",protocol="grpc"} 1"#));
}

#[test]
fn connections_reloads_and_config() {
    let m = metrics();
    let ep: Arc<str> = Arc::from("web");
    let a = m.open_connection(&ep, "TCP");
    let b = m.open_connection(&ep, "TCP");
    assert!(m
        .render()
        .contains("traefik_open_connections{entrypoint=\"web\",protocol=\"TCP\"} 2\n"));
    drop(a);
    drop(b);
    assert!(m
        .render()
        .contains("traefik_open_connections{entrypoint=\"web\",protocol=\"TCP\"} 0\n"));
    assert!(m.render().contains("traefik_config_reloads_total 0\n"));
    m.on_reload(true);
    m.on_reload(false);
    let t = m.render();
    assert!(t.contains("traefik_config_reloads_total 2\n"), "{t}");
    let ts = value(&t, "traefik_config_last_reload_success").unwrap();
    assert!(ts > 1.7e9, "{t}");
}

#[test]
fn series_of_removed_routers_and_services_go_after_one_scrape() {
    use crate::runtime::report::{RouterReport, Status};
    let m = metrics();
    m.on_request(&record(200));
    let mut report = crate::runtime::Report::default();
    report.routers.insert(
        "other@file".to_owned(),
        RouterReport {
            entry_points: Vec::new(),
            rule: String::new(),
            priority: 0,
            service: "other@file".to_owned(),
            middlewares: Vec::new(),
            provider: "file".to_owned(),
            status: Status::Enabled,
            error: Vec::new(),
        },
    );
    m.on_config(&report);
    // Still there in the first scrape after the change, gone afterwards.
    assert!(m.render().contains("router=\"r@file\""));
    let t = m.render();
    assert!(!t.contains("router=\"r@file\""), "{t}");
    assert!(!t.contains("service=\"s@file\""), "{t}");
    assert!(t.contains("entrypoint=\"web\""), "{t}");
}

#[test]
fn options_are_checked() {
    let err = |prom: Prometheus| {
        let cfg = StaticConfig {
            metrics: Some(MetricsCfg {
                prometheus: Some(prom),
                ..MetricsCfg::default()
            }),
            ..StaticConfig::default()
        };
        Metrics::from_static(&cfg, Arc::new(ServiceState::default())).unwrap_err()
    };
    let e = err(Prometheus {
        buckets: vec![1.0, 0.5],
        ..Prometheus::default()
    });
    assert!(e.starts_with("metrics.prometheus.buckets: "), "{e}");
    let e = err(Prometheus {
        header_labels: [("bad-name".to_owned(), "X".to_owned())].into(),
        ..Prometheus::default()
    });
    assert!(
        e.starts_with("metrics.prometheus.headerLabels.bad-name: "),
        "{e}"
    );
    let e = err(Prometheus {
        header_labels: [("code".to_owned(), "X".to_owned())].into(),
        ..Prometheus::default()
    });
    assert!(e.contains("own labels"), "{e}");
    assert!(
        Metrics::from_static(&StaticConfig::default(), Arc::new(ServiceState::default()))
            .unwrap()
            .is_none()
    );
    // Custom buckets, a trailing +Inf ignored.
    let m = metrics_with(
        Prometheus {
            buckets: vec![0.05, 1.0, f64::INFINITY],
            ..Prometheus::default()
        },
        false,
    );
    m.on_request(&record(200));
    let t = m.render();
    assert!(t.contains(r#"le="0.05"} 0"#), "{t}");
    assert!(t.contains(r#"le="1"} 1"#), "{t}");
    assert!(!t.contains(r#"le="0.1""#), "{t}");
    m.clear();
    assert!(!m.render().contains("traefik_entrypoint_requests_total"));
}

#[test]
fn a_request_series_lookup_does_not_allocate_once_created() {
    // Not a proof, a tripwire: the series map keeps one entry per label set.
    let m = metrics();
    for _ in 0..1000 {
        m.on_request(&record(200));
    }
    assert_eq!(m.entry_points.requests.len(), 1);
    assert_eq!(m.routers.requests.len(), 1);
    assert_eq!(m.services.requests.len(), 1);
}

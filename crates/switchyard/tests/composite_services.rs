//! Services made of services, end to end: failover (health- and status-based), mirroring,
//! highest random weight, and service-level middlewares (3.7).
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::*;

/// `http.routers.r` on `/` to service `top`, then the service definitions in `services` (YAML
/// indented by 4 spaces), and `extra` under `http` (e.g. middlewares).
fn config(services: &str, extra: &str) -> String {
    format!(
        "http:\n  routers:\n    r:\n      rule: PathPrefix(`/`)\n      service: top\n  services:\n{services}{extra}"
    )
}

/// A load balancer service `name` over `url`, optionally health checked every 100ms.
fn lb(name: &str, url: &str, health: bool) -> String {
    let hc = if health {
        "        healthCheck:\n          path: /health\n          interval: 100ms\n"
    } else {
        ""
    };
    format!("    {name}:\n      loadBalancer:\n{hc}        servers: [{{url: \"{url}\"}}]\n")
}

fn post(proxy: &Proxy, body: &str) -> RawResponse {
    request(proxy.web(), "POST", "/", "x", &[], body)
}

#[test]
fn failover_follows_the_main_service_health() {
    let a = ScriptedBackend::start("a");
    let b = ScriptedBackend::start("b");
    let services = format!(
        "    top:\n      failover:\n        service: main\n        fallback: spare\n{}{}",
        lb("main", &a.url(), true),
        lb("spare", &b.url(), false)
    );
    let proxy = Proxy::start(&config(&services, ""), "");
    assert_eq!(get(proxy.web(), "x", "/").header("x-backend"), Some("a"));
    a.set_healthy(false);
    proxy.eventually("the fallback", || {
        get(proxy.web(), "x", "/").header("x-backend") == Some("b")
    });
    a.set_healthy(true);
    proxy.eventually("the main service again", || {
        get(proxy.web(), "x", "/").header("x-backend") == Some("a")
    });
}

#[test]
fn failover_needs_a_health_checked_main_service() {
    let a = Backend::start("a");
    let services = format!(
        "    top:\n      failover:\n        service: main\n        fallback: spare\n{}{}",
        lb("main", &a.url(), false),
        lb("spare", &a.url(), false)
    );
    let proxy = Proxy::start(&config(&services, ""), "");
    assert_eq!(get(proxy.web(), "x", "/").status, 404);
    proxy.eventually("the error", || {
        proxy.logs().contains("cannot register main as updater for top@file: healthCheck not enabled in config for this WRR service")
    });
}

#[test]
fn failover_with_both_sides_down_answers_503() {
    let a = ScriptedBackend::start("a");
    let b = ScriptedBackend::start("b");
    let services = format!(
        "    top:\n      failover:\n        healthCheck: {{}}\n        service: main\n        fallback: spare\n{}{}",
        lb("main", &a.url(), true),
        lb("spare", &b.url(), true)
    );
    let proxy = Proxy::start(&config(&services, ""), "");
    a.set_healthy(false);
    b.set_healthy(false);
    proxy.eventually("both down", || get(proxy.web(), "x", "/").status == 503);
    assert_eq!(get(proxy.web(), "x", "/").text(), "Service Unavailable\n");
}

#[test]
fn failover_on_status_replays_the_request_to_the_fallback() {
    let a = ScriptedBackend::start("a");
    let b = ScriptedBackend::start("b");
    // No health check needed on the main service when failing over on statuses.
    let services = format!(
        "    top:\n      failover:\n        service: main\n        fallback: spare\n        errors:\n          status: [\"500-504\", \"418\"]\n          maxRequestBodyBytes: 10\n{}{}",
        lb("main", &a.url(), false),
        lb("spare", &b.url(), false)
    );
    let proxy = Proxy::start(&config(&services, ""), "");

    let r = post(&proxy, "first");
    assert_eq!((r.status, r.header("x-backend")), (200, Some("a")));

    a.set_status(418);
    let r = post(&proxy, "0123456789");
    assert_eq!((r.status, r.header("x-backend")), (200, Some("b")));
    assert_eq!(r.text(), "b POST / 0123456789");
    assert_eq!(a.seen().last().unwrap(), "POST / 0123456789");

    a.set_status(404);
    let r = post(&proxy, "x");
    assert_eq!((r.status, r.header("x-backend")), (404, Some("a")));

    // Over the limit: 413 before anything is sent.
    let before = (a.hits(), b.hits());
    let r = post(&proxy, "01234567890");
    assert_eq!(r.status, 413);
    assert_eq!(r.text(), "Request body too large\n");
    assert_eq!((a.hits(), b.hits()), before);
}

#[test]
fn mirroring_copies_the_configured_share() {
    let a = ScriptedBackend::start("a");
    let half = ScriptedBackend::start("half");
    let all = ScriptedBackend::start("all");
    let services = format!(
        "    top:\n      mirroring:\n        service: main\n        mirrors:\n          - name: m50\n            percent: 50\n          - name: m100\n            percent: 100\n{}{}{}",
        lb("main", &a.url(), false),
        lb("m50", &half.url(), false),
        lb("m100", &all.url(), false)
    );
    let proxy = Proxy::start(&config(&services, ""), "");
    for i in 1..=10 {
        let r = post(&proxy, &i.to_string());
        assert_eq!(r.header("x-backend"), Some("a"));
        assert_eq!(r.text(), format!("a POST / {i}"));
    }
    proxy.eventually("the copies", || all.hits() == 10 && half.hits() == 5);
    // Traefik's counting: the 1st, 3rd, 5th ... request goes to the 50% mirror.
    let mut seen = half.seen();
    seen.sort();
    assert_eq!(
        seen,
        ["POST / 1", "POST / 3", "POST / 5", "POST / 7", "POST / 9"]
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(all.hits(), 10);
}

#[test]
fn mirrors_never_slow_down_or_fail_the_main_response() {
    let a = ScriptedBackend::start("a");
    let slow = ScriptedBackend::start("slow");
    slow.set_delay(2000);
    let dead = format!("http://127.0.0.1:{}", free_port());
    let services = format!(
        "    top:\n      mirroring:\n        service: main\n        mirrors:\n          - name: dead\n            percent: 100\n          - name: slow\n            percent: 100\n{}{}{}",
        lb("main", &a.url(), false),
        lb("dead", &dead, false),
        lb("slow", &slow.url(), false)
    );
    let proxy = Proxy::start(&config(&services, ""), "");
    let started = Instant::now();
    let r = post(&proxy, "hello");
    assert_eq!((r.status, r.header("x-backend")), (200, Some("a")));
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
    proxy.eventually("the slow mirror's copy", || slow.hits() == 1);
}

#[test]
fn mirroring_body_limits() {
    let a = ScriptedBackend::start("a");
    let m = ScriptedBackend::start("m");
    let n = ScriptedBackend::start("n");
    let services = format!(
        "    top:\n      mirroring:\n        service: main\n        maxBodySize: 5\n        mirrors:\n          - name: m\n            percent: 100\n    nobody:\n      mirroring:\n        service: main\n        mirrorBody: false\n        mirrors:\n          - name: n\n            percent: 100\n{}{}{}",
        lb("main", &a.url(), false),
        lb("m", &m.url(), false),
        lb("n", &n.url(), false)
    );
    let routers = "  routers:\n    nb:\n      rule: PathPrefix(`/nobody`)\n      service: nobody\n";
    let proxy = Proxy::start(&config(&services, "").replace("  routers:\n", routers), "");
    // Larger than maxBodySize: the main service gets it whole, no mirror does.
    let r = post(&proxy, "123456");
    assert_eq!(r.text(), "a POST / 123456");
    let r = post(&proxy, "12345");
    assert_eq!(r.text(), "a POST / 12345");
    proxy.eventually("the mirrored copy", || m.hits() == 1);
    assert_eq!(m.seen(), ["POST / 12345"]);

    // mirrorBody: false: the copy has no body.
    let r = request(proxy.web(), "POST", "/nobody", "x", &[], "payload");
    assert_eq!(r.text(), "a POST /nobody payload");
    proxy.eventually("the bodiless copy", || n.hits() == 1);
    assert_eq!(n.seen(), ["POST /nobody "]);
}

#[test]
fn mirror_percent_over_100_is_an_error() {
    let a = Backend::start("a");
    let services = format!(
        "    top:\n      mirroring:\n        service: main\n        mirrors:\n          - name: main\n            percent: 150\n{}",
        lb("main", &a.url(), false)
    );
    let proxy = Proxy::start(&config(&services, ""), "");
    assert_eq!(get(proxy.web(), "x", "/").status, 404);
    proxy.eventually("the error", || {
        proxy
            .logs()
            .contains("mirroring.mirrors[0].percent: percent must be between 0 and 100")
    });
}

#[test]
fn highest_random_weight_keeps_clients_on_a_child() {
    let backends: Vec<ScriptedBackend> = ["a", "b", "c", "z"]
        .iter()
        .map(|n| ScriptedBackend::start(n))
        .collect();
    let services = format!(
        "    top:\n      highestRandomWeight:\n        healthCheck: {{}}\n        services:\n          - name: sa\n          - name: sb\n          - name: sc\n          - name: sz\n            weight: 0\n{}{}{}{}",
        lb("sa", &backends[0].url(), true),
        lb("sb", &backends[1].url(), true),
        lb("sc", &backends[2].url(), true),
        lb("sz", &backends[3].url(), true)
    );
    let proxy = Proxy::start(&config(&services, ""), "");
    let ips: Vec<IpAddr> = (1..=20u8).map(|i| IpAddr::from([127, 0, 1, i])).collect();
    let owner = |ip: IpAddr| {
        request_from(ip, proxy.web(), "/", &[])
            .header("x-backend")
            .unwrap()
            .to_owned()
    };
    let first: Vec<String> = ips.iter().map(|&ip| owner(ip)).collect();
    assert_eq!(first, ips.iter().map(|&ip| owner(ip)).collect::<Vec<_>>());
    assert!(!first.contains(&"z".to_owned()), "weight 0 is never picked");
    assert!(["a", "b", "c"]
        .iter()
        .all(|n| first.contains(&n.to_string())));

    // A child going down moves only its own clients.
    backends[1].set_healthy(false);
    proxy.eventually("sb's clients to move", || {
        ips.iter().all(|&ip| owner(ip) != "b")
    });
    for (ip, before) in ips.iter().zip(&first) {
        if before != "b" {
            assert_eq!(&owner(*ip), before, "client {ip} moved");
        }
    }
}

#[test]
fn service_middlewares_run_after_the_router_ones() {
    let a = ScriptedBackend::start("a");
    let b = ScriptedBackend::start("b");
    let services = format!(
        "    top:\n      weighted:\n        services:\n          - name: sa\n          - name: sb\n    sa:\n      middlewares: [svc-prefix]\n      loadBalancer:\n        servers: [{{url: \"{}\"}}]\n{}",
        a.url(),
        lb("sb", &b.url(), false)
    );
    let middlewares = "  middlewares:\n    strip:\n      stripPrefix:\n        prefixes: [/api]\n    svc-prefix:\n      addPrefix:\n        prefix: /svc\n";
    let cfg = config(&services, middlewares).replace(
        "      service: top\n",
        "      service: top\n      middlewares: [strip]\n",
    );
    let proxy = Proxy::start(&cfg, "");
    for _ in 0..2 {
        get(proxy.web(), "x", "/api/x");
    }
    // The router strips /api first; only the child with the middleware adds /svc.
    assert_eq!(a.seen(), ["GET /svc/x "]);
    assert_eq!(b.seen(), ["GET /x "]);
}

#[test]
fn unknown_service_middleware_disables_the_service() {
    let a = Backend::start("a");
    let services = format!(
        "    top:\n      middlewares: [nope]\n      loadBalancer:\n        servers: [{{url: \"{}\"}}]\n",
        a.url()
    );
    let proxy = Proxy::start(&config(&services, ""), "");
    assert_eq!(get(proxy.web(), "x", "/").status, 404);
    proxy.eventually("the error", || {
        proxy
            .logs()
            .contains("service top@file: middlewares[0]: middleware \"nope@file\" does not exist")
    });
}

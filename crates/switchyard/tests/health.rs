//! Active and passive health checks end to end: servers leave the rotation when their checks
//! fail and come back when they pass; the status survives reloads that keep the service as it
//! was; parents with `healthCheck: {}` follow their children.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

/// Router `r` on `/` to service `s`, a load balancer over `servers` with `extra` YAML under
/// `loadBalancer`, plus `more` appended under `http.services` / `http.routers` as given.
fn cfg(servers: &[String], extra: &str, more_routers: &str, more_services: &str) -> String {
    let list: String = servers
        .iter()
        .map(|u| format!("          - url: \"{u}\"\n"))
        .collect();
    let extra: String = extra.lines().map(|l| format!("        {l}\n")).collect();
    format!(
        "http:\n  routers:\n    r:\n      rule: PathPrefix(`/`)\n      service: s\n{more_routers}  services:\n    s:\n      loadBalancer:\n{extra}        servers:\n{list}{more_services}"
    )
}

fn all_from(proxy: &Proxy, name: &str, n: usize) -> bool {
    backends_of(proxy.web(), "/", n).iter().all(|b| b == name)
}

#[test]
fn unhealthy_server_leaves_the_rotation_and_comes_back() {
    let a = ScriptedBackend::start("a");
    let b = ScriptedBackend::start("b");
    let hc = "healthCheck:\n  path: /health\n  interval: 200ms\n  timeout: 1s";
    let proxy = Proxy::start(&cfg(&[a.url(), b.url()], hc, "", ""), "");
    let both = backends_of(proxy.web(), "/", 4);
    assert!(
        both.contains(&"a".into()) && both.contains(&"b".into()),
        "{both:?}"
    );

    b.set_healthy(false);
    proxy.eventually("b out of the rotation", || all_from(&proxy, "a", 6));
    assert!(proxy.logs().contains("Health check failed."));

    // Every server down: Traefik's 503.
    a.set_healthy(false);
    proxy.eventually("no server left", || {
        get(proxy.web(), "x", "/").status == 503
    });
    let r = get(proxy.web(), "x", "/");
    assert_eq!(r.text(), "no available server\n");

    a.set_healthy(true);
    b.set_healthy(true);
    proxy.eventually("both back", || {
        let got = backends_of(proxy.web(), "/", 4);
        got.contains(&"a".into()) && got.contains(&"b".into())
    });
}

#[test]
fn check_request_follows_the_options() {
    let a = ScriptedBackend::start("a");
    let probe = ScriptedBackend::start("probe");
    // `port` sends the check elsewhere: the probe backend decides a's health.
    let hc = format!(
        "healthCheck:\n  path: health?full=1\n  method: HEAD\n  hostname: check.example\n  port: {}\n  interval: 100ms\n  headers:\n    X-Probe: yes",
        probe.addr.port()
    );
    let proxy = Proxy::start(&cfg(&[a.url()], &hc, "", ""), "");
    proxy.eventually("a check", || probe.health_hits() > 0);
    let seen = probe.health_seen();
    let first = &seen[0];
    assert!(first.starts_with("HEAD /health?full=1\n"), "{first}");
    assert!(first.contains("\nhost: check.example"), "{first}");
    assert!(first.contains("\nx-probe: yes"), "{first}");
    assert_eq!(a.health_hits(), 0);

    probe.set_healthy(false);
    proxy.eventually("a reported down by the probe", || {
        get(proxy.web(), "x", "/").status == 503
    });
}

#[test]
fn expected_status_must_match_exactly() {
    let a = ScriptedBackend::start("a");
    // The backend answers 200; only 204 counts as healthy.
    let hc = "healthCheck:\n  path: /health\n  status: 204\n  interval: 100ms";
    let proxy = Proxy::start(&cfg(&[a.url()], hc, "", ""), "");
    proxy.eventually("a down", || get(proxy.web(), "x", "/").status == 503);
    assert!(proxy
        .logs()
        .contains("received error status code: 200 expected status code: 204"));
}

#[test]
fn grpc_health_check() {
    let a = ScriptedBackend::start("a");
    let b = ScriptedBackend::start("b");
    let servers = [format!("h2c://{}", a.addr), format!("h2c://{}", b.addr)];
    let hc = "healthCheck:\n  mode: grpc\n  interval: 100ms";
    let proxy = Proxy::start(&cfg(&servers, hc, "", ""), "");
    proxy.eventually("checks", || a.health_hits() > 1 && b.health_hits() > 1);
    assert!(backends_of(proxy.web(), "/", 4).contains(&"b".into()));
    b.set_healthy(false); // NOT_SERVING
    proxy.eventually("b out", || all_from(&proxy, "a", 6));
    assert!(proxy.logs().contains("NOT_SERVING"));
    b.set_healthy(true);
    proxy.eventually("b back", || {
        backends_of(proxy.web(), "/", 4).contains(&"b".into())
    });
}

/// Sends requests until `stop`, recording which backend answered each (or the status).
fn traffic(proxy: &Proxy, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<String>> {
    let web = proxy.web();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            let r = get(web, "x", "/");
            out.push(match r.header("x-backend") {
                Some(b) if r.status == 200 => b.to_owned(),
                _ => format!("status {}", r.status),
            });
        }
        out
    })
}

#[test]
fn health_survives_a_reload_that_keeps_the_service() {
    let a = ScriptedBackend::start("a");
    let b = ScriptedBackend::start("b");
    let other = Backend::start("other");
    let hc = "healthCheck:\n  path: /health\n  interval: 1s";
    let base = cfg(&[a.url(), b.url()], hc, "", "");
    let proxy = Proxy::start(&base, "");
    b.set_healthy(false);
    proxy.eventually("b out of the rotation", || all_from(&proxy, "a", 6));

    // Reload under traffic: a new router and service, `s` untouched. A server state rebuilt
    // from scratch would put b back in the rotation until its first check, a second later.
    let stop = Arc::new(AtomicBool::new(false));
    let load = traffic(&proxy, stop.clone());
    let reloaded = cfg(
        &[a.url(), b.url()],
        hc,
        "    extra:\n      rule: Path(`/extra`)\n      service: other\n",
        &format!(
            "    other:\n      loadBalancer:\n        servers: [{{url: \"{}\"}}]\n",
            other.url()
        ),
    );
    proxy.set_dynamic(&reloaded);
    proxy.eventually("the reload", || {
        get(proxy.web(), "x", "/extra").status == 200
    });
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::SeqCst);
    let answers = load.join().unwrap();
    assert!(answers.len() > 20, "{}", answers.len());
    assert!(answers.iter().all(|b| b == "a"), "{answers:?}");

    // Changing the health check itself restarts it: b is back until its first check fails.
    let changed = reloaded.replace("interval: 1s", "interval: 3s");
    let hits_before = b.hits();
    proxy.set_dynamic(&changed);
    proxy.eventually("b in the rotation again", || {
        get(proxy.web(), "x", "/");
        b.hits() > hits_before
    });
}

#[test]
fn removed_service_stops_its_checks() {
    let a = ScriptedBackend::start("a");
    let other = Backend::start("other");
    let hc = "healthCheck:\n  path: /health\n  interval: 100ms";
    let proxy = Proxy::start(&cfg(&[a.url()], hc, "", ""), "");
    proxy.eventually("checks running", || a.health_hits() >= 2);
    proxy.set_dynamic(&one_route("PathPrefix(`/`)", &[other.url()]));
    proxy.eventually("the reload", || {
        get(proxy.web(), "x", "/").header("x-backend") == Some("other")
    });
    std::thread::sleep(Duration::from_millis(200));
    let after = a.health_hits();
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        a.health_hits() <= after + 1,
        "checks went on: {after} → {}",
        a.health_hits()
    );
}

#[test]
fn passive_health_check_takes_a_failing_server_out_for_the_window() {
    let a = ScriptedBackend::start("a");
    let b = ScriptedBackend::start("b");
    b.set_status(500);
    let passive = "passiveHealthCheck:\n  failureWindow: 1s\n  maxFailedAttempts: 2";
    let proxy = Proxy::start(&cfg(&[a.url(), b.url()], passive, "", ""), "");
    // Round robin: b answers 500 twice within the window, then leaves the rotation.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(get(proxy.web(), "x", "/").status);
    }
    assert_eq!(
        statuses.iter().filter(|&&s| s == 500).count(),
        2,
        "{statuses:?}"
    );
    let out_since = Instant::now();
    let during = backends_of(proxy.web(), "/", 10);
    assert!(during.iter().all(|n| n == "a"), "{during:?}");
    assert!(out_since.elapsed() < Duration::from_millis(900));
    assert!(proxy.logs().contains("passive health check"));

    // After the window it is tried again.
    b.set_status(200);
    std::thread::sleep(Duration::from_millis(1200));
    let after = backends_of(proxy.web(), "/", 4);
    assert!(after.contains(&"b".into()), "{after:?}");
}

#[test]
fn passive_health_check_counts_unreachable_servers() {
    let a = Backend::start("a");
    let dead = format!("http://127.0.0.1:{}", free_port());
    let passive = "passiveHealthCheck:\n  failureWindow: 5s";
    let proxy = Proxy::start(&cfg(&[dead, a.url()], passive, "", ""), "");
    let statuses: Vec<u16> = (0..8).map(|_| get(proxy.web(), "x", "/").status).collect();
    // One 502 (maxFailedAttempts defaults to 1), then only the live server.
    assert_eq!(
        statuses.iter().filter(|&&s| s == 502).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 7);
}

fn weighted(children: &str, health: bool) -> String {
    let hc = if health {
        "        healthCheck: {}\n"
    } else {
        ""
    };
    format!(
        "http:\n  routers:\n    r:\n      rule: PathPrefix(`/`)\n      service: w\n  services:\n    w:\n      weighted:\n{hc}        services:\n          - name: sa\n          - name: sb\n{children}"
    )
}

fn child(name: &str, url: &str, health: bool) -> String {
    let hc = if health {
        "        healthCheck:\n          path: /health\n          interval: 100ms\n"
    } else {
        ""
    };
    format!("    {name}:\n      loadBalancer:\n{hc}        servers: [{{url: \"{url}\"}}]\n")
}

#[test]
fn weighted_with_health_check_skips_down_children() {
    let a = ScriptedBackend::start("a");
    let b = ScriptedBackend::start("b");
    let children = child("sa", &a.url(), true) + &child("sb", &b.url(), true);
    let proxy = Proxy::start(&weighted(&children, true), "");
    assert!(backends_of(proxy.web(), "/", 4).contains(&"b".into()));
    b.set_healthy(false);
    proxy.eventually("child sb skipped", || all_from(&proxy, "a", 6));
    a.set_healthy(false);
    proxy.eventually("nothing left", || get(proxy.web(), "x", "/").status == 503);
}

#[test]
fn weighted_health_check_needs_checked_children() {
    let a = Backend::start("a");
    let b = Backend::start("b");
    let children = child("sa", &a.url(), true) + &child("sb", &b.url(), false);
    let proxy = Proxy::start(&weighted(&children, true), "");
    assert_eq!(get(proxy.web(), "x", "/").status, 404);
    proxy.eventually("the error", || {
        proxy.logs().contains(
            "cannot register sb as updater for w@file: healthCheck not enabled in config for this WRR service",
        )
    });
}

#[test]
fn sticky_target_that_goes_down_is_replaced() {
    let a = ScriptedBackend::start("a");
    let b = ScriptedBackend::start("b");
    let extra =
        "sticky:\n  cookie:\n    name: pin\nhealthCheck:\n  path: /health\n  interval: 100ms";
    let proxy = Proxy::start(&cfg(&[a.url(), b.url()], extra, "", ""), "");
    let first = get(proxy.web(), "x", "/");
    let pinned = first.header("x-backend").unwrap().to_owned();
    let cookie = first
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let (down, up) = if pinned == "a" { (&a, &b) } else { (&b, &a) };
    down.set_healthy(false);
    let seen: Arc<Mutex<Option<RawResponse>>> = Arc::default();
    proxy.eventually("the pinned server to be replaced", || {
        let r = request(proxy.web(), "GET", "/", "x", &[("Cookie", &cookie)], "");
        let moved = r.header("x-backend") == Some(up.name.as_str());
        *seen.lock().unwrap() = Some(r);
        moved
    });
    let r = seen.lock().unwrap().take().unwrap();
    let rewritten = r.header("set-cookie").unwrap();
    assert!(
        rewritten.starts_with("pin=") && !rewritten.starts_with(&cookie),
        "{rewritten}"
    );
}

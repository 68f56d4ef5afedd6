//! The API end to end: the real binary serving `api@internal` (insecure mode on entry point
//! `traefik`, or through a router under `api.basePath`), the internal dashboard routers, live
//! `serverStatus`, reloads, and what happens without `api`. The shapes themselves are compared
//! with Traefik in `api_traefik.rs`.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use common::*;
use serde_json::Value;

const INSECURE: &str = "api:\n  insecure: true\n";

fn json(r: &RawResponse) -> Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", r.status, r.text()))
}

fn api_get(proxy: &Proxy, target: &str) -> Value {
    let r = get(proxy.addr("traefik"), "localhost", target);
    assert_eq!(r.status, 200, "{target}: {}", r.text());
    assert!(r
        .header("content-type")
        .unwrap_or_default()
        .starts_with("application/json"));
    json(&r)
}

fn routed(backend: &str) -> String {
    format!(
        "http:\n  routers:\n    app:\n      rule: Host(`app.example.com`)\n      service: app\n      entryPoints: [web]\n  services:\n    app:\n      loadBalancer:\n        servers:\n          - url: \"{backend}\"\n"
    )
}

#[test]
fn insecure_api_serves_the_runtime() {
    let backend = Backend::start("app");
    let proxy = Proxy::start(&routed(&backend.url()), INSECURE);
    let raw = api_get(&proxy, "/api/rawdata");
    assert_eq!(raw["routers"]["app@file"]["status"], "enabled");
    assert_eq!(
        raw["routers"]["app@file"]["using"],
        serde_json::json!(["web"])
    );
    assert_eq!(raw["routers"]["api@internal"]["rule"], "PathPrefix(`/api`)");
    assert_eq!(
        raw["services"]["app@file"]["serverStatus"][backend.url()],
        "UP"
    );
    assert_eq!(
        raw["services"]["app@file"]["usedBy"],
        serde_json::json!(["app@file"])
    );
    let router = api_get(&proxy, "/api/http/routers/app%40file");
    assert_eq!(router["name"], "app@file");
    assert_eq!(router["provider"], "file");
    assert_eq!(router["priorityStr"], "23");
    let overview = api_get(&proxy, "/api/overview");
    assert_eq!(overview["http"]["routers"]["errors"], 0);
    assert_eq!(overview["providers"], serde_json::json!(["File"]));
    let eps = api_get(&proxy, "/api/entrypoints");
    let names: Vec<&str> = eps
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["traefik", "web"]);
    let version = api_get(&proxy, "/api/version");
    assert_eq!(version["Codename"], "switchyard");
    // The routed application still works next to the API.
    assert_eq!(get(proxy.web(), "app.example.com", "/").status, 200);
}

#[test]
fn errors_are_traefiks() {
    let proxy = Proxy::start(
        "http:\n  routers:\n    broken:\n      rule: Host(`x`)\n      service: nowhere\n      entryPoints: [web]\n",
        INSECURE,
    );
    let r = get(
        proxy.addr("traefik"),
        "localhost",
        "/api/http/routers/broken@file",
    );
    assert_eq!(
        json(&r)["error"],
        serde_json::json!(["the service \"nowhere@file\" does not exist"])
    );
    assert_eq!(json(&r)["status"], "disabled");
    let r = get(
        proxy.addr("traefik"),
        "localhost",
        "/api/http/routers/ghost",
    );
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "{\"message\":\"router not found: ghost\"}\n");
    let r = get(
        proxy.addr("traefik"),
        "localhost",
        "/api/http/routers?page=7",
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        "{\"message\":\"invalid request: page: 7, per_page: 100\"}\n"
    );
    let r = get(
        proxy.addr("traefik"),
        "localhost",
        "/api/http/routers?per_page=1",
    );
    assert_eq!(r.header("x-next-page"), Some("2"));
    let r = request(
        proxy.addr("traefik"),
        "DELETE",
        "/api/rawdata",
        "localhost",
        &[],
        "",
    );
    assert_eq!(r.status, 405);
    let r = get(proxy.addr("traefik"), "localhost", "/api/nothing");
    assert_eq!((r.status, r.text().as_str()), (404, "404 page not found\n"));
}

#[test]
fn dashboard_routers_redirect_and_serve() {
    let proxy = Proxy::start(&routed("http://127.0.0.1:9"), INSECURE);
    let host = format!("localhost:{}", proxy.port("traefik"));
    let r = get(proxy.addr("traefik"), &host, "/");
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location"),
        Some(format!("http://{host}/dashboard/").as_str())
    );
    // Only `/` is redirected.
    assert_ne!(get(proxy.addr("traefik"), &host, "/other").status, 301);
    let r = get(proxy.addr("traefik"), "localhost", "/dashboard/");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r
        .header("content-type")
        .unwrap_or_default()
        .starts_with("text/html"));
    let raw = api_get(&proxy, "/api/rawdata");
    assert_eq!(
        raw["middlewares"]["dashboard_stripprefix@internal"]["stripPrefix"]["prefixes"],
        serde_json::json!(["/dashboard/", "/dashboard"])
    );
    assert_eq!(
        raw["routers"]["dashboard@internal"]["priority"],
        serde_json::json!(i64::MAX - 2)
    );
}

#[test]
fn api_under_base_path_through_a_router() {
    let proxy = Proxy::start(
        "http:\n  routers:\n    admin:\n      rule: PathPrefix(`/admin`)\n      service: api@internal\n      entryPoints: [web]\n",
        "api:\n  basePath: /admin\n  dashboard: false\n",
    );
    let r = get(proxy.web(), "localhost", "/admin/api/rawdata");
    assert_eq!(r.status, 200, "{}", r.text());
    let raw = json(&r);
    assert_eq!(raw["routers"]["admin@file"]["status"], "enabled");
    assert!(raw["routers"].get("api@internal").is_none());
    assert!(raw["services"].get("dashboard@internal").is_none());
    assert_eq!(
        raw["services"]["api@internal"]["usedBy"],
        serde_json::json!(["admin@file"])
    );
    // Outside the base path, and the dashboard is off.
    assert_eq!(get(proxy.web(), "localhost", "/admin/api").status, 404);
    assert_eq!(get(proxy.web(), "localhost", "/admin").status, 404);
    assert_eq!(
        get(proxy.addr("traefik"), "localhost", "/api/rawdata").status,
        404
    );
}

#[test]
fn without_api_nothing_is_served() {
    let proxy = Proxy::start(
        "http:\n  routers:\n    api:\n      rule: PathPrefix(`/api`)\n      service: api@internal\n      entryPoints: [web]\n",
        "",
    );
    assert_eq!(
        get(proxy.addr("traefik"), "localhost", "/api/rawdata").status,
        404
    );
    assert_eq!(get(proxy.web(), "localhost", "/api/rawdata").status, 404);
    // The router is disabled with Traefik's error, logged with the router's name.
    assert!(proxy.logs().contains("router api@file: api is not enabled"));
}

#[test]
fn server_status_follows_health_checks() {
    let a = ScriptedBackend::start("a");
    let dynamic = format!(
        "http:\n  routers:\n    r:\n      rule: Host(`x`)\n      service: s\n      entryPoints: [web]\n  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: \"{}\"\n        healthCheck:\n          path: /health\n          interval: 100ms\n          timeout: 1s\n",
        a.url()
    );
    let proxy = Proxy::start(&dynamic, INSECURE);
    let status = |proxy: &Proxy| {
        api_get(proxy, "/api/http/services/s@file")["serverStatus"][a.url()]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    proxy.eventually("UP", || status(&proxy) == "UP");
    a.set_healthy(false);
    proxy.eventually("DOWN", || status(&proxy) == "DOWN");
    let raw = api_get(&proxy, "/api/rawdata");
    assert_eq!(raw["services"]["s@file"]["serverStatus"][a.url()], "DOWN");
    a.set_healthy(true);
    proxy.eventually("UP again", || status(&proxy) == "UP");
}

#[test]
fn reload_replaces_the_view() {
    let proxy = Proxy::start(&routed("http://127.0.0.1:9"), INSECURE);
    assert_eq!(
        api_get(&proxy, "/api/http/routers/app@file")["status"],
        "enabled"
    );
    proxy.set_dynamic(
        "http:\n  routers:\n    other:\n      rule: Host(`o`)\n      service: gone\n      entryPoints: [web]\n",
    );
    proxy.eventually("the new router", || {
        get(
            proxy.addr("traefik"),
            "localhost",
            "/api/http/routers/other@file",
        )
        .status
            == 200
    });
    let r = get(
        proxy.addr("traefik"),
        "localhost",
        "/api/http/routers/app@file",
    );
    assert_eq!(r.status, 404);
    let overview = api_get(&proxy, "/api/overview");
    assert_eq!(overview["http"]["routers"]["errors"], 1);
}

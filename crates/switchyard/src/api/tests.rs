//! Unit tests of the API: endpoints, shapes and Traefik's runtime rules, on configurations decoded
//! from YAML (no compile report: statuses come from the view's own build).

use super::*;
use switchyard_model::decode::{from_text, Format};

fn state(static_yaml: &str, dynamic_yaml: &str) -> ApiState {
    let mut cfg: StaticConfig = from_text(static_yaml, Format::Yaml, "static").unwrap();
    crate::config::apply_implicit(&mut cfg);
    let api = ApiState::new(&cfg, Arc::default());
    let dynamic: DynamicConfig = from_text(dynamic_yaml, Format::Yaml, "dynamic").unwrap();
    let mut configs = BTreeMap::new();
    configs.insert("file".to_owned(), Arc::new(dynamic));
    configs.insert(
        "internal".to_owned(),
        Arc::new(crate::runtime::internal::config(&cfg)),
    );
    api.update(&configs, &Report::default());
    api
}

fn call(api: &ApiState, method: &str, target: &str) -> (u16, Vec<(String, String)>, String) {
    let req = Request::builder()
        .method(method)
        .uri(target)
        .body(crate::http::body::empty())
        .unwrap();
    let resp = api.serve(&req);
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let body =
        futures_util::FutureExt::now_or_never(http_body_util::BodyExt::collect(resp.into_body()))
            .unwrap()
            .map(|c| c.to_bytes())
            .unwrap_or_default();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn get(api: &ApiState, target: &str) -> Value {
    let (status, _, body) = call(api, "GET", target);
    assert_eq!(status, 200, "{target}: {body}");
    assert!(body.ends_with('\n'));
    serde_json::from_str(&body).unwrap()
}

fn names(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect()
}

const STATIC: &str = "
entryPoints:
  web:
    address: ':80'
  websecure:
    address: ':443'
    http:
      tls: {}
  dns:
    address: ':53/udp'
api:
  insecure: true
providers:
  file:
    directory: /x
";

const DYNAMIC: &str = "
http:
  routers:
    r1:
      rule: Host(`a`)
      service: s
      entryPoints: [web]
      middlewares: [auth, chained]
    r2:
      rule: Path(`/x`)
      service: w
    bad-ep:
      rule: Host(`b`)
      service: s
      entryPoints: [nope]
    half-ep:
      rule: Host(`c`)
      service: s
      entryPoints: [web, nope]
    no-svc:
      rule: Host(`d`)
      service: missing
      entryPoints: [web]
    bad-mw:
      rule: Host(`e`)
      service: s
      middlewares: [unknown]
      entryPoints: [web]
    bad-rule:
      rule: Hostt(`e`)
      service: s
      entryPoints: [web]
    too-high:
      rule: Host(`f`)
      service: s
      priority: 9223372036854775000
      entryPoints: [web]
  services:
    s:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:1
    w:
      weighted:
        services:
          - name: s
          - name: gone
    unused:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:2
  middlewares:
    auth:
      basicAuth:
        users: ['u:x']
    chained:
      chain:
        middlewares: [auth]
    idle:
      addPrefix:
        prefix: /p
tcp:
  routers:
    t:
      rule: HostSNI(`*`)
      service: ts
  services:
    ts:
      loadBalancer:
        servers:
          - address: 127.0.0.1:3
udp:
  routers:
    u:
      service: us
  services:
    us:
      loadBalancer:
        servers:
          - address: 127.0.0.1:4
";

#[test]
fn routers_follow_traefik() {
    let api = state(STATIC, DYNAMIC);
    let raw = get(&api, "/api/rawdata");
    let routers = &raw["routers"];
    assert_eq!(
        routers["r1@file"],
        json!({
            "entryPoints": ["web"], "middlewares": ["auth@file", "chained@file"], "service": "s",
            "rule": "Host(`a`)", "priority": 9, "status": "enabled", "using": ["web"],
            "observability": {"accessLogs": true, "metrics": true, "tracing": true, "traceVerbosity": "minimal"}
        })
    );
    // Default entry points, and the `websecure` model splits the router.
    assert_eq!(routers["r2@file"]["entryPoints"], json!(["web"]));
    assert_eq!(
        routers["websecure-r2@file"]["entryPoints"],
        json!(["websecure"])
    );
    assert_eq!(routers["websecure-r2@file"]["tls"], json!({}));
    assert_eq!(
        routers["r2@file"]["error"],
        json!(["building HTTP service \"gone\": the service \"gone@file\" does not exist"])
    );
    assert_eq!(
        routers["bad-ep@file"]["error"],
        json!([
            "entryPoint \"nope\" doesn't exist",
            "no valid entryPoint for this router"
        ])
    );
    assert!(routers["bad-ep@file"].get("priority").is_none());
    assert!(routers["bad-ep@file"].get("using").is_none());
    assert_eq!(routers["half-ep@file"]["status"], "warning");
    assert_eq!(
        routers["no-svc@file"]["error"],
        json!(["the service \"missing@file\" does not exist"])
    );
    assert_eq!(
        routers["bad-mw@file"]["error"],
        json!(["middleware \"unknown@file\" does not exist"])
    );
    assert_eq!(routers["bad-rule@file"]["status"], "disabled");
    assert!(routers["bad-rule@file"]["error"][0]
        .as_str()
        .unwrap()
        .starts_with("error while parsing rule Hostt(`e`): "));
    assert_eq!(
        routers["too-high@file"]["error"],
        json!(["the router priority 9223372036854775000 exceeds the max user-defined priority 9223372036854774807"])
    );
    assert_eq!(routers["api@internal"]["ruleSyntax"], "default");
    assert_eq!(routers["api@internal"]["priority"], json!(i64::MAX - 1));
    assert_eq!(
        routers["dashboard@internal"]["middlewares"],
        json!([
            "dashboard_redirect@internal",
            "dashboard_stripprefix@internal"
        ])
    );

    let item = get(&api, "/api/http/routers/websecure-r2%40file");
    assert_eq!(item["tls"], json!({"options": "default"}));
    assert_eq!(item["name"], "websecure-r2@file");
    assert_eq!(item["provider"], "file");
    assert_eq!(item["priorityStr"], "10");
    // rawdata is not changed by the list representation.
    assert_eq!(
        get(&api, "/api/rawdata")["routers"]["websecure-r2@file"]["tls"],
        json!({})
    );
}

#[test]
fn services_and_middlewares() {
    let api = state(STATIC, DYNAMIC);
    let raw = get(&api, "/api/rawdata");
    let s = &raw["services"]["s@file"];
    assert_eq!(s["status"], "enabled");
    assert_eq!(
        s["usedBy"],
        json!([
            "bad-ep@file",
            "bad-mw@file",
            "bad-rule@file",
            "half-ep@file",
            "r1@file",
            "too-high@file"
        ])
    );
    assert_eq!(s["loadBalancer"]["strategy"], "wrr");
    assert_eq!(s["loadBalancer"]["passHostHeader"], true);
    assert_eq!(
        raw["services"]["w@file"]["error"],
        json!(["building HTTP service \"gone\": the service \"gone@file\" does not exist"])
    );
    assert_eq!(raw["services"]["w@file"]["status"], "disabled");
    assert_eq!(
        raw["services"]["api@internal"],
        json!({"status": "enabled", "usedBy": ["api@internal"]})
    );
    assert_eq!(
        raw["services"]["noop@internal"],
        json!({"status": "enabled"})
    );
    assert_eq!(raw["services"]["unused@file"]["status"], "enabled");
    assert_eq!(
        raw["middlewares"]["auth@file"]["usedBy"],
        json!(["r1@file"])
    );
    assert_eq!(
        raw["middlewares"]["chained@file"]["chain"]["middlewares"],
        json!(["auth@file"])
    );
    assert!(raw["middlewares"]["idle@file"].get("usedBy").is_none());

    let item = get(&api, "/api/http/services/s@file");
    assert_eq!(item["type"], "loadbalancer");
    assert_eq!(item["provider"], "file");
    let item = get(&api, "/api/http/middlewares/auth@file");
    assert_eq!(item["type"], "basicauth");
    let item = get(&api, "/api/http/services/noop@internal");
    assert!(item.get("type").is_none());
}

#[test]
fn tcp_and_udp() {
    let api = state(STATIC, DYNAMIC);
    let raw = get(&api, "/api/rawdata");
    assert_eq!(
        raw["tcpRouters"]["t@file"],
        json!({"entryPoints": ["web", "websecure"], "service": "ts", "rule": "HostSNI(`*`)",
               "priority": -1, "status": "enabled", "using": ["web", "websecure"]})
    );
    assert_eq!(
        raw["tcpServices"]["ts@file"],
        json!({"loadBalancer": {"servers": [{"address": "127.0.0.1:3"}]}, "status": "enabled",
               "usedBy": ["t@file"], "serverStatus": {"127.0.0.1:3": "UP"}})
    );
    assert_eq!(
        raw["udpRouters"]["u@file"],
        json!({"service": "us", "status": "enabled", "using": ["dns"]})
    );
    assert_eq!(raw["udpServices"]["us@file"]["usedBy"], json!(["u@file"]));
    let list = get(&api, "/api/tcp/routers");
    assert_eq!(list[0]["priorityStr"], "-1");
    let list = get(&api, "/api/udp/routers");
    assert!(list[0].get("priorityStr").is_none());
}

#[test]
fn lists_filter_sort_and_page() {
    let api = state(STATIC, DYNAMIC);
    let (status, headers, body) = call(&api, "GET", "/api/http/routers?per_page=2&page=2");
    assert_eq!(status, 200);
    assert!(headers.contains(&("x-next-page".to_owned(), "3".to_owned())));
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(names(&v), ["bad-mw@file", "bad-rule@file"]);
    let v = get(&api, "/api/http/routers?status=DISABLED&search=B");
    assert_eq!(
        names(&v),
        [
            "bad-ep@file",
            "bad-mw@file",
            "bad-rule@file",
            "websecure-r2@file"
        ]
    );
    let v = get(&api, "/api/http/routers?serviceName=s@other");
    assert_eq!(v.as_array().unwrap().len(), 6);
    let v = get(&api, "/api/http/routers?middlewareName=auth@file");
    assert_eq!(names(&v), ["r1@file"]);
    let v = get(
        &api,
        "/api/http/routers?sortBy=priority&direction=desc&per_page=2",
    );
    assert_eq!(names(&v), ["api@internal", "dashboard@internal"]);
    let v = get(
        &api,
        "/api/http/services?sortBy=type&direction=desc&per_page=1",
    );
    assert_eq!(names(&v), ["w@file"]);
    let v = get(&api, "/api/http/middlewares?search=zzz");
    assert_eq!(v, json!([]));
    let (status, _, body) = call(&api, "GET", "/api/http/routers?page=100");
    assert_eq!(status, 400);
    assert_eq!(
        body,
        "{\"message\":\"invalid request: page: 100, per_page: 100\"}\n"
    );
    let (status, _, body) = call(&api, "GET", "/api/http/routers?per_page=x");
    assert_eq!(status, 400);
    assert_eq!(body, "{\"message\":\"invalid request: per_page: 0\"}\n");
}

#[test]
fn errors_and_routing() {
    let api = state(STATIC, DYNAMIC);
    for (target, message) in [
        ("/api/http/routers/x", "router not found: x"),
        (
            "/api/http/services/a%2Fb@file",
            "service not found: a/b@file",
        ),
        ("/api/http/middlewares/x", "middleware not found: x"),
        ("/api/tcp/routers/x", "router not found: x"),
        ("/api/tcp/services/x", "service not found: x"),
        ("/api/tcp/middlewares/x", "middleware not found: x"),
        ("/api/udp/routers/x", "router not found: x"),
        ("/api/udp/services/x", "service not found: x"),
        ("/api/entrypoints/x", "entry point not found: x"),
    ] {
        let (status, headers, body) = call(&api, "GET", target);
        assert_eq!(status, 404, "{target}");
        assert_eq!(body, format!("{{\"message\":\"{message}\"}}\n"));
        assert!(headers.contains(&(
            "content-type".to_owned(),
            "text/plain; charset=utf-8".to_owned()
        )));
    }
    for target in [
        "/api",
        "/api/",
        "/api/rawdata/",
        "/api/udp/middlewares",
        "/api/http/routers/",
        "/api/http/routers/a/b",
        "/api/foo",
        "/debug/vars",
        "/api/%",
    ] {
        let (status, _, body) = call(&api, "GET", target);
        assert_eq!(
            (status, body.as_str()),
            (404, "404 page not found\n"),
            "{target}"
        );
    }
    let (status, _, body) = call(&api, "POST", "/api/rawdata");
    assert_eq!((status, body.as_str()), (405, ""));
    let (status, _, _) = call(&api, "GET", "/api/http/routers/%zz");
    assert_eq!(status, 404);
    let (status, headers, _) = call(&api, "GET", "/");
    assert_eq!(status, 302);
    assert!(headers.contains(&("location".to_owned(), "/dashboard/".to_owned())));
}

#[test]
fn overview_entrypoints_version() {
    let api = state(
        &format!("{STATIC}metrics:\n  prometheus: {{}}\naccessLog: {{}}\n"),
        DYNAMIC,
    );
    let o = get(&api, "/api/overview");
    assert_eq!(o["http"]["routers"]["total"], 12);
    assert_eq!(o["http"]["routers"]["warnings"], 1);
    assert_eq!(o["tcp"]["routers"]["total"], 1);
    assert_eq!(o["udp"]["services"]["total"], 1);
    assert_eq!(
        o["features"],
        json!({"tracing": "", "metrics": "Prometheus", "accessLog": true})
    );
    assert_eq!(o["providers"], json!(["File"]));
    let eps = get(&api, "/api/entrypoints");
    assert_eq!(names(&eps), ["dns", "traefik", "web", "websecure"]);
    assert_eq!(eps[3]["http"]["tls"], json!({}));
    assert_eq!(get(&api, "/api/entrypoints/web")["address"], ":80");
    let v = get(&api, "/api/version");
    assert_eq!(v["Codename"], "switchyard");
    assert!(v["startDate"].as_str().unwrap().ends_with('Z'));
    let raw = get(&api, "/api/rawdata");
    assert_eq!(
        raw["routers"]["prometheus@internal"]["rule"],
        "PathPrefix(`/metrics`)"
    );
}

#[test]
fn base_path_and_debug() {
    let api = state(
        "api:\n  basePath: /foo\n  debug: true\nentryPoints:\n  web:\n    address: ':80'\n",
        "http:\n  routers:\n    r:\n      rule: PathPrefix(`/foo`)\n      service: api@internal\n",
    );
    assert_eq!(
        get(&api, "/foo/api/rawdata")["routers"]["r@file"]["status"],
        "enabled"
    );
    let (status, _, _) = call(&api, "GET", "/api/rawdata");
    assert_eq!(status, 404);
    let (status, headers, _) = call(&api, "GET", "/foo");
    assert_eq!(status, 302);
    assert!(headers.contains(&("location".to_owned(), "/foo/dashboard/".to_owned())));
    let (status, _, _) = call(&api, "GET", "/foo/");
    assert_eq!(status, 404);
    assert!(get(&api, "/foo/debug/vars")["cmdline"].is_array());
}

#[test]
fn no_panic_on_odd_input() {
    let api = state(STATIC, DYNAMIC);
    for target in [
        "/api/http/routers?page=9223372036854775807&per_page=9223372036854775807",
        "/api/http/routers?page=-9223372036854775808",
        "/api/http/routers?per_page=1&page=99999999999999999999999",
        "/api/http/routers?sortBy=%ff&direction=%",
        "/api/http/routers/%ff%fe",
        "/api/entrypoints?page=2&per_page=1",
        "/api/http/routers?search=%e2%82",
    ] {
        let _ = call(&api, "GET", target);
    }
}

#[test]
fn rfc3339_like_go() {
    assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00Z");
    assert_eq!(
        rfc3339(1_795_778_064, 496_450_000),
        "2026-11-27T11:14:24.49645Z"
    );
    assert_eq!(rfc3339(951_782_400, 1), "2000-02-29T00:00:00.000000001Z");
}

#[test]
fn support_dump_is_a_gzipped_tar() {
    let api = state(STATIC, DYNAMIC);
    let req = Request::builder()
        .uri("/api/support-dump")
        .body(crate::http::body::empty())
        .unwrap();
    let resp = api.serve(&req);
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/gzip");
    let body =
        futures_util::FutureExt::now_or_never(http_body_util::BodyExt::collect(resp.into_body()))
            .unwrap()
            .unwrap()
            .to_bytes();
    assert_eq!(&body[..2], &[0x1f, 0x8b]);
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("runtime-config.json"));
    assert!(text.contains("\"xxxx\""));
    assert!(text.contains("r1@file"));
}

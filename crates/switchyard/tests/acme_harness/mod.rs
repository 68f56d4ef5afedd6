//! Harness for the ACME tests: Pebble (a real ACME CA, validating challenges for real) with
//! pebble-challtestsrv as its DNS server, its own TLS CA made here, and Switchyard started on
//! ports chosen before Pebble so that Pebble validates against Switchyard's entry points.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;

use crate::common::{binary, temp_dir, Proxy};

/// A free loopback port never handed out before in this process: ports are chosen before the
/// processes using them start, so two choices must not collide.
pub fn free_port() -> u16 {
    static USED: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    loop {
        let p = crate::common::free_port();
        let mut used = USED.lock().unwrap();
        if !used.contains(&p) {
            used.push(p);
            return p;
        }
    }
}

/// Whether the Pebble binaries are installed; prints a loud skip notice when not.
pub fn pebble_available(test: &str) -> bool {
    let ok = Command::new("pebble")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !ok {
        eprintln!(
            "\n!!!!! SKIPPED {test}: the `pebble` binary is not installed (apt install pebble) !!!!!\n"
        );
    }
    ok
}

/// A kill-on-drop child process.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Pebble plus challtestsrv, on loopback.
pub struct Pebble {
    _pebble: Daemon,
    _cts: Daemon,
    pub dir: PathBuf,
    pub dir_url: String,
    /// Pebble's HTTPS CA certificate (for `caCertificates`).
    pub ca_file: PathBuf,
    /// challtestsrv's DNS server and management API.
    pub dns: SocketAddr,
    pub cts_api: SocketAddr,
    pub log: PathBuf,
}

/// Ports Switchyard will use, chosen before Pebble starts.
#[derive(Debug, Clone)]
pub struct Ports {
    pub web: u16,
    pub websecure: u16,
    pub traefik: u16,
}

impl Ports {
    pub fn pick() -> Ports {
        Ports {
            web: free_port(),
            websecure: free_port(),
            traefik: free_port(),
        }
    }
}

fn wait_port(addr: SocketAddr, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "{what} did not start; log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

impl Pebble {
    /// Starts Pebble validating HTTP-01 on `ports.web` and TLS-ALPN-01 on `ports.websecure`,
    /// issuing certificates valid for `validity` seconds.
    pub fn start(ports: &Ports, validity: u64) -> Pebble {
        Self::start_with_dns(ports, validity, None)
    }

    /// Like [`Pebble::start`], resolving names at `dns_server` instead of challtestsrv.
    pub fn start_with_dns(ports: &Ports, validity: u64, dns_server: Option<SocketAddr>) -> Pebble {
        Self::start_opts(ports, validity, dns_server, None)
    }

    /// Like [`Pebble::start_with_dns`]; with `eab = Some((kid, base64url key))` Pebble requires
    /// External Account Binding with that key.
    pub fn start_opts(
        ports: &Ports,
        validity: u64,
        dns_server: Option<SocketAddr>,
        eab: Option<(&str, &str)>,
    ) -> Pebble {
        let dir = temp_dir("pebble");
        // Pebble's own HTTPS certificate, signed by a CA Switchyard is told to trust.
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, "Switchyard test CA for Pebble");
        ca_params.distinguished_name = dn;
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf_params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        std::fs::write(dir.join("cert.pem"), leaf.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), leaf_key.serialize_pem()).unwrap();

        let (acme, mgmt, dns, cts_api) = (free_port(), free_port(), free_port(), free_port());
        let config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{acme}"),
            "managementListenAddress": format!("127.0.0.1:{mgmt}"),
            "certificate": dir.join("cert.pem"),
            "privateKey": dir.join("key.pem"),
            "httpPort": ports.web,
            "tlsPort": ports.websecure,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": eab.is_some(),
            "externalAccountMACKeys": eab.map(|(k, v)| serde_json::json!({ k: v })),
            "certificateValidityPeriod": validity,
        }});
        std::fs::write(dir.join("pebble.json"), config.to_string()).unwrap();

        let cts_log = dir.join("challtestsrv.log");
        let cts = Command::new("pebble-challtestsrv")
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .args(["-dns01", &format!("127.0.0.1:{dns}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-management", &format!("127.0.0.1:{cts_api}")])
            .stdout(Stdio::from(std::fs::File::create(&cts_log).unwrap()))
            .stderr(Stdio::null())
            .spawn();
        let cts = Daemon(cts.expect("start pebble-challtestsrv"));
        wait_port(
            SocketAddr::from(([127, 0, 0, 1], cts_api)),
            "pebble-challtestsrv",
            &cts_log,
        );

        let log = dir.join("pebble.log");
        let pebble = Command::new("pebble")
            .arg("-config")
            .arg(dir.join("pebble.json"))
            .args([
                "-dnsserver",
                &dns_server.map_or(format!("127.0.0.1:{dns}"), |a| a.to_string()),
            ])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_VA_ALWAYS_VALID", "0")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("pebble.err")).unwrap(),
            ))
            .spawn()
            .expect("start pebble");
        let pebble = Daemon(pebble);
        wait_port(SocketAddr::from(([127, 0, 0, 1], acme)), "pebble", &log);
        Pebble {
            _pebble: pebble,
            _cts: cts,
            dir_url: format!("https://127.0.0.1:{acme}/dir"),
            ca_file,
            dns: SocketAddr::from(([127, 0, 0, 1], dns)),
            cts_api: SocketAddr::from(([127, 0, 0, 1], cts_api)),
            log,
            dir,
        }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The resolver's static YAML (under `certificatesResolvers.pebble.acme`), with `extra`
    /// (already indented by 6 spaces) appended.
    pub fn resolver_yaml(&self, storage: &Path, extra: &str) -> String {
        format!(
            "certificatesResolvers:\n  pebble:\n    acme:\n      email: test@example.com\n      caServer: \"{}\"\n      storage: \"{}\"\n      keyType: EC256\n      caCertificates: [\"{}\"]\n{extra}",
            self.dir_url,
            storage.display(),
            self.ca_file.display()
        )
    }
}

/// Starts Switchyard on `ports` (entry points web, websecure, traefik) with a file provider on
/// `dyn_dir` and `extra_static` appended.
pub fn start_switchyard(
    ports: &Ports,
    dyn_dir: &Path,
    extra_static: &str,
    env: &[(&str, &str)],
) -> Proxy {
    let dir = temp_dir("acme-proxy");
    let static_yaml = format!(
        "entryPoints:\n  web:\n    address: \"127.0.0.1:{}\"\n  websecure:\n    address: \"127.0.0.1:{}\"\n  traefik:\n    address: \"127.0.0.1:{}\"\nping: {{}}\nlog:\n  level: DEBUG\nproviders:\n  providersThrottleDuration: 50ms\n  file:\n    directory: \"{}\"\n    watch: true\n{extra_static}",
        ports.web,
        ports.websecure,
        ports.traefik,
        dyn_dir.display()
    );
    let config = dir.join("traefik.yml");
    std::fs::write(&config, static_yaml).unwrap();
    let log = dir.join("switchyard.log");
    let mut cmd = Command::new(binary());
    cmd.arg(format!("--configFile={}", config.display()))
        .env("SWITCHYARD_LOG", "debug,hyper=warn,h2=warn")
        .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("stderr.log")).unwrap(),
        ));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("start switchyard");
    let ports = HashMap::from([
        ("web".to_owned(), ports.web),
        ("websecure".to_owned(), ports.websecure),
        ("traefik".to_owned(), ports.traefik),
    ]);
    let proxy = Proxy {
        child,
        dir,
        ports,
        log,
    };
    proxy.wait_ready();
    proxy
}

/// A dynamic configuration: one TLS router per `(name, rule, tls yaml)` on websecure, all to a
/// backend at `backend`.
pub fn routers(backend: &str, list: &[(&str, &str, &str)]) -> String {
    let mut out = String::from("http:\n  routers:\n");
    for (name, rule, tls) in list {
        out.push_str(&format!(
            "    {name}:\n      rule: \"{rule}\"\n      entryPoints: [websecure]\n      service: s\n      tls:\n{tls}"
        ));
    }
    out.push_str(&format!(
        "  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: \"{backend}\"\n"
    ));
    out
}

/// The certificate a TLS handshake with `sni` gets (ALPN h2/http1.1, no verification).
#[derive(Debug, Clone)]
pub struct Served {
    pub names: Vec<String>,
    pub issuer: String,
    pub serial: String,
    pub not_after: i64,
}

pub fn served_cert(addr: SocketAddr, sni: &str) -> Option<Served> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let recorder = Arc::new(crate::common::CertRecorder::new(provider.clone()));
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = ServerName::try_from(sni.to_owned()).unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut sock = TcpStream::connect(addr).ok()?;
    sock.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).ok()?;
    }
    let der = recorder.last()?;
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(der.as_ref()).ok()?;
    let mut names: Vec<String> = cert
        .subject()
        .iter_common_name()
        .filter_map(|c| c.as_str().ok().map(str::to_owned))
        .collect();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let GeneralName::DNSName(d) = n {
                names.push(d.to_string());
            }
        }
    }
    Some(Served {
        names,
        issuer: cert.issuer().to_string(),
        serial: cert.raw_serial_as_string(),
        not_after: cert.validity().not_after.timestamp(),
    })
}

/// Polls until `check` returns `Some`, or panics after `secs` seconds with `logs()`.
pub fn wait_for<T>(
    secs: u64,
    what: &str,
    logs: impl Fn() -> String,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if let Some(v) = check() {
            return v;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}; logs:\n{}", logs());
}

/// Waits until `sni` on `addr` is served a certificate issued by Pebble.
pub fn wait_for_pebble_cert(
    addr: SocketAddr,
    sni: &str,
    secs: u64,
    logs: impl Fn() -> String,
) -> Served {
    wait_for(
        secs,
        &format!("a Pebble certificate for {sni}"),
        logs,
        || served_cert(addr, sni).filter(|s| s.issuer.contains("Pebble")),
    )
}

/// POSTs JSON to challtestsrv's management API (`/set-txt`, `/clear-txt`).
pub fn cts_post(api: SocketAddr, path: &str, body: &str) -> u16 {
    let mut s = TcpStream::connect(api).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// The mode bits of a file.
#[cfg(unix)]
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A fresh directory holding one dynamic configuration file.
pub fn dynamic_dir(yaml: &str) -> PathBuf {
    let dir = temp_dir("acme-dyn");
    std::fs::write(dir.join("config.yml"), yaml).unwrap();
    dir
}

/// Replaces the dynamic configuration atomically.
pub fn set_dynamic(dir: &Path, yaml: &str) {
    crate::common::write_atomic(&dir.join("config.yml"), yaml);
}

//! The binary's command line: static configuration sources, unknown keys, `check`, `version`,
//! `healthcheck`, and graceful shutdown.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(binary());
    cmd.args(args)
        .env_clear()
        .env("HOME", "/nonexistent")
        .current_dir(std::env::temp_dir());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn version_prints() {
    let (code, out) = run(&["version"], &[]);
    assert_eq!(code, 0);
    assert!(out.contains(env!("CARGO_PKG_VERSION")), "{out}");
}

#[test]
fn unknown_static_key_fails_naming_key_and_line() {
    let dir = temp_dir("cli");
    let file = dir.join("traefik.yml");
    std::fs::write(
        &file,
        "entryPoints:\n  web:\n    address: \":80\"\n    adress: \":81\"\n",
    )
    .unwrap();
    let (code, out) = run(&["check", &format!("--configFile={}", file.display())], &[]);
    assert_ne!(code, 0);
    assert!(out.contains("adress"), "{out}");
    assert!(out.contains("traefik.yml"), "{out}");
    assert!(out.contains(":4"), "line number expected: {out}");
}

#[test]
fn check_lists_routers_and_errors() {
    let dir = temp_dir("check");
    let dynamic = dir.join("dyn.yml");
    std::fs::write(
        &dynamic,
        "http:\n  routers:\n    ok:\n      rule: Host(`a.test`)\n      service: s\n    broken:\n      rule: Host(`a`, `b`)\n      service: s\n  services:\n    s:\n      loadBalancer:\n        servers: [{url: \"http://127.0.0.1:1\"}]\n",
    )
    .unwrap();
    let flags = [
        "check",
        "--entryPoints.web.address=:8081",
        &format!("--providers.file.filename={}", dynamic.display()),
    ];
    let (code, out) = run(&flags, &[]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("ok@file"), "{out}");
    assert!(out.contains("Host(`a.test`)"), "{out}");
    assert!(out.contains("priority: 14"), "{out}"); // len("Host(`a.test`)")
    assert!(out.contains("broken@file"), "{out}");
    assert!(out.contains("disabled"), "{out}");
    assert!(out.contains("command-line flags"), "{out}");

    std::fs::write(&dynamic, "http:\n  routers:\n    ok:\n      rule: Host(`a.test`)\n      service: s\n  services:\n    s:\n      loadBalancer:\n        servers: [{url: \"http://127.0.0.1:1\"}]\n").unwrap();
    let (code, out) = run(&flags, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("configuration is valid"), "{out}");
}

#[test]
fn env_vars_are_a_static_source() {
    let dir = temp_dir("env");
    let dynamic = dir.join("dyn.yml");
    std::fs::write(
        &dynamic,
        "http:\n  routers:\n    r:\n      rule: Path(`/`)\n      service: noop@internal\n",
    )
    .unwrap();
    let (code, out) = run(
        &["check"],
        &[
            ("TRAEFIK_ENTRYPOINTS_WEB_ADDRESS", ":8082"),
            ("TRAEFIK_PROVIDERS_FILE_FILENAME", dynamic.to_str().unwrap()),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("environment"), "{out}");
    assert!(out.contains("r@file"), "{out}");
}

#[test]
fn bad_flag_is_named() {
    let (code, out) = run(&["check", "--entryPoints.web.adress=:80"], &[]);
    assert_ne!(code, 0);
    assert!(out.to_lowercase().contains("adress"), "{out}");
}

#[test]
fn healthcheck_and_graceful_shutdown() {
    let backend = Backend::start("slow");
    let proxy = Proxy::start(
        &one_route("PathPrefix(`/`)", &[backend.url()]),
        "EP:transport:\nEP:  lifeCycle:\nEP:    requestAcceptGraceTimeout: 1s\nEP:    graceTimeOut: 5s",
    );
    let (code, out) = run(
        &[
            "healthcheck",
            &format!("--url=http://127.0.0.1:{}/ping", proxy.port("traefik")),
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}");

    // An in-flight request that takes 2 s.
    let addr = proxy.web();
    let slow = std::thread::spawn(move || get(addr, "x", "/slow"));
    std::thread::sleep(Duration::from_millis(300));
    proxy.sigterm();
    std::thread::sleep(Duration::from_millis(200));
    // During requestAcceptGraceTimeout: still accepting, ping says 503.
    let ping = get(proxy.addr("traefik"), "x", "/ping");
    assert_eq!(ping.status, 503);
    assert_eq!(
        get(proxy.web(), "x", "/").status,
        200,
        "still accepting during the grace period"
    );
    let (code, _) = run(
        &[
            "healthcheck",
            &format!("--url=http://127.0.0.1:{}/ping", proxy.port("traefik")),
        ],
        &[],
    );
    assert_ne!(code, 0);
    // The in-flight request completes.
    assert_eq!(slow.join().unwrap().status, 200);
    // Afterwards the listener is closed and the process exits.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(proxy.web()).is_ok() {
        assert!(
            Instant::now() < deadline,
            "still accepting after the grace period"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

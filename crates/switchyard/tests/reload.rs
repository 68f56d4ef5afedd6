//! Hot reload through the file provider: new routes apply without restart, a broken file keeps
//! the last good configuration, and repeated reloads under load fail no request on unchanged routes.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;

fn two_routes(stable: &str, extra_path: &str, extra: &str) -> String {
    format!(
        "http:\n  routers:\n    stable:\n      rule: PathPrefix(`/stable`)\n      service: stable\n    extra:\n      rule: PathPrefix(`{extra_path}`)\n      service: extra\n  services:\n    stable:\n      loadBalancer:\n        servers: [{{url: \"{stable}\"}}]\n    extra:\n      loadBalancer:\n        servers: [{{url: \"{extra}\"}}]\n"
    )
}

#[test]
fn file_change_applies_and_bad_file_keeps_last_good() {
    let a = Backend::start("a");
    let b = Backend::start("b");
    let proxy = Proxy::start(&one_route("PathPrefix(`/`)", &[a.url()]), "");
    assert_eq!(get(proxy.web(), "x", "/").header("x-backend"), Some("a"));
    let mut kept = KeepAlive::connect(proxy.web()).unwrap();
    assert_eq!(kept.get("x", "/").unwrap().header("x-backend"), Some("a"));

    proxy.set_dynamic(&one_route("PathPrefix(`/`)", &[b.url()]));
    proxy.eventually("the new backend", || {
        get(proxy.web(), "x", "/").header("x-backend") == Some("b")
    });
    // The connection opened before the reload uses the new configuration on its next request.
    assert_eq!(kept.get("x", "/").unwrap().header("x-backend"), Some("b"));

    // Unparsable YAML: rejected with an error naming the file; b keeps serving.
    proxy.set_dynamic("http:\n  routers:\n    r:\n      rule: [unclosed\n");
    proxy.eventually("the parse error in the log", || {
        proxy.logs().contains("config.yml")
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(get(proxy.web(), "x", "/").header("x-backend"), Some("b"));

    // Unknown key: rejected too.
    proxy.set_dynamic("http:\n  routers:\n    r:\n      rulez: PathPrefix(`/`)\n");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(get(proxy.web(), "x", "/").header("x-backend"), Some("b"));
    assert!(proxy.logs().contains("rulez"), "{}", proxy.logs());
}

#[test]
fn invalid_router_is_disabled_alone() {
    let a = Backend::start("a");
    let cfg = format!(
        "http:\n  routers:\n    good:\n      rule: Path(`/good`)\n      service: s\n    badrule:\n      rule: Path(`nope`)\n      service: s\n    noservice:\n      rule: Path(`/x`)\n      service: missing\n    badep:\n      rule: Path(`/y`)\n      service: s\n      entryPoints: [nowhere]\n  services:\n    s:\n      loadBalancer:\n        servers: [{{url: \"{}\"}}]\n",
        a.url()
    );
    let proxy = Proxy::start(&cfg, "");
    assert_eq!(get(proxy.web(), "x", "/good").status, 200);
    assert_eq!(get(proxy.web(), "x", "/x").status, 404);
    assert_eq!(get(proxy.web(), "x", "/y").status, 404);
    let logs = proxy.logs();
    assert!(logs.contains("badrule@file"), "{logs}");
    assert!(logs.contains("missing@file"), "{logs}");
    assert!(logs.contains("nowhere"), "{logs}");
}

#[test]
fn symlink_swap_is_seen() {
    let a = Backend::start("a");
    let b = Backend::start("b");
    let proxy = Proxy::start("", "");
    let dyn_dir = proxy.dir.join("dynamic");
    // Kubernetes ConfigMap layout: config.yml -> ..data/config.yml, ..data -> ..v1
    std::fs::remove_file(dyn_dir.join("config.yml")).unwrap();
    std::fs::create_dir_all(dyn_dir.join("..v1")).unwrap();
    std::fs::write(
        dyn_dir.join("..v1/config.yml"),
        one_route("PathPrefix(`/`)", &[a.url()]),
    )
    .unwrap();
    std::os::unix::fs::symlink("..v1", dyn_dir.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/config.yml", dyn_dir.join("config.yml")).unwrap();
    proxy.eventually("backend a", || {
        get(proxy.web(), "x", "/").header("x-backend") == Some("a")
    });

    std::fs::create_dir_all(dyn_dir.join("..v2")).unwrap();
    std::fs::write(
        dyn_dir.join("..v2/config.yml"),
        one_route("PathPrefix(`/`)", &[b.url()]),
    )
    .unwrap();
    std::os::unix::fs::symlink("..v2", dyn_dir.join("..data_tmp")).unwrap();
    std::fs::rename(dyn_dir.join("..data_tmp"), dyn_dir.join("..data")).unwrap();
    proxy.eventually("backend b after the swap", || {
        get(proxy.web(), "x", "/").header("x-backend") == Some("b")
    });
}

#[test]
fn zero_failed_requests_during_repeated_reloads() {
    let stable = Backend::start("stable");
    let extra = Backend::start("extra");
    let proxy = Proxy::start(&two_routes(&stable.url(), "/extra0", &extra.url()), "");
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let addr = proxy.web();
    let mut workers = Vec::new();
    for worker in 0..4 {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        workers.push(std::thread::spawn(move || {
            // Half the workers keep one connection alive across every reload; the others open a
            // new connection per request.
            let mut conn = if worker % 2 == 0 {
                Some(KeepAlive::connect(addr).unwrap())
            } else {
                None
            };
            while !stop.load(Ordering::Relaxed) {
                let result = match conn.as_mut() {
                    Some(c) => c.get("x", "/stable/x"),
                    None => try_request(addr, "GET", "/stable/x", "x", &[], ""),
                };
                match result {
                    Ok(r) if r.status == 200 => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => failed.lock().unwrap().push(format!("status {}", r.status)),
                    Err(e) => failed.lock().unwrap().push(e.to_string()),
                }
            }
        }));
    }
    for i in 1..=20 {
        proxy.set_dynamic(&two_routes(
            &stable.url(),
            &format!("/extra{i}"),
            &extra.url(),
        ));
        std::thread::sleep(Duration::from_millis(100));
    }
    proxy.eventually("the last reload", || {
        get(proxy.web(), "x", "/extra20").status == 200
    });
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let failed = failed.lock().unwrap();
    assert!(
        failed.is_empty(),
        "failed requests during reloads: {:?}",
        &failed[..failed.len().min(10)]
    );
    assert!(
        ok.load(Ordering::Relaxed) > 100,
        "too few requests made: {}",
        ok.load(Ordering::Relaxed)
    );
}

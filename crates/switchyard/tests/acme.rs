#![allow(clippy::unwrap_used)] // tests: a panic is the failure report
//! ACME certificate resolvers against Pebble, a real ACME CA that really validates: HTTP-01 and
//! TLS-ALPN-01 answered by the running proxy, certificates served as soon as they are issued,
//! domains added by a reload ordered without restart, renewal of short-lived certificates,
//! `acme.json` written with mode 0600 and reused after a restart without a new order. Storage
//! problems (corrupt file, too-open mode) and an unreachable CA are reported while everything
//! already served keeps being served.
//!
//! Tests that need Pebble skip with a loud notice when the `pebble` binary is absent.

mod acme_harness;
mod common;

use acme_harness::free_port;
use acme_harness::*;
use common::*;

fn backend() -> Backend {
    Backend::start("acme-backend")
}

#[test]
fn http01_certificate_served_then_reused_after_restart() {
    if !pebble_available("http01_certificate_served_then_reused_after_restart") {
        return;
    }
    let ports = Ports::pick();
    let pebble = Pebble::start(&ports, 3600);
    let state = temp_dir("acme-state");
    let storage = state.join("acme.json");
    let b = backend();
    let dyn_dir = dynamic_dir(&routers(
        &b.url(),
        &[("a", "Host(`a.test`)", "        certResolver: pebble\n")],
    ));
    let resolver =
        pebble.resolver_yaml(&storage, "      httpChallenge:\n        entryPoint: web\n");
    let proxy = start_switchyard(&ports, &dyn_dir, &resolver, &[]);
    let logs = || format!("{}\n--- pebble ---\n{}", proxy.logs(), pebble.logs());
    let secure = proxy.addr("websecure");

    // An unknown token on the challenge entry point: Traefik's empty 404, before any router.
    let r = get(proxy.web(), "a.test", "/.well-known/acme-challenge/nope");
    assert_eq!(r.status, 404);
    assert!(r.body.is_empty());

    let served = wait_for_pebble_cert(secure, "a.test", 60, logs);
    assert!(served.names.contains(&"a.test".to_owned()), "{served:?}");
    assert!(logs().contains("certificate obtained"), "{}", logs());
    // Pebble really fetched the token from the proxy.
    assert!(
        pebble
            .logs()
            .contains("Attempting to validate w/ HTTP: http://a.test:"),
        "{}",
        pebble.logs()
    );

    // acme.json: Traefik's layout, mode 0600.
    #[cfg(unix)]
    assert_eq!(mode(&storage), 0o600);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&storage).unwrap()).unwrap();
    assert_eq!(json["pebble"]["Account"]["Email"], "test@example.com");
    assert!(json["pebble"]["Account"]["Registration"]["uri"]
        .as_str()
        .unwrap()
        .starts_with("https://127.0.0.1"));
    assert_eq!(
        json["pebble"]["Certificates"][0]["domain"]["main"],
        "a.test"
    );
    assert_eq!(json["pebble"]["Certificates"][0]["Store"], "default");

    // A router added by a reload gets its certificate without restart.
    set_dynamic(
        &dyn_dir,
        &routers(
            &b.url(),
            &[
                ("a", "Host(`a.test`)", "        certResolver: pebble\n"),
                (
                    "c",
                    "Host(`c.test`) || Host(`d.test`)",
                    "        certResolver: pebble\n",
                ),
            ],
        ),
    );
    let c = wait_for_pebble_cert(secure, "d.test", 60, logs);
    assert!(
        c.names.contains(&"c.test".to_owned()) && c.names.contains(&"d.test".to_owned()),
        "{c:?}"
    );
    // a.test keeps its certificate.
    assert_eq!(served_cert(secure, "a.test").unwrap().serial, served.serial);

    // Restart: the stored certificates are served from the first handshake, with no new order.
    drop(proxy);
    let proxy = start_switchyard(&ports, &dyn_dir, &resolver, &[]);
    let again = served_cert(secure, "a.test").unwrap();
    assert_eq!(again.serial, served.serial, "{}", proxy.logs());
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(
        !proxy.logs().contains("obtaining a certificate"),
        "{}",
        proxy.logs()
    );
}

#[test]
fn tls_alpn01_certificate_is_served() {
    if !pebble_available("tls_alpn01_certificate_is_served") {
        return;
    }
    let ports = Ports::pick();
    let pebble = Pebble::start(&ports, 3600);
    let storage = temp_dir("acme-state").join("acme.json");
    let b = backend();
    let dyn_dir = dynamic_dir(&routers(
        &b.url(),
        &[(
            "t",
            "Host(`t.test`)",
            "        certResolver: pebble\n        domains:\n          - main: t.test\n            sans: [t2.test]\n",
        )],
    ));
    let resolver = pebble
        .resolver_yaml(&storage, "      tlsChallenge: {}\n")
        .replace("keyType: EC256", "keyType: RSA2048");
    let proxy = start_switchyard(&ports, &dyn_dir, &resolver, &[]);
    let logs = || format!("{}\n--- pebble ---\n{}", proxy.logs(), pebble.logs());
    let served = wait_for_pebble_cert(proxy.addr("websecure"), "t2.test", 90, logs);
    assert!(served.names.contains(&"t.test".to_owned()), "{served:?}");
    assert!(proxy
        .logs()
        .contains("answered an ACME TLS-ALPN-01 challenge"));
    let json = std::fs::read_to_string(&storage).unwrap();
    assert!(json.contains("t2.test"));
}

#[test]
fn short_lived_certificates_are_renewed_and_served() {
    if !pebble_available("short_lived_certificates_are_renewed_and_served") {
        return;
    }
    let ports = Ports::pick();
    // 15 s certificates: renewal is due after 10 s.
    let pebble = Pebble::start(&ports, 15);
    let storage = temp_dir("acme-state").join("acme.json");
    let b = backend();
    let dyn_dir = dynamic_dir(&routers(
        &b.url(),
        &[("r", "Host(`r.test`)", "        certResolver: pebble\n")],
    ));
    let resolver =
        pebble.resolver_yaml(&storage, "      httpChallenge:\n        entryPoint: web\n");
    let proxy = start_switchyard(&ports, &dyn_dir, &resolver, &[]);
    let logs = || format!("{}\n--- pebble ---\n{}", proxy.logs(), pebble.logs());
    let secure = proxy.addr("websecure");
    let first = wait_for_pebble_cert(secure, "r.test", 60, logs);
    let renewed = wait_for(40, "a renewed certificate", logs, || {
        served_cert(secure, "r.test")
            .filter(|s| s.serial != first.serial && s.issuer.contains("Pebble"))
    });
    assert!(renewed.not_after >= first.not_after);
    assert!(proxy.logs().contains("renewing a certificate"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&storage).unwrap()).unwrap();
    // Renewal replaced the certificate in place.
    assert_eq!(json["pebble"]["Certificates"].as_array().unwrap().len(), 1);
}

fn offline_resolver(storage: &std::path::Path, ca: &str) -> String {
    format!(
        "certificatesResolvers:\n  le:\n    acme:\n      email: test@example.com\n      caServer: \"{ca}\"\n      storage: \"{}\"\n      keyType: EC256\n      httpChallenge:\n        entryPoint: web\n",
        storage.display()
    )
}

#[test]
fn corrupt_acme_json_is_reported_and_left_untouched() {
    let ports = Ports::pick();
    let storage = temp_dir("acme-state").join("acme.json");
    std::fs::write(&storage, "{\"le\": {\"Account\": ").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&storage, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let b = backend();
    let dyn_dir = dynamic_dir(&routers(
        &b.url(),
        &[("a", "Host(`a.test`)", "        certResolver: le\n")],
    ));
    let proxy = start_switchyard(
        &ports,
        &dyn_dir,
        &offline_resolver(&storage, "https://127.0.0.1:1/dir"),
        &[],
    );
    proxy.eventually("the storage error", || {
        proxy.logs().contains("acme.json: not valid JSON")
    });
    let logs = proxy.logs();
    assert!(
        logs.contains("certificatesResolvers.le.acme.storage"),
        "{logs}"
    );
    // The router is served, with the default certificate.
    let served = served_cert(proxy.addr("websecure"), "a.test").unwrap();
    assert!(served.names.contains(&"TRAEFIK DEFAULT CERT".to_owned()));
    assert!(logs.contains("is unavailable"), "{logs}");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        std::fs::read_to_string(&storage).unwrap(),
        "{\"le\": {\"Account\": "
    );
}

#[cfg(unix)]
#[test]
fn too_open_acme_json_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let ports = Ports::pick();
    let storage = temp_dir("acme-state").join("acme.json");
    std::fs::write(&storage, "{}").unwrap();
    std::fs::set_permissions(&storage, std::fs::Permissions::from_mode(0o644)).unwrap();
    let dyn_dir = dynamic_dir("http: {}\n");
    let proxy = start_switchyard(
        &ports,
        &dyn_dir,
        &offline_resolver(&storage, "https://127.0.0.1:1/dir"),
        &[],
    );
    proxy.eventually("the permission error", || {
        proxy
            .logs()
            .contains("permissions 644 are too open, please use 600")
    });
    assert!(proxy.logs().contains(&storage.display().to_string()));
}

/// A certificate made here, stored as if a CA had issued it, valid for `secs` more seconds
/// after having lived `age` seconds.
fn stored_cert_json(resolver: &str, name: &str, age: u64, secs: u64) -> String {
    use base64::Engine as _;
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
    let now = std::time::SystemTime::now();
    params.not_before = (now - std::time::Duration::from_secs(age)).into();
    params.not_after = (now + std::time::Duration::from_secs(secs)).into();
    let cert = params.self_signed(&key).unwrap();
    let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
    serde_json::json!({ resolver: {
        "Account": null,
        "Certificates": [{
            "domain": {"main": name},
            "certificate": b64(cert.pem()),
            "key": b64(key.serialize_pem()),
            "Store": "default",
        }]
    }})
    .to_string()
}

#[test]
fn unreachable_ca_keeps_the_stored_certificate_served() {
    let ports = Ports::pick();
    let storage = temp_dir("acme-state").join("acme.json");
    // Lived 80 days of 90: due for renewal, and the CA is down.
    std::fs::write(
        &storage,
        stored_cert_json("le", "k.test", 80 * 86400, 10 * 86400),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&storage, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let b = backend();
    let dyn_dir = dynamic_dir(&routers(
        &b.url(),
        &[("k", "Host(`k.test`)", "        certResolver: le\n")],
    ));
    let dead = free_port();
    let proxy = start_switchyard(
        &ports,
        &dyn_dir,
        &offline_resolver(&storage, &format!("https://127.0.0.1:{dead}/dir")),
        &[],
    );
    // Served from the first configuration on.
    let served = served_cert(proxy.addr("websecure"), "k.test").unwrap();
    assert!(served.names.contains(&"k.test".to_owned()), "{served:?}");
    proxy.eventually("the CA error with its retry", || {
        let logs = proxy.logs();
        logs.contains("ACME account unavailable") && logs.contains("retry_in")
    });
    assert!(
        proxy.logs().contains(&format!("127.0.0.1:{dead}")),
        "{}",
        proxy.logs()
    );
    // Still served, and still stored.
    let again = served_cert(proxy.addr("websecure"), "k.test").unwrap();
    assert_eq!(again.serial, served.serial);
    assert!(std::fs::read_to_string(&storage)
        .unwrap()
        .contains("k.test"));
}

#[test]
fn stored_traefik_acme_json_certificates_are_served() {
    // A file Traefik wrote: RSA account key (not reusable here), certificates kept and served.
    let ports = Ports::pick();
    let storage = temp_dir("acme-state").join("acme.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&stored_cert_json("le", "m.test", 86400, 80 * 86400)).unwrap();
    json["le"]["Account"] = serde_json::json!({
        "Email": "test@example.com",
        "Registration": {"body": {"status": "valid"}, "uri": "https://127.0.0.1:1/my-account/1"},
        "PrivateKey": "MIIJKAIBAAKCAgEAtAUQMX15tFWCAE",
    });
    std::fs::write(&storage, json.to_string()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&storage, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let b = backend();
    let dyn_dir = dynamic_dir(&routers(
        &b.url(),
        &[("m", "Host(`m.test`)", "        certResolver: le\n")],
    ));
    let proxy = start_switchyard(
        &ports,
        &dyn_dir,
        &offline_resolver(&storage, "https://127.0.0.1:1/dir"),
        &[],
    );
    let served = served_cert(proxy.addr("websecure"), "m.test").unwrap();
    assert!(
        served.names.contains(&"m.test".to_owned()),
        "{}",
        proxy.logs()
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        !proxy.logs().contains("obtaining a certificate"),
        "{}",
        proxy.logs()
    );
}

#[test]
fn unknown_resolver_is_a_router_warning() {
    let ports = Ports::pick();
    let b = backend();
    let dyn_dir = dynamic_dir(&routers(
        &b.url(),
        &[("x", "Host(`x.test`)", "        certResolver: nope\n")],
    ));
    let proxy = start_switchyard(&ports, &dyn_dir, "", &[]);
    proxy.eventually("the warning", || {
        proxy
            .logs()
            .contains("no certificate resolver named \\\"nope\\\"")
            || proxy
                .logs()
                .contains("no certificate resolver named \"nope\"")
    });
    // Served with the default certificate.
    let served = served_cert(proxy.addr("websecure"), "x.test").unwrap();
    assert!(served.names.contains(&"TRAEFIK DEFAULT CERT".to_owned()));
}

#[test]
fn external_account_binding_is_required_and_used() {
    if !pebble_available("external_account_binding_is_required_and_used") {
        return;
    }
    let ports = Ports::pick();
    let key = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
    let pebble = Pebble::start_opts(&ports, 3600, None, Some(("kid-1", key)));
    let storage = temp_dir("acme-state").join("acme.json");
    let b = backend();
    let dyn_dir = dynamic_dir(&routers(
        &b.url(),
        &[("e", "Host(`e.test`)", "        certResolver: pebble\n")],
    ));
    let resolver = pebble.resolver_yaml(
        &storage,
        &format!(
            "      eab:\n        kid: kid-1\n        hmacEncoded: {key}\n      httpChallenge:\n        entryPoint: web\n"
        ),
    );
    let proxy = start_switchyard(&ports, &dyn_dir, &resolver, &[]);
    let logs = || format!("{}\n--- pebble ---\n{}", proxy.logs(), pebble.logs());
    let served = wait_for_pebble_cert(proxy.addr("websecure"), "e.test", 60, logs);
    assert!(served.names.contains(&"e.test".to_owned()));
    drop(proxy);

    // Without the binding the CA refuses the account: a clear error, retried later.
    let storage = temp_dir("acme-state").join("acme.json");
    let resolver =
        pebble.resolver_yaml(&storage, "      httpChallenge:\n        entryPoint: web\n");
    let proxy = start_switchyard(&ports, &dyn_dir, &resolver, &[]);
    proxy.eventually("the registration error", || {
        let l = proxy.logs();
        l.contains("cannot register an account") && l.contains("retry_in")
    });
}

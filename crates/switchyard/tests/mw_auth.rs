//! `basicAuth` and `digestAuth` through the running proxy: the 401 challenges, every hash format,
//! `usersFile`, `headerField`, `removeHeader`, a full digest handshake and a replayed digest.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use base64::Engine as _;
use common::*;
use md5::{Digest as _, Md5};

fn config(backend: &Backend, routes: &[(&str, &str)], middlewares: &str) -> String {
    let mut routers = String::new();
    for (i, (prefix, mw)) in routes.iter().enumerate() {
        routers.push_str(&format!(
            "    r{i}:\n      rule: PathPrefix(`{prefix}`)\n      service: s\n      middlewares: [{mw}]\n"
        ));
    }
    format!(
        "http:\n  routers:\n{routers}  services:\n    s:\n      loadBalancer:\n        servers: [{{url: \"{}\"}}]\n  middlewares:\n{middlewares}",
        backend.url()
    )
}

fn basic(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

#[test]
fn basic_auth_hashes_users_file_and_options() {
    let b = Backend::start("b");
    let dir = temp_dir("basic-auth");
    let users_file = dir.join("users");
    // `{SHA}` of "filepw"; `fileonly` is test:test in apr1 (Traefik's documentation example).
    std::fs::write(
        &users_file,
        "# users\n\nboth:{SHA}T8C8/awoL4iqwQDp2y2vSDvIHdw=\nfileonly:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/\n",
    )
    .unwrap();
    let bcrypt_hash = bcrypt::hash("bcpw", 4).unwrap();
    let mws = format!(
        "    auth:\n      basicAuth:\n        users:\n          - \"both:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/\"\n          - \"sha:{{SHA}}qUqP5cyxm6YcTAhz05Hph5gvu9M=\"\n          - \"bc:{bcrypt_hash}\"\n          - \"plain:plain\"\n        usersFile: \"{}\"\n        realm: \"my realm\"\n        headerField: X-WebAuth-User\n        removeHeader: true\n    open:\n      basicAuth:\n        users: [\"sha:{{SHA}}qUqP5cyxm6YcTAhz05Hph5gvu9M=\"]\n    missing:\n      basicAuth:\n        usersFile: /nonexistent/htpasswd\n",
        users_file.display()
    );
    let routes = [
        ("/auth", "auth"),
        ("/open", "open"),
        ("/missing", "missing"),
    ];
    let proxy = Proxy::start(&config(&b, &routes, &mws), "");

    let r = get(proxy.web(), "x", "/auth");
    assert_eq!(r.status, 401, "{}", proxy.logs());
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"my realm\"")
    );
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.text(), "401 Unauthorized\n");

    let ok = |user: &str, pw: &str| {
        request(
            proxy.web(),
            "GET",
            "/auth",
            "x",
            &[("Authorization", &basic(user, pw))],
            "",
        )
    };
    for (user, pw) in [
        ("both", "test"),
        ("fileonly", "test"),
        ("sha", "test"),
        ("bc", "bcpw"),
    ] {
        let r = ok(user, pw);
        assert_eq!(r.status, 200, "{user}: {}", proxy.logs());
        let dump = r.text().to_lowercase();
        assert!(
            dump.contains(&format!("x-webauth-user: {user}\n")),
            "{dump}"
        );
        assert!(!dump.contains("authorization"), "removeHeader: {dump}");
    }
    // Twice: the second bcrypt check is served from the cache, with the same answer.
    assert_eq!(ok("bc", "bcpw").status, 200);
    assert_eq!(ok("bc", "wrong").status, 401);
    assert_eq!(
        ok("both", "filepw").status,
        401,
        "inline users win over the file"
    );
    assert_eq!(ok("sha", "nope").status, 401);
    assert_eq!(
        ok("plain", "plain").status,
        401,
        "plain-text secrets never match"
    );
    assert_eq!(ok("nobody", "test").status, 401);

    // Defaults: realm "traefik", the Authorization header is forwarded.
    let r = get(proxy.web(), "x", "/open");
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"traefik\"")
    );
    let r = request(
        proxy.web(),
        "GET",
        "/open",
        "x",
        &[("Authorization", &basic("sha", "test"))],
        "",
    );
    assert_eq!(r.status, 200);
    assert!(
        r.text().to_lowercase().contains("authorization: basic"),
        "{}",
        r.text()
    );

    // An unreadable users file disables the router and the error names the file.
    assert_eq!(get(proxy.web(), "x", "/missing").status, 404);
    assert!(
        proxy.logs().contains("/nonexistent/htpasswd"),
        "{}",
        proxy.logs()
    );
}

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn param<'a>(challenge: &'a str, name: &str) -> &'a str {
    let start = challenge.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
    let len = challenge[start..].find('"').unwrap();
    &challenge[start..start + len]
}

#[test]
fn digest_auth_handshake() {
    let b = Backend::start("b");
    let ha1 = md5_hex("test:traefik:test");
    let mws = format!(
        "    digest:\n      digestAuth:\n        users: [\"test:traefik:{ha1}\", \"other:elsewhere:{ha1}\"]\n        headerField: X-Digest-User\n"
    );
    let proxy = Proxy::start(&config(&b, &[("/", "digest")], &mws), "");

    let r = get(proxy.web(), "x", "/secret?a=1");
    assert_eq!(r.status, 401, "{}", proxy.logs());
    assert_eq!(r.text(), "401 Unauthorized\n");
    let challenge = r.header("www-authenticate").unwrap().to_owned();
    assert!(
        challenge.starts_with("Digest realm=\"traefik\", nonce=\""),
        "{challenge}"
    );
    assert!(
        challenge.ends_with("algorithm=\"MD5\", qop=\"auth\""),
        "{challenge}"
    );
    let (nonce, opaque) = (param(&challenge, "nonce"), param(&challenge, "opaque"));

    let answer = |user: &str, ha1: &str, nc: &str| {
        let uri = "/secret?a=1";
        let ha2 = md5_hex(&format!("GET:{uri}"));
        let response = md5_hex(&format!("{ha1}:{nonce}:{nc}:c0ffee:auth:{ha2}"));
        let header = format!(
            "Digest username=\"{user}\", realm=\"traefik\", nonce=\"{nonce}\", uri=\"{uri}\", cnonce=\"c0ffee\", nc={nc}, qop=auth, response=\"{response}\", opaque=\"{opaque}\", algorithm=MD5"
        );
        request(
            proxy.web(),
            "GET",
            uri,
            "x",
            &[("Authorization", &header)],
            "",
        )
    };
    let r = answer("test", &ha1, "00000001");
    assert_eq!(r.status, 200, "{}", proxy.logs());
    assert!(
        r.text().to_lowercase().contains("x-digest-user: test\n"),
        "{}",
        r.text()
    );
    assert_eq!(
        answer("test", &ha1, "00000001").status,
        401,
        "a replay is refused"
    );
    assert_eq!(answer("test", &ha1, "00000002").status, 200);
    let stale = answer("test", &ha1, "00000001");
    assert_eq!(stale.status, 401);
    assert!(
        stale
            .header("www-authenticate")
            .unwrap()
            .contains("stale=\"true\""),
        "{:?}",
        stale.header("www-authenticate")
    );
    let wrong = md5_hex("test:traefik:wrong");
    assert_eq!(answer("test", &wrong, "00000009").status, 401);
    assert_eq!(
        answer("other", &ha1, "0000000a").status,
        401,
        "a user of another realm"
    );
}

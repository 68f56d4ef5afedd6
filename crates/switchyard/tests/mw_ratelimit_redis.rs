//! `rateLimit` with `redis`: two Switchyard processes sharing a real `redis-server` enforce one
//! limit together; a Redis outage or stall answers 500 within the timeouts (as Traefik does)
//! and the proxies recover with Redis; `username`/`password`/`db`, several `endpoints`, pool
//! sizes and `tls` are honoured; invalid options disable the router.
//!
//! Tests that need Redis skip with a loud notice when `redis-server` is absent.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::time::{Duration, Instant};

use common::*;

fn redis_missing(test: &str) -> bool {
    if RedisServer::installed() {
        return false;
    }
    eprintln!("\n!!!!! SKIPPED {test}: `redis-server` is not installed (apt install redis-server) !!!!!\n");
    true
}

/// Routers `/<name>` → middleware `<name>` for each of `middlewares` (YAML under
/// `http.middlewares`, indented by 4), plus `/free` without any middleware.
fn config(backend: &Backend, names: &[&str], middlewares: &str) -> String {
    let mut routers =
        String::from("    free:\n      rule: PathPrefix(`/free`)\n      service: s\n");
    for name in names {
        routers.push_str(&format!(
            "    {name}:\n      rule: PathPrefix(`/{name}`)\n      service: s\n      middlewares: [{name}]\n"
        ));
    }
    format!(
        "http:\n  routers:\n{routers}  services:\n    s:\n      loadBalancer:\n        servers: [{{url: \"{}\"}}]\n  middlewares:\n{middlewares}",
        backend.url()
    )
}

/// A `rateLimit` middleware named `name` with `redis` options (`redis_yaml` lines at depth 10).
fn limiter(name: &str, limit: &str, redis_yaml: &str) -> String {
    let mut s = format!("    {name}:\n      rateLimit:\n");
    for line in limit.lines() {
        s.push_str(&format!("        {line}\n"));
    }
    s.push_str("        redis:\n");
    for line in redis_yaml.lines() {
        s.push_str(&format!("          {line}\n"));
    }
    s
}

fn hits(b: &Backend) -> usize {
    b.hits.load(std::sync::atomic::Ordering::Relaxed)
}

#[test]
fn two_replicas_share_one_limit_through_redis() {
    if redis_missing("two_replicas_share_one_limit_through_redis") {
        return;
    }
    let redis = RedisServer::start(&[]);
    let b = Backend::start("b");
    let endpoint = format!("endpoints: [\"{}\"]", redis.addr());
    let mws = [
        limiter("limited", "average: 1\nperiod: 1m\nburst: 4", &endpoint),
        limiter("paced", "average: 2", &endpoint),
    ]
    .concat();
    let cfg = config(&b, &["limited", "paced"], &mws);
    let one = Proxy::start(&cfg, "");
    let two = Proxy::start(&cfg, "");

    let mut statuses = Vec::new();
    let mut refused = Vec::new();
    for i in 0..12 {
        let proxy = if i % 2 == 0 { &one } else { &two };
        let r = get(proxy.web(), "x", "/limited");
        statuses.push(r.status);
        if r.status == 429 {
            refused.push(r);
        }
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 429, 429, 429, 429, 429, 429, 429, 429],
        "burst 4 for both replicas together, not 4 each\n{}\n{}",
        one.logs(),
        two.logs()
    );
    assert_eq!(hits(&b), 4);
    for r in &refused {
        assert_eq!(r.text(), "Too Many Requests");
        let retry_after: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!((59..=60).contains(&retry_after), "{retry_after}");
        let retry_in = r.header("x-retry-in").unwrap();
        assert!(
            retry_in.starts_with("59.") || retry_in == "1m0s",
            "{retry_in}"
        );
    }

    // The bucket is Traefik's: `rate:<middleware@provider>:<source>`, a hash with an expiry.
    let fields = redis.cmd(&[&["HGETALL", "rate:limited@file:127.0.0.1"]]);
    assert!(
        fields.starts_with("$last\n") && fields.contains("\n$tokens\n"),
        "{fields}"
    );
    let ttl: i64 = redis.cmd(&[&["TTL", "rate:limited@file:127.0.0.1"]])[1..]
        .parse()
        .unwrap();
    assert!((1..=301).contains(&ttl), "expires once full again: {ttl}");

    // Another source has its own bucket, on either replica.
    let r = request(
        two.web(),
        "GET",
        "/limited",
        "x",
        &[("X-Forwarded-For", "10.1.1.1")],
        "",
    );
    assert_eq!(r.status, 429, "the peer address is the source, not XFF");

    // 2 per second, shared: a token every 500 ms; a wait up to 250 ms is a delay, not a 429,
    // whichever replica the requests reach.
    assert_eq!(get(one.web(), "x", "/paced").status, 200);
    std::thread::sleep(Duration::from_millis(350));
    let start = Instant::now();
    assert_eq!(
        get(two.web(), "x", "/paced").status,
        200,
        "delayed, not refused"
    );
    assert!(
        start.elapsed() >= Duration::from_millis(80),
        "{:?}",
        start.elapsed()
    );
    let r = get(one.web(), "x", "/paced");
    assert_eq!(r.status, 429, "the next token is ~500 ms away");
    assert_eq!(r.header("retry-after"), Some("1"));
}

#[test]
fn redis_outage_answers_500_within_the_timeouts_and_recovers() {
    if redis_missing("redis_outage_answers_500_within_the_timeouts_and_recovers") {
        return;
    }
    let mut redis = RedisServer::start(&[]);
    let b = Backend::start("b");
    let mws = limiter(
        "limited",
        "average: 1000\nburst: 1000",
        &format!(
            "endpoints: [\"{}\"]\nreadTimeout: 400ms\nwriteTimeout: 400ms\ndialTimeout: 400ms",
            redis.addr()
        ),
    );
    let cfg = config(&b, &["limited"], &mws);
    let proxies = [Proxy::start(&cfg, ""), Proxy::start(&cfg, "")];
    for p in &proxies {
        assert_eq!(get(p.web(), "x", "/limited").status, 200, "{}", p.logs());
    }

    // Redis gone: refused connections answer 500 at once, as Traefik does (it fails closed).
    redis.stop();
    for p in &proxies {
        for _ in 0..3 {
            let start = Instant::now();
            let r = get(p.web(), "x", "/limited");
            assert_eq!(r.status, 500, "{}", p.logs());
            assert_eq!(r.text(), "Could not insert/update bucket\n");
            assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
            assert!(
                start.elapsed() < Duration::from_secs(2),
                "{:?}",
                start.elapsed()
            );
        }
        assert_eq!(
            get(p.web(), "x", "/free").status,
            200,
            "other routes still work"
        );
        assert_eq!(
            get(p.addr("traefik"), "x", "/ping").status,
            200,
            "the proxy is alive"
        );
        let logs = p.logs();
        assert!(
            logs.contains("could not insert/update the bucket in Redis")
                && logs.contains(&redis.addr()),
            "{logs}"
        );
    }

    // Redis back: both replicas recover on their own.
    redis.restart();
    for p in &proxies {
        p.eventually("Redis to be used again", || {
            get(p.web(), "x", "/limited").status == 200
        });
        assert!(p.logs().contains("Redis answers again"), "{}", p.logs());
    }

    // Redis frozen: connections open but nothing answers; readTimeout bounds every request,
    // concurrent ones included.
    redis.pause(true);
    let started = Instant::now();
    let threads: Vec<_> = (0..6)
        .map(|i| {
            let addr = proxies[i % 2].web();
            std::thread::spawn(move || {
                let start = Instant::now();
                (get(addr, "x", "/limited").status, start.elapsed())
            })
        })
        .collect();
    for t in threads {
        let (status, took) = t.join().unwrap();
        assert_eq!(status, 500);
        assert!(
            took >= Duration::from_millis(350) && took < Duration::from_secs(3),
            "bounded by readTimeout (400ms) or dialTimeout: {took:?}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(4));
    redis.pause(false);
    for p in &proxies {
        p.eventually("Redis to answer after the stall", || {
            get(p.web(), "x", "/limited").status == 200
        });
    }
}

#[test]
fn redis_auth_db_endpoints_and_pool_options() {
    if redis_missing("redis_auth_db_endpoints_and_pool_options") {
        return;
    }
    let redis = RedisServer::start(&["--requirepass", "admin-pw"]);
    assert_eq!(
        redis.cmd(&[&["ACL", "SETUSER", "alice", "on", ">sekret", "~*", "&*", "+@all"]]),
        "+OK"
    );
    let b = Backend::start("b");
    let dead = format!("127.0.0.1:{}", free_port());
    let good = limiter(
        "good",
        "average: 1\nperiod: 1m\nburst: 2",
        &format!(
            "endpoints: [\"{dead}\", \"{}\"]\nusername: alice\npassword: sekret\ndb: 2\npoolSize: 3\nminIdleConns: 2\nmaxActiveConns: 2",
            redis.addr()
        ),
    );
    let wrong = limiter(
        "wrong",
        "average: 1",
        &format!(
            "endpoints: [\"{}\"]\nusername: alice\npassword: nope",
            redis.addr()
        ),
    );
    let proxy = Proxy::start(
        &config(&b, &["good", "wrong"], &format!("{good}{wrong}")),
        "",
    );

    // The first endpoint is down: the next one answers, with the user and the database given.
    assert_eq!(
        get(proxy.web(), "x", "/good").status,
        200,
        "{}",
        proxy.logs()
    );
    let key = "rate:good@file:127.0.0.1";
    assert_eq!(redis.cmd(&[&["SELECT", "2"], &["EXISTS", key]]), ":1");
    assert_eq!(redis.cmd(&[&["EXISTS", key]]), ":0", "not in db 0");

    // Concurrent requests share at most maxActiveConns connections; minIdleConns stay open.
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let addr = proxy.web();
            std::thread::spawn(move || get(addr, "x", "/good").status)
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "burst 2 in all: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [200, 429].contains(s)),
        "{statuses:?}"
    );
    let alice_conns = || {
        redis
            .cmd(&[&["CLIENT", "LIST"]])
            .lines()
            .filter(|l| l.contains(" user=alice "))
            .count()
    };
    proxy.eventually("minIdleConns connections", || alice_conns() == 2);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(alice_conns(), 2, "maxActiveConns: 2");

    // A wrong password: Redis refuses, the request gets 500 and the log says why.
    let r = get(proxy.web(), "x", "/wrong");
    assert_eq!(r.status, 500);
    let logs = proxy.logs();
    assert!(logs.contains("WRONGPASS"), "{logs}");
}

#[test]
fn redis_over_tls_verifies_the_server_and_presents_a_client_certificate() {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa,
        KeyPair,
    };
    if redis_missing("redis_over_tls_verifies_the_server_and_presents_a_client_certificate") {
        return;
    }
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Distinct subjects: OpenSSL takes a leaf whose subject equals its issuer for self-signed.
    let dn = |cn: &str| {
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        dn
    };
    ca_params.distinguished_name = dn("Redis Test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let issue = |name: &str| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.distinguished_name = dn(name);
        let cert = params.signed_by(&key, &ca).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let dir = temp_dir("redis-tls");
    let write = |name: &str, pem: &str| {
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap();
        path.display().to_string()
    };
    let ca_file = write("ca.pem", &ca.pem());
    let (server_cert, server_key) = issue("127.0.0.1");
    let (client_cert, client_key) = issue("client.test");
    let tls_port = free_port().to_string();
    let redis = RedisServer::start(&[
        "--tls-port",
        &tls_port,
        "--tls-cert-file",
        &write("server.pem", &server_cert),
        "--tls-key-file",
        &write("server.key", &server_key),
        "--tls-ca-cert-file",
        &ca_file,
        "--tls-auth-clients",
        "yes",
    ]);
    let client_cert = write("client.pem", &client_cert);
    let client_key = write("client.key", &client_key);
    let endpoint = format!("endpoints: [\"127.0.0.1:{tls_port}\"]");
    let mws = [
        limiter(
            "mutual",
            "average: 100",
            &format!("{endpoint}\ntls:\n  ca: {ca_file}\n  cert: {client_cert}\n  key: {client_key}"),
        ),
        limiter(
            "skipverify",
            "average: 100",
            &format!("{endpoint}\ntls:\n  insecureSkipVerify: true\n  cert: {client_cert}\n  key: {client_key}"),
        ),
        limiter(
            "nocert",
            "average: 100",
            &format!("{endpoint}\ntls:\n  ca: {ca_file}"),
        ),
        limiter(
            "untrusted",
            "average: 100",
            &format!("{endpoint}\ntls:\n  cert: {client_cert}\n  key: {client_key}"),
        ),
        limiter("plain", "average: 100", &endpoint),
    ]
    .concat();
    let b = Backend::start("b");
    let names = ["mutual", "skipverify", "nocert", "untrusted", "plain"];
    let proxy = Proxy::start(&config(&b, &names, &mws), "");
    let status = |path: &str| get(proxy.web(), "x", path).status;
    assert_eq!(status("/mutual"), 200, "{}", proxy.logs());
    assert_eq!(status("/skipverify"), 200, "{}", proxy.logs());
    assert_eq!(status("/nocert"), 500, "Redis wants a client certificate");
    assert_eq!(
        status("/untrusted"),
        500,
        "the CA is not in the system roots"
    );
    assert_eq!(status("/plain"), 500, "plain text to a TLS port");
    assert!(
        proxy.logs().contains("TLS handshake with 127.0.0.1:"),
        "{}",
        proxy.logs()
    );
    assert_eq!(
        redis.cmd(&[&["EXISTS", "rate:mutual@file:127.0.0.1"]]),
        ":1"
    );
}

#[test]
fn invalid_redis_options_disable_the_router() {
    let b = Backend::start("b");
    let mws = [
        limiter("noport", "average: 1", "endpoints: [\"redis.internal\"]"),
        limiter("baddb", "average: 1", "db: -1"),
        limiter(
            "badtls",
            "average: 1",
            "tls:\n  cert: /nonexistent/cert.pem",
        ),
    ]
    .concat();
    let proxy = Proxy::start(&config(&b, &["noport", "baddb", "badtls"], &mws), "");
    for path in ["/noport", "/baddb", "/badtls"] {
        assert_eq!(get(proxy.web(), "x", path).status, 404, "{path}");
    }
    let logs = proxy.logs();
    for want in [
        "rateLimit.redis.endpoints[0]: \"redis.internal\": expected host:port",
        "rateLimit.redis.db: must be 0 or more",
        "rateLimit.redis.tls: cert and key must be set together",
    ] {
        assert!(logs.contains(want), "{want}\n{logs}");
    }
    assert_eq!(get(proxy.web(), "x", "/free").status, 200);
}

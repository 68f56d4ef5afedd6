//! Dynamic configuration decoding: a large file using every middleware, service, TCP, UDP and
//! TLS object decodes (and equals its TOML twin); `type_names` reports what is set; labels and
//! KV pairs decode through the same key-path decoder.

use std::path::Path;

use switchyard_model::config::dynamic::{DynamicConfig, Middleware, Service};
use switchyard_model::decode::{from_key_values, from_text, Format};
use switchyard_model::Duration;

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn decode(name: &str) -> DynamicConfig {
    let format = Format::from_path(Path::new(name)).expect("known extension");
    from_text(&fixture(name), format, name).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn yaml_and_toml_twins_decode_equal() {
    assert_eq!(decode("dynamic.yml"), decode("dynamic.toml"));
}

#[test]
fn every_middleware_type_decodes() {
    let cfg = decode("dynamic.yml");
    let http = cfg.http.as_ref().expect("http");
    let mut seen: Vec<&str> = http
        .middlewares
        .values()
        .flat_map(Middleware::type_names)
        .collect();
    seen.sort_unstable();
    let mut expected = vec![
        "addPrefix",
        "basicAuth",
        "buffering",
        "chain",
        "circuitBreaker",
        "compress",
        "contentType",
        "digestAuth",
        "encodedCharacters",
        "errors",
        "forwardAuth",
        "grpcWeb",
        "headers",
        "inFlightReq",
        "ipAllowList",
        "ipWhiteList",
        "passTLSClientCert",
        "plugin",
        "rateLimit",
        "redirectRegex",
        "redirectScheme",
        "replacePath",
        "replacePathRegex",
        "retry",
        "stripPrefix",
        "stripPrefixRegex",
    ];
    expected.sort_unstable();
    assert_eq!(seen, expected);
    for (name, middleware) in &http.middlewares {
        assert_eq!(middleware.type_names().len(), 1, "{name}");
    }

    let headers = http.middlewares["secure-headers"]
        .headers
        .as_ref()
        .expect("headers");
    assert_eq!(headers.custom_request_headers["X-Remove-Me"], "");
    assert_eq!(headers.sts_seconds, Some(31_536_000));
    assert_eq!(headers.force_sts_header, Some(true));
    assert_eq!(
        headers.custom_browser_xss_value.as_deref(),
        Some("1; mode=block")
    );

    let allow = http.middlewares["allow-office"]
        .ip_allow_list
        .as_ref()
        .expect("allow");
    assert_eq!(allow.reject_status_code, Some(404));
    let strategy = allow.ip_strategy.as_ref().expect("strategy");
    assert_eq!(strategy.depth, Some(2));
    assert_eq!(strategy.excluded_ips, ["10.0.0.1"]);
    assert_eq!(strategy.ipv6_subnet, Some(64));

    let errors = http.middlewares["error-pages"]
        .errors
        .as_ref()
        .expect("errors");
    assert_eq!(errors.status, ["500-599", "404"]);
    assert_eq!(errors.status_rewrites.get("418"), Some(&404));

    let limit = http.middlewares["limit"]
        .rate_limit
        .as_ref()
        .expect("rate limit");
    assert_eq!(limit.period, Some(Duration::from_secs(60)));
    assert_eq!(
        limit.redis.as_ref().and_then(|r| r.dial_timeout),
        Some(Duration::from_secs(4))
    );

    let scheme = http.middlewares["to-https"]
        .redirect_scheme
        .as_ref()
        .expect("scheme");
    assert_eq!(
        scheme.port.as_deref(),
        Some("443"),
        "numbers are kept as text"
    );

    let auth = http.middlewares["sso"]
        .forward_auth
        .as_ref()
        .expect("forward auth");
    assert_eq!(
        auth.auth_signin_url.as_deref(),
        Some("https://auth.example.com/signin")
    );
    assert_eq!(
        auth.tls.as_ref().and_then(|t| t.insecure_skip_verify),
        Some(false)
    );

    let retry = http.middlewares["retry"].retry.as_ref().expect("retry");
    assert_eq!(retry.attempts, Some(4));
    assert_eq!(retry.initial_interval, Some(Duration::from_millis(100)));

    let plugin = &http.middlewares["plugin-demo"].plugin["demo"];
    assert_eq!(plugin["headers"]["X-Demo"], "yes");
    assert_eq!(plugin["enabled"], true);
    assert_eq!(plugin["limits"][1], 2);

    let cert = http.middlewares["client-cert"]
        .pass_tls_client_cert
        .as_ref()
        .expect("pass");
    let info = cert.info.as_ref().expect("info");
    assert_eq!(
        info.subject.as_ref().and_then(|s| s.organizational_unit),
        Some(true)
    );
    assert_eq!(
        info.issuer.as_ref().and_then(|s| s.domain_component),
        Some(true)
    );
}

#[test]
fn every_service_type_decodes() {
    let cfg = decode("dynamic.yml");
    let http = cfg.http.as_ref().expect("http");
    let kinds: Vec<(&str, Vec<&str>)> = http
        .services
        .iter()
        .map(|(name, service)| (name.as_str(), service.type_names()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("app", vec!["loadBalancer"]),
            ("app-v2", vec!["loadBalancer"]),
            ("canary", vec!["weighted"]),
            ("hashed", vec!["highestRandomWeight"]),
            ("resilient", vec!["failover"]),
            ("shadow", vec!["mirroring"]),
        ]
    );

    let app = &http.services["app"];
    assert_eq!(app.middlewares, ["compress"]);
    let lb = app.load_balancer.as_ref().expect("lb");
    assert_eq!(lb.servers.len(), 2);
    assert_eq!(lb.servers[0].weight, Some(3));
    assert_eq!(lb.servers[1].preserve_path, Some(true));
    assert_eq!(lb.pass_host_header, Some(false));
    assert_eq!(lb.strategy.as_deref(), Some("p2c"));
    let flush = lb
        .response_forwarding
        .as_ref()
        .and_then(|r| r.flush_interval)
        .expect("flush");
    assert!(flush.is_negative());
    let check = lb.health_check.as_ref().expect("health check");
    assert_eq!(check.status, Some(204));
    assert_eq!(check.unhealthy_interval, Some(Duration::from_secs(2)));
    assert_eq!(check.follow_redirects, Some(false));
    let cookie = lb
        .sticky
        .as_ref()
        .and_then(|s| s.cookie.as_ref())
        .expect("cookie");
    assert_eq!(cookie.http_only, Some(true));
    assert_eq!(cookie.max_age, Some(3600));
    assert_eq!(
        lb.passive_health_check
            .as_ref()
            .and_then(|p| p.max_failed_attempts),
        Some(3)
    );

    let weighted = http.services["canary"].weighted.as_ref().expect("weighted");
    assert_eq!(weighted.services[0].weight, Some(9));
    assert_eq!(weighted.health_check, Some(Default::default()));
    assert_eq!(
        weighted.sticky.as_ref().and_then(|s| s.cookie.clone()),
        Some(Default::default())
    );
    let mirroring = http.services["shadow"]
        .mirroring
        .as_ref()
        .expect("mirroring");
    assert_eq!(mirroring.mirrors[0].percent, Some(10));
    assert_eq!(mirroring.mirror_body, Some(false));
    let failover = http.services["resilient"]
        .failover
        .as_ref()
        .expect("failover");
    assert_eq!(
        failover
            .errors
            .as_ref()
            .and_then(|e| e.max_request_body_bytes),
        Some(65536)
    );
    let hrw = http.services["hashed"]
        .highest_random_weight
        .as_ref()
        .expect("hrw");
    assert_eq!(hrw.services[1].weight, None);

    let transport = &http.servers_transports["internal-tls"];
    assert_eq!(transport.disable_http2, Some(true));
    assert_eq!(
        transport.peer_cert_uri.as_deref(),
        Some("spiffe://example.org/app")
    );
    assert_eq!(transport.root_cas, ["/certs/internal-ca.pem"]);
    assert_eq!(
        transport.certificates[0].key_file.as_deref(),
        Some("/certs/client.key")
    );
    let timeouts = transport.forwarding_timeouts.as_ref().expect("timeouts");
    assert_eq!(timeouts.ping_timeout, Some(Duration::from_secs(15)));
}

#[test]
fn routers_tcp_udp_tls_decode() {
    let cfg = decode("dynamic.yml");
    let http = cfg.http.as_ref().expect("http");
    let dashboard = &http.routers["dashboard"];
    assert_eq!(dashboard.priority, Some(100));
    assert_eq!(dashboard.middlewares, ["auth", "secure-headers"]);
    let tls = dashboard.tls.as_ref().expect("tls");
    assert_eq!(tls.options.as_deref(), Some("modern"));
    assert_eq!(tls.domains[0].sans, ["*.example.com"]);
    let observability = dashboard.observability.as_ref().expect("observability");
    assert_eq!(observability.access_logs, Some(false));
    assert_eq!(observability.trace_verbosity.as_deref(), Some("detailed"));
    assert_eq!(http.routers["app"].tls, Some(Default::default()));
    assert_eq!(http.routers["app-child"].parent_refs, ["app"]);

    let tcp = cfg.tcp.as_ref().expect("tcp");
    assert_eq!(
        tcp.routers["postgres"]
            .tls
            .as_ref()
            .and_then(|t| t.passthrough),
        Some(true)
    );
    let lb = tcp.services["postgres"]
        .load_balancer
        .as_ref()
        .expect("tcp lb");
    assert_eq!(lb.servers[0].address.as_deref(), Some("10.0.0.5:5432"));
    assert_eq!(lb.proxy_protocol.as_ref().and_then(|p| p.version), Some(2));
    assert_eq!(
        lb.health_check.as_ref().and_then(|h| h.send.as_deref()),
        Some("PING")
    );
    assert_eq!(tcp.services["split"].type_names(), ["weighted"]);
    assert_eq!(tcp.middlewares["tcp-conn"].type_names(), ["inFlightConn"]);
    assert_eq!(tcp.middlewares["tcp-legacy"].type_names(), ["ipWhiteList"]);
    let transport = &tcp.servers_transports["pg-transport"];
    assert_eq!(
        transport.termination_delay,
        Some(Duration::from_millis(100))
    );
    assert_eq!(
        transport
            .tls
            .as_ref()
            .and_then(|t| t.server_name.as_deref()),
        Some("db.internal")
    );

    let udp = cfg.udp.as_ref().expect("udp");
    assert_eq!(udp.routers["dns"].entry_points, ["dns"]);
    assert_eq!(udp.services["dns"].type_names(), ["loadBalancer"]);
    assert_eq!(udp.services["dns-split"].type_names(), ["weighted"]);

    let tls = cfg.tls.as_ref().expect("tls");
    assert_eq!(tls.certificates[0].stores, ["default"]);
    let modern = &tls.options["modern"];
    assert_eq!(modern.sni_strict, Some(true));
    assert_eq!(modern.alpn_protocols, ["h2", "http/1.1"]);
    assert_eq!(
        modern
            .client_auth
            .as_ref()
            .and_then(|c| c.client_auth_type.as_deref()),
        Some("RequireAndVerifyClientCert")
    );
    let store = &tls.stores["default"];
    assert_eq!(
        store
            .default_generated_cert
            .as_ref()
            .and_then(|g| g.domain.as_ref())
            .and_then(|d| d.main.as_deref()),
        Some("example.com")
    );
}

#[test]
fn type_names_report_zero_or_several() {
    assert!(Middleware::default().type_names().is_empty());
    assert!(Service::default().type_names().is_empty());
    let yaml = "http:\n  middlewares:\n    two:\n      addPrefix:\n        prefix: /a\n      stripPrefix:\n        prefixes: [/b]\n      plugin:\n        one: {}\n        two: {}\n  services:\n    both:\n      loadBalancer: {}\n      weighted: {}\n";
    let cfg: DynamicConfig = from_text(yaml, Format::Yaml, "t.yml").expect("decodes");
    let http = cfg.http.expect("http");
    assert_eq!(
        http.middlewares["two"].type_names(),
        ["addPrefix", "stripPrefix", "plugin", "plugin"]
    );
    assert_eq!(
        http.services["both"].type_names(),
        ["loadBalancer", "weighted"]
    );
}

#[test]
fn unknown_dynamic_key_is_an_error_with_line() {
    let yaml = "http:\n  routers:\n    r:\n      rule: Host(`a`)\n      servcie: s\n";
    let err = from_text::<DynamicConfig>(yaml, Format::Yaml, "dyn.yml").expect_err("unknown");
    assert_eq!(err.key_path, "http.routers.r.servcie");
    assert_eq!(err.line, Some(5));
    let yaml =
        "http:\n  middlewares:\n    m:\n      basicAuth:\n        users: [a]\n        ream: x\n";
    let err = from_text::<DynamicConfig>(yaml, Format::Yaml, "dyn.yml").expect_err("unknown");
    assert_eq!(err.key_path, "http.middlewares.m.basicAuth.ream");
    assert_eq!(err.line, Some(6));
    let yaml = "http:\n  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: http://a\n          - urll: http://b\n";
    let err = from_text::<DynamicConfig>(yaml, Format::Yaml, "dyn.yml").expect_err("unknown");
    assert_eq!(err.key_path, "http.services.s.loadBalancer.servers[1].urll");
    assert_eq!(err.line, Some(7));
}

#[test]
fn router_names_are_case_sensitive_but_keys_are_not() {
    let yaml = "HTTP:\n  Routers:\n    MyRouter:\n      RULE: Host(`a`)\n      EntryPoints: [web]\n    myrouter:\n      rule: Host(`b`)\n";
    let cfg: DynamicConfig = from_text(yaml, Format::Yaml, "t.yml").expect("decodes");
    let routers = cfg.http.expect("http").routers;
    assert_eq!(routers.len(), 2);
    assert_eq!(routers["MyRouter"].rule.as_deref(), Some("Host(`a`)"));
    assert_eq!(routers["MyRouter"].entry_points, ["web"]);
    assert_eq!(routers["myrouter"].rule.as_deref(), Some("Host(`b`)"));
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

#[test]
fn docker_style_labels_with_dots() {
    let labels = pairs(&[
        ("http.routers.whoami.rule", "Host(`whoami.localhost`)"),
        ("http.routers.whoami.entrypoints", "web,websecure"),
        ("http.routers.whoami.middlewares", "auth@file,strip"),
        ("http.routers.whoami.priority", "42"),
        ("http.routers.whoami.tls", "true"),
        ("http.routers.whoami.tls.certresolver", "le"),
        ("http.routers.whoami.tls.domains[0].main", "example.com"),
        (
            "http.routers.whoami.tls.domains[0].sans",
            "a.example.com,b.example.com",
        ),
        ("http.routers.plain.rule", "Path(`/`)"),
        ("http.routers.plain.tls", "false"),
        ("http.services.whoami.loadbalancer.passhostheader", "false"),
        (
            "http.services.whoami.loadbalancer.sticky.cookie.httponly",
            "true",
        ),
        (
            "http.services.whoami.loadbalancer.servers[0].url",
            "http://10.0.0.1:80",
        ),
        (
            "http.services.whoami.loadbalancer.responseforwarding.flushinterval",
            "-1",
        ),
        ("http.middlewares.strip.stripprefix.prefixes", "/a,/b"),
        (
            "http.middlewares.hdr.headers.customrequestheaders.X-Foo",
            "bar",
        ),
        ("http.middlewares.hdr.headers.accesscontrolmaxage", "100"),
        ("http.middlewares.compress.compress", "true"),
        ("http.middlewares.plug.plugin.demo.limit", "5"),
        ("tcp.routers.t.rule", "HostSNI(`*`)"),
        ("tcp.routers.t.tls.passthrough", "true"),
        (
            "udp.services.u.loadbalancer.servers[0].address",
            "10.0.0.1:53",
        ),
    ]);
    let cfg: DynamicConfig = from_key_values(&labels, '.', "container whoami").expect("decodes");
    let http = cfg.http.as_ref().expect("http");
    let router = &http.routers["whoami"];
    assert_eq!(router.entry_points, ["web", "websecure"]);
    assert_eq!(router.middlewares, ["auth@file", "strip"]);
    assert_eq!(router.priority, Some(42));
    let tls = router.tls.as_ref().expect("tls");
    assert_eq!(tls.cert_resolver.as_deref(), Some("le"));
    assert_eq!(tls.domains[0].sans, ["a.example.com", "b.example.com"]);
    assert_eq!(http.routers["plain"].tls, None, "tls=false leaves TLS off");
    let lb = http.services["whoami"].load_balancer.as_ref().expect("lb");
    assert_eq!(lb.pass_host_header, Some(false));
    assert_eq!(lb.servers[0].url.as_deref(), Some("http://10.0.0.1:80"));
    assert_eq!(
        lb.response_forwarding
            .as_ref()
            .and_then(|r| r.flush_interval),
        Some(Duration::from_secs(-1))
    );
    assert_eq!(
        lb.sticky
            .as_ref()
            .and_then(|s| s.cookie.as_ref())
            .and_then(|c| c.http_only),
        Some(true)
    );
    let strip = http.middlewares["strip"]
        .strip_prefix
        .as_ref()
        .expect("strip");
    assert_eq!(strip.prefixes, ["/a", "/b"]);
    let headers = http.middlewares["hdr"].headers.as_ref().expect("headers");
    assert_eq!(headers.custom_request_headers["X-Foo"], "bar");
    assert_eq!(headers.access_control_max_age, Some(100));
    assert_eq!(
        http.middlewares["compress"].compress,
        Some(Default::default())
    );
    assert_eq!(http.middlewares["plug"].plugin["demo"]["limit"], "5");
    let tcp = cfg.tcp.as_ref().expect("tcp");
    assert_eq!(
        tcp.routers["t"].tls.as_ref().and_then(|t| t.passthrough),
        Some(true)
    );
    let udp = cfg.udp.as_ref().expect("udp");
    let servers = &udp.services["u"]
        .load_balancer
        .as_ref()
        .expect("udp lb")
        .servers;
    assert_eq!(servers[0].address.as_deref(), Some("10.0.0.1:53"));
}

#[test]
fn label_errors_name_the_label() {
    let labels = pairs(&[("http.routers.x.rul", "Host(`a`)")]);
    let err = from_key_values::<DynamicConfig>(&labels, '.', "container web").expect_err("unknown");
    assert_eq!(err.source_name, "container web");
    assert_eq!(err.key_path, "http.routers.x.rul");
    let labels = pairs(&[("http.routers.x.priority", "high")]);
    let err = from_key_values::<DynamicConfig>(&labels, '.', "container web").expect_err("bad int");
    assert_eq!(err.key_path, "http.routers.x.priority");
}

#[test]
fn kv_pairs_with_slashes() {
    let kv = pairs(&[
        ("http/routers/r/rule", "Host(`kv.example.com`)"),
        ("http/routers/r/entrypoints/0", "web"),
        ("http/routers/r/entrypoints/1", "websecure"),
        ("http/routers/r/service", "s"),
        ("http/routers/r/tls", ""),
        ("http/routers/r/tls/domains/0/main", "example.com"),
        ("http/routers/r/tls/domains/0/sans/0", "a.example.com"),
        ("http/routers/r/tls/domains/0/sans/1", "b.example.com"),
        ("http/services/s/loadbalancer/servers/1/url", "http://b"),
        ("http/services/s/loadbalancer/servers/0/url", "http://a"),
        ("http/middlewares/m/basicauth/users/0", "u:h"),
        ("tls/options/o/minVersion", "VersionTLS13"),
        ("tls/stores/default/defaultcertificate/certfile", "/c.pem"),
    ]);
    let cfg: DynamicConfig = from_key_values(&kv, '/', "etcd").expect("decodes");
    let http = cfg.http.as_ref().expect("http");
    let router = &http.routers["r"];
    assert_eq!(router.entry_points, ["web", "websecure"]);
    let tls = router.tls.as_ref().expect("tls enabled by empty value");
    assert_eq!(tls.domains[0].sans, ["a.example.com", "b.example.com"]);
    let servers = &http.services["s"]
        .load_balancer
        .as_ref()
        .expect("lb")
        .servers;
    let urls: Vec<_> = servers.iter().filter_map(|s| s.url.as_deref()).collect();
    assert_eq!(
        urls,
        ["http://a", "http://b"],
        "ordered by index, not by key order"
    );
    assert_eq!(
        http.middlewares["m"]
            .basic_auth
            .as_ref()
            .map(|b| b.users.clone()),
        Some(vec!["u:h".to_string()])
    );
    let tls = cfg.tls.as_ref().expect("tls");
    assert_eq!(
        tls.options["o"].min_version.as_deref(),
        Some("VersionTLS13")
    );
    assert_eq!(
        tls.stores["default"]
            .default_certificate
            .as_ref()
            .and_then(|c| c.cert_file.as_deref()),
        Some("/c.pem")
    );

    let bad = pairs(&[("http/routers/r/entrypoints/0/x", "web")]);
    let err = from_key_values::<DynamicConfig>(&bad, '/', "etcd").expect_err("bad list item");
    assert_eq!(err.key_path, "http/routers/r/entrypoints/0");
}

#[test]
fn dynamic_serializes_to_traefik_json_shape() {
    let cfg = decode("dynamic.yml");
    let json = serde_json::to_value(&cfg).expect("serializes");
    let middlewares = &json["http"]["middlewares"];
    assert_eq!(middlewares["client-cert"]["passTLSClientCert"]["pem"], true);
    assert_eq!(
        middlewares["legacy-allow"]["ipWhiteList"]["sourceRange"][0],
        "10.0.0.0/8"
    );
    assert_eq!(middlewares["limit"]["rateLimit"]["period"], "1m0s");
    assert_eq!(
        json["http"]["services"]["app"]["loadBalancer"]["responseForwarding"]["flushInterval"],
        "-1s"
    );
    assert_eq!(
        json["http"]["serversTransports"]["internal-tls"]["disableHTTP2"],
        true
    );
    assert_eq!(json["http"]["routers"]["app"]["tls"], serde_json::json!({}));
    assert!(json["http"]["routers"]["app"].get("entryPoints").is_none());
    let back: DynamicConfig = serde_json::from_value(json).expect("round trip");
    assert_eq!(back, cfg);
}

//! Static configuration decoding from files: the same file in YAML, TOML and JSON decodes to the
//! same model; keys are case-insensitive; unknown keys are errors naming the key and its line.

use std::collections::BTreeMap;
use std::path::Path;

use switchyard_model::config::static_cfg::{EntryPoint, StaticConfig};
use switchyard_model::decode::{from_text, Format};
use switchyard_model::Duration;

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn decode(name: &str) -> StaticConfig {
    let format = Format::from_path(Path::new(name)).expect("known extension");
    from_text(&fixture(name), format, name).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn yaml_toml_and_json_decode_equal() {
    let yaml = decode("static.yml");
    let toml = decode("static.toml");
    let json = decode("static.json");
    assert_eq!(yaml, toml);
    assert_eq!(yaml, json);
}

#[test]
fn static_fixture_values() {
    let cfg = decode("static.yml");
    let web = &cfg.entry_points["web"];
    assert_eq!(web.address.as_deref(), Some(":80"));
    let redirect = web
        .http
        .as_ref()
        .and_then(|h| h.redirections.as_ref())
        .and_then(|r| r.entry_point.as_ref())
        .expect("redirect");
    assert_eq!(redirect.to.as_deref(), Some("websecure"));
    assert_eq!(redirect.permanent, Some(true));

    let secure = &cfg.entry_points["websecure"];
    assert_eq!(secure.as_default, Some(true));
    let http = secure.http.as_ref().expect("http");
    assert_eq!(http.middlewares, ["secure-headers@file"]);
    let tls = http.tls.as_ref().expect("tls");
    assert_eq!(tls.cert_resolver.as_deref(), Some("letsencrypt"));
    assert_eq!(tls.domains[0].main.as_deref(), Some("example.com"));
    assert_eq!(tls.domains[0].sans, ["*.example.com"]);
    assert_eq!(http.max_header_bytes, Some(65536));
    assert_eq!(
        http.encoded_characters
            .as_ref()
            .and_then(|e| e.allow_encoded_slash),
        Some(false)
    );
    assert_eq!(
        secure.http2.as_ref().and_then(|h| h.max_concurrent_streams),
        Some(100)
    );
    let headers = secure
        .forwarded_headers
        .as_ref()
        .expect("forwarded headers");
    assert_eq!(headers.trusted_ips, ["10.0.0.0/8", "192.168.0.0/16"]);
    let transport = secure.transport.as_ref().expect("transport");
    let timeouts = transport.responding_timeouts.as_ref().expect("timeouts");
    assert_eq!(timeouts.read_timeout, Some(Duration::from_secs(30)));
    assert_eq!(timeouts.write_timeout, Some(Duration::ZERO));
    assert_eq!(timeouts.idle_timeout, Some(Duration::from_secs(180)));
    let life = transport.life_cycle.as_ref().expect("life cycle");
    assert_eq!(life.grace_time_out, Some(Duration::from_secs(20)));
    assert_eq!(transport.keep_alive_max_requests, Some(1000));

    let providers = cfg.providers.as_ref().expect("providers");
    assert_eq!(
        providers.providers_throttle_duration,
        Some(Duration::from_secs(2))
    );
    let file = providers.file.as_ref().expect("file");
    assert_eq!(file.directory.as_deref(), Some("/etc/traefik/dynamic"));
    assert_eq!(file.watch, Some(true));
    assert_eq!(
        providers.docker.as_ref().and_then(|d| d.exposed_by_default),
        Some(false)
    );

    assert_eq!(cfg.api.as_ref().and_then(|a| a.dashboard), Some(true));
    assert_eq!(
        cfg.ping.as_ref().and_then(|p| p.entry_point.as_deref()),
        Some("web")
    );
    assert_eq!(
        cfg.log.as_ref().and_then(|l| l.level.as_deref()),
        Some("INFO")
    );
    let acme = cfg.certificates_resolvers["letsencrypt"]
        .acme
        .as_ref()
        .expect("acme");
    assert_eq!(acme.key_type.as_deref(), Some("EC256"));
    assert_eq!(
        acme.http_challenge
            .as_ref()
            .and_then(|c| c.entry_point.as_deref()),
        Some("web")
    );
    let dns = cfg.certificates_resolvers["wildcard"]
        .acme
        .as_ref()
        .and_then(|a| a.dns_challenge.as_ref())
        .expect("dns challenge");
    assert_eq!(
        dns.propagation.as_ref().and_then(|p| p.delay_before_checks),
        Some(Duration::from_secs(30))
    );
    let transport = cfg.servers_transport.as_ref().expect("servers transport");
    assert_eq!(transport.insecure_skip_verify, Some(true));
    assert_eq!(transport.root_cas, ["/certs/ca.pem"]);
    assert_eq!(transport.max_idle_conns_per_host, Some(50));
    assert_eq!(
        transport
            .forwarding_timeouts
            .as_ref()
            .and_then(|t| t.response_header_timeout),
        Some(Duration::from_secs(60))
    );
    let prometheus = cfg
        .metrics
        .as_ref()
        .and_then(|m| m.prometheus.as_ref())
        .expect("prom");
    assert_eq!(prometheus.buckets, [0.1, 0.3, 1.2, 5.0]);
    assert_eq!(
        cfg.core
            .as_ref()
            .and_then(|c| c.default_rule_syntax.as_deref()),
        Some("v3")
    );
}

#[test]
fn keys_are_case_insensitive_but_names_are_kept() {
    let yaml = "ENTRYPOINTS:\n  Web:\n    ADDRESS: ':80'\n    ForwardedHeaders:\n      trustedips: [1.2.3.4]\nPROVIDERS:\n  FILE:\n    FileName: dyn.yml\n";
    let cfg: StaticConfig = from_text(yaml, Format::Yaml, "upper.yml").expect("decodes");
    assert_eq!(cfg.entry_points["Web"].address.as_deref(), Some(":80"));
    assert_eq!(
        cfg.entry_points["Web"]
            .forwarded_headers
            .as_ref()
            .map(|f| f.trusted_ips.clone()),
        Some(vec!["1.2.3.4".to_string()])
    );
    let lower = "entrypoints:\n  Web:\n    address: ':80'\n";
    let cfg2: StaticConfig = from_text(lower, Format::Yaml, "lower.yml").expect("decodes");
    assert_eq!(cfg2.entry_points["Web"].address.as_deref(), Some(":80"));
    assert_eq!(
        cfg.providers
            .and_then(|p| p.file)
            .and_then(|f| f.filename)
            .as_deref(),
        Some("dyn.yml")
    );
    // Traefik's own TOML fixtures use lower-case keys.
    let toml = "[entrypoints.web]\naddress = \":80\"\n[providers.file]\nfilename = \"x.toml\"\n";
    let cfg3: StaticConfig = from_text(toml, Format::Toml, "lower.toml").expect("decodes");
    assert_eq!(cfg3.entry_points["web"].address.as_deref(), Some(":80"));
}

#[test]
fn same_key_spelled_twice_is_merged() {
    let yaml = "entryPoints:\n  web:\n    address: ':80'\nentrypoints:\n  websecure:\n    address: ':443'\n";
    let cfg: StaticConfig = from_text(yaml, Format::Yaml, "twice.yml").expect("decodes");
    assert_eq!(cfg.entry_points.len(), 2);
}

#[test]
fn unknown_key_names_path_and_line() {
    let yaml = "entryPoints:\n  websecure:\n    address: ':443'\n  web:\n    adress: ':80'\n";
    let err = from_text::<StaticConfig>(yaml, Format::Yaml, "/etc/traefik/traefik.yml")
        .expect_err("unknown key");
    assert_eq!(err.key_path, "entryPoints.web.adress");
    assert_eq!(err.line, Some(5));
    assert_eq!(err.source_name, "/etc/traefik/traefik.yml");
    let text = err.to_string();
    assert!(
        text.starts_with("/etc/traefik/traefik.yml:5: entryPoints.web.adress: unknown key"),
        "{text}"
    );
    assert!(text.contains("address"), "lists valid keys: {text}");

    let toml = "[entryPoints.web]\naddress = \":80\"\n\n[api]\ninsecure = true\ndashbord = true\n";
    let err = from_text::<StaticConfig>(toml, Format::Toml, "traefik.toml").expect_err("unknown");
    assert_eq!(err.key_path, "api.dashbord");
    assert_eq!(err.line, Some(6));
    assert!(
        err.message.contains("did you mean `dashboard`"),
        "{}",
        err.message
    );

    let json = "{\n  \"log\": {\n    \"levle\": \"DEBUG\"\n  }\n}";
    let err = from_text::<StaticConfig>(json, Format::Json, "traefik.json").expect_err("unknown");
    assert_eq!(err.key_path, "log.levle");
    assert_eq!(err.line, Some(3));

    let err = from_text::<StaticConfig>("bogus: 1\n", Format::Yaml, "t.yml").expect_err("top");
    assert_eq!(err.key_path, "bogus");
    assert_eq!(err.line, Some(1));
    assert!(
        err.message.contains("valid keys here: global,"),
        "{}",
        err.message
    );
}

#[test]
fn type_errors_name_path_and_expectation() {
    let yaml =
        "entryPoints:\n  web:\n    address: ':80'\n    http2:\n      maxConcurrentStreams: lots\n";
    let err = from_text::<StaticConfig>(yaml, Format::Yaml, "t.yml").expect_err("bad int");
    assert_eq!(err.key_path, "entryPoints.web.http2.maxConcurrentStreams");
    assert_eq!(err.line, Some(5));
    assert!(err.message.contains("integer"), "{}", err.message);

    let yaml = "providers:\n  providersThrottleDuration: soon\n";
    let err = from_text::<StaticConfig>(yaml, Format::Yaml, "t.yml").expect_err("bad duration");
    assert_eq!(err.key_path, "providers.providersThrottleDuration");
    assert!(err.message.contains("duration"), "{}", err.message);

    let yaml = "entryPoints:\n  web:\n    forwardedHeaders:\n      trustedIPs:\n        a: b\n";
    let err = from_text::<StaticConfig>(yaml, Format::Yaml, "t.yml").expect_err("bad list");
    assert_eq!(err.key_path, "entryPoints.web.forwardedHeaders.trustedIPs");
    assert!(err.message.contains("list"), "{}", err.message);
}

#[test]
fn syntax_errors_carry_the_line() {
    let err = from_text::<StaticConfig>("entryPoints:\n  web: [\n", Format::Yaml, "bad.yml")
        .expect_err("yaml syntax");
    assert_eq!(err.source_name, "bad.yml");
    assert!(err.line.is_some(), "{err}");
    let err = from_text::<StaticConfig>("[entryPoints\n", Format::Toml, "bad.toml")
        .expect_err("toml syntax");
    assert_eq!(err.line, Some(1));
    let err = from_text::<StaticConfig>("{\n\"a\": }", Format::Json, "bad.json")
        .expect_err("json syntax");
    assert_eq!(err.line, Some(2));
}

#[test]
fn empty_sections_are_enabled_with_defaults() {
    let yaml = "api: {}\nping:\nproviders:\n  file:\n  docker: {}\nentryPoints:\n  websecure:\n    address: ':443'\n    http:\n      tls: {}\n";
    let cfg: StaticConfig = from_text(yaml, Format::Yaml, "t.yml").expect("decodes");
    assert_eq!(cfg.api, Some(Default::default()));
    assert_eq!(cfg.ping, Some(Default::default()));
    let providers = cfg.providers.expect("providers");
    assert_eq!(providers.file, Some(Default::default()));
    assert_eq!(providers.docker, Some(Default::default()));
    assert_eq!(
        cfg.entry_points["websecure"]
            .http
            .as_ref()
            .and_then(|h| h.tls.clone()),
        Some(Default::default())
    );
    assert!(cfg.log.is_none());
}

#[test]
fn empty_document_is_an_empty_config() {
    for (text, format) in [
        ("", Format::Yaml),
        ("# nothing\n", Format::Yaml),
        ("", Format::Toml),
        ("{}", Format::Json),
    ] {
        let cfg: StaticConfig = from_text(text, format, "empty").expect("decodes");
        assert_eq!(cfg, StaticConfig::default());
    }
}

#[test]
fn scalars_are_coerced_from_yaml_types() {
    // Numbers where strings are expected, strings where numbers are expected, quoted booleans.
    let yaml = "entryPoints:\n  web:\n    address: ':80'\n    http2:\n      maxConcurrentStreams: '42'\n    reusePort: 'true'\n    http3:\n      advertisedPort: 443\nping:\n  entryPoint: 8080\n";
    let cfg: StaticConfig = from_text(yaml, Format::Yaml, "t.yml").expect("decodes");
    let web: &EntryPoint = &cfg.entry_points["web"];
    assert_eq!(
        web.http2.as_ref().and_then(|h| h.max_concurrent_streams),
        Some(42)
    );
    assert_eq!(web.reuse_port, Some(true));
    assert_eq!(
        cfg.ping.and_then(|p| p.entry_point).as_deref(),
        Some("8080")
    );
}

#[test]
fn serialization_omits_unset_and_round_trips() {
    let cfg = decode("static.yml");
    let json = serde_json::to_value(&cfg).expect("serializes");
    assert!(json.get("experimental").is_none());
    assert_eq!(
        json["entryPoints"]["websecure"]["forwardedHeaders"]["trustedIPs"][1],
        "192.168.0.0/16"
    );
    assert_eq!(json["serversTransport"]["rootCAs"][0], "/certs/ca.pem");
    assert_eq!(
        json["entryPoints"]["websecure"]["transport"]["lifeCycle"]["graceTimeOut"],
        "20s"
    );
    let back: StaticConfig = serde_json::from_value(json.clone()).expect("plain serde_json");
    assert_eq!(back, cfg);
    let text = serde_json::to_string(&cfg).expect("text");
    let again: StaticConfig = from_text(&text, Format::Json, "roundtrip.json").expect("decodes");
    assert_eq!(again, cfg);
    let _: BTreeMap<String, serde_json::Value> = serde_json::from_value(json).expect("object");
}

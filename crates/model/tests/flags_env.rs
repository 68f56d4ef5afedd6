//! CLI flags and `TRAEFIK_*` environment variables decode into the static configuration the
//! way Traefik's do: dotted case-insensitive paths, bare flags enabling sections, comma lists,
//! indexed lists, maps, and errors that name the flag or variable.

use switchyard_model::config::static_cfg::StaticConfig;
use switchyard_model::decode::{from_env, from_flags, DecodeError, COMMAND_LINE, ENVIRONMENT};
use switchyard_model::Duration;

fn flags(args: &[&str]) -> Result<StaticConfig, DecodeError> {
    let args: Vec<String> = args.iter().map(|s| (*s).to_string()).collect();
    from_flags(&args)
}

fn env(vars: &[(&str, &str)]) -> Result<StaticConfig, DecodeError> {
    from_env(
        vars.iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string())),
        "TRAEFIK_",
    )
}

#[test]
fn flags_every_form() {
    let cfg = flags(&[
        "--configFile=/etc/traefik/traefik.yml",
        "--entryPoints.web.address=:80",
        "--entrypoints.web.http.redirections.entrypoint.to=websecure",
        "--entryPoints.websecure.address=:443",
        "--entryPoints.websecure.http.tls.domains[0].main=example.com",
        "--entryPoints.websecure.http.tls.domains[0].sans=a.example.com,b.example.com",
        "--entryPoints.websecure.http.tls.domains[1].main=example.org",
        "--entryPoints.websecure.forwardedHeaders.trustedIPs=10.0.0.0/8,1.2.3.4",
        "--entryPoints.websecure.reusePort",
        "--entryPoints.websecure.transport.respondingTimeouts.readTimeout=42",
        "--providers.file",
        "--providers.docker=true",
        "--providers.http.endpoint=http://cfg.local/dyn",
        "--providers.http.headers.X-Foo=bar",
        "--providers.http.headers.X-Other=a=b",
        "--api.insecure",
        "--LOG.LEVEL=DEBUG",
        "--metrics.prometheus.buckets=0.1,0.5,2",
        "--certificatesResolvers.le.acme.httpChallenge.entryPoint=web",
    ])
    .expect("decodes");

    let web = &cfg.entry_points["web"];
    assert_eq!(web.address.as_deref(), Some(":80"));
    let to = web
        .http
        .as_ref()
        .and_then(|h| h.redirections.as_ref())
        .and_then(|r| r.entry_point.as_ref())
        .and_then(|e| e.to.as_deref());
    assert_eq!(to, Some("websecure"));

    let secure = &cfg.entry_points["websecure"];
    let tls = secure
        .http
        .as_ref()
        .and_then(|h| h.tls.as_ref())
        .expect("tls");
    assert_eq!(tls.domains.len(), 2);
    assert_eq!(tls.domains[0].main.as_deref(), Some("example.com"));
    assert_eq!(tls.domains[0].sans, ["a.example.com", "b.example.com"]);
    assert_eq!(tls.domains[1].main.as_deref(), Some("example.org"));
    assert_eq!(
        secure
            .forwarded_headers
            .as_ref()
            .map(|f| f.trusted_ips.clone()),
        Some(vec!["10.0.0.0/8".to_string(), "1.2.3.4".to_string()])
    );
    assert_eq!(secure.reuse_port, Some(true));
    assert_eq!(
        secure
            .transport
            .as_ref()
            .and_then(|t| t.responding_timeouts.as_ref())
            .and_then(|r| r.read_timeout),
        Some(Duration::from_secs(42))
    );

    let providers = cfg.providers.as_ref().expect("providers");
    assert_eq!(providers.file, Some(Default::default()));
    assert_eq!(providers.docker, Some(Default::default()));
    let http = providers.http.as_ref().expect("http provider");
    assert_eq!(http.headers.get("X-Foo").map(String::as_str), Some("bar"));
    assert_eq!(http.headers.get("X-Other").map(String::as_str), Some("a=b"));
    assert_eq!(cfg.api.as_ref().and_then(|a| a.insecure), Some(true));
    assert_eq!(
        cfg.log.as_ref().and_then(|l| l.level.as_deref()),
        Some("DEBUG")
    );
    assert_eq!(
        cfg.metrics
            .as_ref()
            .and_then(|m| m.prometheus.as_ref())
            .map(|p| p.buckets.clone()),
        Some(vec![0.1, 0.5, 2.0])
    );
    assert!(cfg.certificates_resolvers["le"].acme.is_some());
}

#[test]
fn false_disables_a_section() {
    let cfg = flags(&["--providers.docker=false", "--api=false", "--ping=true"]).expect("decodes");
    assert_eq!(
        cfg.providers.as_ref().map(|p| p.docker.is_none()),
        Some(true)
    );
    assert!(cfg.api.is_none());
    assert!(cfg.ping.is_some());
}

#[test]
fn booleans_accept_explicit_values() {
    let cfg = flags(&["--api.insecure=false", "--api.dashboard=TRUE"]).expect("decodes");
    let api = cfg.api.expect("api");
    assert_eq!(api.insecure, Some(false));
    assert_eq!(api.dashboard, Some(true));
}

#[test]
fn flag_errors_name_the_flag() {
    let err = flags(&["--entryPoints.web.adress=:80"]).expect_err("unknown");
    assert_eq!(err.source_name, COMMAND_LINE);
    assert_eq!(err.key_path, "--entryPoints.web.adress");
    assert_eq!(err.line, None);
    assert!(
        err.to_string()
            .starts_with("command line: --entryPoints.web.adress: unknown key"),
        "{err}"
    );

    let err = flags(&["--entryPoints.web.address"]).expect_err("needs value");
    assert_eq!(err.key_path, "--entryPoints.web.address");
    assert!(
        err.message.contains("--entryPoints.web.address=VALUE"),
        "{}",
        err.message
    );

    let err = flags(&["--entryPoints.web.http2.maxConcurrentStreams=many"]).expect_err("bad int");
    assert_eq!(err.key_path, "--entryPoints.web.http2.maxConcurrentStreams");
    assert!(err.message.contains("integer"), "{}", err.message);

    let err = flags(&["--api.insecure=maybe"]).expect_err("bad bool");
    assert_eq!(err.key_path, "--api.insecure");
    assert!(err.message.contains("boolean"), "{}", err.message);

    let err = flags(&["-a"]).expect_err("single dash");
    assert_eq!(err.key_path, "-a");
    let err = flags(&["--log.level", "DEBUG"]).expect_err("space-separated value");
    assert_eq!(err.key_path, "DEBUG");
    let err = flags(&["--entryPoints..address=:80"]).expect_err("empty segment");
    assert_eq!(err.key_path, "--entryPoints..address=:80");
    let err = flags(&["--providers.file=maybe"]).expect_err("bad section value");
    assert_eq!(err.key_path, "--providers.file");
}

#[test]
fn no_flags_is_an_empty_config() {
    assert_eq!(flags(&[]).expect("decodes"), StaticConfig::default());
    assert_eq!(
        flags(&["--configfile=x.toml"]).expect("decodes"),
        StaticConfig::default()
    );
}

#[test]
fn env_vars() {
    let cfg = env(&[
        ("TRAEFIK_ENTRYPOINTS_WEB_ADDRESS", ":80"),
        ("TRAEFIK_ENTRYPOINTS_WEBSECURE_ADDRESS", ":443"),
        (
            "TRAEFIK_ENTRYPOINTS_WEBSECURE_HTTP_TLS_DOMAINS_0_MAIN",
            "example.com",
        ),
        (
            "TRAEFIK_ENTRYPOINTS_WEBSECURE_HTTP_TLS_DOMAINS_0_SANS",
            "a.example.com,b.example.com",
        ),
        (
            "TRAEFIK_ENTRYPOINTS_WEB_FORWARDEDHEADERS_TRUSTEDIPS",
            "10.0.0.0/8",
        ),
        ("TRAEFIK_PROVIDERS_DOCKER", "true"),
        ("TRAEFIK_PROVIDERS_FILE_FILENAME", "/dyn.yml"),
        ("TRAEFIK_LOG_LEVEL", "DEBUG"),
        ("TRAEFIK_API_INSECURE", "true"),
        ("TRAEFIK_CONFIGFILE", "/ignored.yml"),
        (
            "TRAEFIK_CERTIFICATESRESOLVERS_myResolver_ACME_EMAIL",
            "a@b.c",
        ),
        ("HOME", "/root"),
        ("PATH", "/usr/bin"),
    ])
    .expect("decodes");
    assert_eq!(cfg.entry_points["web"].address.as_deref(), Some(":80"));
    let tls = cfg.entry_points["websecure"]
        .http
        .as_ref()
        .and_then(|h| h.tls.as_ref())
        .expect("tls");
    assert_eq!(tls.domains[0].main.as_deref(), Some("example.com"));
    assert_eq!(tls.domains[0].sans.len(), 2);
    let providers = cfg.providers.as_ref().expect("providers");
    assert_eq!(providers.docker, Some(Default::default()));
    assert_eq!(
        providers.file.as_ref().and_then(|f| f.filename.as_deref()),
        Some("/dyn.yml")
    );
    assert_eq!(
        cfg.log.as_ref().and_then(|l| l.level.as_deref()),
        Some("DEBUG")
    );
    assert_eq!(cfg.api.as_ref().and_then(|a| a.insecure), Some(true));
    // Traefik lower-cases variable names, so names defined by env are lower-case.
    assert!(cfg.certificates_resolvers.contains_key("myresolver"));
}

#[test]
fn env_errors_name_the_variable() {
    let err = env(&[("TRAEFIK_ENTRYPOINTS_WEB_ADRESS", ":80")]).expect_err("unknown");
    assert_eq!(err.source_name, ENVIRONMENT);
    assert_eq!(err.key_path, "TRAEFIK_ENTRYPOINTS_WEB_ADRESS");
    let err = env(&[("TRAEFIK_PING_TERMINATINGSTATUSCODE", "abc")]).expect_err("bad int");
    assert_eq!(err.key_path, "TRAEFIK_PING_TERMINATINGSTATUSCODE");
    let err = env(&[("TRAEFIK_LOG__LEVEL", "x")]).expect_err("empty segment");
    assert_eq!(err.key_path, "TRAEFIK_LOG__LEVEL");
}

#[test]
fn env_without_prefix_is_empty() {
    let cfg = env(&[("HOME", "/root"), ("TRAEFIK_", "x")]).expect("decodes");
    assert_eq!(cfg, StaticConfig::default());
}

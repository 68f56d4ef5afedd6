//! Traefik's JSON for configuration objects: the configured values plus the defaults Traefik's
//! decoder fills in (`SetDefaults`), printed with Go's `omitempty` rules (a zero value of a plain
//! field is left out, a pointer field prints whatever was set).
//!
//! The input is the model's own serialization (`switchyard_model` types serialize back to what the
//! user wrote); this module only adds defaults and drops what Go would not print. Which defaults
//! and which pointer fields were found by diffing against Traefik 3.7's `/api/rawdata`.

use serde::Serialize;
use serde_json::{Map, Value};
use switchyard_model::config::dynamic::{
    Middleware, Service, StickyCookie, TcpRouterTls, TcpService, UdpService, WeightedService,
};
use switchyard_model::config::static_cfg::EntryPoint;
use switchyard_model::Duration;

use super::query::qualify;

/// A JSON object.
pub(crate) type Object = Map<String, Value>;

/// Keys of Go pointer fields: their zero values (`false`, `0`, `""`, `0s`) are printed.
const KEEP_ZERO: &[&str] = &[
    "passHostHeader",
    "weight",
    "followRedirects",
    "mirrorBody",
    "maxBodySize",
    "forceSlash",
    "autoDetect",
    "sanitizePath",
    "unhealthyInterval",
    "maxResponseBodySize",
    "ipv6Subnet",
    "passthrough",
    "maxRequestBodyBytes",
    "terminationDelay",
    "stsSeconds",
    "accessLogs",
    "metrics",
    "tracing",
];

/// Keys of Go maps (and opaque plugin settings): printed as they are. (`healthCheck.headers` is
/// one too; the `headers` middleware is not.)
const OPAQUE: &[&str] = &[
    "customRequestHeaders",
    "customResponseHeaders",
    "sslProxyHeaders",
    "statusRewrites",
    "plugin",
];

/// `value` as a JSON object with Go's `omitempty` applied.
pub(crate) fn object<T: Serialize>(value: &T) -> Object {
    let mut map = match serde_json::to_value(value) {
        Ok(Value::Object(m)) => m,
        _ => Object::new(),
    };
    omit_zero(&mut map, "");
    map
}

fn omit_zero(map: &mut Object, parent: &str) {
    map.retain(|key, value| {
        if OPAQUE.contains(&key.as_str()) || (key == "headers" && parent == "healthCheck") {
            return true;
        }
        // A sticky cookie's `path` is a pointer; a health check's is not.
        if key == "path" && parent == "cookie" {
            return true;
        }
        match value {
            Value::Object(inner) => {
                omit_zero(inner, key);
                true
            }
            Value::Array(items) => {
                for item in items.iter_mut() {
                    if let Value::Object(inner) = item {
                        omit_zero(inner, key);
                    }
                }
                true
            }
            _ if KEEP_ZERO.contains(&key.as_str()) => true,
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
            Value::String(s) => !s.is_empty() && s != "0s",
        }
    });
}

fn cookie_defaults(cookie: &mut StickyCookie, service: &str) {
    if cookie.name.as_deref().unwrap_or_default().is_empty() {
        cookie.name = Some(crate::http::sticky::default_name(service));
    }
    cookie.path.get_or_insert_with(|| "/".to_owned());
}

fn weights(services: &mut [WeightedService]) {
    for s in services {
        s.weight.get_or_insert(1);
    }
}

/// An HTTP service (`qualified` names the default sticky cookie); `transport` is the qualified
/// servers transport once Traefik has built the load balancer.
pub(crate) fn http_service(cfg: &Service, qualified: &str, transport: Option<String>) -> Object {
    let mut s = cfg.clone();
    if let Some(lb) = &mut s.load_balancer {
        lb.strategy.get_or_insert_with(|| "wrr".to_owned());
        lb.pass_host_header.get_or_insert(true);
        lb.response_forwarding
            .get_or_insert_with(Default::default)
            .flush_interval
            .get_or_insert(Duration::from_millis(100));
        if let Some(cookie) = lb.sticky.as_mut().and_then(|s| s.cookie.as_mut()) {
            cookie_defaults(cookie, qualified);
        }
        if let Some(hc) = &mut lb.health_check {
            hc.mode.get_or_insert_with(|| "http".to_owned());
            hc.interval.get_or_insert(Duration::from_secs(30));
            hc.timeout.get_or_insert(Duration::from_secs(5));
            hc.follow_redirects.get_or_insert(true);
        }
        if let Some(p) = &mut lb.passive_health_check {
            p.failure_window.get_or_insert(Duration::from_secs(10));
            p.max_failed_attempts.get_or_insert(1);
        }
        if transport.is_some() {
            lb.servers_transport = transport;
        }
    }
    if let Some(w) = &mut s.weighted {
        weights(&mut w.services);
        if let Some(cookie) = w.sticky.as_mut().and_then(|s| s.cookie.as_mut()) {
            cookie_defaults(cookie, qualified);
        }
    }
    if let Some(h) = &mut s.highest_random_weight {
        weights(&mut h.services);
    }
    if let Some(m) = &mut s.mirroring {
        m.mirror_body.get_or_insert(true);
        m.max_body_size.get_or_insert(-1);
    }
    if let Some(e) = s.failover.as_mut().and_then(|f| f.errors.as_mut()) {
        e.max_request_body_bytes.get_or_insert(-1);
    }
    object(&s)
}

/// An HTTP middleware; a built `chain` shows its members qualified in `provider`.
pub(crate) fn http_middleware(cfg: &Middleware, provider: &str, built: bool) -> Object {
    let mut m = cfg.clone();
    if let Some(cb) = &mut m.circuit_breaker {
        cb.check_period.get_or_insert(Duration::from_millis(100));
        cb.fallback_duration.get_or_insert(Duration::from_secs(10));
        cb.recovery_duration.get_or_insert(Duration::from_secs(10));
        cb.response_code.get_or_insert(503);
    }
    if let Some(c) = &mut m.compress {
        if c.encodings.is_empty() {
            c.encodings = ["gzip", "br", "zstd"].map(String::from).to_vec();
        }
    }
    if let Some(f) = &mut m.forward_auth {
        f.max_body_size.get_or_insert(-1);
    }
    if let Some(r) = &mut m.rate_limit {
        r.period.get_or_insert(Duration::from_secs(1));
        r.burst.get_or_insert(1);
        if let Some(redis) = &mut r.redis {
            if redis.endpoints.is_empty() {
                redis.endpoints = vec!["localhost:6379".to_owned()];
            }
            redis.read_timeout.get_or_insert(Duration::from_secs(3));
            redis.write_timeout.get_or_insert(Duration::from_secs(3));
            redis.dial_timeout.get_or_insert(Duration::from_secs(5));
        }
    }
    if let Some(r) = &mut m.retry {
        r.max_request_body_bytes.get_or_insert(2 * 1024 * 1024);
    }
    if let Some(c) = m.chain.as_mut().filter(|_| built) {
        for name in &mut c.middlewares {
            *name = qualify(name, provider);
        }
    }
    let mut out = object(&m);
    // `buffering.maxRequestBodyBytes` is a plain int64, unlike retry's and failover's.
    if let Some(Value::Object(b)) = out.get_mut("buffering") {
        if b.get("maxRequestBodyBytes").and_then(Value::as_i64) == Some(0) {
            b.remove("maxRequestBodyBytes");
        }
    }
    out
}

/// A TCP service; `transport` as for [`http_service`].
pub(crate) fn tcp_service(cfg: &TcpService, transport: Option<String>) -> Object {
    let mut s = cfg.clone();
    if let Some(lb) = &mut s.load_balancer {
        if let Some(hc) = &mut lb.health_check {
            hc.interval.get_or_insert(Duration::from_secs(30));
            hc.timeout.get_or_insert(Duration::from_secs(5));
        }
        if let Some(p) = &mut lb.proxy_protocol {
            p.version.get_or_insert(2);
        }
        if transport.is_some() {
            lb.servers_transport = transport;
        }
    }
    if let Some(w) = &mut s.weighted {
        weights(&mut w.services);
    }
    object(&s)
}

/// A TCP router's `tls` (Traefik always prints `passthrough`).
pub(crate) fn tcp_router_tls(tls: &TcpRouterTls) -> Object {
    let mut t = tls.clone();
    t.passthrough.get_or_insert(false);
    object(&t)
}

/// A UDP service.
pub(crate) fn udp_service(cfg: &UdpService) -> Object {
    let mut s = cfg.clone();
    if let Some(w) = &mut s.weighted {
        weights(&mut w.services);
    }
    object(&s)
}

/// A static entry point as `/api/entrypoints` shows it, with Traefik's defaults.
pub(crate) fn entry_point(name: &str, cfg: &EntryPoint) -> Object {
    let mut ep = cfg.clone();
    let transport = ep.transport.get_or_insert_with(Default::default);
    transport
        .life_cycle
        .get_or_insert_with(Default::default)
        .grace_time_out
        .get_or_insert(Duration::from_secs(10));
    let timeouts = transport
        .responding_timeouts
        .get_or_insert_with(Default::default);
    timeouts.read_timeout.get_or_insert(Duration::from_secs(60));
    timeouts
        .idle_timeout
        .get_or_insert(Duration::from_secs(180));
    // A Switchyard-only option: Traefik has no such key.
    ep.forwarded_headers
        .get_or_insert_with(Default::default)
        .add_x_forwarded_scheme_headers = None;
    let http = ep.http.get_or_insert_with(Default::default);
    http.sanitize_path.get_or_insert(true);
    http.max_header_bytes.get_or_insert(1 << 20);
    if let Some(r) = http
        .redirections
        .as_mut()
        .and_then(|r| r.entry_point.as_mut())
    {
        r.scheme.get_or_insert_with(|| "https".to_owned());
        r.permanent.get_or_insert(true);
        r.priority.get_or_insert(i64::MAX - 1);
    }
    if let Some(e) = &mut http.encoded_characters {
        for flag in [
            &mut e.allow_encoded_slash,
            &mut e.allow_encoded_back_slash,
            &mut e.allow_encoded_null_character,
            &mut e.allow_encoded_semicolon,
            &mut e.allow_encoded_percent,
            &mut e.allow_encoded_question_mark,
            &mut e.allow_encoded_hash,
        ] {
            flag.get_or_insert(true);
        }
    }
    let h2 = ep.http2.get_or_insert_with(Default::default);
    h2.max_concurrent_streams.get_or_insert(250);
    h2.max_decoder_header_table_size.get_or_insert(4096);
    h2.max_encoder_header_table_size.get_or_insert(4096);
    ep.udp
        .get_or_insert_with(Default::default)
        .timeout
        .get_or_insert(Duration::from_secs(3));
    if let Some(o) = &mut ep.observability {
        o.access_logs.get_or_insert(true);
        o.metrics.get_or_insert(true);
        o.tracing.get_or_insert(true);
        o.trace_verbosity
            .get_or_insert_with(|| "minimal".to_owned());
    }
    let mut out = object(&ep);
    out.insert("name".to_owned(), Value::from(name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchyard_model::config::dynamic::{LoadBalancer, Server};

    fn yaml<T: serde::de::DeserializeOwned>(text: &str) -> T {
        switchyard_model::decode::from_text(text, switchyard_model::decode::Format::Yaml, "test")
            .unwrap()
    }

    #[test]
    fn load_balancer_defaults() {
        let s: Service = yaml(
            "loadBalancer:\n  servers:\n    - url: http://a\n    - url: http://b\n      weight: 0\n  sticky:\n    cookie:\n      secure: false\n  healthCheck:\n    path: /h\n",
        );
        let v = Value::Object(http_service(&s, "s@file", None));
        assert_eq!(
            v,
            json!({"loadBalancer": {
                "servers": [{"url": "http://a"}, {"url": "http://b", "weight": 0}],
                "strategy": "wrr",
                "sticky": {"cookie": {"name": crate::http::sticky::default_name("s@file"), "path": "/"}},
                "healthCheck": {"mode": "http", "path": "/h", "interval": "30s", "timeout": "5s", "followRedirects": true},
                "passHostHeader": true,
                "responseForwarding": {"flushInterval": "100ms"}
            }})
        );
    }

    #[test]
    fn explicit_zero_values_follow_go() {
        let s = Service {
            load_balancer: Some(LoadBalancer {
                servers: vec![Server {
                    url: Some("http://a".into()),
                    preserve_path: Some(false),
                    ..Server::default()
                }],
                pass_host_header: Some(false),
                response_forwarding: Some(Default::default()),
                ..LoadBalancer::default()
            }),
            ..Service::default()
        };
        let mut s2 = s.clone();
        if let Some(lb) = &mut s2.load_balancer {
            if let Some(rf) = &mut lb.response_forwarding {
                rf.flush_interval = Some(Duration::ZERO);
            }
        }
        let v = http_service(&s2, "s@file", Some("st@file".into()));
        assert_eq!(v["loadBalancer"]["passHostHeader"], json!(false));
        assert_eq!(v["loadBalancer"]["responseForwarding"], json!({}));
        assert_eq!(v["loadBalancer"]["servers"], json!([{"url": "http://a"}]));
        assert_eq!(v["loadBalancer"]["serversTransport"], json!("st@file"));
    }

    #[test]
    fn middleware_defaults() {
        let m: Middleware = yaml("rateLimit:\n  average: 5\n  redis:\n    db: 2\n");
        assert_eq!(
            Value::Object(http_middleware(&m, "file", true)),
            json!({"rateLimit": {"average": 5, "period": "1s", "burst": 1, "redis": {
                "endpoints": ["localhost:6379"], "db": 2, "readTimeout": "3s", "writeTimeout": "3s", "dialTimeout": "5s"}}})
        );
        let m: Middleware = yaml("chain:\n  middlewares: [a, b@docker]\n");
        assert_eq!(
            Value::Object(http_middleware(&m, "file", true)),
            json!({"chain": {"middlewares": ["a@file", "b@docker"]}})
        );
        let m: Middleware =
            yaml("headers:\n  customRequestHeaders:\n    X-A: \"\"\n  frameDeny: false\n");
        assert_eq!(
            Value::Object(http_middleware(&m, "file", true)),
            json!({"headers": {"customRequestHeaders": {"X-A": ""}}})
        );
    }

    #[test]
    fn entry_point_defaults() {
        let ep: EntryPoint = yaml("address: \":80\"\n");
        assert_eq!(
            Value::Object(entry_point("web", &ep)),
            json!({
                "address": ":80",
                "transport": {"lifeCycle": {"graceTimeOut": "10s"}, "respondingTimeouts": {"readTimeout": "1m0s", "idleTimeout": "3m0s"}},
                "forwardedHeaders": {},
                "http": {"sanitizePath": true, "maxHeaderBytes": 1048576},
                "http2": {"maxConcurrentStreams": 250, "maxDecoderHeaderTableSize": 4096, "maxEncoderHeaderTableSize": 4096},
                "udp": {"timeout": "3s"},
                "name": "web"
            })
        );
    }
}

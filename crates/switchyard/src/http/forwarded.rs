//! The entry point's forwarded-headers policy (`entryPoints.<n>.forwardedHeaders`). Runs before
//! routing, as in Traefik: from an untrusted peer every `X-Forwarded-*` and `X-Real-Ip` header is
//! removed; then the ones the proxy owns are set (Proto, Host, Port, Server, Real-Ip). The peer is
//! appended to `X-Forwarded-For` only when the request is forwarded ([`append_forwarded_for`],
//! called by the proxy), so middlewares see the list as the client sent it, as in Traefik.
//! Headers named in `Connection` are dropped here too, except the ones
//! `forwardedHeaders.connection` allows and the ones this module manages.

use std::net::IpAddr;

use http::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION};
use ipnet::IpNet;
use switchyard_model::config::static_cfg::ForwardedHeaders;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const X_FORWARDED_SERVER: HeaderName = HeaderName::from_static("x-forwarded-server");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// Headers an untrusted peer may not set.
const UNTRUSTED: &[&str] = &[
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-server",
    "x-forwarded-uri",
    "x-forwarded-method",
    "x-forwarded-prefix",
    "x-forwarded-tls-client-cert",
    "x-forwarded-tls-client-cert-info",
    "x-forwarded-scheme",
    "x-scheme",
    "x-real-ip",
];

/// The compiled policy of one entry point.
#[derive(Debug, Clone, Default)]
pub struct ForwardedPolicy {
    trusted: Vec<IpNet>,
    insecure: bool,
    not_append_xff: bool,
    allowed_connection: Vec<HeaderName>,
    scheme_headers: bool,
}

/// Facts about the request the policy needs.
pub struct ForwardedRequest<'a> {
    pub peer: IpAddr,
    /// `peer` as a header value.
    pub peer_value: &'a HeaderValue,
    pub tls: bool,
    pub upgrade: bool,
    /// The request's host as the client sent it (Host header or authority), port included.
    pub host: Option<&'a HeaderValue>,
    /// This machine's hostname, for `X-Forwarded-Server`.
    pub server_name: &'a HeaderValue,
}

impl ForwardedPolicy {
    /// Compiles the policy; an invalid `trustedIPs` entry is an error naming it.
    pub fn new(cfg: Option<&ForwardedHeaders>, global_not_append: bool) -> Result<Self, String> {
        let Some(cfg) = cfg else {
            return Ok(Self {
                not_append_xff: global_not_append,
                ..Self::default()
            });
        };
        let mut trusted = Vec::new();
        for entry in &cfg.trusted_ips {
            trusted.push(parse_net(entry).ok_or_else(|| {
                format!("forwardedHeaders.trustedIPs: invalid IP or CIDR {entry:?}")
            })?);
        }
        let mut allowed_connection = Vec::new();
        for name in &cfg.connection {
            allowed_connection.push(HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                format!("forwardedHeaders.connection: invalid header name {name:?}")
            })?);
        }
        Ok(Self {
            trusted,
            insecure: cfg.insecure.unwrap_or(false),
            not_append_xff: cfg.not_append_x_forwarded_for.unwrap_or(global_not_append),
            allowed_connection,
            scheme_headers: cfg.add_x_forwarded_scheme_headers.unwrap_or(false),
        })
    }

    /// Whether `X-Forwarded-*` from this peer are kept.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.insecure || self.trusted.iter().any(|n| n.contains(&ip))
    }

    /// Rewrites the request headers in place.
    pub fn apply(&self, headers: &mut HeaderMap, req: &ForwardedRequest<'_>) {
        // Room for the headers set below, so the map grows once rather than per insert.
        headers.reserve(6);
        let trusted = self.is_trusted(req.peer);
        if !trusted {
            // One pass over the request's headers (usually a handful) instead of a removal per
            // managed name; underscore spellings count, since some servers treat them the same.
            let spoofed: Vec<HeaderName> = headers
                .keys()
                .filter(|k| is_managed_spelling(k.as_str()))
                .cloned()
                .collect();
            for name in spoofed {
                headers.remove(name);
            }
        }
        self.strip_connection_listed(headers);

        let proto = match (req.tls, req.upgrade) {
            (false, false) => "http",
            (true, false) => "https",
            (false, true) => "ws",
            (true, true) => "wss",
        };
        if !headers.contains_key(&X_FORWARDED_PROTO) {
            headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
        }
        if self.scheme_headers {
            let scheme = headers.get(&X_FORWARDED_PROTO).cloned();
            if let Some(v) = scheme {
                headers.entry("x-forwarded-scheme").or_insert(v.clone());
                headers.entry("x-scheme").or_insert(v);
            }
        }
        if let Some(host) = req.host.filter(|h| !h.is_empty()) {
            if !headers.contains_key(&X_FORWARDED_HOST) {
                headers.insert(X_FORWARDED_HOST, host.clone());
            }
        }
        if !headers.contains_key(&X_FORWARDED_PORT) {
            let fwd_host = headers.get(&X_FORWARDED_HOST).and_then(|v| v.to_str().ok());
            let value = match fwd_host.and_then(host_port) {
                Some(port) => HeaderValue::from_str(port).ok(),
                None => {
                    let tls = matches!(
                        headers.get(&X_FORWARDED_PROTO).map(HeaderValue::as_bytes),
                        Some(b"https" | b"wss")
                    );
                    Some(HeaderValue::from_static(if tls { "443" } else { "80" }))
                }
            };
            if let Some(v) = value {
                headers.insert(X_FORWARDED_PORT, v);
            }
        }
        headers.insert(X_FORWARDED_SERVER, req.server_name.clone());
        if !headers.contains_key(&X_REAL_IP) {
            headers.insert(X_REAL_IP, req.peer_value.clone());
        }
    }

    /// Whether the proxy appends the peer to `X-Forwarded-For`.
    pub fn appends_xff(&self) -> bool {
        !self.not_append_xff
    }

    fn strip_connection_listed(&self, headers: &mut HeaderMap) {
        if !headers.contains_key(CONNECTION) {
            return;
        }
        let listed: Vec<HeaderName> = headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
            .collect();
        for name in listed {
            let managed = UNTRUSTED.contains(&name.as_str());
            let allowed = self.allowed_connection.contains(&name);
            // `Connection: upgrade` must survive to the proxy, which handles upgrades.
            if !managed && !allowed && name != http::header::UPGRADE {
                headers.remove(&name);
            }
        }
    }
}

/// Folds `X-Forwarded-For` into one line and appends `peer` (Go's reverse proxy behaviour), at
/// forwarding time. Without a prior header and with `append` off, nothing is set.
pub fn append_forwarded_for(headers: &mut HeaderMap, peer: &HeaderValue, append: bool) {
    let mut prior = headers.get_all(&X_FORWARDED_FOR).iter();
    let first = prior.next().is_some();
    let more = prior.next().is_some();
    match (first, more, append) {
        // The common case: nothing to fold, no allocation.
        (false, _, true) => {
            headers.insert(X_FORWARDED_FOR, peer.clone());
        }
        (false, _, false) | (true, false, false) => {}
        (true, _, append) => {
            let mut value: Vec<u8> = Vec::new();
            for v in headers.get_all(&X_FORWARDED_FOR) {
                if !value.is_empty() {
                    value.extend_from_slice(b", ");
                }
                value.extend_from_slice(v.as_bytes());
            }
            if append {
                value.extend_from_slice(b", ");
                value.extend_from_slice(peer.as_bytes());
            }
            if let Ok(v) = HeaderValue::from_bytes(&value) {
                headers.insert(X_FORWARDED_FOR, v);
            }
        }
    }
}

/// Whether `name` (lower-case) is one of the managed headers, also when spelled with `_`.
fn is_managed_spelling(name: &str) -> bool {
    let b = name.as_bytes();
    // Cheap pre-filter: every managed name starts with `x-`/`x_`.
    if b.len() < 6 || b[0] != b'x' || (b[1] != b'-' && b[1] != b'_') {
        return false;
    }
    if name.contains('_') {
        UNTRUSTED.contains(&name.replace('_', "-").as_str())
    } else {
        UNTRUSTED.contains(&name)
    }
}

/// Parses an IP or CIDR as Traefik's trustedIPs / ClientIP do.
pub fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

/// The port part of a `host[:port]` value, IPv6 brackets understood.
fn host_port(host: &str) -> Option<&str> {
    let after = match host.rfind(']') {
        Some(i) => &host[i + 1..],
        None if host.matches(':').count() > 1 => return None,
        None => host,
    };
    after
        .rsplit_once(':')
        .map(|(_, p)| p)
        .filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The entry point's rewrite, then the proxy's `X-Forwarded-For` append: what the upstream sees.
    fn run(policy: &ForwardedPolicy, peer: &str, headers: &[(&str, &str)]) -> HeaderMap {
        let mut map = at_entry_point(policy, peer, headers);
        let peer_value = HeaderValue::from_str(peer).unwrap();
        append_forwarded_for(&mut map, &peer_value, policy.appends_xff());
        map
    }

    /// What middlewares see.
    fn at_entry_point(policy: &ForwardedPolicy, peer: &str, headers: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let server = HeaderValue::from_static("proxy1");
        let host = HeaderValue::from_static("example.com:8080");
        let peer_value = HeaderValue::from_str(peer).unwrap();
        policy.apply(
            &mut map,
            &ForwardedRequest {
                peer: peer.parse().unwrap(),
                peer_value: &peer_value,
                tls: false,
                upgrade: false,
                host: Some(&host),
                server_name: &server,
            },
        );
        map
    }

    #[test]
    fn untrusted_peer_loses_spoofed_headers() {
        let p = ForwardedPolicy::default();
        let h = run(
            &p,
            "10.0.0.1",
            &[
                ("x-forwarded-for", "1.2.3.4"),
                ("x-real-ip", "1.2.3.4"),
                ("x_forwarded_for", "9.9.9.9"),
                ("x-forwarded-proto", "https"),
            ],
        );
        assert_eq!(h["x-forwarded-for"], "10.0.0.1");
        assert_eq!(h["x-real-ip"], "10.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert!(!h.contains_key("x_forwarded_for"));
        assert_eq!(h["x-forwarded-host"], "example.com:8080");
        assert_eq!(h["x-forwarded-port"], "8080");
        assert_eq!(h["x-forwarded-server"], "proxy1");
    }

    #[test]
    fn trusted_peer_keeps_and_appends() {
        let cfg = ForwardedHeaders {
            trusted_ips: vec!["10.0.0.0/8".into()],
            ..Default::default()
        };
        let p = ForwardedPolicy::new(Some(&cfg), false).unwrap();
        let h = run(
            &p,
            "10.0.0.1",
            &[
                ("x-forwarded-for", "1.2.3.4"),
                ("x-forwarded-for", "5.6.7.8"),
                ("x-forwarded-proto", "https"),
            ],
        );
        assert_eq!(h["x-forwarded-for"], "1.2.3.4, 5.6.7.8, 10.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "https");
        let untrusted = run(&p, "192.168.0.1", &[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(untrusted["x-forwarded-for"], "192.168.0.1");
    }

    #[test]
    fn middlewares_see_the_client_list_without_the_peer() {
        let p = ForwardedPolicy::new(
            Some(&ForwardedHeaders {
                insecure: Some(true),
                ..Default::default()
            }),
            false,
        )
        .unwrap();
        let h = at_entry_point(&p, "10.0.0.1", &[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(h["x-forwarded-for"], "1.2.3.4");
        let h = at_entry_point(&ForwardedPolicy::default(), "10.0.0.1", &[]);
        assert!(!h.contains_key("x-forwarded-for"));
    }

    #[test]
    fn connection_listed_headers_are_dropped_unless_allowed() {
        let cfg = ForwardedHeaders {
            connection: vec!["X-Keep".into()],
            ..Default::default()
        };
        let p = ForwardedPolicy::new(Some(&cfg), false).unwrap();
        let h = run(
            &p,
            "10.0.0.1",
            &[
                ("connection", "x-drop, X-Keep, x-forwarded-host"),
                ("x-drop", "1"),
                ("x-keep", "2"),
            ],
        );
        assert!(!h.contains_key("x-drop"));
        assert_eq!(h["x-keep"], "2");
        assert_eq!(h["x-forwarded-host"], "example.com:8080");
    }

    #[test]
    fn not_append_x_forwarded_for() {
        let cfg = ForwardedHeaders {
            insecure: Some(true),
            not_append_x_forwarded_for: Some(true),
            ..Default::default()
        };
        let p = ForwardedPolicy::new(Some(&cfg), false).unwrap();
        let h = run(&p, "10.0.0.1", &[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(h["x-forwarded-for"], "1.2.3.4");
        let h = run(&p, "10.0.0.1", &[]);
        assert!(!h.contains_key("x-forwarded-for"));
        let global = ForwardedPolicy::new(None, true).unwrap();
        assert!(!run(&global, "10.0.0.1", &[]).contains_key("x-forwarded-for"));
    }

    #[test]
    fn invalid_trusted_ip_is_named() {
        let cfg = ForwardedHeaders {
            trusted_ips: vec!["nope".into()],
            ..Default::default()
        };
        assert!(ForwardedPolicy::new(Some(&cfg), false)
            .unwrap_err()
            .contains("nope"));
    }

    #[test]
    fn ports() {
        assert_eq!(host_port("a:1"), Some("1"));
        assert_eq!(host_port("[::1]:2"), Some("2"));
        assert_eq!(host_port("::1"), None);
        assert_eq!(host_port("a"), None);
    }
}

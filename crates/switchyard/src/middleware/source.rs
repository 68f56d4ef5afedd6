//! Who a request comes from, as Traefik decides it for `ipAllowList` (`ipStrategy`) and for
//! `rateLimit` / `inFlightReq` (`sourceCriterion`). It only reads the request; it never answers.
//!
//! Traefik's rules: without a strategy the client is the peer address; `depth: n` takes the n-th
//! address from the right of `X-Forwarded-For` (a list too short gives the empty string, which no
//! allow list accepts); `excludedIPs` takes the right-most address that is not excluded; `depth`
//! wins over `excludedIPs`; `ipv6Subnet` masks an IPv6 result to that prefix length.
//!
//! Middlewares see `X-Forwarded-For` as the client sent it (kept only from trusted peers); the
//! peer itself is appended later, when the request is forwarded — as in Traefik.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use http::header::{HeaderMap, HeaderName, HOST};
use http::Request;
use ipnet::IpNet;
use switchyard_model::config::dynamic::{
    IpStrategy as IpStrategyConfig, SourceCriterion as SourceCriterionConfig,
};

use crate::http::body::Body;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// A set of IPs and CIDRs (`sourceRange`, `excludedIPs`).
#[derive(Debug, Clone)]
pub struct IpChecker {
    nets: Vec<IpNet>,
}

impl IpChecker {
    /// Parses every entry; an invalid one is an error naming `option[i]`.
    pub fn new(entries: &[String], option: &str) -> Result<Self, String> {
        let mut nets = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let text = entry.trim();
            let net = match text.parse::<IpNet>() {
                Ok(net) => canonical_net(net),
                Err(_) => match parse_ip(text) {
                    Some(ip) => IpNet::from(ip),
                    None => {
                        return Err(format!(
                            "{option}[{i}] {entry:?}: not an IP address or CIDR range"
                        ))
                    }
                },
            };
            nets.push(net);
        }
        Ok(Self { nets })
    }

    /// Whether `addr` (a bare IP, zone allowed) is in the set; unparsable addresses are not.
    pub fn contains(&self, addr: &str) -> bool {
        parse_ip(addr).is_some_and(|ip| self.contains_ip(ip))
    }

    pub fn contains_ip(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// Traefik's `IsAuthorized`: like [`Self::contains`], a `host:port` form accepted.
    pub fn authorizes(&self, addr: &str) -> bool {
        self.contains(split_host_port(addr).unwrap_or(addr))
    }
}

/// An IPv4-mapped IPv6 network written for IPv4 addresses matches them, as in Go.
fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96).unwrap_or(net),
            None => net,
        },
        _ => net,
    }
}

/// Parses an IP as Go's `netip.ParseAddr` does (an IPv6 zone is accepted and ignored).
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    let text = match text.split_once('%') {
        Some((ip, _zone)) if ip.contains(':') => ip,
        _ => text,
    };
    text.parse::<IpAddr>().ok()
}

/// The host of `host:port` / `[v6]:port`, as Go's `net.SplitHostPort`; `None` without a port.
fn split_host_port(addr: &str) -> Option<&str> {
    if let Some(rest) = addr.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return after.strip_prefix(':').map(|_| host);
    }
    let (host, _port) = addr.rsplit_once(':')?;
    (!host.contains(':')).then_some(host)
}

/// `X-Forwarded-For` as Traefik's middlewares see it: the first header line as the client sent it
/// (the entry point keeps it only from trusted peers; the proxy appends the peer only when
/// forwarding). Empty when there is none.
pub fn client_forwarded_for(headers: &HeaderMap, _peer: IpAddr) -> &str {
    headers
        .get(&X_FORWARDED_FOR)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// `ipStrategy`: how the client IP is picked.
#[derive(Debug, Clone)]
pub enum IpStrategy {
    /// The peer address.
    RemoteAddr { ipv6_subnet: Option<u8> },
    /// The n-th `X-Forwarded-For` entry from the right (n ≥ 1).
    Depth {
        depth: usize,
        ipv6_subnet: Option<u8>,
    },
    /// The right-most `X-Forwarded-For` entry not in `excluded`.
    Excluded {
        excluded: IpChecker,
        ipv6_subnet: Option<u8>,
    },
}

impl IpStrategy {
    /// Compiles `ipStrategy` (absent: the peer address); `option` prefixes error messages.
    pub fn new(cfg: Option<&IpStrategyConfig>, option: &str) -> Result<Self, String> {
        let Some(cfg) = cfg else {
            return Ok(Self::RemoteAddr { ipv6_subnet: None });
        };
        let ipv6_subnet = cfg.ipv6_subnet;
        if let Some(depth) = cfg.depth.filter(|d| *d > 0) {
            let depth = usize::try_from(depth).unwrap_or(usize::MAX);
            return Ok(Self::Depth { depth, ipv6_subnet });
        }
        if !cfg.excluded_ips.is_empty() {
            let excluded = IpChecker::new(&cfg.excluded_ips, &format!("{option}.excludedIPs"))?;
            return Ok(Self::Excluded {
                excluded,
                ipv6_subnet,
            });
        }
        Ok(Self::RemoteAddr { ipv6_subnet })
    }

    /// The client IP as text (empty when the strategy finds none).
    pub fn client_ip(&self, headers: &HeaderMap, peer: SocketAddr) -> String {
        match self {
            Self::RemoteAddr { ipv6_subnet } => {
                let ip = peer.ip().to_canonical();
                match (ip, ipv6_subnet) {
                    (IpAddr::V6(v6), Some(bits)) => mask_v6(v6, *bits),
                    _ => ip.to_string(),
                }
            }
            Self::Depth { depth, ipv6_subnet } => {
                let xff = client_forwarded_for(headers, peer.ip());
                let entries: Vec<&str> = xff.split(',').collect();
                if entries.len() < *depth {
                    return String::new();
                }
                masked(entries[entries.len() - depth].trim(), *ipv6_subnet)
            }
            Self::Excluded {
                excluded,
                ipv6_subnet,
            } => client_forwarded_for(headers, peer.ip())
                .rsplit(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .find(|e| !excluded.contains(e))
                .map(|e| masked(e, *ipv6_subnet))
                .unwrap_or_default(),
        }
    }
}

/// `ip` masked to `bits` when it is an IPv6 address and a subnet is set; unchanged otherwise.
fn masked(ip: &str, ipv6_subnet: Option<u8>) -> String {
    match (ipv6_subnet, parse_ip(ip)) {
        (Some(bits), Some(IpAddr::V6(v6))) => mask_v6(v6, bits),
        _ => ip.to_owned(),
    }
}

/// Go's `netip.Addr.Prefix(bits).Addr()`; beyond 128 bits the address is returned unchanged.
fn mask_v6(ip: Ipv6Addr, bits: u8) -> String {
    if bits > 128 {
        return ip.to_string();
    }
    let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
    Ipv6Addr::from(u128::from(ip) & mask).to_string()
}

/// `sourceCriterion`: what groups requests for `rateLimit` and `inFlightReq`.
#[derive(Debug, Clone)]
pub enum SourceCriterion {
    Ip(IpStrategy),
    /// The value of a request header (requests without it share the empty key).
    Header(HeaderName),
    /// The request's host (`Host` header or authority).
    Host,
}

impl SourceCriterion {
    /// Compiles `sourceCriterion` (absent or empty: the peer address). At most one criterion may
    /// be set; `option` is the section's path for error messages.
    pub fn new(cfg: Option<&SourceCriterionConfig>, option: &str) -> Result<Self, String> {
        let Some(cfg) = cfg else {
            return Ok(Self::Ip(IpStrategy::RemoteAddr { ipv6_subnet: None }));
        };
        let header = cfg.request_header_name.as_deref().filter(|h| !h.is_empty());
        let host = cfg.request_host.unwrap_or(false);
        let ip = cfg.ip_strategy.as_ref();
        let exclusive = |a: &str, b: &str| format!("{option}: {a} and {b} are mutually exclusive");
        if ip.is_some() && header.is_some() {
            return Err(exclusive("ipStrategy", "requestHeaderName"));
        }
        if ip.is_some() && host {
            return Err(exclusive("ipStrategy", "requestHost"));
        }
        if header.is_some() && host {
            return Err(exclusive("requestHost", "requestHeaderName"));
        }
        if let Some(name) = header {
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| format!("{option}.requestHeaderName {name:?}: invalid header name"))?;
            return Ok(Self::Header(name));
        }
        if host {
            return Ok(Self::Host);
        }
        Ok(Self::Ip(IpStrategy::new(
            ip,
            &format!("{option}.ipStrategy"),
        )?))
    }

    /// The source key of a request.
    pub fn key(&self, req: &Request<Body>, peer: SocketAddr) -> String {
        match self {
            Self::Ip(strategy) => strategy.client_ip(req.headers(), peer),
            Self::Header(name) => req
                .headers()
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default(),
            Self::Host => request_host(req).to_owned(),
        }
    }
}

/// The host the client asked for, port included, as Go's `Request.Host`.
pub fn request_host(req: &Request<Body>) -> &str {
    match req.uri().authority() {
        Some(a) => a.as_str(),
        None => req
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if !xff.is_empty() {
            h.insert(X_FORWARDED_FOR, HeaderValue::from_str(xff).unwrap());
        }
        h
    }

    const PEER: &str = "127.0.0.1:5000";

    fn strategy(depth: Option<i64>, excluded: &[&str], subnet: Option<u8>) -> IpStrategy {
        IpStrategy::new(
            Some(&IpStrategyConfig {
                depth,
                excluded_ips: excluded.iter().map(|s| s.to_string()).collect(),
                ipv6_subnet: subnet,
            }),
            "ipStrategy",
        )
        .unwrap()
    }

    #[test]
    fn client_forwarded_for_is_the_first_line() {
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            client_forwarded_for(&headers("1.1.1.1, 2.2.2.2"), peer),
            "1.1.1.1, 2.2.2.2"
        );
        assert_eq!(client_forwarded_for(&headers(""), peer), "");
        assert_eq!(client_forwarded_for(&HeaderMap::new(), peer), "");
    }

    #[test]
    fn strategies_follow_traefik() {
        let peer: SocketAddr = PEER.parse().unwrap();
        let xff = headers("10.0.0.1, 11.0.0.1, 12.0.0.1, 13.0.0.1");
        let table: &[(IpStrategy, &str)] = &[
            (IpStrategy::new(None, "s").unwrap(), "127.0.0.1"),
            (strategy(Some(1), &[], None), "13.0.0.1"),
            (strategy(Some(3), &[], None), "11.0.0.1"),
            (strategy(Some(5), &[], None), ""),
            (strategy(Some(0), &[], None), "127.0.0.1"),
            (
                strategy(None, &["13.0.0.1", "12.0.0.0/8"], None),
                "11.0.0.1",
            ),
            // depth wins over excludedIPs
            (strategy(Some(2), &["12.0.0.1"], None), "12.0.0.1"),
            (
                strategy(None, &["0.0.0.0/0"], None),
                "", // everything excluded
            ),
        ];
        for (s, want) in table {
            assert_eq!(s.client_ip(&xff, peer), *want, "{s:?}");
        }
        assert_eq!(
            strategy(Some(1), &[], None).client_ip(&headers(""), peer),
            ""
        );
    }

    #[test]
    fn ipv6_subnet_masks_only_ipv6() {
        let peer: SocketAddr = "[2001:db8:1:2:3:4:5:6]:80".parse().unwrap();
        let s = strategy(None, &[], Some(64));
        assert_eq!(s.client_ip(&headers(""), peer), "2001:db8:1:2::");
        let s = strategy(Some(1), &[], Some(48));
        assert_eq!(
            s.client_ip(&headers("2001:db8:aa:bb::1, 1.2.3.4"), peer),
            "1.2.3.4"
        );
        assert_eq!(
            s.client_ip(&headers("1.2.3.4, 2001:db8:aa:bb::1"), peer),
            "2001:db8:aa::"
        );
        assert_eq!(mask_v6("::1".parse().unwrap(), 0), "::");
        assert_eq!(mask_v6("::1".parse().unwrap(), 200), "::1");
    }

    #[test]
    fn checker_parses_ips_and_cidrs() {
        let c = IpChecker::new(
            &[
                "10.0.0.0/8".into(),
                "192.168.1.7".into(),
                "2001:db8::/32".into(),
            ],
            "sourceRange",
        )
        .unwrap();
        assert!(c.contains("10.1.2.3"));
        assert!(c.contains("::ffff:10.1.2.3"), "IPv4-mapped addresses match");
        assert!(c.contains("192.168.1.7"));
        assert!(!c.contains("192.168.1.8"));
        assert!(c.contains("2001:db8::1%eth0"));
        assert!(!c.contains(""));
        assert!(!c.contains("not-an-ip"));
        assert!(c.authorizes("10.0.0.1:8080"));
        assert!(c.authorizes("[2001:db8::1]:443"));
        let err = IpChecker::new(
            &["10.0.0.0/8".into(), "10.0.0.300".into()],
            "ipAllowList.sourceRange",
        )
        .unwrap_err();
        assert!(err.contains("ipAllowList.sourceRange[1]"), "{err}");
    }

    #[test]
    fn criteria_are_exclusive() {
        let both = SourceCriterionConfig {
            ip_strategy: Some(IpStrategyConfig::default()),
            request_header_name: Some("X-Key".into()),
            request_host: None,
        };
        let err = SourceCriterion::new(Some(&both), "rateLimit.sourceCriterion").unwrap_err();
        assert!(err.contains("mutually exclusive"), "{err}");
        let host_and_header = SourceCriterionConfig {
            ip_strategy: None,
            request_header_name: Some("X-Key".into()),
            request_host: Some(true),
        };
        assert!(SourceCriterion::new(Some(&host_and_header), "s").is_err());
        // An empty header name or requestHost: false count as unset.
        let empty = SourceCriterionConfig {
            ip_strategy: None,
            request_header_name: Some(String::new()),
            request_host: Some(false),
        };
        assert!(matches!(
            SourceCriterion::new(Some(&empty), "s").unwrap(),
            SourceCriterion::Ip(IpStrategy::RemoteAddr { .. })
        ));
    }

    #[test]
    fn keys_by_header_and_host() {
        let peer: SocketAddr = PEER.parse().unwrap();
        let req = Request::builder()
            .uri("/x")
            .header("host", "example.com:8080")
            .header("x-key", "abc")
            .body(crate::http::body::empty())
            .unwrap();
        let by_header = SourceCriterion::Header(HeaderName::from_static("x-key"));
        assert_eq!(by_header.key(&req, peer), "abc");
        let missing = SourceCriterion::Header(HeaderName::from_static("x-other"));
        assert_eq!(missing.key(&req, peer), "");
        assert_eq!(SourceCriterion::Host.key(&req, peer), "example.com:8080");
    }
}

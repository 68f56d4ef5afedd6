//! An entry point's fixed settings, compiled once from the static configuration
//! (`entryPoints.<name>`). Entry points are never re-bound by a dynamic reload.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use switchyard_model::config::static_cfg::{EntryPoint, StaticConfig};

use super::forwarded::ForwardedPolicy;

/// Transport protocol of an entry point address (`:53/udp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
}

/// Everything the data plane needs to know about one entry point.
#[derive(Debug)]
pub struct EntryPointSpec {
    pub name: Arc<str>,
    /// Position in the snapshot's per-entry-point tables.
    pub index: usize,
    pub address: String,
    pub addr: SocketAddr,
    pub transport: Transport,
    pub reuse_port: bool,
    pub as_default: bool,
    pub forwarded: ForwardedPolicy,
    pub sanitize_path: bool,
    pub encode_query_semicolons: bool,
    pub max_header_bytes: usize,
    pub read_timeout: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    pub keep_alive_max_requests: u64,
    pub keep_alive_max_time: Option<Duration>,
    pub request_accept_grace_timeout: Duration,
    pub grace_timeout: Duration,
    pub http2_max_concurrent_streams: u32,
    /// Fully qualified middlewares prepended to every router on this entry point.
    pub middlewares: Vec<String>,
    /// `http.encodedCharacters`: percent-encodings refused in request paths (all allowed by
    /// default); `None` when everything is allowed, so the hot path skips the check.
    pub encoded_characters: Option<crate::middleware::encoded_characters::EncodedCharacterPolicy>,
    /// `http.tls`: routers on this entry point serve HTTPS by default.
    pub tls: Option<switchyard_model::config::dynamic::RouterTls>,
    /// `http3`: HTTP/3 on UDP, same port (see `http::http3`).
    pub http3: Option<Http3Settings>,
    /// The `Alt-Svc` value HTTPS responses carry once HTTP/3 is listening on this entry point
    /// (set by `http::http3` when its UDP socket is bound; empty otherwise).
    pub alt_svc: std::sync::OnceLock<http::HeaderValue>,
    /// `observability`: the entry point's defaults for its routers, and what applies to requests
    /// that match no router.
    pub observe: crate::observe::record::Switches,
}

/// `entryPoints.<name>.http3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Http3Settings {
    /// The port advertised in `Alt-Svc` (`advertisedPort`); `None`: the entry point's port.
    pub advertised_port: Option<u16>,
}

impl Http3Settings {
    /// Traefik's `Alt-Svc` value: HTTP/3 on `port`, remembered for 30 days.
    pub fn alt_svc(&self, port: u16) -> http::HeaderValue {
        // Digits and ASCII punctuation only: always a valid header value.
        http::HeaderValue::try_from(format!("h3=\":{port}\"; ma=2592000"))
            .unwrap_or_else(|_| http::HeaderValue::from_static("h3=\":443\"; ma=2592000"))
    }
}

/// A configured duration where 0 means "none".
fn opt(d: Option<switchyard_model::Duration>, default: Option<Duration>) -> Option<Duration> {
    match d {
        None => default,
        Some(d) => d.as_std().filter(|d| !d.is_zero()),
    }
}

/// Parses Traefik's `[host]:port[/tcp|/udp]`.
pub fn parse_address(address: &str) -> Result<(SocketAddr, Transport), String> {
    let (hostport, transport) = match address.rsplit_once('/') {
        Some((hp, proto)) if proto.eq_ignore_ascii_case("tcp") => (hp, Transport::Tcp),
        Some((hp, proto)) if proto.eq_ignore_ascii_case("udp") => (hp, Transport::Udp),
        Some((_, proto)) => {
            return Err(format!("unknown protocol {proto:?} (expected tcp or udp)"))
        }
        None => (address, Transport::Tcp),
    };
    let (host, port) = hostport
        .rsplit_once(':')
        .ok_or_else(|| format!("{address:?}: missing port (expected [host]:port)"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{address:?}: invalid port {port:?}"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = if host.is_empty() {
        std::net::IpAddr::from([0, 0, 0, 0, 0, 0, 0, 0])
    } else if host == "localhost" {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        host.parse()
            .map_err(|_| format!("{address:?}: invalid host {host:?} (expected an IP address)"))?
    };
    Ok((SocketAddr::new(ip, port), transport))
}

impl EntryPointSpec {
    pub fn new(
        name: &str,
        index: usize,
        ep: &EntryPoint,
        cfg: &StaticConfig,
    ) -> Result<Self, String> {
        let address = ep.address.clone().unwrap_or_default();
        let (addr, transport) =
            parse_address(&address).map_err(|e| format!("entryPoints.{name}.address: {e}"))?;
        let global_not_append = cfg
            .global
            .as_ref()
            .and_then(|g| g.not_append_x_forwarded_for)
            .unwrap_or(false);
        let forwarded = ForwardedPolicy::new(ep.forwarded_headers.as_ref(), global_not_append)
            .map_err(|e| format!("entryPoints.{name}.{e}"))?;
        let http = ep.http.as_ref();
        let transport_cfg = ep.transport.as_ref();
        let responding = transport_cfg.and_then(|t| t.responding_timeouts.as_ref());
        let life = transport_cfg.and_then(|t| t.life_cycle.as_ref());
        Ok(Self {
            name: name.into(),
            index,
            address,
            addr,
            transport,
            reuse_port: ep.reuse_port.unwrap_or(false),
            as_default: ep.as_default.unwrap_or(false),
            forwarded,
            sanitize_path: http.and_then(|h| h.sanitize_path).unwrap_or(true),
            encode_query_semicolons: http
                .and_then(|h| h.encode_query_semicolons)
                .unwrap_or(false),
            max_header_bytes: http
                .and_then(|h| h.max_header_bytes)
                .map(|b| usize::try_from(b).unwrap_or(usize::MAX))
                .unwrap_or(1 << 20),
            read_timeout: opt(
                responding.and_then(|r| r.read_timeout),
                Some(Duration::from_secs(60)),
            ),
            idle_timeout: opt(
                responding.and_then(|r| r.idle_timeout),
                Some(Duration::from_secs(180)),
            ),
            keep_alive_max_requests: transport_cfg
                .and_then(|t| t.keep_alive_max_requests)
                .unwrap_or(0),
            keep_alive_max_time: opt(transport_cfg.and_then(|t| t.keep_alive_max_time), None),
            request_accept_grace_timeout: opt(
                life.and_then(|l| l.request_accept_grace_timeout),
                None,
            )
            .unwrap_or_default(),
            grace_timeout: opt(
                life.and_then(|l| l.grace_time_out),
                Some(Duration::from_secs(10)),
            )
            .unwrap_or_default(),
            http2_max_concurrent_streams: ep
                .http2
                .as_ref()
                .and_then(|h| h.max_concurrent_streams)
                .unwrap_or(250),
            middlewares: http.map(|h| h.middlewares.clone()).unwrap_or_default(),
            tls: http.and_then(|h| h.tls.clone()),
            observe: {
                let o = ep.observability.as_ref();
                crate::observe::record::Switches {
                    access_log: o.and_then(|o| o.access_logs).unwrap_or(true),
                    metrics: o.and_then(|o| o.metrics).unwrap_or(true),
                    tracing: o.and_then(|o| o.tracing).unwrap_or(true),
                }
            },
            http3: ep.http3.as_ref().map(|h| Http3Settings {
                advertised_port: h.advertised_port.filter(|p| *p != 0),
            }),
            alt_svc: std::sync::OnceLock::new(),
            encoded_characters: http
                .and_then(|h| h.encoded_characters.as_ref())
                .map(|c| {
                    crate::middleware::encoded_characters::EncodedCharacterPolicy::from_config(
                        c, true,
                    )
                })
                .filter(|p| !p.allows_everything()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(parse_address(":80").unwrap().0.port(), 80);
        assert!(parse_address(":80").unwrap().0.ip().is_unspecified());
        assert_eq!(
            parse_address("127.0.0.1:8080/tcp").unwrap().0.to_string(),
            "127.0.0.1:8080"
        );
        assert_eq!(parse_address(":53/udp").unwrap().1, Transport::Udp);
        assert_eq!(
            parse_address("[::1]:443").unwrap().0.to_string(),
            "[::1]:443"
        );
        assert!(parse_address("80").is_err());
        assert!(parse_address(":http").is_err());
        assert!(parse_address(":80/sctp").is_err());
    }
}

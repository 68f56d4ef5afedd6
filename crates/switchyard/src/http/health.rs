//! Active health checks (`loadBalancer.healthCheck`): one background task per server asks it,
//! every `interval` (`unhealthyInterval` while it is down), whether it is healthy, and sets its
//! status in the load balancer's [`BalancerState`]. Servers start healthy and are first checked
//! one interval after the service appears, as in Traefik.
//!
//! The check URL is the server URL resolved against `path` (an absolute path replaces the
//! server's path, a relative one is joined to it), then `scheme` and `port` applied; `hostname`
//! is sent as `Host`. HTTP mode: healthy on `status` if set, else on any 2xx or 3xx, redirects
//! followed (up to 10) unless `followRedirects: false`. gRPC mode: `grpc.health.v1.Health/Check`
//! must answer SERVING, over h2c (or TLS for `https` servers). The whole check, redirects
//! included, must finish within `timeout`. Checks go through the service's servers transport, so
//! they use its TLS settings and pools.
//!
//! Tasks belong to the [`BalancerState`]: they end when the state is dropped (the service was
//! removed or its servers or health-check settings changed), never on a plain reload.

mod probe;
mod url;

use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::Method;
use switchyard_model::config::dynamic::HealthCheck;
use tracing::{error, info, warn};

use super::service_state::{BalancerState, ServerState};
use super::upstream::UpstreamClient;
pub use url::ProbeUrl;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A load balancer's health check settings, after defaults.
#[derive(Debug)]
pub struct HealthCheckSpec {
    pub grpc: bool,
    pub scheme: Option<String>,
    pub path: String,
    pub method: Method,
    /// Expected status; `None`: any 2xx or 3xx.
    pub status: Option<u16>,
    pub port: Option<u16>,
    pub interval: Duration,
    pub unhealthy_interval: Duration,
    pub timeout: Duration,
    pub hostname: Option<HeaderValue>,
    pub follow_redirects: bool,
    pub headers: HeaderMap,
}

impl HealthCheckSpec {
    /// Validates `loadBalancer.healthCheck`; errors name the option.
    pub fn new(cfg: &HealthCheck) -> Result<Self, String> {
        let option = "loadBalancer.healthCheck";
        let method = match cfg.method.as_deref() {
            None | Some("") => Method::GET,
            Some(m) => Method::from_bytes(m.as_bytes())
                .map_err(|_| format!("{option}.method: invalid method {m:?}"))?,
        };
        let mut headers = HeaderMap::new();
        for (k, v) in &cfg.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("{option}.headers: invalid header name {k:?}"))?;
            let value = HeaderValue::from_str(v)
                .map_err(|_| format!("{option}.headers.{k}: invalid header value {v:?}"))?;
            headers.insert(name, value);
        }
        let hostname = match cfg.hostname.as_deref() {
            None | Some("") => None,
            Some(h) => Some(
                HeaderValue::from_str(h)
                    .map_err(|_| format!("{option}.hostname: invalid host {h:?}"))?,
            ),
        };
        let interval = positive(cfg.interval, DEFAULT_INTERVAL, "interval");
        let unhealthy_interval = match cfg.unhealthy_interval {
            None => interval,
            some => positive(some, DEFAULT_INTERVAL, "unhealthyInterval"),
        };
        Ok(Self {
            // Traefik checks over HTTP for any mode but exactly "grpc".
            grpc: cfg.mode.as_deref() == Some("grpc"),
            scheme: cfg.scheme.clone().filter(|s| !s.is_empty()),
            path: cfg.path.clone().unwrap_or_default(),
            method,
            status: cfg.status.filter(|&s| s != 0),
            port: cfg.port.filter(|&p| p != 0),
            interval,
            unhealthy_interval,
            timeout: positive(cfg.timeout, DEFAULT_TIMEOUT, "timeout"),
            hostname,
            follow_redirects: cfg.follow_redirects.unwrap_or(true),
            headers,
        })
    }
}

/// A configured duration, or the default (with Traefik's error log) when not positive.
fn positive(v: Option<switchyard_model::Duration>, default: Duration, key: &str) -> Duration {
    match v {
        None => default,
        Some(d) => match d.as_std().filter(|d| !d.is_zero()) {
            Some(d) => d,
            None => {
                error!("loadBalancer.healthCheck.{key} must be positive; the default ({default:?}) is used instead");
                default
            }
        },
    }
}

/// Starts one check task per server (`urls[i]` is the URL of `state.servers[i]`) and ties them
/// to `state`. Without a Tokio runtime (`check` command) nothing is started.
pub fn start(
    spec: Arc<HealthCheckSpec>,
    service: Arc<str>,
    state: &BalancerState,
    urls: &[Arc<str>],
    client: Arc<UpstreamClient>,
) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    for (server, url) in state.servers.iter().zip(urls) {
        let task = runtime.spawn(run(
            spec.clone(),
            service.clone(),
            server.clone(),
            url.clone(),
            client.clone(),
        ));
        state.own_task(task.abort_handle());
    }
}

/// One server's check loop.
async fn run(
    spec: Arc<HealthCheckSpec>,
    service: Arc<str>,
    server: Arc<ServerState>,
    url: Arc<str>,
    client: Arc<UpstreamClient>,
) {
    let mut healthy = true;
    loop {
        let wait = if healthy {
            spec.interval
        } else {
            spec.unhealthy_interval
        };
        tokio::time::sleep(wait).await;
        let outcome = match tokio::time::timeout(spec.timeout, check(&spec, &url, &client)).await {
            Ok(r) => r,
            Err(_) => Err(format!("health check timed out after {:?}", spec.timeout)),
        };
        healthy = outcome.is_ok();
        match outcome {
            Ok(()) => {
                if !server.set_up(true) {
                    info!(service = %service, target_url = %url, "Health check succeeded: server back in rotation");
                }
            }
            Err(e) => {
                warn!(service = %service, target_url = %url, error = %e, "Health check failed.");
                server.set_up(false);
            }
        }
    }
}

/// Runs one check of the server at `url`.
pub async fn check(
    spec: &HealthCheckSpec,
    url: &str,
    client: &UpstreamClient,
) -> Result<(), String> {
    let target = ProbeUrl::parse(url)?;
    if spec.grpc {
        probe::grpc(spec, &target, client).await
    } else {
        probe::http(spec, &target, client).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::upstream::TransportSettings;
    use http::{Response, StatusCode};
    use http_body_util::Full;

    /// A local server: `/redirect` → 302 to `/ok`, `/loop` → 302 to itself, `/ok` → 200,
    /// anything else → 418.
    async fn server() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(
                        |req: http::Request<hyper::body::Incoming>| async move {
                            let (status, location) = match req.uri().path() {
                                "/redirect" => (302, Some("/ok")),
                                "/loop" => (302, Some("/loop")),
                                "/ok" => (200, None),
                                _ => (418, None),
                            };
                            let mut r = Response::new(Full::new(bytes::Bytes::from_static(b"x")));
                            *r.status_mut() = StatusCode::from_u16(status).unwrap();
                            if let Some(l) = location {
                                r.headers_mut()
                                    .insert("location", HeaderValue::from_static(l));
                            }
                            Ok::<_, std::convert::Infallible>(r)
                        },
                    );
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
                });
            }
        });
        format!("http://{addr}")
    }

    fn spec(path: &str, follow: bool, status: Option<u16>) -> HealthCheckSpec {
        HealthCheckSpec::new(&HealthCheck {
            path: Some(path.into()),
            follow_redirects: Some(follow),
            status,
            ..HealthCheck::default()
        })
        .unwrap()
    }

    #[tokio::test]
    async fn redirects_and_statuses() {
        let url = server().await;
        let client = UpstreamClient::new(&TransportSettings::default()).unwrap();
        assert_eq!(check(&spec("/ok", true, None), &url, &client).await, Ok(()));
        assert_eq!(
            check(&spec("/redirect", true, Some(200)), &url, &client).await,
            Ok(())
        );
        // Not followed: the 302 itself is judged (healthy as a 3xx, unless a status is expected).
        assert_eq!(
            check(&spec("/redirect", false, None), &url, &client).await,
            Ok(())
        );
        let e = check(&spec("/redirect", false, Some(200)), &url, &client)
            .await
            .unwrap_err();
        assert!(
            e.contains("received error status code: 302 expected status code: 200"),
            "{e}"
        );
        let e = check(&spec("/loop", true, None), &url, &client)
            .await
            .unwrap_err();
        assert!(e.contains("stopped after 10 redirects"), "{e}");
        let e = check(&spec("/teapot", true, None), &url, &client)
            .await
            .unwrap_err();
        assert!(e.contains("received error status code: 418"), "{e}");
        let e = check(&spec("/ok", true, None), "http://127.0.0.1:1", &client)
            .await
            .unwrap_err();
        assert!(e.starts_with("HTTP request failed"), "{e}");
    }

    #[test]
    fn options_are_validated_and_defaulted() {
        let s = HealthCheckSpec::new(&HealthCheck::default()).unwrap();
        assert_eq!(s.interval, Duration::from_secs(30));
        assert_eq!(s.unhealthy_interval, Duration::from_secs(30));
        assert_eq!(s.timeout, Duration::from_secs(5));
        assert_eq!(s.method, Method::GET);
        assert!(s.follow_redirects && !s.grpc);
        let s = HealthCheckSpec::new(&HealthCheck {
            interval: Some(switchyard_model::Duration::from_secs(-1)),
            unhealthy_interval: Some(switchyard_model::Duration::from_secs(2)),
            mode: Some("GRPC".into()),
            ..HealthCheck::default()
        })
        .unwrap();
        assert_eq!(s.interval, Duration::from_secs(30));
        assert_eq!(s.unhealthy_interval, Duration::from_secs(2));
        assert!(
            !s.grpc,
            "only the exact \"grpc\" selects gRPC, as in Traefik"
        );
        let e = HealthCheckSpec::new(&HealthCheck {
            method: Some("GE T".into()),
            ..HealthCheck::default()
        })
        .unwrap_err();
        assert_eq!(
            e,
            "loadBalancer.healthCheck.method: invalid method \"GE T\""
        );
        let e = HealthCheckSpec::new(&HealthCheck {
            headers: [("X-A".to_owned(), "bad\nvalue".to_owned())].into(),
            ..HealthCheck::default()
        })
        .unwrap_err();
        assert!(e.starts_with("loadBalancer.healthCheck.headers.X-A"), "{e}");
    }
}

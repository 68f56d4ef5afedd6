//! Passive health checks (`loadBalancer.passiveHealthCheck`, Traefik 3.6): the outcome of every
//! proxied request counts. A response below 500 clears the server's failures; a 5xx (the
//! upstream's own, or the 502/504 the proxy writes when it cannot reach it) is a failure. Once
//! `maxFailedAttempts` failures fall within `failureWindow`, the server leaves the rotation: for
//! `failureWindow` when the service has no active health check, or until the active check next
//! finds it healthy when it has one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;
use switchyard_model::config::dynamic::PassiveHealthCheck;
use tracing::{info, warn};

use super::service_state::ServerState;

/// Traefik's defaults.
const DEFAULT_WINDOW: Duration = Duration::from_secs(10);
const DEFAULT_MAX_FAILED: u32 = 1;

/// A load balancer's passive health check settings.
#[derive(Debug, Clone)]
pub struct PassivePolicy {
    window: Duration,
    max_failed: usize,
    /// The service also has an active health check, which alone brings servers back.
    active: bool,
}

impl PassivePolicy {
    pub fn new(cfg: &PassiveHealthCheck, active: bool) -> Self {
        let window = match cfg.failure_window.and_then(|d| d.as_std()) {
            Some(d) if !d.is_zero() => d,
            None => DEFAULT_WINDOW,
            Some(_) => {
                warn!("loadBalancer.passiveHealthCheck.failureWindow must be positive; the default (10s) is used instead");
                DEFAULT_WINDOW
            }
        };
        let max_failed = cfg.max_failed_attempts.unwrap_or(DEFAULT_MAX_FAILED).max(1);
        Self {
            window,
            max_failed: max_failed as usize,
            active,
        }
    }

    /// Accounts for one response from `server` (of the load balancer `service`).
    pub fn observe(&self, service: &str, server: &Arc<ServerState>, status: StatusCode) {
        if status.as_u16() < 500 {
            server.record_success();
            return;
        }
        let failures = server.record_failure(Instant::now(), self.window);
        if failures < self.max_failed {
            return;
        }
        // Only the request that takes the server down starts its way back.
        if !server.set_up(false) {
            return;
        }
        warn!(service, server = %server.url, failures, window = ?self.window, "server marked down by the passive health check");
        if self.active {
            return;
        }
        let server = server.clone();
        let window = self.window;
        let service = service.to_owned();
        tokio::spawn(async move {
            tokio::time::sleep(window).await;
            server.set_up(true);
            info!(service, server = %server.url, "server back in rotation after the passive health check window");
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_model::Duration as ConfigDuration;

    fn policy(window_ms: i64, max: u32, active: bool) -> PassivePolicy {
        PassivePolicy::new(
            &PassiveHealthCheck {
                failure_window: Some(ConfigDuration::from_millis(window_ms)),
                max_failed_attempts: Some(max),
            },
            active,
        )
    }

    #[tokio::test]
    async fn failures_take_the_server_out_for_the_window() {
        let p = policy(200, 2, false);
        let s = Arc::new(ServerState::new("http://a"));
        p.observe("svc", &s, StatusCode::BAD_GATEWAY);
        assert!(s.is_up(), "one failure of two allowed");
        p.observe("svc", &s, StatusCode::OK);
        p.observe("svc", &s, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(s.is_up(), "a success cleared the first failure");
        p.observe("svc", &s, StatusCode::GATEWAY_TIMEOUT);
        assert!(!s.is_up());
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(s.is_up(), "back after the window");
    }

    #[tokio::test]
    async fn with_an_active_check_only_the_active_check_brings_it_back() {
        let p = policy(50, 1, true);
        let s = Arc::new(ServerState::new("http://a"));
        p.observe("svc", &s, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!s.is_up());
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(!s.is_up());
    }

    #[test]
    fn defaults() {
        let p = PassivePolicy::new(&PassiveHealthCheck::default(), false);
        assert_eq!(p.window, Duration::from_secs(10));
        assert_eq!(p.max_failed, 1);
        let p = policy(-1, 0, false);
        assert_eq!(p.window, Duration::from_secs(10));
        assert_eq!(p.max_failed, 1);
    }
}

//! `circuitBreaker`: stops sending requests to a failing service. It watches the responses in a
//! rolling window ([`metrics`]) and, when the `expression` holds (checked at most every
//! `checkPeriod`), trips: for `fallbackDuration` every request is answered on its own with
//! `responseCode` (503) and the status text, then for `recoveryDuration` a growing share of
//! requests is let through, after which the breaker is closed again (unless the expression trips
//! it meanwhile).
//!
//! The states and the recovery ramp are those of Traefik's breaker (oxy's `cbreaker`). The state
//! lives in [`MiddlewareState`](super::MiddlewareState), keyed by the middleware's name and
//! configuration, so a reload that leaves the middleware unchanged keeps it. While closed, a
//! request only reads an atomic; each response takes a short lock to be recorded.

mod expression;
mod metrics;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::{Request, Response, StatusCode};
use switchyard_model::config::dynamic::CircuitBreaker as Config;

use super::registry::{state_key, Registry};
use super::{BoxFuture, Middleware, Next};
use crate::http::body::{full, Body};
use crate::http::service::RequestCtx;
use expression::Expr;
use metrics::Metrics;

const DEFAULT_CHECK_PERIOD: Duration = Duration::from_millis(100);
const DEFAULT_FALLBACK: Duration = Duration::from_secs(10);
const DEFAULT_RECOVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
struct Timing {
    check_period: Duration,
    fallback: Duration,
    recovery: Duration,
}

#[derive(Debug)]
pub struct CircuitBreaker {
    expression: Expr,
    timing: Timing,
    response_code: StatusCode,
    state: std::sync::Arc<BreakerState>,
}

fn duration(d: Option<switchyard_model::Duration>, default: Duration) -> Duration {
    d.and_then(|d| d.as_std())
        .filter(|d| !d.is_zero())
        .unwrap_or(default)
}

impl CircuitBreaker {
    /// Builds the middleware, reusing the state `registry` holds for the same name and
    /// configuration.
    pub fn new(
        name: &str,
        cfg: &Config,
        registry: &Registry<BreakerState>,
    ) -> Result<Self, String> {
        let text = cfg.expression.as_deref().unwrap_or_default();
        let expression = expression::parse(text)
            .map_err(|e| format!("circuitBreaker.expression {text:?}: {e}"))?;
        let response_code = match cfg.response_code {
            None | Some(0) => StatusCode::SERVICE_UNAVAILABLE,
            Some(c) => StatusCode::from_u16(c)
                .map_err(|_| format!("circuitBreaker.responseCode: invalid status code {c}"))?,
        };
        let timing = Timing {
            check_period: duration(cfg.check_period, DEFAULT_CHECK_PERIOD),
            fallback: duration(cfg.fallback_duration, DEFAULT_FALLBACK),
            recovery: duration(cfg.recovery_duration, DEFAULT_RECOVERY),
        };
        let with_latency = expression.uses_latency();
        let state = registry.get_or_insert_with(state_key(name, cfg), || {
            BreakerState::new(Instant::now(), with_latency)
        });
        Ok(Self {
            expression,
            timing,
            response_code,
            state,
        })
    }

    /// What the breaker answers while open: the status and its text (Go's `StatusText`).
    fn fallback(&self) -> Response<Body> {
        let text = super::code_ranges::status_text(self.response_code);
        let mut resp = Response::new(full(text));
        *resp.status_mut() = self.response_code;
        if !text.is_empty() {
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; charset=utf-8"),
            );
        }
        resp
    }
}

impl Middleware for CircuitBreaker {
    fn call<'a>(
        &'a self,
        req: Request<Body>,
        ctx: &'a RequestCtx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Response<Body>> {
        Box::pin(async move {
            if !self.state.admit(Instant::now(), self.timing) {
                return self.fallback();
            }
            let start = Instant::now();
            let resp = next.run(req, ctx).await;
            let now = Instant::now();
            self.state.record(
                now,
                resp.status().as_u16(),
                now - start,
                &self.expression,
                self.timing,
            );
            resp
        })
    }
}

/// A breaker's state, shared by every build of the same middleware.
#[derive(Debug)]
pub struct BreakerState {
    /// Fast path: false while closed (standby).
    open: AtomicBool,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    phase: Phase,
    /// The expression is not checked again before this time.
    next_check: Instant,
    metrics: Metrics,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Standby,
    Tripped { until: Instant },
    Recovering { until: Instant, ramp: Ramp },
}

impl BreakerState {
    fn new(now: Instant, with_latency: bool) -> Self {
        Self {
            open: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                phase: Phase::Standby,
                next_check: now,
                metrics: Metrics::new(now, with_latency),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the request may go to the service.
    fn admit(&self, now: Instant, timing: Timing) -> bool {
        if !self.open.load(Ordering::Acquire) {
            return true;
        }
        let mut inner = self.lock();
        loop {
            match inner.phase {
                Phase::Standby => return true,
                Phase::Tripped { until } => {
                    if now < until {
                        return false;
                    }
                    tracing::debug!("circuitBreaker: recovering");
                    inner.phase = Phase::Recovering {
                        until: now + timing.recovery,
                        ramp: Ramp::new(now, timing.recovery),
                    };
                }
                Phase::Recovering { until, mut ramp } => {
                    if now > until {
                        tracing::debug!("circuitBreaker: closed again");
                        inner.phase = Phase::Standby;
                        self.open.store(false, Ordering::Release);
                        return true;
                    }
                    let allowed = ramp.allow(now);
                    inner.phase = Phase::Recovering { until, ramp };
                    return allowed;
                }
            }
        }
    }

    /// Records a response and trips the breaker if the expression now holds.
    fn record(&self, now: Instant, status: u16, latency: Duration, expr: &Expr, timing: Timing) {
        let mut inner = self.lock();
        inner.metrics.record(now, status, latency);
        if now < inner.next_check {
            return;
        }
        inner.next_check = now + timing.check_period;
        if matches!(inner.phase, Phase::Tripped { .. }) {
            return;
        }
        if expr.eval(inner.metrics.at(now)) {
            tracing::debug!("circuitBreaker: tripped");
            inner.phase = Phase::Tripped {
                until: now + timing.fallback,
            };
            inner.metrics.reset();
            self.open.store(true, Ordering::Release);
        }
    }
}

/// The recovery ramp: the share of requests let through grows linearly with time, as in
/// oxy's ratio controller (it reaches one in two at the end of `recoveryDuration`).
#[derive(Debug, Clone, Copy)]
struct Ramp {
    start: Instant,
    duration: Duration,
    allowed: u64,
    denied: u64,
}

impl Ramp {
    fn new(start: Instant, duration: Duration) -> Self {
        Self {
            start,
            duration,
            allowed: 0,
            denied: 0,
        }
    }

    fn allow(&mut self, now: Instant) -> bool {
        let target = 0.5 * now.saturating_duration_since(self.start).as_secs_f64()
            / self.duration.as_secs_f64().max(f64::MIN_POSITIVE);
        let ratio = (self.allowed + 1) as f64 / (self.allowed + 1 + self.denied) as f64;
        if ratio < target {
            self.allowed += 1;
            true
        } else {
            self.denied += 1;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(expr: &str) -> CircuitBreaker {
        let cfg = Config {
            expression: Some(expr.into()),
            ..Default::default()
        };
        CircuitBreaker::new("cb@file", &cfg, &Registry::default()).unwrap()
    }

    #[test]
    fn validation_names_the_expression() {
        let err = CircuitBreaker::new(
            "cb@file",
            &Config {
                expression: Some("Foo() > 1".into()),
                ..Default::default()
            },
            &Registry::default(),
        )
        .unwrap_err();
        assert!(
            err.contains("circuitBreaker.expression \"Foo() > 1\""),
            "{err}"
        );
        let err = CircuitBreaker::new(
            "cb@file",
            &Config {
                expression: Some("NetworkErrorRatio() > 0.5".into()),
                response_code: Some(42),
                ..Default::default()
            },
            &Registry::default(),
        )
        .unwrap_err();
        assert!(err.contains("circuitBreaker.responseCode"), "{err}");
    }

    #[test]
    fn trips_falls_back_recovers_and_closes() {
        let cb = breaker("NetworkErrorRatio() > 0.5");
        let (t, s) = (cb.timing, &cb.state);
        let t0 = Instant::now();
        assert!(s.admit(t0, t));
        s.record(t0, 200, Duration::ZERO, &cb.expression, t);
        s.record(t0, 502, Duration::ZERO, &cb.expression, t);
        assert!(
            s.admit(t0, t),
            "1 of 2 is not over 0.5, and checks wait for checkPeriod"
        );
        let t1 = t0 + Duration::from_millis(150);
        s.record(t1, 502, Duration::ZERO, &cb.expression, t);
        // Tripped: 2 of 3 network errors.
        assert!(!s.admit(t1, t));
        assert!(!s.admit(t1 + Duration::from_secs(9), t));
        // Recovering: the share let through grows from none to one in two.
        let r0 = t1 + Duration::from_secs(10);
        assert!(!s.admit(r0, t));
        let mut early = 0;
        for i in 0..100 {
            early += u32::from(s.admit(r0 + Duration::from_millis(1000 + i), t));
        }
        let mut late = 0;
        for i in 0..100 {
            late += u32::from(s.admit(r0 + Duration::from_millis(9000 + i), t));
        }
        // The ratio is cumulative since the recovery began (as in oxy): few requests pass
        // early, and later ones catch up with the target.
        assert!(early <= 10, "{early}");
        assert!(early < late, "{early} then {late}");
        // Closed after recoveryDuration.
        assert!(s.admit(r0 + Duration::from_secs(11), t));
        assert!(!s.open.load(Ordering::Acquire));
    }

    #[test]
    fn state_survives_an_identical_rebuild() {
        let registry = Registry::default();
        let cfg = Config {
            expression: Some("ResponseCodeRatio(500, 600, 0, 600) > 0.1".into()),
            ..Default::default()
        };
        let a = CircuitBreaker::new("cb@file", &cfg, &registry).unwrap();
        let b = CircuitBreaker::new("cb@file", &cfg, &registry).unwrap();
        assert!(std::sync::Arc::ptr_eq(&a.state, &b.state));
        let other = Config {
            response_code: Some(500),
            ..cfg.clone()
        };
        let c = CircuitBreaker::new("cb@file", &other, &registry).unwrap();
        assert!(!std::sync::Arc::ptr_eq(&a.state, &c.state));
    }

    #[test]
    fn fallback_is_the_status_text() {
        let cb = breaker("NetworkErrorRatio() > 0.5");
        let r = cb.fallback();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    }
}

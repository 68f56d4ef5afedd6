//! `retry`: sends the request again when the upstream could not be reached, and optionally when it
//! answered with one of the `status` codes, up to `attempts` times with Traefik's exponential
//! backoff. It never answers on its own, except 500 when the request body cannot be read for
//! replaying.
//!
//! As in Traefik 3.7: a network error is retried only when the request surely never left
//! (connection refused, dial timeout, TLS handshake failure: the proxy marks its error responses
//! with their [`ErrorKind`]), for every method; a response from the upstream stops the retries
//! unless its status is in `status`, which applies to idempotent methods only (all methods with
//! `retryNonIdempotentMethod`) and needs the body buffered: bodies over `maxRequestBodyBytes`
//! (2 MiB) are streamed and only network errors are retried. Once `timeout` has elapsed since the
//! first attempt, the next response goes to the client whatever it is. The attempt count is
//! recorded as [`Attempts`] in the request and response extensions.

use std::time::{Duration, Instant};

use http::{Method, Request, Response, StatusCode};
use switchyard_model::config::dynamic::Retry as Config;

use super::code_ranges::CodeRanges;
use super::replay::{self, BufferedBody, DeferredBody, ReadError};
use super::{BoxFuture, Middleware, Next};
use crate::http::body::{text_response, Body};
use crate::http::error::{ErrorKind, ProxyError};
use crate::http::service::RequestCtx;

/// Traefik's default `maxRequestBodyBytes`.
const DEFAULT_MAX_BODY: i64 = 2 * 1024 * 1024;
/// cenkalti/backoff defaults Traefik keeps: the largest wait, and the total time after which
/// no more retries are made.
const MAX_INTERVAL: Duration = Duration::from_secs(60);
const MAX_ELAPSED: Duration = Duration::from_secs(15 * 60);
const RANDOMIZATION: f64 = 0.5;

/// Which attempt a request is (1 for the first), and on a response how many were made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempts(pub u32);

#[derive(Debug)]
pub struct Retry {
    attempts: u32,
    initial_interval: Duration,
    timeout: Option<Duration>,
    /// `None`: no limit (a negative setting).
    max_body: Option<u64>,
    status: Option<CodeRanges>,
    retry_network_errors: bool,
    retry_non_idempotent: bool,
}

impl Retry {
    pub fn new(cfg: &Config) -> Result<Self, String> {
        let status = if cfg.status.is_empty() {
            None
        } else {
            Some(CodeRanges::parse(&cfg.status).map_err(|e| format!("retry.status: {e}"))?)
        };
        let disable_network = cfg.disable_retry_on_network_error.unwrap_or(false);
        if status.is_none() && disable_network {
            return Err("retry: disableRetryOnNetworkError needs at least one status in retry.status (nothing would be retried)".into());
        }
        let attempts = match cfg.attempts {
            Some(n) if n > 0 => n,
            other => {
                return Err(format!(
                    "retry.attempts: must be at least 1, got {}",
                    other.unwrap_or(0)
                ))
            }
        };
        let max_body = cfg.max_request_body_bytes.unwrap_or(DEFAULT_MAX_BODY);
        Ok(Self {
            attempts,
            initial_interval: positive(cfg.initial_interval).unwrap_or(Duration::ZERO),
            timeout: positive(cfg.timeout),
            max_body: u64::try_from(max_body).ok(),
            status,
            retry_network_errors: !disable_network,
            retry_non_idempotent: cfg.retry_non_idempotent_method.unwrap_or(false),
        })
    }
}

fn positive(d: Option<switchyard_model::Duration>) -> Option<Duration> {
    d.and_then(|d| d.as_std()).filter(|d| !d.is_zero())
}

/// Whether the response is the proxy's answer to an upstream that was never reached.
pub fn is_unsent_network_error(resp: &Response<Body>) -> bool {
    resp.extensions()
        .get::<ErrorKind>()
        .is_some_and(|k| ProxyError::new(*k, String::new()).retry_safe())
}

fn idempotent(method: &Method) -> bool {
    !(method == Method::POST || method == Method::PATCH || method.as_str() == "LOCK")
}

/// Where each attempt's body comes from.
enum Source {
    /// No body: nothing to keep.
    Empty,
    /// Read into memory: every attempt gets the same bytes.
    Buffered(BufferedBody),
    /// Streamed: only an attempt that never read it can be followed by another.
    Deferred(DeferredBody),
}

impl Source {
    fn body(&self) -> Body {
        match self {
            Source::Empty => crate::http::body::empty(),
            Source::Buffered(b) => b.body(),
            Source::Deferred(d) => d.attempt(),
        }
    }

    fn replayable(&self) -> bool {
        match self {
            Source::Empty | Source::Buffered(_) => true,
            Source::Deferred(d) => d.untouched(),
        }
    }
}

impl Middleware for Retry {
    fn call<'a>(
        &'a self,
        req: Request<Body>,
        ctx: &'a RequestCtx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Response<Body>> {
        Box::pin(async move {
            if self.attempts == 1 {
                return next.run(req, ctx).await;
            }
            let (parts, body) = req.into_parts();
            let mut status = self
                .status
                .as_ref()
                .filter(|_| self.retry_non_idempotent || idempotent(&parts.method));
            let source = if hyper::body::Body::is_end_stream(&body) {
                Source::Empty
            } else if status.is_some() {
                match replay::read_limited(body, self.max_body).await {
                    Ok(buffered) => Source::Buffered(buffered),
                    Err(ReadError::TooLarge { read, rest }) => {
                        // Too large to replay: only network errors (nothing sent) are retried.
                        status = None;
                        Source::Deferred(DeferredBody::new(replay::prepend(read, rest)))
                    }
                    Err(ReadError::Body(e)) => {
                        tracing::debug!(error = %e, "retry: cannot read the request body");
                        return text_response(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "Internal Server Error\n",
                        );
                    }
                }
            } else {
                Source::Deferred(DeferredBody::new(body))
            };

            let start = Instant::now();
            let mut backoff = Backoff::new(self.initial_interval, self.attempts);
            let mut attempt = 1;
            loop {
                let mut req = Request::from_parts(parts.clone(), source.body());
                req.extensions_mut().insert(Attempts(attempt));
                let mut resp = next.run(req, ctx).await;
                resp.extensions_mut().insert(Attempts(attempt));
                if attempt >= self.attempts {
                    return resp;
                }
                let timed_out = self.timeout.is_some_and(|t| start.elapsed() >= t);
                let network = self.retry_network_errors
                    && is_unsent_network_error(&resp)
                    && source.replayable();
                let status_retry = status.is_some_and(|s| s.contains(resp.status().as_u16()))
                    && source.replayable();
                if timed_out || !(network || status_retry) {
                    return resp;
                }
                let Some(wait) = backoff.next(start.elapsed()) else {
                    return resp;
                };
                drop(resp);
                attempt += 1;
                if let Some(trail) = parts
                    .extensions
                    .get::<std::sync::Arc<crate::observe::record::Trail>>()
                {
                    trail.with(|t| t.retry_attempts = attempt - 1);
                }
                tracing::debug!(attempt, uri = %parts.uri, "retry: new attempt");
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
            }
        })
    }
}

/// Traefik's backoff: cenkalti/backoff's exponential backoff starting at `initialInterval`, its
/// multiplier chosen so that the wait reaches twice the initial interval at the last attempt,
/// each wait randomized by ±50%.
#[derive(Debug)]
struct Backoff {
    /// Current interval in nanoseconds; 0: retry at once.
    current: f64,
    multiplier: f64,
}

impl Backoff {
    fn new(initial: Duration, attempts: u32) -> Self {
        if attempts < 2 || initial.is_zero() {
            return Self {
                current: 0.0,
                multiplier: 1.0,
            };
        }
        Self {
            current: initial.as_nanos() as f64,
            multiplier: 2f64.powf(1.0 / f64::from(attempts - 1)),
        }
    }

    /// The wait before the next attempt, or `None` once the retries have run for 15 minutes.
    fn next(&mut self, elapsed: Duration) -> Option<Duration> {
        if self.current == 0.0 {
            return Some(Duration::ZERO);
        }
        let delta = RANDOMIZATION * self.current;
        let (min, max) = (self.current - delta, self.current + delta);
        let wait = Duration::from_nanos((min + random_unit() * (max - min + 1.0)) as u64);
        let cap = MAX_INTERVAL.as_nanos() as f64;
        self.current = if self.current >= cap / self.multiplier {
            cap
        } else {
            self.current * self.multiplier
        };
        (elapsed + wait <= MAX_ELAPSED).then_some(wait)
    }
}

/// A number in [0, 1) good enough for jitter, without a random number generator dependency:
/// std's hasher keys are random per process and change on every `RandomState`.
fn random_unit() -> f64 {
    use std::hash::BuildHasher;
    let bits = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(attempts: u32) -> Config {
        Config {
            attempts: Some(attempts),
            ..Default::default()
        }
    }

    #[test]
    fn validation_names_the_option() {
        let err = Retry::new(&Config::default()).unwrap_err();
        assert!(err.contains("retry.attempts"), "{err}");
        let err = Retry::new(&Config {
            disable_retry_on_network_error: Some(true),
            ..cfg(3)
        })
        .unwrap_err();
        assert!(err.contains("disableRetryOnNetworkError"), "{err}");
        let err = Retry::new(&Config {
            status: vec!["5xx".into()],
            ..cfg(3)
        })
        .unwrap_err();
        assert!(err.contains("retry.status"), "{err}");
    }

    #[test]
    fn defaults() {
        let r = Retry::new(&cfg(3)).unwrap();
        assert_eq!(r.max_body, Some(2 * 1024 * 1024));
        assert!(r.retry_network_errors);
        assert!(r.status.is_none());
        assert_eq!(r.initial_interval, Duration::ZERO);
        let r = Retry::new(&Config {
            max_request_body_bytes: Some(-1),
            ..cfg(3)
        })
        .unwrap();
        assert_eq!(r.max_body, None);
    }

    #[test]
    fn only_post_patch_lock_are_non_idempotent() {
        assert!(!idempotent(&Method::POST));
        assert!(!idempotent(&Method::PATCH));
        assert!(!idempotent(&Method::from_bytes(b"LOCK").unwrap()));
        for m in [Method::GET, Method::PUT, Method::DELETE, Method::HEAD] {
            assert!(idempotent(&m), "{m}");
        }
    }

    #[test]
    fn backoff_grows_to_twice_the_initial_interval() {
        let initial = Duration::from_millis(100);
        let mut b = Backoff::new(initial, 5);
        let mut centers = Vec::new();
        for _ in 0..4 {
            centers.push(b.current);
            let wait = b.next(Duration::ZERO).unwrap();
            let c = *centers.last().unwrap();
            let nanos = wait.as_nanos() as f64;
            assert!(
                nanos >= c * 0.5 && nanos <= c * 1.5 + 1.0,
                "{wait:?} around {c}"
            );
        }
        let last = b.current / initial.as_nanos() as f64;
        assert!((last - 2.0).abs() < 1e-9, "{last}");
        assert!((centers[0] - 1e8).abs() < 1.0);
        // Zero interval: immediate retries; and no retries after 15 minutes.
        assert_eq!(
            Backoff::new(Duration::ZERO, 3).next(Duration::ZERO),
            Some(Duration::ZERO)
        );
        assert_eq!(Backoff::new(initial, 3).next(MAX_ELAPSED), None);
    }
}

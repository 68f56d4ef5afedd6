//! `rateLimit`: a token bucket per source (see [`super::source`]; default the peer address) that
//! refills at `average` per `period` (default 1 s) and holds `burst` tokens (default 1). A
//! request without a token is delayed when one will be there within a small `maxDelay` (half the
//! refill interval, capped at 500 ms below 1 request/s — Traefik's rule); otherwise it is answered
//! on its own with 429, `Retry-After` (whole seconds, rounded up) and `X-Retry-In` (Go duration).
//! `average: 0` disables limiting.
//!
//! The buckets live in [`super::MiddlewareState`], keyed by the middleware's qualified name and
//! configuration, so a reload that leaves the middleware unchanged does not reset anyone's limit.
//! With `redis`, the buckets live in Redis instead and every replica sharing it enforces one
//! limit together (see [`redis`]); a request Redis cannot decide is answered 500.

mod pool;
mod redis;
mod resp;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, RETRY_AFTER};
use http::{Request, Response, StatusCode};
use switchyard_model::config::dynamic::RateLimit as Config;
use switchyard_model::Duration as GoDuration;
use tracing::debug;

use self::redis::{RedisBuckets, RedisSettings, ScriptArgs};
use super::source::SourceCriterion;
use super::{BoxFuture, Middleware, Next};
use crate::http::body::{full, text_response, Body};
use crate::http::service::RequestCtx;

const X_RETRY_IN: HeaderName = HeaderName::from_static("x-retry-in");
/// Sources tracked at most; beyond it the least recently seen bucket is forgotten (Traefik's
/// bound too).
const MAX_SOURCES: usize = 65_536;
/// How often buckets that have refilled completely are dropped.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// The buckets of one rate limiter, by source key; or, with `redis`, its Redis connections.
#[derive(Debug)]
pub struct RateLimitBuckets {
    inner: Mutex<Buckets>,
    redis: OnceLock<Arc<RedisBuckets>>,
}

impl Default for RateLimitBuckets {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Buckets {
                map: HashMap::new(),
                last_sweep: Instant::now(),
            }),
            redis: OnceLock::new(),
        }
    }
}

#[derive(Debug)]
struct Buckets {
    map: HashMap<String, Bucket>,
    last_sweep: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// May go negative: delayed requests take tokens that have not arrived yet.
    tokens: f64,
    last: Instant,
}

/// The refill rule of a limiter.
#[derive(Debug, Clone, Copy)]
struct Rate {
    per_sec: f64,
    burst: f64,
    max_delay: Duration,
}

impl Rate {
    fn tokens_at(&self, bucket: &Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        (bucket.tokens + elapsed * self.per_sec).min(self.burst)
    }

    fn refilled(&self, bucket: &Bucket, now: Instant) -> bool {
        self.tokens_at(bucket, now) >= self.burst
    }
}

impl RateLimitBuckets {
    /// Takes a token for `key`: `Ok(delay)` to serve after `delay`, or `Err(wait)` when the next
    /// token is further away than the rate's `max_delay` (nothing is taken then).
    fn take(&self, key: String, rate: &Rate, now: Instant) -> Result<Duration, Duration> {
        let mut guard = match self.inner.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let buckets = &mut *guard;
        if now.saturating_duration_since(buckets.last_sweep) >= SWEEP_EVERY {
            buckets.map.retain(|_, b| !rate.refilled(b, now));
            buckets.last_sweep = now;
        }
        if buckets.map.len() >= MAX_SOURCES && !buckets.map.contains_key(&key) {
            buckets.map.retain(|_, b| !rate.refilled(b, now));
            if buckets.map.len() >= MAX_SOURCES {
                let oldest = buckets
                    .map
                    .iter()
                    .min_by_key(|(_, b)| b.last)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    buckets.map.remove(&oldest);
                }
            }
        }
        let bucket = buckets.map.entry(key).or_insert(Bucket {
            tokens: rate.burst,
            last: now,
        });
        let tokens = rate.tokens_at(bucket, now);
        let after = tokens - 1.0;
        let wait = if after < 0.0 {
            Duration::try_from_secs_f64(-after / rate.per_sec).unwrap_or(Duration::MAX)
        } else {
            Duration::ZERO
        };
        bucket.last = now;
        if wait > rate.max_delay {
            bucket.tokens = tokens;
            return Err(wait);
        }
        bucket.tokens = after;
        Ok(wait)
    }
}

#[derive(Debug)]
pub struct RateLimit {
    /// `None`: no limit (`average: 0`).
    rate: Option<Rate>,
    source: SourceCriterion,
    buckets: Arc<RateLimitBuckets>,
    /// With `redis` (and a limit): where the buckets are.
    redis: Option<SharedBuckets>,
}

/// The Redis side of a limiter and what it sends with every request.
#[derive(Debug)]
struct SharedBuckets {
    /// The qualified middleware name, for logs.
    name: String,
    redis: Arc<RedisBuckets>,
    args: ScriptArgs,
}

impl RateLimit {
    /// Builds the middleware `name` (qualified, `name@provider`: part of the Redis keys) on
    /// `buckets` (from [`super::MiddlewareState`]).
    pub fn new(name: &str, cfg: &Config, buckets: Arc<RateLimitBuckets>) -> Result<Self, String> {
        let redis_settings = cfg.redis.as_ref().map(RedisSettings::parse).transpose()?;
        let source =
            SourceCriterion::new(cfg.source_criterion.as_ref(), "rateLimit.sourceCriterion")?;
        let period = cfg.period.unwrap_or(GoDuration::ZERO);
        if period.is_negative() {
            return Err(format!(
                "rateLimit.period: negative value not valid: {period}"
            ));
        }
        let period_nanos = if period.is_zero() {
            1e9
        } else {
            period.as_nanos() as f64
        };
        let average = cfg.average.unwrap_or(0);
        let rate = (average > 0).then(|| {
            let per_sec = average as f64 * 1e9 / period_nanos;
            Rate {
                per_sec,
                burst: cfg.burst.unwrap_or(1).max(1) as f64,
                max_delay: max_delay(per_sec),
            }
        });
        let redis = match (redis_settings, &rate) {
            (Some(settings), Some(rate)) => Some(SharedBuckets {
                name: name.to_owned(),
                redis: buckets
                    .redis
                    .get_or_init(|| Arc::new(RedisBuckets::new(settings)))
                    .clone(),
                args: ScriptArgs::new(name, rate),
            }),
            _ => None,
        };
        Ok(Self {
            rate,
            source,
            buckets,
            redis,
        })
    }
}

/// Traefik's tolerance: half the interval between two tokens, or 500 ms below 1 token/s.
fn max_delay(per_sec: f64) -> Duration {
    if per_sec < 1.0 {
        return Duration::from_millis(500);
    }
    let whole = per_sec as u64; // Go's time.Duration(rate) truncates too
    Duration::from_nanos(1_000_000_000 / whole.saturating_mul(2))
}

/// 429 with `Retry-After` (seconds, rounded up) and `X-Retry-In` (Go's duration format).
fn too_many_requests(wait: Duration) -> Response<Body> {
    const TEXT: &str = "Too Many Requests";
    let mut resp = Response::new(full(Bytes::from_static(TEXT.as_bytes())));
    *resp.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    let headers = resp.headers_mut();
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    headers.insert(RETRY_AFTER, HeaderValue::from(secs));
    let nanos = i64::try_from(wait.as_nanos()).unwrap_or(i64::MAX);
    if let Ok(v) = HeaderValue::from_str(&GoDuration::from_nanos(nanos).to_string()) {
        headers.insert(X_RETRY_IN, v);
    }
    headers.insert(CONTENT_LENGTH, HeaderValue::from(TEXT.len()));
    resp
}

/// Traefik's answer when Redis could not decide.
fn bucket_error() -> Response<Body> {
    text_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Could not insert/update bucket\n",
    )
}

impl Middleware for RateLimit {
    fn call<'a>(
        &'a self,
        req: Request<Body>,
        ctx: &'a RequestCtx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Response<Body>> {
        Box::pin(async move {
            let Some(rate) = &self.rate else {
                return next.run(req, ctx).await;
            };
            let key = self.source.key(&req, ctx.peer);
            let decision = match &self.redis {
                None => self.buckets.take(key, rate, Instant::now()),
                Some(shared) => match shared.redis.take(&shared.args, &key).await {
                    Ok(decision) => {
                        shared.redis.succeeded(&shared.name);
                        decision
                    }
                    Err(e) => {
                        shared.redis.failed(&shared.name, &e);
                        return bucket_error();
                    }
                },
            };
            match decision {
                Ok(delay) => {
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    next.run(req, ctx).await
                }
                Err(wait) => {
                    debug!(retry_in = ?wait, "rate limit exceeded");
                    too_many_requests(wait)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(average: i64, period_ms: i64, burst: i64) -> Rate {
        let cfg = Config {
            average: Some(average),
            period: Some(GoDuration::from_millis(period_ms)),
            burst: Some(burst),
            ..Config::default()
        };
        RateLimit::new("t@file", &cfg, Arc::default())
            .unwrap()
            .rate
            .unwrap()
    }

    #[test]
    fn max_delay_follows_traefik() {
        assert_eq!(max_delay(100.0), Duration::from_millis(5));
        assert_eq!(max_delay(1.0), Duration::from_millis(500));
        assert_eq!(max_delay(10.0), Duration::from_millis(50));
        assert_eq!(max_delay(0.1), Duration::from_millis(500));
        assert_eq!(
            max_delay(2.9),
            Duration::from_millis(250),
            "the rate is truncated"
        );
    }

    #[test]
    fn burst_then_refill() {
        // 1 per 10 s, burst 2.
        let r = rate(1, 10_000, 2);
        let b = RateLimitBuckets::default();
        let t0 = Instant::now();
        assert_eq!(b.take("a".into(), &r, t0), Ok(Duration::ZERO));
        assert_eq!(b.take("a".into(), &r, t0), Ok(Duration::ZERO));
        let wait = b.take("a".into(), &r, t0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(10));
        // Other sources have their own bucket.
        assert_eq!(b.take("b".into(), &r, t0), Ok(Duration::ZERO));
        // A rejected request takes nothing: 6 s later the wait is 4 s.
        let wait = b
            .take("a".into(), &r, t0 + Duration::from_secs(6))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(4));
        assert_eq!(
            b.take("a".into(), &r, t0 + Duration::from_secs(10)),
            Ok(Duration::ZERO)
        );
    }

    #[test]
    fn short_waits_are_delays() {
        // 10/s: a token every 100 ms, max delay 50 ms.
        let r = rate(10, 1000, 1);
        let b = RateLimitBuckets::default();
        let t0 = Instant::now();
        assert_eq!(b.take("a".into(), &r, t0), Ok(Duration::ZERO));
        let delay = b
            .take("a".into(), &r, t0 + Duration::from_millis(60))
            .unwrap();
        assert!(
            delay > Duration::from_millis(39) && delay <= Duration::from_millis(40),
            "{delay:?}"
        );
        // The delayed request took the next token: the one after waits ~100 ms more.
        let wait = b
            .take("a".into(), &r, t0 + Duration::from_millis(60))
            .unwrap_err();
        assert!(wait > Duration::from_millis(139), "{wait:?}");
    }

    #[test]
    fn options_are_validated_and_defaulted() {
        let unlimited = RateLimit::new("t@file", &Config::default(), Arc::default()).unwrap();
        assert!(unlimited.rate.is_none(), "average 0 disables the limit");
        let negative = Config {
            average: Some(-1),
            ..Config::default()
        };
        assert!(RateLimit::new("t@file", &negative, Arc::default())
            .unwrap()
            .rate
            .is_none());
        let bad_period = Config {
            average: Some(1),
            period: Some(GoDuration::from_secs(-1)),
            ..Config::default()
        };
        let err = RateLimit::new("t@file", &bad_period, Arc::default()).unwrap_err();
        assert!(err.starts_with("rateLimit.period"), "{err}");
        let redis = Config {
            average: Some(1),
            redis: Some(Default::default()),
            ..Config::default()
        };
        let built = RateLimit::new("t@file", &redis, Arc::default()).unwrap();
        assert!(built.redis.is_some(), "redis: {{}} means localhost:6379");
        let bad_redis = Config {
            average: Some(1),
            redis: Some(switchyard_model::config::dynamic::RateLimitRedis {
                endpoints: vec!["nope".into()],
                ..Default::default()
            }),
            ..Config::default()
        };
        let err = RateLimit::new("t@file", &bad_redis, Arc::default()).unwrap_err();
        assert!(err.starts_with("rateLimit.redis.endpoints[0]: "), "{err}");
        let unlimited = Config {
            redis: bad_redis.redis.clone(),
            average: Some(0),
            ..Config::default()
        };
        assert!(
            RateLimit::new("t@file", &unlimited, Arc::default()).is_err(),
            "the section is validated even without a limit"
        );
        let r = rate(5, 0, 0);
        assert_eq!(r.per_sec, 5.0, "period defaults to 1s");
        assert_eq!(r.burst, 1.0, "burst defaults to 1");
    }

    #[test]
    fn rejection_headers() {
        let resp = too_many_requests(Duration::from_millis(1_500));
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers()["retry-after"], "2");
        assert_eq!(resp.headers()["x-retry-in"], "1.5s");
        let resp = too_many_requests(Duration::from_secs(10));
        assert_eq!(resp.headers()["retry-after"], "10");
        assert_eq!(resp.headers()["x-retry-in"], "10s");
    }

    #[test]
    fn full_table_forgets_the_oldest_source() {
        let r = rate(1, 60_000, 1);
        let b = RateLimitBuckets::default();
        let t0 = Instant::now();
        for i in 0..MAX_SOURCES {
            assert!(b.take(i.to_string(), &r, t0).is_ok());
        }
        assert!(b
            .take("new".into(), &r, t0 + Duration::from_millis(1))
            .is_ok());
        assert!(b.inner.lock().unwrap().map.len() <= MAX_SOURCES);
    }
}

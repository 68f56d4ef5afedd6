//! The Redis-backed mode of `rateLimit` (`redis`): every replica that shares the Redis takes its
//! tokens from the same bucket, so the limit holds for the fleet, not per process.
//!
//! A bucket is the hash `rate:<middleware@provider>:<source>` with `last` (microseconds) and
//! `tokens` — the key and fields Traefik uses, so Traefik and Switchyard replicas can share a
//! limit during a migration. One Lua script (run with `EVALSHA`, loaded with `EVAL` on
//! `NOSCRIPT`) refills, takes a token or refuses, stores the bucket and sets its expiry, all in
//! one atomic step. The script reads the clock of Redis (`TIME`), not the replica's, so replicas
//! whose clocks disagree still refill the bucket at the configured rate.
//!
//! The bucket expires once it would be full again (`(burst + 1) / rate` + 1 s), so an idle key
//! disappears without ever granting more than the configured burst. (Traefik expires it after
//! one refill interval, which hands a full burst to a source idle for that long.)
//!
//! When Redis cannot answer — unreachable, too slow for the timeouts, an error reply — the
//! request is answered 500 `Could not insert/update bucket`, as Traefik does (it fails closed:
//! the limit is never silently lifted). The wait is bounded by `dialTimeout`, `writeTimeout`
//! and `readTimeout` (and the pool wait). The first failure of an outage is logged at ERROR,
//! then at most one line every 10 s per middleware, and the recovery once at INFO.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};
use switchyard_model::config::dynamic::RateLimitRedis;
use switchyard_model::Duration as GoDuration;
use tracing::{error, info};

use super::pool::{PoolLimits, RedisPool};
use super::resp::{tls_connector, ConnSettings, Endpoint, Reply, RespError};
use super::Rate;

/// The token bucket, atomically. KEYS[1]: the bucket. ARGV: refill rate (tokens per
/// microsecond), burst, expiry (seconds), longest acceptable delay (microseconds).
/// Returns {1 when the request goes (after the delay) or 0 when refused, the delay or the
/// wait in whole microseconds, rounded up}. A refused request takes nothing.
const SCRIPT: &str = r#"
if redis.replicate_commands then pcall(redis.replicate_commands) end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_delay = tonumber(ARGV[4])
local saved = redis.call('HMGET', KEYS[1], 'last', 'tokens')
local last, tokens = tonumber(saved[1]), tonumber(saved[2])
local available = burst
if last and tokens then
  available = math.min(burst, tokens + math.max(0, now - last) * rate)
end
local left = available - 1
local wait = 0
if left < 0 then wait = -left / rate end
local go = wait <= max_delay
if not go then left = available end
redis.call('HSET', KEYS[1], 'last', now, 'tokens', left)
redis.call('EXPIRE', KEYS[1], ARGV[3])
if go then return {1, math.ceil(wait)} end
return {0, math.ceil(wait)}
"#;

/// Failures logged at most this often per middleware.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The validated `rateLimit.redis` section.
#[derive(Debug)]
pub(super) struct RedisSettings {
    endpoints: Vec<Endpoint>,
    conn: ConnSettings,
    limits: PoolLimits,
}

impl RedisSettings {
    /// Validates the section; errors name the option (`rateLimit.redis.db: ...`).
    pub(super) fn parse(cfg: &RateLimitRedis) -> Result<Self, String> {
        const AT: &str = "rateLimit.redis";
        let raw: Vec<&str> = if cfg.endpoints.is_empty() {
            vec!["localhost:6379"]
        } else {
            cfg.endpoints.iter().map(String::as_str).collect()
        };
        let tls = cfg.tls.as_ref().map(tls_connector).transpose()?;
        let mut endpoints = Vec::with_capacity(raw.len());
        for (i, e) in raw.iter().enumerate() {
            let endpoint = Endpoint::parse(e).map_err(|m| format!("{AT}.endpoints[{i}]: {m}"))?;
            if tls.is_some()
                && rustls::pki_types::ServerName::try_from(endpoint.host.as_str()).is_err()
            {
                return Err(format!(
                    "{AT}.endpoints[{i}]: {e:?} is not a valid TLS server name"
                ));
            }
            endpoints.push(endpoint);
        }
        let non_empty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        let db = match cfg.db.unwrap_or(0) {
            db if db < 0 => return Err(format!("{AT}.db: must be 0 or more, got {db}")),
            db => u32::try_from(db).map_err(|_| format!("{AT}.db: {db} is too large"))?,
        };
        let count = |v: Option<i64>, name: &str| -> Result<usize, String> {
            match v.unwrap_or(0) {
                n if n < 0 => Err(format!("{AT}.{name}: must be 0 or more, got {n}")),
                n => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
            }
        };
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let pool_size = match count(cfg.pool_size, "poolSize")? {
            0 => 10 * cpus,
            n => n,
        };
        let min_idle = count(cfg.min_idle_conns, "minIdleConns")?;
        let max_active = count(cfg.max_active_conns, "maxActiveConns")?;
        let read_timeout = io_timeout(cfg.read_timeout, 3);
        let dial_timeout = match cfg.dial_timeout {
            Some(d) if d.is_negative() => {
                return Err(format!("{AT}.dialTimeout: negative value not valid: {d}"))
            }
            d => io_timeout(d, 5),
        };
        Ok(Self {
            endpoints,
            conn: ConnSettings {
                tls,
                username: non_empty(&cfg.username),
                password: non_empty(&cfg.password),
                db,
                dial_timeout,
                read_timeout,
                write_timeout: io_timeout(cfg.write_timeout, 3),
            },
            limits: PoolLimits {
                in_use: if max_active > 0 {
                    pool_size.min(max_active)
                } else {
                    pool_size
                },
                max_idle: pool_size,
                min_idle,
                wait: read_timeout.map(|t| t + Duration::from_secs(1)),
            },
        })
    }
}

/// go-redis' reading of a timeout: unset or 0 is the default, a negative value is no timeout.
fn io_timeout(v: Option<GoDuration>, default_secs: u64) -> Option<Duration> {
    match v {
        None => Some(Duration::from_secs(default_secs)),
        Some(d) if d.is_zero() => Some(Duration::from_secs(default_secs)),
        Some(d) if d.is_negative() => None,
        Some(d) => Some(Duration::from_nanos(
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
        )),
    }
}

/// The fixed arguments of one limiter's script calls, formatted once.
#[derive(Debug, Clone)]
pub(super) struct ScriptArgs {
    key_prefix: String,
    per_micro: String,
    burst: String,
    ttl_secs: String,
    max_delay_micros: String,
}

impl ScriptArgs {
    pub(super) fn new(middleware: &str, rate: &Rate) -> Self {
        Self {
            key_prefix: format!("rate:{middleware}:"),
            per_micro: format!("{}", rate.per_sec / 1e6),
            burst: format!("{}", rate.burst),
            ttl_secs: ttl_secs(rate).to_string(),
            max_delay_micros: rate.max_delay.as_micros().to_string(),
        }
    }
}

/// Seconds until a bucket is full again from its lowest level (delays can take it to -1), plus
/// one: an expired bucket is then the same as a full one.
fn ttl_secs(rate: &Rate) -> u64 {
    const MAX: f64 = 10.0 * 365.0 * 86_400.0;
    let secs = ((rate.burst + 1.0) / rate.per_sec).ceil();
    if secs.is_finite() {
        secs.clamp(0.0, MAX) as u64 + 1
    } else {
        MAX as u64 + 1
    }
}

/// The Redis side of one rate limiter: its connection pool and its failure log. It outlives
/// reloads that leave the middleware unchanged (it lives in [`super::RateLimitBuckets`]).
#[derive(Debug)]
pub(super) struct RedisBuckets {
    pool: Arc<RedisPool>,
    sha: String,
    log: FailureLog,
}

impl RedisBuckets {
    pub(super) fn new(settings: RedisSettings) -> Self {
        Self {
            pool: Arc::new(RedisPool::new(
                settings.endpoints,
                settings.conn,
                settings.limits,
            )),
            sha: hex(&Sha1::digest(SCRIPT.as_bytes())),
            log: FailureLog::new(),
        }
    }

    /// Takes a token for `source`: `Ok(Ok(delay))` to serve after `delay`, `Ok(Err(wait))` to
    /// refuse, `Err` when Redis could not decide.
    pub(super) async fn take(
        &self,
        args: &ScriptArgs,
        source: &str,
    ) -> Result<Result<Duration, Duration>, RespError> {
        let mut key = String::with_capacity(args.key_prefix.len() + source.len());
        key.push_str(&args.key_prefix);
        key.push_str(source);
        let mut cmd: [&[u8]; 8] = [
            b"EVALSHA",
            self.sha.as_bytes(),
            b"1",
            key.as_bytes(),
            args.per_micro.as_bytes(),
            args.burst.as_bytes(),
            args.ttl_secs.as_bytes(),
            args.max_delay_micros.as_bytes(),
        ];
        let reply = match self.pool.run(&cmd).await {
            Err(e)
                if e.server_message()
                    .is_some_and(|m| m.starts_with("NOSCRIPT")) =>
            {
                // First use on this Redis (or after SCRIPT FLUSH): EVAL also caches the script.
                cmd[0] = b"EVAL";
                cmd[1] = SCRIPT.as_bytes();
                self.pool.run(&cmd).await?
            }
            other => other?,
        };
        decision(&reply).ok_or_else(|| RespError::Protocol {
            endpoint: "Redis".into(),
            message: format!("rate-limit script returned {reply:?}"),
        })
    }

    /// Records a failed decision (logged at most every [`LOG_EVERY`]).
    pub(super) fn failed(&self, middleware: &str, e: &RespError) {
        self.log.failed(middleware, e);
    }

    /// Records a successful decision (logs recovery after failures).
    pub(super) fn succeeded(&self, middleware: &str) {
        self.log.succeeded(middleware);
    }
}

/// `{go, microseconds}` from the script.
fn decision(reply: &Reply) -> Option<Result<Duration, Duration>> {
    let Reply::Array(Some(items)) = reply else {
        return None;
    };
    let [Reply::Int(go), Reply::Int(micros)] = items.as_slice() else {
        return None;
    };
    let wait = Duration::from_micros(u64::try_from(*micros).unwrap_or(0));
    match go {
        1 => Some(Ok(wait)),
        0 => Some(Err(wait)),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Logs Redis failures without flooding: the first failure of an outage, then at most one every
/// [`LOG_EVERY`], each with the number of requests refused so far; and one line when Redis
/// answers again. A success costs one atomic load.
#[derive(Debug)]
struct FailureLog {
    start: Instant,
    /// Milliseconds since `start` of the last logged failure.
    last_logged: AtomicU64,
    /// Requests answered 500 since the last success.
    failed: AtomicU64,
}

impl FailureLog {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_logged: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    fn failed(&self, middleware: &str, e: &RespError) {
        let failed = self.failed.fetch_add(1, Ordering::Relaxed) + 1;
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.last_logged.load(Ordering::Relaxed);
        let due = failed == 1 || now.saturating_sub(last) >= LOG_EVERY.as_millis() as u64;
        if due
            && self
                .last_logged
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            error!(
                middleware,
                error = %e,
                failed_requests = failed,
                "rateLimit: could not insert/update the bucket in Redis; answering 500"
            );
        }
    }

    fn succeeded(&self, middleware: &str) {
        if self.failed.load(Ordering::Relaxed) > 0 {
            let failed = self.failed.swap(0, Ordering::Relaxed);
            if failed > 0 {
                info!(
                    middleware,
                    failed_requests = failed,
                    "rateLimit: Redis answers again"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(f: impl FnOnce(&mut RateLimitRedis)) -> Result<RedisSettings, String> {
        let mut c = RateLimitRedis::default();
        f(&mut c);
        RedisSettings::parse(&c)
    }

    #[test]
    fn defaults_follow_traefik() {
        let s = cfg(|_| {}).unwrap();
        assert_eq!(
            s.endpoints,
            vec![Endpoint::parse("localhost:6379").unwrap()]
        );
        assert_eq!(s.conn.read_timeout, Some(Duration::from_secs(3)));
        assert_eq!(s.conn.write_timeout, Some(Duration::from_secs(3)));
        assert_eq!(s.conn.dial_timeout, Some(Duration::from_secs(5)));
        assert_eq!(s.conn.db, 0);
        assert!(s.conn.tls.is_none() && s.conn.username.is_none() && s.conn.password.is_none());
        assert!(s.limits.in_use >= 10 && s.limits.in_use == s.limits.max_idle);
        assert_eq!(s.limits.min_idle, 0);
        assert_eq!(s.limits.wait, Some(Duration::from_secs(4)));
    }

    #[test]
    fn options_are_honoured() {
        let s = cfg(|c| {
            c.endpoints = vec!["a:1".into(), "[::1]:2".into()];
            c.username = Some("u".into());
            c.password = Some("p".into());
            c.db = Some(3);
            c.pool_size = Some(8);
            c.min_idle_conns = Some(2);
            c.max_active_conns = Some(4);
            c.read_timeout = Some(GoDuration::from_millis(250));
            c.write_timeout = Some(GoDuration::from_secs(-1));
            c.dial_timeout = Some(GoDuration::from_millis(100));
        })
        .unwrap();
        assert_eq!(s.endpoints.len(), 2);
        assert_eq!(s.conn.username.as_deref(), Some("u"));
        assert_eq!(s.conn.password.as_deref(), Some("p"));
        assert_eq!(s.conn.db, 3);
        assert_eq!(
            s.limits,
            PoolLimits {
                in_use: 4,
                max_idle: 8,
                min_idle: 2,
                wait: Some(Duration::from_millis(1250)),
            }
        );
        assert_eq!(s.conn.read_timeout, Some(Duration::from_millis(250)));
        assert_eq!(s.conn.write_timeout, None, "negative: no timeout");
        assert_eq!(s.conn.dial_timeout, Some(Duration::from_millis(100)));
        assert!(
            !format!("{s:?}").contains("\"p\""),
            "the password is not logged"
        );
    }

    type Edit = Box<dyn FnOnce(&mut RateLimitRedis)>;

    #[test]
    fn errors_name_the_option() {
        let cases: [(&str, Edit); 6] = [
            (
                "rateLimit.redis.endpoints[1]: \"nope\"",
                Box::new(|c| c.endpoints = vec!["ok:1".into(), "nope".into()]),
            ),
            ("rateLimit.redis.db: ", Box::new(|c| c.db = Some(-1))),
            (
                "rateLimit.redis.poolSize: ",
                Box::new(|c| c.pool_size = Some(-2)),
            ),
            (
                "rateLimit.redis.minIdleConns: ",
                Box::new(|c| c.min_idle_conns = Some(-1)),
            ),
            (
                "rateLimit.redis.maxActiveConns: ",
                Box::new(|c| c.max_active_conns = Some(-1)),
            ),
            (
                "rateLimit.redis.dialTimeout: ",
                Box::new(|c| c.dial_timeout = Some(GoDuration::from_secs(-1))),
            ),
        ];
        for (want, f) in cases {
            let err = cfg(f).unwrap_err();
            assert!(err.starts_with(want), "{err}");
        }
    }

    fn rate(per_sec: f64, burst: f64) -> Rate {
        Rate {
            per_sec,
            burst,
            max_delay: super::super::max_delay(per_sec),
        }
    }

    #[test]
    fn script_arguments() {
        let a = ScriptArgs::new("rl@file", &rate(0.2, 3.0));
        assert_eq!(a.key_prefix, "rate:rl@file:");
        assert_eq!(
            a.per_micro, "0.00000020000000000000002",
            "as Traefik sends it"
        );
        assert_eq!(a.burst, "3");
        assert_eq!(a.ttl_secs, "21", "(3 + 1) / 0.2 + 1");
        assert_eq!(a.max_delay_micros, "500000");
        let fast = ScriptArgs::new("x@docker", &rate(100.0, 50.0));
        assert_eq!(fast.ttl_secs, "2");
        assert_eq!(fast.max_delay_micros, "5000");
        assert_eq!(ttl_secs(&rate(1e-30, 1.0)), 10 * 365 * 86_400 + 1);
    }

    #[test]
    fn script_replies() {
        let reply = |go, us| Reply::Array(Some(vec![Reply::Int(go), Reply::Int(us)]));
        assert_eq!(decision(&reply(1, 0)), Some(Ok(Duration::ZERO)));
        assert_eq!(
            decision(&reply(1, 40_000)),
            Some(Ok(Duration::from_millis(40)))
        );
        assert_eq!(
            decision(&reply(0, 4_957_532)),
            Some(Err(Duration::from_micros(4_957_532)))
        );
        assert_eq!(decision(&reply(2, 0)), None);
        assert_eq!(decision(&Reply::Int(1)), None);
        assert_eq!(
            hex(&Sha1::digest(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }
}

//! The Redis connection pool of one Redis-backed rate limiter, shared by every build of the same
//! middleware so that reloads keep warm connections.
//!
//! - `endpoints`: a new connection tries the endpoint that answered last, then the others in
//!   order; the first one reachable wins (they are alternatives for one standalone server, not a
//!   cluster or a sentinel group).
//! - `poolSize`: the most connections in use at once, and the most kept idle; a command beyond it
//!   waits for a free connection up to `readTimeout` + 1 s (go-redis' pool timeout), then fails.
//! - `maxActiveConns` (when > 0): caps all open connections, idle ones included.
//! - `minIdleConns`: connections opened ahead, in the background, once the limiter is first used.
//!
//! A connection that fails (timeout, I/O, protocol) is dropped, never reused; one that was closed
//! while idle (a restarted Redis) is replaced once, on a fresh connection, for the same command.
//! The pool never holds a lock across an `.await`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::debug;

use super::resp::{Conn, ConnSettings, Endpoint, Reply, RespError};

/// The pool's shape after defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PoolLimits {
    /// Connections in use at once (min of `poolSize` and `maxActiveConns`).
    pub(super) in_use: usize,
    /// Idle connections kept.
    pub(super) max_idle: usize,
    pub(super) min_idle: usize,
    /// How long a command waits for a free connection; `None`: as long as it takes.
    pub(super) wait: Option<Duration>,
}

#[derive(Debug)]
pub(super) struct RedisPool {
    endpoints: Vec<Endpoint>,
    settings: ConnSettings,
    limits: PoolLimits,
    idle: Mutex<Vec<Conn>>,
    permits: Arc<Semaphore>,
    /// Index of the endpoint that answered last.
    preferred: AtomicUsize,
    filling: AtomicBool,
}

impl RedisPool {
    pub(super) fn new(
        endpoints: Vec<Endpoint>,
        settings: ConnSettings,
        limits: PoolLimits,
    ) -> Self {
        let permits = Arc::new(Semaphore::new(
            limits.in_use.clamp(1, Semaphore::MAX_PERMITS),
        ));
        Self {
            endpoints,
            settings,
            limits,
            idle: Mutex::new(Vec::new()),
            permits,
            preferred: AtomicUsize::new(0),
            filling: AtomicBool::new(false),
        }
    }

    /// Runs one command on a pooled connection.
    pub(super) async fn run(self: &Arc<Self>, args: &[&[u8]]) -> Result<Reply, RespError> {
        let permit = self.permit().await?;
        let result = self.run_with(args).await;
        drop(permit);
        if self.limits.min_idle > 0 {
            self.fill_idle();
        }
        result
    }

    async fn permit(&self) -> Result<OwnedSemaphorePermit, RespError> {
        let acquire = self.permits.clone().acquire_owned();
        let acquired = match self.limits.wait {
            Some(wait) => tokio::time::timeout(wait, acquire)
                .await
                .map_err(|_| RespError::PoolTimeout(wait))?,
            None => acquire.await,
        };
        // The semaphore is never closed.
        acquired.map_err(|_| RespError::PoolTimeout(Duration::ZERO))
    }

    async fn run_with(&self, args: &[&[u8]]) -> Result<Reply, RespError> {
        if let Some(mut conn) = self.take_idle() {
            match conn.command(args).await {
                Ok(reply) => {
                    self.put(conn);
                    return Ok(reply);
                }
                Err(e) if e.keeps_connection() => {
                    self.put(conn);
                    return Err(e);
                }
                Err(e) if e.is_stale_connection() => {
                    debug!(error = %e, "rateLimit: idle Redis connection was closed; reconnecting");
                }
                Err(e) => return Err(e),
            }
        }
        let mut conn = self.dial().await?;
        let result = conn.command(args).await;
        match &result {
            Ok(_) => self.put(conn),
            Err(e) if e.keeps_connection() => self.put(conn),
            Err(_) => {}
        }
        result
    }

    fn take_idle(&self) -> Option<Conn> {
        let mut idle = match self.idle.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        idle.pop()
    }

    fn idle_len(&self) -> usize {
        match self.idle.lock() {
            Ok(guard) => guard.len(),
            Err(poisoned) => poisoned.into_inner().len(),
        }
    }

    fn put(&self, conn: Conn) {
        let mut idle = match self.idle.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if idle.len() < self.limits.max_idle {
            idle.push(conn);
        }
    }

    /// A new connection: the endpoint that answered last first, then the others in order.
    async fn dial(&self) -> Result<Conn, RespError> {
        let n = self.endpoints.len();
        let start = self.preferred.load(Ordering::Relaxed) % n.max(1);
        let mut last_error = None;
        for i in 0..n {
            let index = (start + i) % n;
            match Conn::open(&self.endpoints[index], &self.settings).await {
                Ok(conn) => {
                    self.preferred.store(index, Ordering::Relaxed);
                    return Ok(conn);
                }
                Err(e) => {
                    if n > 1 {
                        debug!(error = %e, "rateLimit: Redis endpoint unreachable, trying the next");
                    }
                    last_error = Some(e);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| RespError::Dial {
            endpoint: "(none)".into(),
            source: std::io::Error::other("rateLimit.redis.endpoints is empty"),
        }))
    }

    /// Opens connections in the background until `minIdleConns` are idle, without ever taking
    /// a slot a request is waiting for. One filler at a time; it stops at the first failure.
    fn fill_idle(self: &Arc<Self>) {
        let wanted = self.limits.min_idle.min(self.limits.max_idle);
        if self.idle_len() >= wanted || self.filling.swap(true, Ordering::AcqRel) {
            return;
        }
        let pool = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(pool) = pool.upgrade() else { return };
                if pool.idle_len() >= wanted {
                    pool.filling.store(false, Ordering::Release);
                    return;
                }
                // Idle connections hold no slot: open one only while idle + in use stays within
                // the limit, so `maxActiveConns` holds.
                let permit = pool.permits.clone().try_acquire_owned().ok();
                let Some(permit) = permit.filter(|_| {
                    pool.idle_len() < pool.permits.available_permits() + 1
                        && pool.idle_len() < wanted
                }) else {
                    pool.filling.store(false, Ordering::Release);
                    return;
                };
                match pool.dial().await {
                    Ok(conn) => pool.put(conn),
                    Err(e) => {
                        debug!(error = %e, "rateLimit: could not open an idle Redis connection");
                        pool.filling.store(false, Ordering::Release);
                        return;
                    }
                }
                drop(permit);
            }
        });
    }
}

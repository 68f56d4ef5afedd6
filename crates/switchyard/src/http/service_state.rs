//! State of services that must survive reloads: each load balancer server's health (set by active
//! and passive checks) and load figures (requests in flight, recent response times), plus the
//! active health-check tasks that keep the health current.
//!
//! A compiled load balancer holds an `Arc<BalancerState>`; this registry keeps only a `Weak` per
//! service, keyed by qualified name. A reload that compiles a service with the same
//! [`BalancerIdentity`] (servers, health-check settings, transport) gets the live state back, so a
//! down server stays down and its checks keep their rhythm. When the identity changes, or the
//! service disappears, the old state lives on only as long as some snapshot (or a request in
//! flight) still uses it; dropping it aborts its health-check tasks. Nothing here is touched per
//! request except atomics.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use switchyard_model::config::dynamic::{HealthCheck, PassiveHealthCheck};
use tokio::task::AbortHandle;

use super::upstream::TransportSettings;

/// Registries shared by every snapshot.
#[derive(Debug, Default)]
pub struct ServiceState {
    balancers: Mutex<HashMap<String, Weak<BalancerState>>>,
}

impl ServiceState {
    /// The state of load balancer `name`: the live one when it has the same `identity`, else a
    /// fresh one from `create` (every server up).
    pub fn balancer(
        &self,
        name: &str,
        identity: BalancerIdentity,
        create: impl FnOnce(BalancerIdentity) -> BalancerState,
    ) -> Arc<BalancerState> {
        let mut map = self.balancers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(live) = map.get(name).and_then(Weak::upgrade) {
            if live.identity == identity {
                return live;
            }
        }
        let state = Arc::new(create(identity));
        map.retain(|_, w| w.strong_count() > 0);
        map.insert(name.to_owned(), Arc::downgrade(&state));
        state
    }

    /// Every server of every live load balancer that has an active health check, as
    /// `(service, url, up)` (`traefik_service_server_up`).
    pub fn health_checked_servers(&self) -> Vec<(String, Arc<str>, bool)> {
        let map = self.balancers.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for (name, weak) in map.iter() {
            let Some(live) = weak.upgrade() else { continue };
            if live.identity.health_check.is_none() {
                continue;
            }
            out.extend(
                live.servers
                    .iter()
                    .map(|s| (name.clone(), s.url.clone(), s.is_up())),
            );
        }
        out.sort();
        out
    }

    /// The live servers of load balancer `name` (qualified) with whether each is up, for the API's
    /// `serverStatus`; `None` when no snapshot holds that load balancer.
    pub fn servers_of(&self, name: &str) -> Option<Vec<(Arc<str>, bool)>> {
        let map = self.balancers.lock().unwrap_or_else(|p| p.into_inner());
        let live = map.get(name).and_then(Weak::upgrade)?;
        Some(
            live.servers
                .iter()
                .map(|s| (s.url.clone(), s.is_up()))
                .collect(),
        )
    }
}

/// What a load balancer's state depends on: when any of it changes, health starts over.
#[derive(Debug, Clone, PartialEq)]
pub struct BalancerIdentity {
    pub servers: Vec<String>,
    pub health_check: Option<HealthCheck>,
    pub passive_health_check: Option<PassiveHealthCheck>,
    pub transport: (String, TransportSettings),
}

/// One load balancer's servers (index-aligned with its configuration) and its check tasks.
#[derive(Debug)]
pub struct BalancerState {
    identity: BalancerIdentity,
    pub servers: Vec<Arc<ServerState>>,
    tasks: Mutex<Vec<AbortHandle>>,
}

impl BalancerState {
    pub fn new(identity: BalancerIdentity) -> Self {
        let servers = identity
            .servers
            .iter()
            .map(|url| Arc::new(ServerState::new(url)))
            .collect();
        Self {
            identity,
            servers,
            tasks: Mutex::new(Vec::new()),
        }
    }

    /// Ties a background task (a health check) to this state: it is aborted when the state goes.
    pub fn own_task(&self, task: AbortHandle) {
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(task);
    }
}

impl Drop for BalancerState {
    fn drop(&mut self) {
        for task in self
            .tasks
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }
}

/// How many response times `leasttime` averages (Traefik's window).
const RESPONSE_TIME_SAMPLES: usize = 100;

/// One upstream server's health and load.
#[derive(Debug)]
pub struct ServerState {
    pub url: Arc<str>,
    up: AtomicBool,
    inflight: AtomicUsize,
    times: ResponseTimes,
    /// Passive health check: when the recent failures happened (only touched on failures, and
    /// on the first success after one).
    failures: Mutex<VecDeque<Instant>>,
    has_failures: AtomicBool,
}

impl ServerState {
    pub fn new(url: &str) -> Self {
        Self {
            url: url.into(),
            up: AtomicBool::new(true),
            inflight: AtomicUsize::new(0),
            times: ResponseTimes::default(),
            failures: Mutex::new(VecDeque::new()),
            has_failures: AtomicBool::new(false),
        }
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Sets the health; returns the previous value.
    pub fn set_up(&self, up: bool) -> bool {
        self.up.swap(up, Ordering::Relaxed)
    }

    pub fn inflight(&self) -> usize {
        self.inflight.load(Ordering::Relaxed)
    }

    /// Counts a request in flight until the guard is dropped.
    pub fn track(self: &Arc<Self>) -> InflightGuard {
        self.inflight.fetch_add(1, Ordering::Relaxed);
        InflightGuard(self.clone())
    }

    /// Records a time to first byte, in whole milliseconds as Traefik does.
    pub fn record_response_time(&self, elapsed: Duration) {
        let ms = u32::try_from(elapsed.as_millis()).unwrap_or(u32::MAX);
        self.times.record(ms);
    }

    /// The average of the recent response times in milliseconds (0 before the first).
    pub fn average_response_time(&self) -> f64 {
        self.times.average()
    }

    /// Passive health: a request to this server failed at `now`; returns how many failures
    /// happened within `window`.
    pub fn record_failure(&self, now: Instant, window: Duration) -> usize {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.push_back(now);
        while failures
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            failures.pop_front();
        }
        self.has_failures.store(true, Ordering::Relaxed);
        failures.len()
    }

    /// Passive health: a request to this server succeeded, which forgets earlier failures.
    pub fn record_success(&self) {
        if self.has_failures.load(Ordering::Relaxed) {
            let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            failures.clear();
            self.has_failures.store(false, Ordering::Relaxed);
        }
    }
}

/// Decrements a server's in-flight count when dropped (at the end of the response body).
#[derive(Debug)]
pub struct InflightGuard(Arc<ServerState>);

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A ring of the last response times, updated with atomics only. Concurrent updates may leave
/// the sum briefly off by one sample; the average is a load-balancing hint, not a metric.
#[derive(Debug)]
struct ResponseTimes {
    samples: [AtomicU32; RESPONSE_TIME_SAMPLES],
    next: AtomicUsize,
    count: AtomicUsize,
    sum: AtomicI64,
}

impl Default for ResponseTimes {
    fn default() -> Self {
        Self {
            samples: std::array::from_fn(|_| AtomicU32::new(0)),
            next: AtomicUsize::new(0),
            count: AtomicUsize::new(0),
            sum: AtomicI64::new(0),
        }
    }
}

impl ResponseTimes {
    fn record(&self, ms: u32) {
        let slot = self.next.fetch_add(1, Ordering::Relaxed) % RESPONSE_TIME_SAMPLES;
        let old = self.samples[slot].swap(ms, Ordering::Relaxed);
        self.sum
            .fetch_add(i64::from(ms) - i64::from(old), Ordering::Relaxed);
        let _ = self
            .count
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                (c < RESPONSE_TIME_SAMPLES).then_some(c + 1)
            });
    }

    fn average(&self) -> f64 {
        let count = self.count.load(Ordering::Relaxed);
        if count == 0 {
            return 0.0;
        }
        self.sum.load(Ordering::Relaxed).max(0) as f64 / count as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(servers: &[&str]) -> BalancerIdentity {
        BalancerIdentity {
            servers: servers.iter().map(|s| s.to_string()).collect(),
            health_check: None,
            passive_health_check: None,
            transport: ("default@internal".into(), TransportSettings::default()),
        }
    }

    #[test]
    fn same_identity_keeps_the_state() {
        let registry = ServiceState::default();
        let a = registry.balancer("s@file", identity(&["http://a"]), BalancerState::new);
        a.servers[0].set_up(false);
        let again = registry.balancer("s@file", identity(&["http://a"]), BalancerState::new);
        assert!(Arc::ptr_eq(&a, &again));
        assert!(!again.servers[0].is_up());

        // Another server list: fresh state, everything up.
        let other = registry.balancer(
            "s@file",
            identity(&["http://a", "http://b"]),
            BalancerState::new,
        );
        assert!(other.servers.iter().all(|s| s.is_up()));

        // Once no snapshot holds it, the state is gone.
        drop((a, again, other));
        let fresh = registry.balancer("s@file", identity(&["http://a"]), BalancerState::new);
        assert!(fresh.servers[0].is_up());
    }

    #[tokio::test]
    async fn dropping_the_state_aborts_its_tasks() {
        let state = BalancerState::new(identity(&["http://a"]));
        let task = tokio::spawn(std::future::pending::<()>());
        state.own_task(task.abort_handle());
        drop(state);
        assert!(task.await.unwrap_err().is_cancelled());
    }

    #[test]
    fn response_time_average_uses_the_last_samples() {
        let s = ServerState::new("http://a");
        assert_eq!(s.average_response_time(), 0.0);
        s.record_response_time(Duration::from_millis(10));
        s.record_response_time(Duration::from_millis(30));
        assert_eq!(s.average_response_time(), 20.0);
        for _ in 0..RESPONSE_TIME_SAMPLES {
            s.record_response_time(Duration::from_millis(5));
        }
        assert_eq!(s.average_response_time(), 5.0);
    }

    #[test]
    fn failures_outside_the_window_are_forgotten() {
        let s = ServerState::new("http://a");
        let t0 = Instant::now();
        let window = Duration::from_secs(10);
        assert_eq!(s.record_failure(t0, window), 1);
        assert_eq!(s.record_failure(t0 + Duration::from_secs(5), window), 2);
        assert_eq!(s.record_failure(t0 + Duration::from_secs(12), window), 2);
        s.record_success();
        assert_eq!(s.record_failure(t0 + Duration::from_secs(13), window), 1);
    }

    #[test]
    fn inflight_guard_counts() {
        let s = Arc::new(ServerState::new("http://a"));
        let g1 = s.track();
        let g2 = s.track();
        assert_eq!(s.inflight(), 2);
        drop(g1);
        assert_eq!(s.inflight(), 1);
        drop(g2);
        assert_eq!(s.inflight(), 0);
    }
}

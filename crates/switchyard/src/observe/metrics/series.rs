//! Series keyed by their label values, with atomic values.
//!
//! The request path looks a series up with a borrowed [`Probe`] (no allocation): the probe is
//! hashed once, the map (keyed by that hash) is read under a shared lock, and the values are
//! atomics. Only the first request of a new label combination takes the write lock and allocates
//! its owned [`Labels`].

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use http::header::{HeaderMap, HeaderName};

/// The label values of one series (fields a family does not use are left empty).
#[derive(Debug)]
pub(super) struct Labels {
    /// The entry point, router or service the series belongs to.
    pub(super) scope: Arc<str>,
    /// The router's service (router families).
    pub(super) service: Option<Arc<str>>,
    pub(super) code: u16,
    pub(super) method: &'static str,
    pub(super) protocol: &'static str,
    pub(super) tls_version: &'static str,
    pub(super) tls_cipher: &'static str,
    /// `headerLabels` values, in configuration order.
    pub(super) headers: Box<[Box<str>]>,
}

/// The `headerLabels` values of a request, read from its headers on demand.
#[derive(Clone, Copy)]
pub(super) struct HeaderValues<'a> {
    pub(super) names: &'a [HeaderName],
    pub(super) map: Option<&'a HeaderMap>,
}

impl<'a> HeaderValues<'a> {
    /// No header labels.
    pub(super) const NONE: HeaderValues<'static> = HeaderValues {
        names: &[],
        map: None,
    };

    fn len(&self) -> usize {
        self.names.len()
    }

    /// The first value of the `i`-th header, `""` when absent (Go's `Header.Get`).
    fn get(&self, i: usize) -> &'a str {
        self.map
            .and_then(|m| m.get(&self.names[i]))
            .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
            .unwrap_or("")
    }
}

/// A borrowed view of [`Labels`], built per request.
pub(super) struct Probe<'a> {
    pub(super) scope: &'a Arc<str>,
    pub(super) service: Option<&'a Arc<str>>,
    pub(super) code: u16,
    pub(super) method: &'static str,
    pub(super) protocol: &'static str,
    pub(super) tls_version: &'static str,
    pub(super) tls_cipher: &'static str,
    pub(super) headers: HeaderValues<'a>,
}

impl<'a> Probe<'a> {
    /// A probe with only its scope set.
    pub(super) fn scope(scope: &'a Arc<str>) -> Self {
        Probe {
            scope,
            service: None,
            code: 0,
            method: "",
            protocol: "",
            tls_version: "",
            tls_cipher: "",
            headers: HeaderValues::NONE,
        }
    }

    fn owned(&self) -> Labels {
        Labels {
            scope: self.scope.clone(),
            service: self.service.cloned(),
            code: self.code,
            method: self.method,
            protocol: self.protocol,
            tls_version: self.tls_version,
            tls_cipher: self.tls_cipher,
            headers: (0..self.headers.len())
                .map(|i| Box::from(self.headers.get(i)))
                .collect(),
        }
    }

    fn matches(&self, l: &Labels) -> bool {
        self.code == l.code
            && same_str(self.method, l.method)
            && same_str(self.protocol, l.protocol)
            && same_str(self.tls_version, l.tls_version)
            && same_str(self.tls_cipher, l.tls_cipher)
            && same_arc(self.scope, &l.scope)
            && match (self.service, &l.service) {
                (Some(a), Some(b)) => same_arc(a, b),
                (None, None) => true,
                _ => false,
            }
            && l.headers.len() == self.headers.len()
            && l.headers
                .iter()
                .enumerate()
                .all(|(i, v)| **v == *self.headers.get(i))
    }
}

/// String equality, short-cutting the usual case of the very same string (label values come
/// from static tables and from the configuration's shared names).
fn same_str(a: &str, b: &str) -> bool {
    (a.len() == b.len() && std::ptr::eq(a.as_ptr(), b.as_ptr())) || a == b
}

fn same_arc(a: &Arc<str>, b: &Arc<str>) -> bool {
    Arc::ptr_eq(a, b) || **a == **b
}

impl Hash for Probe<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.scope.as_ref().hash(state);
        self.service.map(|s| s.as_ref()).hash(state);
        self.code.hash(state);
        self.method.hash(state);
        self.protocol.hash(state);
        self.tls_version.hash(state);
        self.tls_cipher.hash(state);
        for i in 0..self.headers.len() {
            self.headers.get(i).hash(state);
        }
    }
}

/// A hasher for keys that already are hashes.
#[derive(Debug, Default, Clone, Copy)]
struct Prehashed;

impl BuildHasher for Prehashed {
    type Hasher = PrehashedHasher;
    fn build_hasher(&self) -> PrehashedHasher {
        PrehashedHasher(0)
    }
}

#[derive(Debug, Default)]
struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// One series: its labels and values.
#[derive(Debug)]
pub(super) struct Entry<V> {
    pub(super) labels: Labels,
    pub(super) value: V,
}

/// Series of one kind, keyed by label values.
#[derive(Debug)]
pub(super) struct SeriesMap<V> {
    state: RandomState,
    /// Probe hash → the series with that hash (almost always one).
    map: RwLock<HashMap<u64, Vec<Entry<V>>, Prehashed>>,
}

impl<V> Default for SeriesMap<V> {
    fn default() -> Self {
        Self {
            state: RandomState::new(),
            map: RwLock::new(HashMap::with_hasher(Prehashed)),
        }
    }
}

impl<V> SeriesMap<V> {
    /// Runs `f` on the values of the series `probe` names, creating them with `make` first.
    pub(super) fn with<R>(
        &self,
        probe: &Probe<'_>,
        make: impl FnOnce() -> V,
        f: impl FnOnce(&V) -> R,
    ) -> R {
        let hash = self.state.hash_one(probe);
        {
            let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(e) = map
                .get(&hash)
                .and_then(|b| b.iter().find(|e| probe.matches(&e.labels)))
            {
                return f(&e.value);
            }
        }
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        let bucket = map.entry(hash).or_default();
        let i = match bucket.iter().position(|e| probe.matches(&e.labels)) {
            Some(i) => i,
            None => {
                bucket.push(Entry {
                    labels: probe.owned(),
                    value: make(),
                });
                bucket.len() - 1
            }
        };
        f(&bucket[i].value)
    }

    /// Calls `f` on every series (in no particular order).
    pub(super) fn for_each(&self, mut f: impl FnMut(&Entry<V>)) {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        for e in map.values().flatten() {
            f(e);
        }
    }

    /// Drops the series `keep` rejects.
    pub(super) fn retain(&self, mut keep: impl FnMut(&Labels) -> bool) {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, bucket| {
            bucket.retain(|e| keep(&e.labels));
            !bucket.is_empty()
        });
    }

    /// Drops every series.
    #[cfg(test)]
    pub(super) fn clear(&self) {
        self.map
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        map.values().map(Vec::len).sum()
    }
}

/// A counter.
#[derive(Debug, Default)]
pub(super) struct Counter(AtomicU64);

impl Counter {
    pub(super) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub(super) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The values of a request series: the request count (`*_requests_total` and the histogram's
/// `_count`), the duration histogram and the byte counters.
#[derive(Debug)]
pub(super) struct Requests {
    pub(super) count: Counter,
    /// Observations per bucket (not cumulative); the last one is `+Inf`.
    pub(super) buckets: Box<[Counter]>,
    /// Sum of the observed durations, in nanoseconds.
    pub(super) sum_nanos: Counter,
    pub(super) request_bytes: Counter,
    pub(super) response_bytes: Counter,
}

impl Requests {
    pub(super) fn new(bounds: usize) -> Self {
        Self {
            count: Counter::default(),
            buckets: (0..=bounds).map(|_| Counter::default()).collect(),
            sum_nanos: Counter::default(),
            request_bytes: Counter::default(),
            response_bytes: Counter::default(),
        }
    }

    /// Counts `n` requests of `duration` each.
    pub(super) fn observe(
        &self,
        bounds: &[f64],
        n: u64,
        duration: Duration,
        request_bytes: u64,
        response_bytes: u64,
    ) {
        let secs = duration.as_secs_f64();
        let i = bounds
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(bounds.len());
        self.buckets[i].add(n);
        self.count.add(n);
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.add(nanos.saturating_mul(n));
        if request_bytes > 0 {
            self.request_bytes.add(request_bytes.saturating_mul(n));
        }
        if response_bytes > 0 {
            self.response_bytes.add(response_bytes.saturating_mul(n));
        }
    }
}

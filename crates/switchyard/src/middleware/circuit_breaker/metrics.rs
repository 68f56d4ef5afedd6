//! The rolling window the breaker's expression reads, shaped like the one Traefik uses (oxy's
//! `RTMetrics`): request, network error and per-status counters over the last 10 seconds (ten
//! 1-second buckets), and a latency histogram over the last 60 seconds (six 10-second
//! histograms, 2 significant figures). A network error is a 502 or 504 answer, whoever wrote it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

const COUNTER_BUCKETS: u64 = 10;
const HIST_BUCKETS: u64 = 6;
const HIST_PERIOD_SECS: u64 = 10;
/// Sub-buckets per power of two: relative error under 1% (HDR with 2 significant figures).
const SUB_BUCKETS: usize = 128;
/// Powers of two covered: up to 2^32 µs (over an hour), as Traefik's histogram maximum.
const MAGNITUDES: usize = 33;

/// Counts over the last ten seconds, one bucket per second.
#[derive(Debug, Clone, Default)]
struct Rolling {
    /// (second, count) per bucket.
    buckets: [(u64, u64); COUNTER_BUCKETS as usize],
}

impl Rolling {
    fn inc(&mut self, sec: u64) {
        let b = &mut self.buckets[(sec % COUNTER_BUCKETS) as usize];
        if b.0 != sec || b.1 == 0 {
            *b = (sec, 0);
        }
        b.1 += 1;
    }

    fn count(&self, sec: u64) -> u64 {
        self.buckets
            .iter()
            .filter(|(s, _)| *s + COUNTER_BUCKETS > sec && *s <= sec)
            .map(|(_, c)| c)
            .sum()
    }
}

/// A log-linear latency histogram in microseconds.
#[derive(Debug, Clone)]
struct Histogram {
    period: u64,
    counts: Vec<u32>,
    total: u64,
}

fn slot(us: u64) -> usize {
    let v = us.max(1);
    let magnitude = (63 - v.leading_zeros()) as usize;
    if magnitude < 7 {
        // Below 128 µs every value has its own slot.
        return v as usize;
    }
    let sub = (v >> (magnitude - 7)) as usize - SUB_BUCKETS;
    ((magnitude - 6) * SUB_BUCKETS + sub).min(MAGNITUDES * SUB_BUCKETS - 1)
}

/// The highest value that lands in `slot` (HDR's "highest equivalent value").
fn slot_value(slot: usize) -> u64 {
    if slot < SUB_BUCKETS {
        return slot as u64;
    }
    let magnitude = slot / SUB_BUCKETS + 6;
    let sub = (slot % SUB_BUCKETS + SUB_BUCKETS) as u64;
    let shift = magnitude - 7;
    ((sub + 1) << shift) - 1
}

impl Histogram {
    fn new(period: u64) -> Self {
        Self {
            period,
            counts: vec![0; MAGNITUDES * SUB_BUCKETS],
            total: 0,
        }
    }

    fn reset(&mut self, period: u64) {
        self.counts.iter_mut().for_each(|c| *c = 0);
        self.total = 0;
        self.period = period;
    }
}

/// The breaker's window.
#[derive(Debug)]
pub(super) struct Metrics {
    start: Instant,
    total: Rolling,
    network_errors: Rolling,
    codes: HashMap<u16, Rolling>,
    /// Only kept when the expression reads latencies.
    latency: Option<Vec<Histogram>>,
    /// The time the figures are read at (set by [`Metrics::at`]).
    now: u64,
}

impl Metrics {
    pub(super) fn new(start: Instant, with_latency: bool) -> Self {
        Self {
            start,
            total: Rolling::default(),
            network_errors: Rolling::default(),
            codes: HashMap::new(),
            latency: with_latency.then(|| (0..HIST_BUCKETS).map(Histogram::new).collect()),
            now: 0,
        }
    }

    fn sec(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.start).as_secs()
    }

    /// Records one response.
    pub(super) fn record(&mut self, now: Instant, status: u16, latency: Duration) {
        let sec = self.sec(now);
        self.total.inc(sec);
        if status == 502 || status == 504 {
            self.network_errors.inc(sec);
        }
        self.codes.entry(status).or_default().inc(sec);
        if let Some(hists) = &mut self.latency {
            let period = sec / HIST_PERIOD_SECS;
            let h = &mut hists[(period % HIST_BUCKETS) as usize];
            if h.period != period {
                h.reset(period);
            }
            let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
            h.counts[slot(us)] += 1;
            h.total += 1;
        }
    }

    /// Forgets everything (after tripping, as Traefik does).
    pub(super) fn reset(&mut self) {
        let with_latency = self.latency.is_some();
        *self = Self::new(self.start, with_latency);
    }

    /// Sets the time the figures below are read at.
    pub(super) fn at(&mut self, now: Instant) -> &Self {
        self.now = self.sec(now);
        self
    }

    pub(super) fn requests(&self) -> i64 {
        i64::try_from(self.total.count(self.now)).unwrap_or(i64::MAX)
    }

    pub(super) fn network_error_ratio(&self) -> f64 {
        let total = self.total.count(self.now);
        if total == 0 {
            return 0.0;
        }
        self.network_errors.count(self.now) as f64 / total as f64
    }

    /// Responses with a status in `[from, to)` divided by those in `[div_from, div_to)`.
    pub(super) fn response_code_ratio(
        &self,
        from: i64,
        to: i64,
        div_from: i64,
        div_to: i64,
    ) -> f64 {
        let (mut a, mut b) = (0u64, 0u64);
        for (code, counter) in &self.codes {
            let c = i64::from(*code);
            let n = counter.count(self.now);
            if from <= c && c < to {
                a += n;
            }
            if div_from <= c && c < div_to {
                b += n;
            }
        }
        if b == 0 {
            return 0.0;
        }
        a as f64 / b as f64
    }

    /// The latency at `quantile` percent, in whole milliseconds.
    pub(super) fn latency_at_quantile_ms(&self, quantile: f64) -> i64 {
        let Some(hists) = &self.latency else { return 0 };
        let period = self.now / HIST_PERIOD_SECS;
        let live: Vec<&Histogram> = hists
            .iter()
            .filter(|h| h.total > 0 && h.period + HIST_BUCKETS > period && h.period <= period)
            .collect();
        let total: u64 = live.iter().map(|h| h.total).sum();
        if total == 0 {
            return 0;
        }
        let q = quantile.clamp(0.0, 100.0);
        let wanted = ((q / 100.0) * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for s in 0..MAGNITUDES * SUB_BUCKETS {
            seen += live.iter().map(|h| u64::from(h.counts[s])).sum::<u64>();
            if seen >= wanted {
                return i64::try_from(slot_value(s) / 1000).unwrap_or(i64::MAX);
            }
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_roll_over_ten_seconds() {
        let t0 = Instant::now();
        let mut m = Metrics::new(t0, false);
        for _ in 0..3 {
            m.record(t0, 200, Duration::ZERO);
        }
        m.record(t0, 502, Duration::ZERO);
        m.record(t0 + Duration::from_secs(5), 504, Duration::ZERO);
        m.record(t0 + Duration::from_secs(5), 500, Duration::ZERO);
        let at = m.at(t0 + Duration::from_secs(5));
        assert_eq!(at.requests(), 6);
        assert!((at.network_error_ratio() - 2.0 / 6.0).abs() < 1e-9);
        assert!((at.response_code_ratio(500, 600, 0, 600) - 0.5).abs() < 1e-9);
        assert_eq!(at.response_code_ratio(300, 400, 600, 700), 0.0);
        // Ten seconds after the first batch, only the later one counts.
        let at = m.at(t0 + Duration::from_secs(10));
        assert_eq!(at.requests(), 2);
        assert_eq!(at.network_error_ratio(), 1.0 / 2.0);
        let at = m.at(t0 + Duration::from_secs(16));
        assert_eq!(at.requests(), 0);
        assert_eq!(at.network_error_ratio(), 0.0);
    }

    #[test]
    fn latency_quantiles() {
        let t0 = Instant::now();
        let mut m = Metrics::new(t0, true);
        for ms in 1..=100u64 {
            m.record(t0, 200, Duration::from_millis(ms));
        }
        let at = m.at(t0);
        for (q, want) in [(50.0, 50), (90.0, 90), (99.0, 99), (100.0, 100)] {
            let got = at.latency_at_quantile_ms(q);
            assert!((got - want).abs() <= 1, "q{q}: {got} vs {want}");
        }
        // After 60 s the histograms are gone.
        assert_eq!(
            m.at(t0 + Duration::from_secs(61))
                .latency_at_quantile_ms(50.0),
            0
        );
    }

    #[test]
    fn slots_round_trip_within_one_percent() {
        for v in [
            1u64,
            7,
            127,
            128,
            129,
            1000,
            65_432,
            1_000_000,
            3_600_000_000,
        ] {
            let back = slot_value(slot(v));
            assert!(
                back >= v && (back - v) as f64 <= v as f64 * 0.01 + 1.0,
                "{v} → {back}"
            );
        }
    }
}

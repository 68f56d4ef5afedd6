//! Smooth weighted round robin, made lock-free: the smooth WRR sequence (nginx's algorithm, the
//! order Traefik's `wrr` produces for equal weights) is computed once per compiled service, and each
//! pick is an atomic counter increment into it. Deterministic: the same weights always give the
//! same order.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The longest schedule we precompute; larger weight sums are scaled down proportionally.
const MAX_SCHEDULE: u64 = 4096;

/// A precomputed smooth WRR schedule over `n` targets.
#[derive(Debug)]
pub struct WeightedRoundRobin {
    schedule: Vec<u32>,
    next: AtomicUsize,
}

impl WeightedRoundRobin {
    /// Builds the schedule. Targets with weight 0 never get picked. Returns `None` when no target
    /// has a positive weight.
    pub fn new(weights: &[u32]) -> Option<Self> {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        if total == 0 {
            return None;
        }
        let weights: Vec<i64> = if total > MAX_SCHEDULE {
            weights
                .iter()
                .map(|&w| {
                    if w == 0 {
                        0
                    } else {
                        ((u64::from(w) * MAX_SCHEDULE) / total).max(1) as i64
                    }
                })
                .collect()
        } else {
            weights.iter().map(|&w| i64::from(w)).collect()
        };
        let total: i64 = weights.iter().sum();
        let mut current = vec![0i64; weights.len()];
        let mut schedule = Vec::with_capacity(total as usize);
        for _ in 0..total {
            let mut best = 0usize;
            for (i, w) in weights.iter().enumerate() {
                current[i] += w;
                if current[i] > current[best] {
                    best = i;
                }
            }
            current[best] -= total;
            schedule.push(best as u32);
        }
        Some(Self {
            schedule,
            next: AtomicUsize::new(0),
        })
    }

    /// The next target index.
    pub fn pick(&self) -> usize {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.schedule[n % self.schedule.len()] as usize
    }

    /// The next target index for which `usable` holds, trying each schedule slot at most once.
    pub fn pick_where(&self, mut usable: impl FnMut(usize) -> bool) -> Option<usize> {
        for _ in 0..self.schedule.len() {
            let i = self.pick();
            if usable(i) {
                return Some(i);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(w: &WeightedRoundRobin, n: usize) -> Vec<usize> {
        (0..n).map(|_| w.pick()).collect()
    }

    #[test]
    fn equal_weights_alternate() {
        let w = WeightedRoundRobin::new(&[1, 1, 1]).unwrap();
        assert_eq!(take(&w, 6), vec![0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn smooth_not_bursty() {
        // nginx's classic example: weights 5,1,1 → a a b a c a a
        let w = WeightedRoundRobin::new(&[5, 1, 1]).unwrap();
        assert_eq!(take(&w, 7), vec![0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn proportions_hold() {
        let w = WeightedRoundRobin::new(&[3, 1]).unwrap();
        let picks = take(&w, 400);
        assert_eq!(picks.iter().filter(|&&i| i == 0).count(), 300);
    }

    #[test]
    fn zero_weights() {
        assert!(WeightedRoundRobin::new(&[0, 0]).is_none());
        let w = WeightedRoundRobin::new(&[0, 2]).unwrap();
        assert!(take(&w, 10).iter().all(|&i| i == 1));
    }

    #[test]
    fn huge_weights_are_scaled() {
        let w = WeightedRoundRobin::new(&[u32::MAX, 1]).unwrap();
        assert!(w.schedule.len() <= MAX_SCHEDULE as usize + 1);
        assert!(w.schedule.contains(&1));
    }

    #[test]
    fn pick_where_skips() {
        let w = WeightedRoundRobin::new(&[1, 1]).unwrap();
        assert_eq!(w.pick_where(|i| i == 1), Some(1));
        assert_eq!(w.pick_where(|_| false), None);
    }
}

//! The `loadBalancer.strategy` choices, as pure pick functions over targets `0..n` that the caller
//! describes with closures (is it usable, its load, its name, its weight). The weighted round
//! robin itself is [`super::balancer::WeightedRoundRobin`]; the other strategies are:
//!
//! - `p2c`: two distinct usable targets at random, the one with fewer requests in flight wins
//!   (weights are ignored, as in Traefik);
//! - `hrw`: rendezvous hashing of the client IP with each target's name — Traefik's exact score
//!   (FNV-1a 32 of `ip + name`, `weight / -ln(hash / 2^32)`), so a client lands on the same
//!   server behind Switchyard and Traefik;
//! - `leasttime`: lowest `average TTFB × (1 + in flight) / weight`, ties broken by the WRR order.
//!
//! Nothing here allocates or locks.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use super::balancer::WeightedRoundRobin;

/// A load balancer's strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Wrr,
    P2c,
    Hrw,
    LeastTime,
}

impl Strategy {
    /// Parses `loadBalancer.strategy` (case-sensitive, as Traefik).
    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        match value {
            None | Some("") | Some("wrr") => Ok(Self::Wrr),
            Some("p2c") => Ok(Self::P2c),
            Some("hrw") => Ok(Self::Hrw),
            Some("leasttime") => Ok(Self::LeastTime),
            Some(other) => Err(format!(
                "loadBalancer.strategy: unsupported load-balancer strategy {other:?} (expected wrr, p2c, hrw or leasttime)"
            )),
        }
    }

    /// The name Traefik uses in messages ("this WRR service").
    pub fn label(self) -> &'static str {
        match self {
            Self::Wrr => "WRR",
            Self::P2c => "P2C",
            Self::Hrw => "HRW",
            Self::LeastTime => "LeastTime",
        }
    }
}

/// `p2c`: two distinct usable targets at random; the less loaded one (the first on a tie).
pub fn pick_p2c(
    n: usize,
    usable: impl Fn(usize) -> bool,
    load: impl Fn(usize) -> usize,
) -> Option<usize> {
    let healthy = (0..n).filter(|&i| usable(i)).count();
    match healthy {
        0 => return None,
        1 => return (0..n).find(|&i| usable(i)),
        _ => {}
    }
    let first = random_below(healthy);
    let mut second = random_below(healthy - 1);
    if second >= first {
        second += 1;
    }
    let nth = |rank: usize| (0..n).filter(|&i| usable(i)).nth(rank);
    let (a, b) = (nth(first)?, nth(second)?);
    Some(if load(b) < load(a) { b } else { a })
}

/// `hrw` (and the `highestRandomWeight` service): the usable target with the highest score for
/// `client`; the first one on a tie.
pub fn pick_hrw<'a>(
    client: &str,
    n: usize,
    usable: impl Fn(usize) -> bool,
    name: impl Fn(usize) -> &'a str,
    weight: impl Fn(usize) -> f64,
) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for i in (0..n).filter(|&i| usable(i)) {
        let score = hrw_score(client, name(i), weight(i));
        match best {
            None => best = Some((i, score)),
            Some((_, s)) if score > s => best = Some((i, score)),
            Some(_) => {}
        }
    }
    best.map(|(i, _)| i)
}

/// Traefik's rendezvous score of `client` for the target `name`.
pub fn hrw_score(client: &str, name: &str, weight: f64) -> f64 {
    let hash = fnv1a32(&[client.as_bytes(), name.as_bytes()]);
    // Go computes the ratio in float32 before taking the logarithm in float64.
    let ratio = hash as f32 / 4_294_967_296.0_f32;
    (1.0 / -f64::from(ratio).ln()) * weight
}

/// `leasttime`: the usable target with the lowest score; ties go to the WRR order.
pub fn pick_least_time(
    n: usize,
    usable: impl Fn(usize) -> bool,
    score: impl Fn(usize) -> f64,
    wrr: Option<&WeightedRoundRobin>,
) -> Option<usize> {
    let mut min = f64::INFINITY;
    let mut candidates = 0usize;
    let mut only = None;
    for i in (0..n).filter(|&i| usable(i)) {
        let s = score(i);
        if s < min {
            min = s;
            candidates = 1;
            only = Some(i);
        } else if s == min {
            candidates += 1;
        }
    }
    if candidates <= 1 {
        return only;
    }
    wrr.and_then(|w| w.pick_where(|i| usable(i) && score(i) == min))
        .or(only)
}

/// The client IP as Go prints `RemoteAddr`'s host, without allocating.
pub fn client_ip(ip: IpAddr) -> IpText {
    let mut text = IpText::default();
    let _ = write!(text, "{ip}");
    text
}

/// A formatted IP address on the stack.
pub struct IpText {
    buf: [u8; 48],
    len: usize,
}

impl Default for IpText {
    fn default() -> Self {
        Self {
            buf: [0; 48],
            len: 0,
        }
    }
}

impl IpText {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl std::fmt::Write for IpText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// FNV-1a, 32 bits, over the concatenation of `parts`.
pub fn fnv1a32(parts: &[&[u8]]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for part in parts {
        for &b in *part {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    h
}

/// A uniform-enough number in `0..n` (`n > 0`) from a lock-free splitmix64 sequence.
fn random_below(n: usize) -> usize {
    static SEED: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    });
    let mut z = seed.wrapping_add(
        COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15),
    );
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z % n as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_case_sensitive_like_traefik() {
        assert_eq!(Strategy::parse(None).unwrap(), Strategy::Wrr);
        assert_eq!(Strategy::parse(Some("p2c")).unwrap(), Strategy::P2c);
        assert_eq!(Strategy::parse(Some("hrw")).unwrap(), Strategy::Hrw);
        assert_eq!(
            Strategy::parse(Some("leasttime")).unwrap(),
            Strategy::LeastTime
        );
        let e = Strategy::parse(Some("P2C")).unwrap_err();
        assert!(e.starts_with("loadBalancer.strategy: unsupported load-balancer strategy \"P2C\""));
    }

    #[test]
    fn hrw_matches_traefik() {
        // Picks observed from Traefik 3.7 for a 3-server `hrw` load balancer.
        let urls = [
            "http://127.0.0.1:29101",
            "http://127.0.0.1:29102",
            "http://127.0.0.1:29103",
        ];
        for (ip, want) in [
            ("127.0.0.1", 0),
            ("127.0.0.2", 2),
            ("127.0.0.3", 1),
            ("127.0.0.4", 0),
            ("127.0.0.5", 0),
            ("127.0.0.6", 2),
        ] {
            let got = pick_hrw(ip, 3, |_| true, |i| urls[i], |_| 1.0);
            assert_eq!(got, Some(want), "{ip}");
        }
        // And for a `highestRandomWeight` service over children a, b, c.
        let names = ["a", "b", "c"];
        for (ip, want) in [("127.0.0.2", 0), ("127.0.0.3", 2), ("127.0.0.4", 1)] {
            assert_eq!(pick_hrw(ip, 3, |_| true, |i| names[i], |_| 1.0), Some(want));
        }
    }

    #[test]
    fn hrw_skips_unusable_and_is_stable() {
        let names = ["a", "b", "c"];
        let first = pick_hrw("10.0.0.1", 3, |_| true, |i| names[i], |_| 1.0).unwrap();
        let second = pick_hrw("10.0.0.1", 3, |i| i != first, |i| names[i], |_| 1.0).unwrap();
        assert_ne!(first, second);
        assert_eq!(
            pick_hrw("10.0.0.1", 3, |_| false, |i| names[i], |_| 1.0),
            None
        );
        // Weights shift the share: with b weighted 100x, most clients go to b.
        let to_b = (0..200)
            .filter(|k| {
                let ip = format!("10.0.{}.{}", k / 250, k % 250);
                pick_hrw(
                    &ip,
                    3,
                    |_| true,
                    |i| names[i],
                    |i| if i == 1 { 100.0 } else { 1.0 },
                ) == Some(1)
            })
            .count();
        assert!(to_b > 180, "{to_b}");
    }

    #[test]
    fn p2c_prefers_the_less_loaded() {
        // With two targets, both are always drawn: the idle one wins every time.
        for _ in 0..100 {
            assert_eq!(pick_p2c(2, |_| true, |i| [5, 0][i]), Some(1));
        }
        assert_eq!(pick_p2c(3, |i| i == 2, |_| 0), Some(2));
        assert_eq!(pick_p2c(3, |_| false, |_| 0), None);
        // Equal load: both get picked over time.
        let picks: Vec<usize> = (0..200)
            .filter_map(|_| pick_p2c(3, |_| true, |_| 0))
            .collect();
        for i in 0..3 {
            assert!(picks.contains(&i));
        }
    }

    #[test]
    fn least_time_takes_the_lowest_score_and_breaks_ties_with_wrr() {
        let wrr = WeightedRoundRobin::new(&[1, 1, 1]).unwrap();
        let scores = [10.0, 3.0, 7.0];
        assert_eq!(
            pick_least_time(3, |_| true, |i| scores[i], Some(&wrr)),
            Some(1)
        );
        assert_eq!(
            pick_least_time(3, |i| i != 1, |i| scores[i], Some(&wrr)),
            Some(2)
        );
        let tied: Vec<usize> = (0..6)
            .filter_map(|_| pick_least_time(3, |_| true, |_| 0.0, Some(&wrr)))
            .collect();
        assert_eq!(tied, vec![0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn ip_text() {
        assert_eq!(
            client_ip("127.0.0.1".parse().unwrap()).as_str(),
            "127.0.0.1"
        );
        assert_eq!(
            client_ip("2001:db8::1".parse().unwrap()).as_str(),
            "2001:db8::1"
        );
        let long: IpAddr = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
            .parse()
            .unwrap();
        assert_eq!(client_ip(long).as_str(), long.to_string());
    }
}

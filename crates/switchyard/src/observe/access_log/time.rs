//! Wall-clock formatting for access log lines, as Go formats `time.Time` (always UTC here).
//!
//! - `StartUTC`/`StartLocal`: RFC 3339 with nanoseconds, trailing zeros trimmed (Go's
//!   `time.RFC3339Nano`, which `encoding/json` uses): `2026-11-27T11:18:11.8937178Z`;
//! - the JSON `time` key: RFC 3339 to the second (logrus' default): `2026-11-27T11:18:11Z`;
//! - Traefik CLF: `02/Jan/2006:15:04:05 -0700`: `27/Nov/2026:11:18:11 +0000`.

use std::time::{SystemTime, UNIX_EPOCH};

/// A broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Civil {
    pub(super) year: i64,
    pub(super) month: u32,
    pub(super) day: u32,
    pub(super) hour: u32,
    pub(super) minute: u32,
    pub(super) second: u32,
    pub(super) nanos: u32,
}

impl Civil {
    /// `t` in UTC (times before 1970 are supported; the clock is not expected to go there).
    pub(super) fn of(t: SystemTime) -> Civil {
        let (secs, nanos) = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
            Err(e) => {
                let d = e.duration();
                let mut secs = -(d.as_secs() as i64);
                let mut nanos = d.subsec_nanos();
                if nanos > 0 {
                    secs -= 1;
                    nanos = 1_000_000_000 - nanos;
                }
                (secs, nanos)
            }
        };
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem % 3600 / 60,
            second: rem % 60,
            nanos,
        }
    }

    /// `2006-01-02T15:04:05.999999999Z` (trailing zeros of the fraction trimmed).
    pub(super) fn write_rfc3339_nano(&self, out: &mut Vec<u8>) {
        self.write_rfc3339_secs(out);
        out.pop(); // the `Z`, written again after the fraction
        if self.nanos > 0 {
            let mut digits = [0u8; 9];
            let mut n = self.nanos;
            for d in digits.iter_mut().rev() {
                *d = b'0' + (n % 10) as u8;
                n /= 10;
            }
            let mut len = 9;
            while len > 0 && digits[len - 1] == b'0' {
                len -= 1;
            }
            out.push(b'.');
            out.extend_from_slice(&digits[..len]);
        }
        out.push(b'Z');
    }

    /// `2006-01-02T15:04:05Z`.
    pub(super) fn write_rfc3339_secs(&self, out: &mut Vec<u8>) {
        write_year(out, self.year);
        out.push(b'-');
        two(out, self.month);
        out.push(b'-');
        two(out, self.day);
        out.push(b'T');
        two(out, self.hour);
        out.push(b':');
        two(out, self.minute);
        out.push(b':');
        two(out, self.second);
        out.push(b'Z');
    }

    /// `02/Jan/2006:15:04:05 +0000`.
    pub(super) fn write_clf(&self, out: &mut Vec<u8>) {
        const MONTHS: [&[u8; 3]; 12] = [
            b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
            b"Dec",
        ];
        two(out, self.day);
        out.push(b'/');
        let m = (self.month.clamp(1, 12) - 1) as usize;
        out.extend_from_slice(MONTHS[m]);
        out.push(b'/');
        write_year(out, self.year);
        out.push(b':');
        two(out, self.hour);
        out.push(b':');
        two(out, self.minute);
        out.push(b':');
        two(out, self.second);
        out.extend_from_slice(b" +0000");
    }
}

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn two(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10 % 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

/// Four digits, as Go writes years 0..=9999.
fn write_year(out: &mut Vec<u8>, year: i64) {
    if (0..=9999).contains(&year) {
        let y = year as u32;
        two(out, y / 100);
        two(out, y % 100);
    } else {
        use std::io::Write;
        let _ = write!(out, "{year}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, nanos: u32) -> Civil {
        Civil::of(UNIX_EPOCH + Duration::new(secs, nanos))
    }

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn epoch_and_known_dates() {
        let c = at(0, 0);
        assert_eq!((c.year, c.month, c.day, c.hour), (1970, 1, 1, 0));
        // 2026-11-27T11:18:11Z
        let c = at(1_795_778_291, 878_612_323);
        assert_eq!(
            s(|o| c.write_rfc3339_nano(o)),
            "2026-11-27T11:18:11.878612323Z"
        );
        assert_eq!(s(|o| c.write_rfc3339_secs(o)), "2026-11-27T11:18:11Z");
        assert_eq!(s(|o| c.write_clf(o)), "27/Nov/2026:11:18:11 +0000");
        // Leap day, end of a century year that is a leap year.
        let c = at(951_782_400, 0); // 2000-02-29
        assert_eq!((c.year, c.month, c.day), (2000, 2, 29));
        let c = at(4_107_542_399, 0); // 2100-02-28T23:59:59
        assert_eq!(
            (c.year, c.month, c.day, c.hour, c.minute, c.second),
            (2100, 2, 28, 23, 59, 59)
        );
        let c = at(4_107_542_400, 0); // 2100 is not a leap year
        assert_eq!((c.month, c.day), (3, 1));
    }

    #[test]
    fn fraction_is_trimmed_like_go() {
        assert_eq!(
            s(|o| at(1_795_778_291, 893_717_800).write_rfc3339_nano(o)),
            "2026-11-27T11:18:11.8937178Z"
        );
        assert_eq!(
            s(|o| at(1_795_778_291, 0).write_rfc3339_nano(o)),
            "2026-11-27T11:18:11Z"
        );
        assert_eq!(
            s(|o| at(1_795_778_291, 5).write_rfc3339_nano(o)),
            "2026-11-27T11:18:11.000000005Z"
        );
    }

    #[test]
    fn every_day_round_trips() {
        // Consecutive days from 1969 to 2400 advance the date by exactly one.
        let mut prev = civil_from_days(-400);
        for d in -399..157_000 {
            let cur = civil_from_days(d);
            let next_day = (prev.0, prev.1, prev.2 + 1);
            let next_month = (prev.0, prev.1 + 1, 1);
            let next_year = (prev.0 + 1, 1, 1);
            assert!(
                cur == next_day || cur == next_month || cur == next_year,
                "{prev:?} -> {cur:?}"
            );
            prev = cur;
        }
    }

    #[test]
    fn before_the_epoch() {
        let c = Civil::of(UNIX_EPOCH - Duration::new(1, 500_000_000));
        assert_eq!(
            (c.year, c.month, c.day, c.hour, c.minute, c.second, c.nanos),
            (1969, 12, 31, 23, 59, 58, 500_000_000)
        );
    }
}

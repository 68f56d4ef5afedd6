//! W3C Trace Context (`traceparent`, `tracestate`), identifiers and the sampler, as OpenTelemetry
//! Go (which Traefik uses) implements them.
//!
//! - `traceparent` is parsed like Go's `propagation.TraceContext`: lower-case hex only, version
//!   `ff` invalid, version `00` with trailing data or flags above `02` invalid, later versions may
//!   carry more fields; an all-zero trace or span id is invalid. Only the `sampled` flag is kept.
//!   Anything invalid starts a new trace.
//! - `tracestate` is validated like Go's `trace.ParseTraceState` (at most 32 members, W3C key and
//!   value grammar, no duplicate keys); an invalid one is dropped, and never invalidates the
//!   `traceparent`. Only the first header line of each is read, as Go's `Header.Get` does.
//! - Sampling is `ParentBased(TraceIDRatioBased(sampleRate))`: a remote parent's `sampled` flag
//!   decides, otherwise the trace id's low 63 bits against the rate.

use std::cell::Cell;
use std::fmt::Write as _;

use http::HeaderMap;

/// A 16-byte trace id.
pub(super) type TraceId = [u8; 16];
/// An 8-byte span id.
pub(super) type SpanId = [u8; 8];

/// The remote parent read from the request's `traceparent` / `tracestate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Remote {
    pub(super) trace_id: TraceId,
    pub(super) span_id: SpanId,
    pub(super) sampled: bool,
    /// The validated `tracestate`, re-serialised (members joined by `,`); `None` when absent,
    /// empty or invalid.
    pub(super) trace_state: Option<String>,
}

/// Reads the remote parent from `headers`, `None` when there is none or it is invalid.
pub(super) fn extract(headers: &HeaderMap) -> Option<Remote> {
    let tp = headers.get("traceparent")?.to_str().ok()?;
    let (trace_id, span_id, sampled) = parse_traceparent(tp)?;
    let trace_state = headers
        .get("tracestate")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_tracestate);
    Some(Remote {
        trace_id,
        span_id,
        sampled,
        trace_state,
    })
}

/// `version-traceid-spanid-flags` → (trace id, span id, sampled).
pub(super) fn parse_traceparent(h: &str) -> Option<(TraceId, SpanId, bool)> {
    // Go's regular expression allows surrounding whitespace.
    let h = h.trim_matches(|c: char| c.is_ascii_whitespace());
    let mut parts = h.splitn(5, '-');
    let mut version = [0u8; 1];
    hex_part(parts.next()?, &mut version)?;
    if version[0] == 0xff {
        return None;
    }
    let mut trace_id = [0u8; 16];
    hex_part(parts.next()?, &mut trace_id)?;
    let mut span_id = [0u8; 8];
    hex_part(parts.next()?, &mut span_id)?;
    let mut flags = [0u8; 1];
    hex_part(parts.next()?, &mut flags)?;
    let rest = parts.next();
    if version[0] == 0 && (rest.is_some() || flags[0] > 2) {
        return None;
    }
    if trace_id == [0; 16] || span_id == [0; 8] {
        return None;
    }
    Some((trace_id, span_id, flags[0] & 1 == 1))
}

/// Decodes exactly `out.len() * 2` lower-case hex digits.
fn hex_part(s: &str, out: &mut [u8]) -> Option<()> {
    let b = s.as_bytes();
    if b.len() != out.len() * 2 {
        return None;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = (lower_hex(b[2 * i])? << 4) | lower_hex(b[2 * i + 1])?;
    }
    Some(())
}

fn lower_hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Validates a `tracestate` header: `None` when empty or invalid, else the members joined by `,`.
pub(super) fn parse_tracestate(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut keys: Vec<&str> = Vec::new();
    for member in s.split(',') {
        let member = member.trim_matches([' ', '\t']);
        if member.is_empty() {
            continue;
        }
        let (key, value) = member.split_once('=')?;
        if !valid_key(key) || !valid_value(value) || keys.contains(&key) {
            return None;
        }
        keys.push(key);
        if keys.len() > 32 {
            return None;
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(member);
    }
    (!out.is_empty()).then_some(out)
}

/// `simple-key` or `tenant@system` (W3C Trace Context, level 1).
fn valid_key(key: &str) -> bool {
    fn key_char(c: u8) -> bool {
        matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/')
    }
    match key.split_once('@') {
        None => {
            let b = key.as_bytes();
            !b.is_empty()
                && b.len() <= 256
                && b[0].is_ascii_lowercase()
                && b.iter().all(|&c| key_char(c))
        }
        Some((tenant, system)) => {
            let (t, s) = (tenant.as_bytes(), system.as_bytes());
            !t.is_empty()
                && t.len() <= 241
                && (t[0].is_ascii_lowercase() || t[0].is_ascii_digit())
                && t.iter().all(|&c| key_char(c))
                && !s.is_empty()
                && s.len() <= 14
                && s[0].is_ascii_lowercase()
                && s.iter().all(|&c| key_char(c))
        }
    }
}

/// 1–256 printable ASCII characters except `,` and `=`, not ending with a space.
fn valid_value(v: &str) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.len() <= 256
        && b[b.len() - 1] != b' '
        && b.iter()
            .all(|&c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
}

/// `00-<trace id>-<span id>-<flags>`.
pub(super) fn format_traceparent(trace_id: &TraceId, span_id: &SpanId, sampled: bool) -> String {
    let mut s = String::with_capacity(55);
    s.push_str("00-");
    push_hex(&mut s, trace_id);
    s.push('-');
    push_hex(&mut s, span_id);
    s.push_str(if sampled { "-01" } else { "-00" });
    s
}

/// Lower-case hex of `bytes`.
pub(super) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    push_hex(&mut s, bytes);
    s
}

fn push_hex(s: &mut String, bytes: &[u8]) {
    for b in bytes {
        // Writing into a String cannot fail.
        let _ = write!(s, "{b:02x}");
    }
}

/// `TraceIDRatioBased(rate)` for a root span: the trace id's bytes 8..16 (big endian), shifted
/// right by one, below `rate × 2^63`. A rate of 1 or more always samples, 0 or less never.
pub(super) fn ratio_sampled(trace_id: &TraceId, rate: f64) -> bool {
    if rate >= 1.0 {
        return true;
    }
    if rate.is_nan() || rate <= 0.0 {
        return false;
    }
    let bound = (rate * (1u64 << 63) as f64) as u64;
    let mut low = [0u8; 8];
    low.copy_from_slice(&trace_id[8..]);
    (u64::from_be_bytes(low) >> 1) < bound
}

thread_local! {
    static RNG: Cell<u64> = const { Cell::new(0) };
}

/// A fresh random 64-bit value (SplitMix64 per thread, seeded from the system random source).
/// Identifiers need uniqueness, not secrecy, which is what Go's SDK provides too.
fn next_u64() -> u64 {
    RNG.with(|state| {
        let mut s = state.get();
        if s == 0 {
            s = seed();
        }
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        state.set(s);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

fn seed() -> u64 {
    use aws_lc_rs::rand::SecureRandom as _;
    let mut b = [0u8; 8];
    if aws_lc_rs::rand::SystemRandom::new().fill(&mut b).is_err() {
        // Fall back on time and thread identity: still distinct per thread and process.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let id = format!("{:?}", std::thread::current().id());
        let mut h = t ^ u64::from(std::process::id()).rotate_left(32);
        for c in id.bytes() {
            h = h.rotate_left(5) ^ u64::from(c);
        }
        return h | 1;
    }
    u64::from_le_bytes(b) | 1
}

/// A fresh, valid (non-zero) trace id.
pub(super) fn new_trace_id() -> TraceId {
    loop {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&next_u64().to_be_bytes());
        id[8..].copy_from_slice(&next_u64().to_be_bytes());
        if id != [0; 16] {
            return id;
        }
    }
}

/// A fresh, valid (non-zero) span id.
pub(super) fn new_span_id() -> SpanId {
    loop {
        let id = next_u64().to_be_bytes();
        if id != [0; 8] {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn parses_a_valid_traceparent() {
        let (t, s, sampled) = parse_traceparent(TP).unwrap();
        assert_eq!(hex(&t), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(hex(&s), "b7ad6b7169203331");
        assert!(sampled);
        let (_, _, sampled) =
            parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00").unwrap();
        assert!(!sampled);
        // Flag 02 (random trace id) is accepted, and only `sampled` kept.
        assert!(
            !parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-02")
                .unwrap()
                .2
        );
        // Surrounding whitespace is tolerated.
        assert!(parse_traceparent(&format!("  {TP} ")).is_some());
        // A future version may carry more fields.
        assert!(parse_traceparent(
            "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-the-future"
        )
        .is_some());
    }

    #[test]
    fn rejects_malformed_traceparents() {
        for bad in [
            "",
            "garbage",
            "00",
            "00-",
            "00-0af7651916cd43dd8448eb211c80319c",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-B7AD6B7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03",
            "0-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319cc-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c8031-9c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",
            "é0-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00_0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331_01",
        ] {
            assert!(parse_traceparent(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn tracestate_is_validated_and_normalised() {
        assert_eq!(
            parse_tracestate("congo=t61rcWkgMzE, rojo=00f067aa0ba902b7").as_deref(),
            Some("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")
        );
        assert_eq!(
            parse_tracestate("t@sys=v,,a-b/c*d_e=1").as_deref(),
            Some("t@sys=v,a-b/c*d_e=1")
        );
        // Blanks around members are not part of them.
        assert_eq!(parse_tracestate("\ta=b c ").as_deref(), Some("a=b c"));
        for bad in [
            "", " , ", "noequals", "Upper=1", "a=1,a=2", "a=", "a=b=c", "1abc=v", "a@=v", "a@1=v",
        ] {
            assert_eq!(parse_tracestate(bad), None, "{bad:?}");
        }
        let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        assert_eq!(parse_tracestate(&many.join(",")), None);
        assert!(parse_tracestate(&many[..32].join(",")).is_some());
    }

    #[test]
    fn extract_reads_both_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(extract(&h), None);
        h.insert("traceparent", TP.parse().unwrap());
        h.insert("tracestate", "a=1".parse().unwrap());
        let r = extract(&h).unwrap();
        assert_eq!(r.trace_state.as_deref(), Some("a=1"));
        // An invalid tracestate does not invalidate the traceparent.
        h.insert("tracestate", "A=1".parse().unwrap());
        let r = extract(&h).unwrap();
        assert_eq!(r.trace_state, None);
        assert!(r.sampled);
        // Non-UTF-8 bytes are no trace context.
        h.insert(
            "traceparent",
            http::HeaderValue::from_bytes(b"00-\xff").unwrap(),
        );
        assert_eq!(extract(&h), None);
    }

    #[test]
    fn traceparent_round_trips() {
        let t = new_trace_id();
        let s = new_span_id();
        let tp = format_traceparent(&t, &s, true);
        assert_eq!(tp.len(), 55);
        assert_eq!(parse_traceparent(&tp), Some((t, s, true)));
        assert!(format_traceparent(&t, &s, false).ends_with("-00"));
    }

    #[test]
    fn ids_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            assert!(seen.insert(new_span_id()));
        }
    }

    #[test]
    fn ratio_sampler_matches_go() {
        let mut id = [0u8; 16];
        assert!(ratio_sampled(&id, 1.0));
        assert!(!ratio_sampled(&id, 0.0));
        assert!(ratio_sampled(&id, 0.5));
        id[8] = 0xff;
        assert!(!ratio_sampled(&id, 0.5));
        id[8] = 0x7f;
        // (0x7f00.. >> 1) = 0x3f80.. < 0.5 * 2^63 = 0x4000..
        assert!(ratio_sampled(&id, 0.5));
        let sampled = (0..10_000)
            .filter(|_| ratio_sampled(&new_trace_id(), 0.25))
            .count();
        assert!((2000..3000).contains(&sampled), "{sampled}");
    }
}

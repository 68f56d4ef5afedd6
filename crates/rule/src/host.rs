//! Host handling: the normalised request host every host matcher looks at, and the compiled
//! `Host()` pattern (exact name, `*.domain` one-label wildcard, or `*`). The runtime picks the raw
//! host (request-target authority, else the `Host` header) and calls [`normalize_host`] once per
//! request; matchers then compare plain strings, so they never allocate.

use std::borrow::Cow;

/// Host for routing: trims whitespace, strips the port and IPv6 brackets, lower-cases, and drops
/// one trailing dot (`Example.COM.:8080` → `example.com`, `[::1]:443` → `::1`). A bare IPv6
/// address without brackets is kept whole.
pub fn normalize_host(raw: &str) -> Cow<'_, str> {
    let host = strip_port(raw.trim());
    let host = host.strip_suffix('.').unwrap_or(host);
    if host
        .bytes()
        .any(|b| b.is_ascii_uppercase() || !b.is_ascii())
    {
        Cow::Owned(host.to_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.find(']') {
            Some(end) => &rest[..end],
            None => host,
        };
    }
    match host.split_once(':') {
        // More than one colon: an unbracketed IPv6 address, not `host:port`.
        Some((_, port)) if port.contains(':') => host,
        Some((name, _)) => name,
        None => host,
    }
}

/// A compiled `Host()` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostPattern {
    /// `*`: every request, even one without a host.
    Any,
    /// `*.example.com`: exactly one extra label; holds `.example.com`.
    Wildcard(String),
    /// An exact name, lower-cased, without its trailing dot.
    Exact(String),
}

impl HostPattern {
    /// Compiles a v3 `Host()` argument (already checked to be ASCII).
    pub(crate) fn v3(arg: &str) -> HostPattern {
        let lower = arg.to_ascii_lowercase();
        let name = strip_trailing_dot(&lower);
        if name == "*" {
            HostPattern::Any
        } else if let Some(suffix) = name
            .strip_prefix('*')
            .filter(|s| s.len() > 1 && s.starts_with('.'))
        {
            HostPattern::Wildcard(suffix.to_string())
        } else {
            HostPattern::Exact(name.to_string())
        }
    }

    /// Compiles a v2 `Host()`/`HostHeader()` argument: v2 has no wildcards, `*` is a name.
    pub(crate) fn v2(arg: &str) -> HostPattern {
        let lower = arg.to_ascii_lowercase();
        HostPattern::Exact(strip_trailing_dot(&lower).to_string())
    }

    /// Matches a host produced by [`normalize_host`].
    pub(crate) fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Any => true,
            HostPattern::Exact(name) => !host.is_empty() && host == name,
            HostPattern::Wildcard(suffix) => host
                .strip_suffix(suffix.as_str())
                .is_some_and(|label| !label.is_empty() && !label.contains('.')),
        }
    }

    /// The exact name this pattern requires, if it is an exact pattern.
    pub(crate) fn exact(&self) -> Option<&str> {
        match self {
            HostPattern::Exact(name) => Some(name),
            _ => None,
        }
    }
}

fn strip_trailing_dot(name: &str) -> &str {
    match name.strip_suffix('.') {
        Some(stripped) if !stripped.is_empty() => stripped,
        _ => name,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn normalize() {
        let cases = [
            ("example.com", "example.com"),
            ("Example.COM:8080", "example.com"),
            ("example.com.", "example.com"),
            ("example.com.:80", "example.com"),
            ("  example.com  ", "example.com"),
            ("[::1]:8443", "::1"),
            ("[10::10]", "10::10"),
            ("[FE80::1]", "fe80::1"),
            ("::1", "::1"),
            ("127.0.0.1:80", "127.0.0.1"),
            ("example.com:", "example.com"),
            ("", ""),
            (".", ""),
            ("ÄBC.de", "äbc.de"),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize_host(raw), want, "{raw:?}");
        }
        assert!(matches!(normalize_host("a.b:1"), Cow::Borrowed("a.b")));
    }

    #[test]
    fn patterns() {
        assert_eq!(HostPattern::v3("*"), HostPattern::Any);
        assert_eq!(
            HostPattern::v3("*.Example.com."),
            HostPattern::Wildcard(".example.com".into())
        );
        assert_eq!(
            HostPattern::v3("EXAMPLE.com."),
            HostPattern::Exact("example.com".into())
        );
        assert_eq!(
            HostPattern::v2("*.a.com"),
            HostPattern::Exact("*.a.com".into())
        );
        let w = HostPattern::v3("*.example.com");
        assert!(w.matches("test.example.com"));
        assert!(!w.matches("example.com"));
        assert!(!w.matches(".example.com"));
        assert!(!w.matches("a.b.example.com"));
        assert!(!w.matches("test.otherexample.com"));
        assert!(HostPattern::Any.matches(""));
        assert!(!HostPattern::v3("a").matches(""));
    }
}

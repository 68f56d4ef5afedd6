//! Check URLs: a server URL resolved against the configured `path` (or a redirect's `Location`)
//! the way Go's `url.URL.Parse` does (RFC 3986 §5.2), without pulling in a URL crate.

use http::Uri;

/// An absolute URL split into the parts a check needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeUrl {
    pub scheme: String,
    /// `host[:port]`, user info removed.
    pub authority: String,
    /// Path (possibly empty) and `?query`.
    pub path: String,
    pub query: Option<String>,
}

impl ProbeUrl {
    /// Parses an absolute URL (`scheme://authority/path?query`).
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.split('#').next().unwrap_or_default();
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("invalid URL {url:?}: {e}"))?;
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(format!("invalid URL {url:?}: not absolute"));
        };
        let authority = authority.as_str();
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        Ok(Self {
            scheme: scheme.to_ascii_lowercase(),
            authority: authority.to_owned(),
            path: uri.path().to_owned(),
            query: uri.query().map(str::to_owned),
        })
    }

    /// Resolves `reference` against this URL.
    pub fn join(&self, reference: &str) -> Result<Self, String> {
        let reference = reference.split('#').next().unwrap_or_default();
        if has_scheme(reference) {
            return Self::parse(reference);
        }
        if let Some(rest) = reference.strip_prefix("//") {
            return Self::parse(&format!("{}://{rest}", self.scheme));
        }
        let (path, query) = match reference.split_once('?') {
            Some((p, q)) => (p, Some(q.to_owned())),
            None => (reference, None),
        };
        let mut out = self.clone();
        if path.is_empty() {
            if query.is_some() {
                out.query = query;
            }
            return Ok(out);
        }
        out.query = query;
        out.path = if path.starts_with('/') {
            remove_dot_segments(path)
        } else {
            let base = if self.path.is_empty() {
                "/"
            } else {
                &self.path[..self.path.rfind('/').map_or(0, |i| i + 1)]
            };
            remove_dot_segments(&format!("{base}{path}"))
        };
        Ok(out)
    }

    /// The host without port (IPv6 brackets kept).
    pub fn host(&self) -> &str {
        if self.authority.starts_with('[') {
            match self.authority.find(']') {
                Some(end) => &self.authority[..=end],
                None => &self.authority,
            }
        } else {
            self.authority
                .rsplit_once(':')
                .map_or(self.authority.as_str(), |(h, _)| h)
        }
    }

    /// Replaces the port.
    pub fn set_port(&mut self, port: u16) {
        self.authority = format!("{}:{port}", self.host());
    }

    /// The request target: path (`/` when empty) and query.
    pub fn target(&self) -> String {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        match &self.query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        }
    }

    /// The URI to send, with `scheme` (`http` or `https`) on the wire.
    pub fn uri(&self, scheme: &str) -> Result<Uri, String> {
        let s = format!("{scheme}://{}{}", self.authority, self.target());
        s.parse()
            .map_err(|e| format!("invalid check URL {s:?}: {e}"))
    }
}

impl std::fmt::Display for ProbeUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.authority, self.target())
    }
}

fn has_scheme(s: &str) -> bool {
    let Some((scheme, _)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !scheme.contains('/')
}

/// RFC 3986 §5.2.4.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." => {
                if i == last {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    if path.starts_with('/') && !joined.starts_with('/') {
        format!("/{joined}")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(base: &str, r: &str) -> String {
        ProbeUrl::parse(base).unwrap().join(r).unwrap().to_string()
    }

    #[test]
    fn resolves_like_go() {
        let b = "http://127.0.0.1:9102";
        assert_eq!(join(b, ""), "http://127.0.0.1:9102/");
        assert_eq!(join(b, "health"), "http://127.0.0.1:9102/health");
        assert_eq!(
            join(b, "/health?full=1"),
            "http://127.0.0.1:9102/health?full=1"
        );
        let b = "http://h:1/base/app?x=1";
        assert_eq!(join(b, ""), "http://h:1/base/app?x=1");
        assert_eq!(join(b, "health"), "http://h:1/base/health");
        assert_eq!(join(b, "../up"), "http://h:1/up");
        assert_eq!(join(b, "./a/./b/../c"), "http://h:1/base/a/c");
        assert_eq!(join(b, "/abs"), "http://h:1/abs");
        assert_eq!(join(b, "?y=2"), "http://h:1/base/app?y=2");
        assert_eq!(join(b, "https://other/x"), "https://other/x");
        assert_eq!(join(b, "//other:2/x"), "http://other:2/x");
        assert_eq!(join(b, "/p#frag"), "http://h:1/p");
    }

    #[test]
    fn ports_and_hosts() {
        let mut u = ProbeUrl::parse("h2c://user@backend:9000/x").unwrap();
        assert_eq!(u.scheme, "h2c");
        assert_eq!(u.host(), "backend");
        u.set_port(81);
        assert_eq!(u.authority, "backend:81");
        let mut u = ProbeUrl::parse("http://[::1]:80").unwrap();
        u.set_port(8080);
        assert_eq!(u.authority, "[::1]:8080");
        let mut u = ProbeUrl::parse("http://example.com").unwrap();
        u.set_port(8080);
        assert_eq!(u.authority, "example.com:8080");
        assert!(ProbeUrl::parse("/relative").is_err());
    }
}

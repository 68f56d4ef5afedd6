//! The routing path: the request path as path matchers see it (spec §3.2). Percent-encodings
//! are upper-cased; encodings of RFC 3986 reserved characters and of `%` itself stay encoded (so
//! `%2F` is never a separator), every other encoding is decoded (`%20` → space). With
//! `sanitize` (the entry point's `sanitizePath`, on by default) dot-segments and repeated slashes
//! are then removed like Go's `path.Clean`, keeping a trailing slash. Decoded bytes that would
//! not form valid UTF-8 stay percent-encoded. The function borrows its input when nothing
//! changes, which is the common case.

use std::borrow::Cow;

/// A request path with a malformed percent-encoding (the runtime answers 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed percent-encoding in request path at byte {position}")]
pub struct PathError {
    position: usize,
}

impl PathError {
    /// Byte offset of the offending `%` in the raw path.
    pub fn position(&self) -> usize {
        self.position
    }
}

/// Characters whose percent-encoding is kept in the routing path.
const KEPT_ENCODED: &[u8] = b":/?#[]@!$&'()*+,;=%";

/// Computes the routing path from the raw (still encoded) request path.
pub fn routing_path(raw_path: &str, sanitize: bool) -> Result<Cow<'_, str>, PathError> {
    let decoded = if raw_path.contains('%') {
        Cow::Owned(decode(raw_path)?)
    } else {
        Cow::Borrowed(raw_path)
    };
    if decoded.is_empty() {
        return Ok(Cow::Borrowed("/"));
    }
    if !sanitize || is_clean(&decoded) {
        return Ok(decoded);
    }
    Ok(Cow::Owned(clean(&decoded)))
}

fn decode(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        let hex = |j: usize| bytes.get(j).and_then(|&h| char::from(h).to_digit(16));
        let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) else {
            return Err(PathError { position: i });
        };
        let value = (hi * 16 + lo) as u8;
        if KEPT_ENCODED.contains(&value) {
            out.push(b'%');
            out.push(bytes[i + 1].to_ascii_uppercase());
            out.push(bytes[i + 2].to_ascii_uppercase());
        } else {
            out.push(value);
        }
        i += 3;
    }
    Ok(match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => reencode_invalid(e.as_bytes()),
    })
}

/// Keeps valid UTF-8 runs and percent-encodes the bytes that are not part of one. Raw input is
/// valid UTF-8, so only decoded bytes can end up here.
fn reencode_invalid(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// True when `clean` would return `path` unchanged.
fn is_clean(path: &str) -> bool {
    let body = path.strip_prefix('/').unwrap_or(path);
    let body = body.strip_suffix('/').unwrap_or(body);
    if body.is_empty() {
        return path == "/";
    }
    body.split('/')
        .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
}

/// Go's `path.Clean`, plus: a trailing slash of the input is kept.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if segments.last().is_some_and(|s| *s != "..") {
                    segments.pop();
                } else if !rooted {
                    segments.push("..");
                }
            }
            _ => segments.push(seg),
        }
    }
    let mut out = String::with_capacity(path.len());
    if rooted {
        out.push('/');
    }
    out.push_str(&segments.join("/"));
    if out.is_empty() {
        out.push('.');
    }
    if path.ends_with('/') && !out.ends_with('/') {
        out.push('/');
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn go_path_clean() {
        let cases = [
            ("a/b/../c", "a/c"),
            ("../a", "../a"),
            ("a/../..", ".."),
            ("/../a", "/a"),
            ("/a/b/..", "/a"),
            ("/a/./b/", "/a/b/"),
            ("//", "/"),
            ("/a//b", "/a/b"),
            ("*", "*"),
        ];
        for (input, want) in cases {
            assert_eq!(clean(input), want, "{input}");
            // `is_clean` may be conservative, never wrong.
            if is_clean(input) {
                assert_eq!(input, want);
            }
        }
        for clean_path in ["/", "/a", "/a/b/", "a/b", "*"] {
            assert!(is_clean(clean_path), "{clean_path}");
        }
    }
}

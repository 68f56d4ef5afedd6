//! Reading query strings the way Go's `url.ParseQuery` does, without building a map per request:
//! pairs are split on `&`; empty pairs are skipped; a pair containing `;` is skipped (the runtime
//! has already turned `;` into `&` where the entry point wants that); keys and values are
//! form-decoded (`+` is a space, `%XX` a byte) and a pair with a malformed escape is skipped.
//! Keys are case-sensitive.

use std::borrow::Cow;

/// The raw `(key, value)` pairs ParseQuery would keep, still encoded.
pub(crate) fn pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty() && !p.contains(';'))
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// Form-decodes `raw`; `None` when it holds a malformed escape. Borrows when nothing to decode.
pub(crate) fn decode(raw: &str) -> Option<Cow<'_, str>> {
    if !raw.bytes().any(|b| b == b'%' || b == b'+') {
        return Some(Cow::Borrowed(raw));
    }
    let mut out = Vec::with_capacity(raw.len());
    for b in Decoded::new(raw) {
        out.push(b?);
    }
    Some(match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        // Go keeps the bytes; its regexps read invalid UTF-8 as U+FFFD, as lossy conversion does.
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    })
}

/// Whether `raw`, form-decoded, equals `want`; `None` when `raw` is malformed.
pub(crate) fn decoded_eq(raw: &str, want: &str) -> Option<bool> {
    let mut want = want.bytes();
    let mut equal = true;
    for b in Decoded::new(raw) {
        let b = b?;
        if equal && want.next() != Some(b) {
            equal = false;
        }
    }
    Some(equal && want.next().is_none())
}

/// Iterator over the decoded bytes of a form-encoded string; yields `None` on a bad escape.
struct Decoded<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Decoded<'a> {
    fn new(raw: &'a str) -> Self {
        Decoded {
            bytes: raw.as_bytes(),
            at: 0,
        }
    }
}

impl Iterator for Decoded<'_> {
    type Item = Option<u8>;

    fn next(&mut self) -> Option<Option<u8>> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(match b {
            b'+' => Some(b' '),
            b'%' => {
                let hex = |i: usize| self.bytes.get(i).and_then(|&h| char::from(h).to_digit(16));
                match (hex(self.at), hex(self.at + 1)) {
                    (Some(hi), Some(lo)) => {
                        self.at += 2;
                        Some((hi * 16 + lo) as u8)
                    }
                    _ => {
                        self.at = self.bytes.len();
                        None
                    }
                }
            }
            other => Some(other),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pairs_like_go() {
        let got: Vec<_> = pairs("a=1&&b&c=&d=x=y&e;f=2&=z").collect();
        assert_eq!(
            got,
            vec![("a", "1"), ("b", ""), ("c", ""), ("d", "x=y"), ("", "z")]
        );
    }

    #[test]
    fn decoding() {
        assert_eq!(decode("a+b").as_deref(), Some("a b"));
        assert_eq!(decode("a%20b%2B").as_deref(), Some("a b+"));
        assert_eq!(decode("%zz"), None);
        assert_eq!(decode("%4"), None);
        assert_eq!(decode("%C3%A9").as_deref(), Some("é"));
        assert_eq!(decode("%FF").as_deref(), Some("\u{fffd}"));
        assert_eq!(decoded_eq("a+b", "a b"), Some(true));
        assert_eq!(decoded_eq("a%20b", "a b"), Some(true));
        assert_eq!(decoded_eq("a%20", "a b"), Some(false));
        assert_eq!(decoded_eq("a%20bc", "a b"), Some(false));
        assert_eq!(decoded_eq("x%zz", "a"), None);
        assert_eq!(decoded_eq("", ""), Some(true));
    }
}

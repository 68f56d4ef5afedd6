//! Best-effort line numbers for errors found after parsing.
//!
//! The neutral tree does not keep positions, so once a key path is known to be wrong we look for
//! its segments, in order, in the original text. This finds the right line for the usual YAML,
//! TOML (`[a.b]` headers included) and JSON layouts; when a segment cannot be found we settle for
//! the last one that was, and report no line at all rather than a wrong guess for the first.

use super::de::Segment;

/// The 1-based line holding the innermost findable key of `path` in `text`.
pub(crate) fn find_key_line<'a>(
    text: &str,
    path: impl Iterator<Item = &'a Segment>,
) -> Option<usize> {
    let haystack = text.to_ascii_lowercase();
    let mut from = 0;
    let mut found = None;
    for segment in path {
        let Segment::Key(key) = segment else {
            continue;
        };
        if key.is_empty() {
            continue;
        }
        let needle = key.to_ascii_lowercase();
        match find_word(&haystack, &needle, from) {
            Some(at) => {
                found = Some(at);
                from = at + needle.len();
            }
            None => break,
        }
    }
    found.map(|at| line_of_offset(text, at))
}

/// The first occurrence of `needle` at or after `from` that is not part of a longer word.
fn find_word(haystack: &str, needle: &str, from: usize) -> Option<usize> {
    let bytes = haystack.as_bytes();
    let mut start = from;
    while start <= haystack.len() {
        let at = start + haystack.get(start..)?.find(needle)?;
        let end = at + needle.len();
        let before_ok = at == 0 || !is_word_byte(bytes[at - 1]);
        let after_ok = end >= bytes.len() || !is_word_byte(bytes[end]);
        if before_ok && after_ok {
            return Some(at);
        }
        start = at + 1;
        while start < haystack.len() && !haystack.is_char_boundary(start) {
            start += 1;
        }
    }
    None
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// The 1-based line of a byte offset.
pub(crate) fn line_of_offset(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(path: &[&str]) -> Vec<Segment> {
        path.iter()
            .map(|k| Segment::Key((*k).to_string()))
            .collect()
    }

    #[test]
    fn finds_nested_yaml_key() {
        let text = "entryPoints:\n  websecure:\n    address: ':443'\n  web:\n    adress: ':80'\n";
        let path = keys(&["entryPoints", "web", "adress"]);
        assert_eq!(find_key_line(text, path.iter()), Some(5));
    }

    #[test]
    fn finds_toml_header_key() {
        let text = "[entryPoints]\n  [entryPoints.web]\n    adress = \":80\"\n";
        let path = keys(&["entryPoints", "web", "adress"]);
        assert_eq!(find_key_line(text, path.iter()), Some(3));
    }

    #[test]
    fn unknown_first_segment_gives_none() {
        let path = keys(&["nothere"]);
        assert_eq!(find_key_line("a: b\n", path.iter()), None);
    }
}

//! Compiles Go (RE2) regular expressions with the `regex` crate. The two dialects are close but
//! not equal; this module rewrites the differences that change what a router matches:
//! `\d \w \s \b` are ASCII-only in Go but Unicode in `regex`; a `{` that does not start a
//! repetition is a literal in Go but an error in `regex`; inside `[...]`, Go treats `[`, `&&`,
//! `--` and `~~` literally while `regex` reads nested classes and set operators; `\<`/`\>` are
//! characters in Go but word boundaries in `regex`; `\Q...\E` quoting and octal escapes exist
//! only in Go. Everything else passes through unchanged and `regex` reports what it cannot
//! compile.

use regex::Regex;

use crate::error::{regex_error, RuleError};

/// Compiles a Go regexp given to `matcher` (named in errors).
pub(crate) fn compile(matcher: &str, pattern: &str) -> Result<Regex, RuleError> {
    Regex::new(&translate(pattern)).map_err(|e| regex_error(matcher, pattern, &e))
}

/// Compiles an already-translated pattern (gorilla templates assemble several pieces).
pub(crate) fn compile_translated(
    matcher: &str,
    original: &str,
    translated: &str,
) -> Result<Regex, RuleError> {
    Regex::new(translated).map_err(|e| regex_error(matcher, original, &e))
}

/// Rewrites Go regexp syntax into equivalent `regex` crate syntax.
pub(crate) fn translate(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut in_class = false;
    // True right after `[` or `[^`, where `]` is a literal in both dialects.
    let mut class_start = false;
    let mut prev_in_class: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let at_class_start = std::mem::replace(&mut class_start, false);
        match c {
            '\\' => {
                i = escape(&chars, i, in_class, &mut out);
                prev_in_class = None;
                continue;
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if chars.get(i + 1) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                class_start = true;
                prev_in_class = None;
            }
            '[' => {
                // POSIX classes `[:alpha:]` are understood by both; any other `[` is literal.
                if let Some(len) = posix_class_len(&chars[i..]) {
                    out.extend(&chars[i..i + len]);
                    i += len;
                    prev_in_class = None;
                    continue;
                }
                out.push_str("\\[");
                prev_in_class = Some('[');
            }
            ']' if in_class && at_class_start => {
                out.push_str("\\]");
                prev_in_class = Some(']');
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
                prev_in_class = Some(c);
            }
            '-' if in_class && prev_in_class == Some('-') => {
                out.push_str("\\-");
                prev_in_class = None;
            }
            '{' if !in_class => {
                if let Some(len) = repetition_len(&chars[i..]) {
                    out.extend(&chars[i..i + len]);
                    i += len;
                    continue;
                }
                out.push_str("\\{");
            }
            '}' if !in_class => out.push_str("\\}"),
            _ => {
                out.push(c);
                if in_class {
                    prev_in_class = Some(c);
                }
            }
        }
        i += 1;
    }
    out
}

/// Handles the escape starting at `chars[i]` (a backslash); returns the next index.
fn escape(chars: &[char], i: usize, in_class: bool, out: &mut String) -> usize {
    let Some(&e) = chars.get(i + 1) else {
        out.push('\\'); // `regex` rejects the trailing backslash, as Go does.
        return i + 1;
    };
    let perl = |positive: &str| {
        if in_class {
            positive.to_string()
        } else {
            format!("[{positive}]")
        }
    };
    let negated = |positive: &str| format!("[^{positive}]");
    match e {
        'd' => out.push_str(&perl("0-9")),
        'w' => out.push_str(&perl("0-9A-Za-z_")),
        's' => out.push_str(&perl("\\t\\n\\f\\r ")),
        'D' => out.push_str(&negated("0-9")),
        'W' => out.push_str(&negated("0-9A-Za-z_")),
        'S' => out.push_str(&negated("\\t\\n\\f\\r ")),
        // `regex` reads `\<` and `\>` as word-boundary assertions; in Go they are the characters.
        '<' | '>' => out.push(e),
        'b' | 'B' if !in_class => {
            out.push_str("(?-u:\\");
            out.push(e);
            out.push(')');
        }
        'Q' => {
            let body_start = i + 2;
            let mut end = body_start;
            while end < chars.len() && !(chars[end] == '\\' && chars.get(end + 1) == Some(&'E')) {
                end += 1;
            }
            for &c in &chars[body_start..end] {
                let mut buf = [0u8; 4];
                out.push_str(&regex::escape(c.encode_utf8(&mut buf)));
            }
            return if end < chars.len() { end + 2 } else { end };
        }
        'p' | 'P' | 'x' if chars.get(i + 2) == Some(&'{') => {
            // `\p{Greek}`, `\x{41}`: same syntax in both; copy the braces untouched.
            let close = chars[i..].iter().position(|&c| c == '}');
            let end = close.map_or(chars.len(), |p| i + p + 1);
            out.extend(&chars[i..end]);
            return end;
        }
        '0'..='7' => {
            // Go: `\0` and `\1`..`\7` followed by an octal digit start an octal escape of up
            // to three digits; a lone `\1`..`\7` is a backreference (an error in both).
            let next_octal = chars.get(i + 2).is_some_and(|c| ('0'..='7').contains(c));
            if e == '0' || next_octal {
                let mut value = 0u32;
                let mut n = 0;
                while n < 3 {
                    match chars.get(i + 1 + n).and_then(|c| c.to_digit(8)) {
                        Some(d) => value = value * 8 + d,
                        None => break,
                    }
                    n += 1;
                }
                out.push_str(&format!("\\x{{{value:X}}}"));
                return i + 1 + n;
            }
            out.push('\\');
            out.push(e);
        }
        _ => {
            out.push('\\');
            out.push(e);
        }
    }
    i + 2
}

/// Length of a Go repetition `{n}`, `{n,}` or `{n,m}` at the start of `s`, if there is one.
fn repetition_len(s: &[char]) -> Option<usize> {
    let mut i = 1;
    let digits = |i: &mut usize| {
        let start = *i;
        while s.get(*i).is_some_and(char::is_ascii_digit) {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return None;
    }
    if s.get(i) == Some(&',') {
        i += 1;
        digits(&mut i);
    }
    (s.get(i) == Some(&'}')).then_some(i + 1)
}

/// Length of a POSIX class `[:name:]` or `[:^name:]` at the start of `s`.
fn posix_class_len(s: &[char]) -> Option<usize> {
    if s.get(1) != Some(&':') {
        return None;
    }
    let mut i = 2;
    if s.get(i) == Some(&'^') {
        i += 1;
    }
    let start = i;
    while s.get(i).is_some_and(char::is_ascii_lowercase) {
        i += 1;
    }
    (i > start && s.get(i) == Some(&':') && s.get(i + 1) == Some(&']')).then_some(i + 2)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn is_match(pattern: &str, text: &str) -> bool {
        compile("T", pattern).unwrap().is_match(text)
    }

    #[test]
    fn perl_classes_are_ascii() {
        assert!(is_match(r"^\w+$", "abc_09"));
        assert!(!is_match(r"^\w+$", "café"));
        assert!(!is_match(r"^\d$", "٣"));
        assert!(is_match(r"^\D$", "٣"));
        assert!(is_match(r"^[\d.]+$", "1.2"));
        assert!(is_match(r"^[^\s]+$", "a\u{a0}b"));
        assert!(!is_match(r"^\s$", "\u{a0}"));
        // `é` is not an ASCII word character, so Go sees a boundary after `a`.
        assert!(is_match(r"^a\b", "aé"));
        assert!(is_match(r"^\p{Greek}+$", "αβ"));
        assert!(is_match(r"^\x{41}\x42$", "AB"));
    }

    #[test]
    fn literal_braces() {
        assert!(is_match(r"{domain:[a-z]+\.com}", "{domain:x.com}"));
        assert!(!is_match(r"{domain:[a-zA-Z-]+\.com}", "example.com"));
        assert!(is_match(r"^a{2}$", "aa"));
        assert!(is_match(r"^a{2,}$", "aaa"));
        assert!(is_match(r"^a{1,2}b$", "aab"));
        assert!(is_match(r"^a{x}$", "a{x}"));
    }

    #[test]
    fn classes_read_like_go() {
        assert!(is_match(r"^[[]$", "["));
        assert!(is_match(r"^[]a]+$", "]a"));
        assert!(is_match(r"^[a&&b]+$", "a&b"));
        assert!(is_match(r"^[a~~b]+$", "~"));
        assert!(is_match(r"^[+--]+$", ","));
        assert!(is_match(r"^[[:alpha:]]+$", "abc"));
        assert!(!is_match(r"^[[:^alpha:]]+$", "abc"));
    }

    #[test]
    fn go_only_escapes() {
        assert!(is_match(r"^\Qa.b\E$", "a.b"));
        assert!(!is_match(r"^\Qa.b\E$", "axb"));
        assert!(is_match(r"^\101$", "A"));
        assert!(is_match(r"^\0$", "\0"));
        assert!(is_match(r"^\<a\>$", "<a>"));
        assert!(compile("T", r"(a)\1").is_err());
        assert!(compile("T", r"(").is_err());
        assert!(compile("T", "\\").is_err());
    }
}

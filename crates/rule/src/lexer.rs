//! Tokenizer for rule strings. Traefik hands rules to Go's expression parser, so the tokens are
//! Go's: identifiers, Go string literals (backtick raw strings and double-quoted strings with Go
//! escapes), `(`, `)`, `,`, `&&`, `||` and `!`. Anything else (single quotes, numbers, `&`, ...)
//! is an error reported with its byte position. Like Go, a line may not end right after an
//! identifier, a string or `)` when more tokens follow (Go would insert a `;` there).
//! This module knows nothing about matchers; the parser gives tokens meaning.

use crate::error::RuleError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Ident,
    /// A string literal, already unquoted.
    Str(String),
    LParen,
    RParen,
    Comma,
    And,
    Or,
    Not,
}

#[derive(Debug, Clone)]
pub(crate) struct Token<'a> {
    pub(crate) kind: TokenKind,
    /// The token as written in the rule (for error messages and identifiers).
    pub(crate) text: &'a str,
    /// Byte offset of the token's first character.
    pub(crate) pos: usize,
}

pub(crate) fn unexpected(text: &str, pos: usize) -> RuleError {
    RuleError::new(format!("unexpected token `{text}` at position {pos}"))
}

/// Splits `src` into tokens.
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token<'_>>, RuleError> {
    let bytes = src.as_bytes();
    let mut tokens: Vec<Token<'_>> = Vec::new();
    let mut i = 0;
    // Position of a newline seen where Go would insert an implicit semicolon.
    let mut newline_after_operand: Option<usize> = None;

    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b' ' | b'\t' | b'\r' => {
                i += 1;
                continue;
            }
            b'\n' => {
                let ends_operand = tokens.last().is_some_and(|t| {
                    matches!(
                        t.kind,
                        TokenKind::Ident | TokenKind::Str(_) | TokenKind::RParen
                    )
                });
                if ends_operand && newline_after_operand.is_none() {
                    newline_after_operand = Some(i);
                }
                i += 1;
                continue;
            }
            _ => {}
        }
        if let Some(nl) = newline_after_operand.take() {
            return Err(RuleError::new(format!(
                "unexpected newline at position {nl}: a line may not end after a matcher or `)` \
                 when the rule goes on (put `&&` or `||` at the end of the line)"
            )));
        }

        let start = i;
        let kind = match b {
            b'(' => {
                i += 1;
                TokenKind::LParen
            }
            b')' => {
                i += 1;
                TokenKind::RParen
            }
            b',' => {
                i += 1;
                TokenKind::Comma
            }
            b'&' if bytes.get(i + 1) == Some(&b'&') => {
                i += 2;
                TokenKind::And
            }
            b'|' if bytes.get(i + 1) == Some(&b'|') => {
                i += 2;
                TokenKind::Or
            }
            b'!' if bytes.get(i + 1) != Some(&b'=') => {
                i += 1;
                TokenKind::Not
            }
            b'`' => {
                let (value, end) = raw_string(src, i)?;
                i = end;
                TokenKind::Str(value)
            }
            b'"' => {
                let (value, end) = interpreted_string(src, i)?;
                i = end;
                TokenKind::Str(value)
            }
            b'\'' => {
                return Err(RuleError::new(format!(
                    "unexpected token `'` at position {i} (values must be quoted with backticks \
                     or double quotes)"
                )))
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('\u{fffd}');
                if ch.is_alphabetic() || ch == '_' {
                    let len = src[i..]
                        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .unwrap_or(src.len() - i);
                    i += len;
                    TokenKind::Ident
                } else {
                    let text = if ch == '!' {
                        "!="
                    } else {
                        &src[i..i + ch.len_utf8()]
                    };
                    return Err(unexpected(text, i));
                }
            }
        };
        tokens.push(Token {
            kind,
            text: &src[start..i],
            pos: start,
        });
    }
    Ok(tokens)
}

/// A backtick string: everything up to the next backtick, carriage returns dropped (as in Go).
fn raw_string(src: &str, start: usize) -> Result<(String, usize), RuleError> {
    let body = &src[start + 1..];
    match body.find('`') {
        Some(len) => {
            let value = body[..len].replace('\r', "");
            Ok((value, start + 1 + len + 1))
        }
        None => Err(RuleError::new(format!(
            "unterminated string starting at position {start}"
        ))),
    }
}

/// A double-quoted Go string with its escapes (`\n`, `\x41`, `\101`, `\u00e9`, ...).
fn interpreted_string(src: &str, start: usize) -> Result<(String, usize), RuleError> {
    let bytes = src.as_bytes();
    let mut out: Vec<u8> = Vec::new();
    let mut i = start + 1;
    let unterminated =
        || RuleError::new(format!("unterminated string starting at position {start}"));
    loop {
        let Some(&b) = bytes.get(i) else {
            return Err(unterminated());
        };
        match b {
            b'"' => {
                i += 1;
                break;
            }
            b'\n' => return Err(unterminated()),
            b'\\' => {
                let esc_pos = i;
                let Some(&e) = bytes.get(i + 1) else {
                    return Err(unterminated());
                };
                i += 2;
                let bad = || {
                    RuleError::new(format!(
                        "invalid escape sequence in string at position {esc_pos}"
                    ))
                };
                match e {
                    b'a' => out.push(0x07),
                    b'b' => out.push(0x08),
                    b'f' => out.push(0x0c),
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'v' => out.push(0x0b),
                    b'\\' => out.push(b'\\'),
                    b'"' => out.push(b'"'),
                    b'x' => {
                        let v = digits(bytes, i, 2, 16).ok_or_else(bad)?;
                        out.push(v as u8);
                        i += 2;
                    }
                    b'0'..=b'7' => {
                        let v = digits(bytes, i - 1, 3, 8).ok_or_else(bad)?;
                        let byte = u8::try_from(v).map_err(|_| bad())?;
                        out.push(byte);
                        i += 2;
                    }
                    b'u' | b'U' => {
                        let n = if e == b'u' { 4 } else { 8 };
                        let v = digits(bytes, i, n, 16).ok_or_else(bad)?;
                        let c = char::from_u32(v).ok_or_else(bad)?;
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        i += n;
                    }
                    _ => return Err(bad()),
                }
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    let value = String::from_utf8(out).map_err(|_| {
        RuleError::new(format!(
            "string at position {start} is not valid UTF-8 after unescaping"
        ))
    })?;
    Ok((value, i))
}

/// Reads exactly `n` digits in `radix` at `at`.
fn digits(bytes: &[u8], at: usize, n: usize, radix: u32) -> Option<u32> {
    let slice = bytes.get(at..at + n)?;
    let mut v: u32 = 0;
    for &d in slice {
        v = v * radix + char::from(d).to_digit(radix)?;
    }
    Some(v)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn strings(src: &str) -> Vec<String> {
        tokenize(src)
            .unwrap()
            .into_iter()
            .filter_map(|t| match t.kind {
                TokenKind::Str(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn go_string_literals() {
        assert_eq!(strings(r#"A(`a\nb`)"#), vec![r"a\nb"]);
        assert_eq!(strings(r#"A("a\nb")"#), vec!["a\nb"]);
        assert_eq!(
            strings(r#"A("\x41\101\u00e9\U0001F9AD\"\\")"#),
            vec!["AAé🦭\"\\"]
        );
        assert_eq!(strings("A(`a\r\nb`)"), vec!["a\nb"]);
        assert_eq!(
            strings(r#"A("\t\a\b\f\v\r")"#),
            vec!["\t\x07\x08\x0c\x0b\r"]
        );
    }

    #[test]
    fn bad_literals() {
        for src in [
            r#"A("\'")"#,
            r#"A("\q")"#,
            r#"A("\x4")"#,
            r#"A("\400")"#,
            r#"A("\uD800")"#,
            r#"A("\xff")"#,
            "A(\"a\nb\")",
            "A(`abc",
            "A(\"abc",
            "A('a')",
            "A(1)",
            "A & B",
            "A | B",
            "A != B",
            "A ; B",
        ] {
            assert!(tokenize(src).is_err(), "{src:?} should not tokenize");
        }
    }

    #[test]
    fn single_quote_message() {
        let err = tokenize("Host('example.com')").unwrap_err();
        assert!(err
            .to_string()
            .starts_with("unexpected token `'` at position 5"));
    }

    #[test]
    fn newlines_follow_go_semicolon_rule() {
        assert!(tokenize("A(`a`) &&\n B(`b`)\n").is_ok());
        assert!(tokenize("A(`a`)\n && B(`b`)").is_err());
        assert!(tokenize("A\n(`a`)").is_err());
        assert!(tokenize("A(\n`a`,\n)").is_ok());
    }
}

//! `retryExpression` of the buffering middleware (oxy's buffer predicates): `Attempts()` and
//! `ResponseCode()` (integers), `RequestMethod()` (a string, compared with `==`/`!=` to a
//! quoted literal such as `` `GET` ``), and the predicate `IsNetworkError()` (the answer was a
//! 502 or 504), combined with comparisons, `&&`, `||` and parentheses.

use http::Method;

/// What a retry decision looks at.
#[derive(Debug, Clone, Copy)]
pub(super) struct Attempt<'a> {
    pub(super) method: &'a Method,
    /// 1 for the first attempt.
    pub(super) attempt: i64,
    pub(super) status: u16,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    IsNetworkError,
    Int(IntFn, Op, i64),
    Method(bool, String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IntFn {
    Attempts,
    ResponseCode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Expr {
    pub(super) fn eval(&self, a: &Attempt<'_>) -> bool {
        match self {
            Expr::And(x, y) => x.eval(a) && y.eval(a),
            Expr::Or(x, y) => x.eval(a) || y.eval(a),
            Expr::IsNetworkError => a.status == 502 || a.status == 504,
            Expr::Method(eq, m) => (a.method.as_str() == m) == *eq,
            Expr::Int(f, op, w) => {
                let v = match f {
                    IntFn::Attempts => a.attempt,
                    IntFn::ResponseCode => i64::from(a.status),
                };
                match op {
                    Op::Gt => v > *w,
                    Op::Ge => v >= *w,
                    Op::Lt => v < *w,
                    Op::Le => v <= *w,
                    Op::Eq => v == *w,
                    Op::Ne => v != *w,
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Int(i64),
    Str(String),
    LParen,
    RParen,
    And,
    Or,
    Op(Op),
}

fn tokenize(s: &str) -> Result<Vec<Token>, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let two = b.get(i..i + 2);
        let (token, len) = match b[i] {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'(' => (Token::LParen, 1),
            b')' => (Token::RParen, 1),
            _ if two == Some(b"&&") => (Token::And, 2),
            _ if two == Some(b"||") => (Token::Or, 2),
            _ if two == Some(b">=") => (Token::Op(Op::Ge), 2),
            _ if two == Some(b"<=") => (Token::Op(Op::Le), 2),
            _ if two == Some(b"==") => (Token::Op(Op::Eq), 2),
            _ if two == Some(b"!=") => (Token::Op(Op::Ne), 2),
            b'>' => (Token::Op(Op::Gt), 1),
            b'<' => (Token::Op(Op::Lt), 1),
            b'!' => return Err("! is not supported".into()),
            b'-' => return Err("- is not supported".into()),
            q @ (b'`' | b'"') => {
                let end = s[i + 1..]
                    .find(q as char)
                    .ok_or("unterminated string literal")?;
                (Token::Str(s[i + 1..i + 1 + end].to_owned()), end + 2)
            }
            c if c.is_ascii_digit() => {
                let len = s[i..]
                    .find(|c: char| !c.is_ascii_alphanumeric())
                    .unwrap_or(s.len() - i);
                let text = &s[i..i + len];
                let n = text
                    .parse()
                    .map_err(|_| format!("invalid integer {text:?}"))?;
                (Token::Int(n), len)
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let len = s[i..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(s.len() - i);
                (Token::Ident(s[i..i + len].to_owned()), len)
            }
            _ => {
                let ch = s[i..].chars().next().unwrap_or('?');
                return Err(format!("illegal character {ch:?}"));
            }
        };
        out.push(token);
        i += len;
    }
    Ok(out)
}

pub(super) fn parse(s: &str) -> Result<Expr, String> {
    let tokens = tokenize(s)?;
    if tokens.is_empty() {
        return Err("empty expression".into());
    }
    let mut p = Parser { tokens, pos: 0 };
    let e = p.or()?;
    match p.tokens.get(p.pos) {
        None => Ok(e),
        Some(t) => Err(format!("unexpected {t:?}")),
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut e = self.and()?;
        while self.tokens.get(self.pos) == Some(&Token::Or) {
            self.pos += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.predicate()?;
        while self.tokens.get(self.pos) == Some(&Token::And) {
            self.pos += 1;
            e = Expr::And(Box::new(e), Box::new(self.predicate()?));
        }
        Ok(e)
    }

    fn predicate(&mut self) -> Result<Expr, String> {
        let name = match self.next() {
            Some(Token::LParen) => {
                let e = self.or()?;
                return match self.next() {
                    Some(Token::RParen) => Ok(e),
                    _ => Err("expected )".into()),
                };
            }
            Some(Token::Ident(name)) => name,
            Some(t) => return Err(format!("expected a function, found {t:?}")),
            None => return Err("expected operand, found the end of the expression".into()),
        };
        if self.next() != Some(Token::LParen) || self.next() != Some(Token::RParen) {
            return Err(format!(
                "{name}: expected () (the functions take no argument)"
            ));
        }
        let int_fn = match name.as_str() {
            "IsNetworkError" => return Ok(Expr::IsNetworkError),
            "Attempts" => Some(IntFn::Attempts),
            "ResponseCode" => Some(IntFn::ResponseCode),
            "RequestMethod" => None,
            _ => return Err(format!("unsupported function: {name}")),
        };
        let op = match self.next() {
            Some(Token::Op(op)) => op,
            _ => return Err(format!("expected predicate, got the value of {name}()")),
        };
        match (int_fn, self.next()) {
            (Some(f), Some(Token::Int(n))) => Ok(Expr::Int(f, op, n)),
            (Some(_), _) => Err(format!("{name}() must be compared to an integer")),
            (None, Some(Token::Str(m))) if matches!(op, Op::Eq | Op::Ne) => {
                Ok(Expr::Method(op == Op::Eq, m))
            }
            (None, _) => Err("RequestMethod() is compared with == or != to a quoted string".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(expr: &str, method: Method, attempt: i64, status: u16) -> bool {
        parse(expr).unwrap().eval(&Attempt {
            method: &method,
            attempt,
            status,
        })
    }

    #[test]
    fn evaluates() {
        let e = "IsNetworkError() && Attempts() < 2";
        assert!(eval(e, Method::GET, 1, 502));
        assert!(eval(e, Method::GET, 1, 504));
        assert!(!eval(e, Method::GET, 2, 502));
        assert!(!eval(e, Method::GET, 1, 500));
        let e = "RequestMethod() == `GET` && (ResponseCode() >= 500 || ResponseCode() == 429)";
        assert!(eval(e, Method::GET, 1, 503));
        assert!(eval(e, Method::GET, 1, 429));
        assert!(!eval(e, Method::POST, 1, 503));
        assert!(eval("RequestMethod() != \"POST\"", Method::PUT, 1, 200));
    }

    #[test]
    fn rejects() {
        for (bad, why) in [
            ("Foo()", "unsupported function: Foo"),
            ("Attempts()", "expected predicate"),
            ("Attempts() < `2`", "integer"),
            ("RequestMethod() > `GET`", "=="),
            ("!IsNetworkError()", "!"),
            ("", "empty"),
            ("IsNetworkError() &&", "expected operand"),
            ("RequestMethod() == `GET", "unterminated"),
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }
}

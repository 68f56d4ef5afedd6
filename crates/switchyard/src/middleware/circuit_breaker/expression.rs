//! The trip expression language of Traefik's circuit breaker: metric functions compared to
//! literals, combined with `&&` and `||` (`&&` binds tighter) and parentheses. The functions are
//! `NetworkErrorRatio()` and `ResponseCodeRatio(from, to, divFrom, divTo)` (floats, compared to
//! float literals), `LatencyAtQuantileMS(q)` (an integer, `q` a float literal) and, as a
//! Switchyard extension, `RequestThreshold()` (the request count, an integer). Type rules and
//! rejected forms (`!`, negative numbers, a literal on the left) follow Traefik 3.7.

use super::metrics::Metrics;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(Metric, Op, Literal),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Metric {
    NetworkErrorRatio,
    /// Codes in `[from, to)` divided by codes in `[div_from, div_to)`.
    ResponseCodeRatio(i64, i64, i64, i64),
    /// Quantile in percent.
    LatencyAtQuantileMs(f64),
    RequestThreshold,
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

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Literal {
    Int(i64),
    Float(f64),
}

impl Expr {
    /// Whether the breaker should trip with these metrics.
    pub(super) fn eval(&self, m: &Metrics) -> bool {
        match self {
            Expr::And(a, b) => a.eval(m) && b.eval(m),
            Expr::Or(a, b) => a.eval(m) || b.eval(m),
            Expr::Cmp(metric, op, lit) => {
                let (v, w) = match (metric, lit) {
                    (Metric::NetworkErrorRatio, Literal::Float(f)) => (m.network_error_ratio(), *f),
                    (Metric::ResponseCodeRatio(a, b, c, d), Literal::Float(f)) => {
                        (m.response_code_ratio(*a, *b, *c, *d), *f)
                    }
                    (Metric::LatencyAtQuantileMs(q), Literal::Int(i)) => {
                        return compare(m.latency_at_quantile_ms(*q), *op, *i)
                    }
                    (Metric::RequestThreshold, Literal::Int(i)) => {
                        return compare(m.requests(), *op, *i)
                    }
                    // Excluded by the parser.
                    _ => return false,
                };
                compare_f(v, *op, w)
            }
        }
    }

    /// Whether the expression needs latency histograms.
    pub(super) fn uses_latency(&self) -> bool {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => a.uses_latency() || b.uses_latency(),
            Expr::Cmp(m, _, _) => matches!(m, Metric::LatencyAtQuantileMs(_)),
        }
    }
}

fn compare(v: i64, op: Op, w: i64) -> bool {
    match op {
        Op::Gt => v > w,
        Op::Ge => v >= w,
        Op::Lt => v < w,
        Op::Le => v <= w,
        Op::Eq => v == w,
        Op::Ne => v != w,
    }
}

fn compare_f(v: f64, op: Op, w: f64) -> bool {
    match op {
        Op::Gt => v > w,
        Op::Ge => v >= w,
        Op::Lt => v < w,
        Op::Le => v <= w,
        Op::Eq => v == w,
        Op::Ne => v != w,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Int(i64),
    Float(f64),
    LParen,
    RParen,
    Comma,
    And,
    Or,
    Op(Op),
}

fn tokenize(s: &str) -> Result<Vec<Token>, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let two = b.get(i..i + 2);
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'(' | b')' | b',' => {
                out.push(match c {
                    b'(' => Token::LParen,
                    b')' => Token::RParen,
                    _ => Token::Comma,
                });
                i += 1;
            }
            _ if two == Some(b"&&") => {
                out.push(Token::And);
                i += 2;
            }
            _ if two == Some(b"||") => {
                out.push(Token::Or);
                i += 2;
            }
            _ if two == Some(b">=") => {
                out.push(Token::Op(Op::Ge));
                i += 2;
            }
            _ if two == Some(b"<=") => {
                out.push(Token::Op(Op::Le));
                i += 2;
            }
            _ if two == Some(b"==") => {
                out.push(Token::Op(Op::Eq));
                i += 2;
            }
            _ if two == Some(b"!=") => {
                out.push(Token::Op(Op::Ne));
                i += 2;
            }
            b'>' => {
                out.push(Token::Op(Op::Gt));
                i += 1;
            }
            b'<' => {
                out.push(Token::Op(Op::Lt));
                i += 1;
            }
            b'!' => return Err("! is not supported".into()),
            b'-' => return Err("- is not supported".into()),
            _ if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                out.push(Token::Ident(s[start..i].to_owned()));
            }
            _ if c.is_ascii_digit() || c == b'.' => {
                let start = i;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == b'.'
                        || ((b[i] == b'+' || b[i] == b'-') && matches!(b[i - 1], b'e' | b'E')))
                {
                    i += 1;
                }
                let text = &s[start..i];
                let token = if text.bytes().all(|d| d.is_ascii_digit()) {
                    text.parse().map(Token::Int).ok()
                } else {
                    text.parse().map(Token::Float).ok()
                };
                out.push(token.ok_or_else(|| format!("invalid number {text:?}"))?);
            }
            _ => {
                let ch = s[i..].chars().next().unwrap_or('?');
                return Err(format!("illegal character {ch:?}"));
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

/// Parses an expression; the error says what is wrong (not where the expression came from).
pub(super) fn parse(s: &str) -> Result<Expr, String> {
    let tokens = tokenize(s)?;
    if tokens.is_empty() {
        return Err("empty expression".into());
    }
    let mut p = Parser { tokens, pos: 0 };
    let e = p.or()?;
    match p.peek() {
        None => Ok(e),
        Some(t) => Err(format!("unexpected {t:?}")),
    }
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut e = self.and()?;
        while self.peek() == Some(&Token::Or) {
            self.pos += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.predicate()?;
        while self.peek() == Some(&Token::And) {
            self.pos += 1;
            e = Expr::And(Box::new(e), Box::new(self.predicate()?));
        }
        Ok(e)
    }

    fn predicate(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Token::LParen) => {
                let e = self.or()?;
                match self.next() {
                    Some(Token::RParen) => Ok(e),
                    _ => Err("expected )".into()),
                }
            }
            Some(Token::Ident(name)) => {
                let metric = self.call(&name)?;
                let op = match self.next() {
                    Some(Token::Op(op)) => op,
                    _ => {
                        return Err(format!(
                            "expected predicate, got the value of {name}() (compare it to a number)"
                        ))
                    }
                };
                let lit = match self.next() {
                    Some(Token::Int(i)) => Literal::Int(i),
                    Some(Token::Float(f)) => Literal::Float(f),
                    _ => return Err(format!("expected a number after {}", op_name(op))),
                };
                match (metric, lit) {
                    (
                        Metric::NetworkErrorRatio | Metric::ResponseCodeRatio(..),
                        Literal::Int(_),
                    ) => Err(format!(
                        "{name}() is a ratio: compare it to a float such as 0.5"
                    )),
                    (
                        Metric::LatencyAtQuantileMs(_) | Metric::RequestThreshold,
                        Literal::Float(_),
                    ) => Err(format!("{name}() is an integer: compare it to an integer")),
                    _ => Ok(Expr::Cmp(metric, op, lit)),
                }
            }
            Some(Token::Int(_) | Token::Float(_)) => match self.peek() {
                Some(Token::Op(op)) => Err(format!(
                    "{}: unsupported argument: a number (the function must come first)",
                    op_name(*op)
                )),
                _ => Err("expected predicate, got a number".into()),
            },
            Some(t) => Err(format!("expected operand, found {t:?}")),
            None => Err("expected operand, found the end of the expression".into()),
        }
    }

    fn call(&mut self, name: &str) -> Result<Metric, String> {
        if self.next() != Some(Token::LParen) {
            return Err(format!("expected ( after {name}"));
        }
        let mut args = Vec::new();
        if self.peek() == Some(&Token::RParen) {
            self.pos += 1;
        } else {
            loop {
                match self.next() {
                    Some(t @ (Token::Int(_) | Token::Float(_))) => args.push(t),
                    _ => return Err(format!("{name}: arguments must be numbers")),
                }
                match self.next() {
                    Some(Token::Comma) => {}
                    Some(Token::RParen) => break,
                    _ => return Err(format!("{name}: expected , or )")),
                }
            }
        }
        let ints = |n: usize| -> Result<Vec<i64>, String> {
            if args.len() != n {
                return Err(format!("{name} takes {n} arguments, got {}", args.len()));
            }
            args.iter()
                .map(|a| match a {
                    Token::Int(i) => Ok(*i),
                    _ => Err(format!("{name}: arguments must be integers")),
                })
                .collect()
        };
        match name {
            "NetworkErrorRatio" => ints(0).map(|_| Metric::NetworkErrorRatio),
            "RequestThreshold" => ints(0).map(|_| Metric::RequestThreshold),
            "ResponseCodeRatio" => {
                let a = ints(4)?;
                Ok(Metric::ResponseCodeRatio(a[0], a[1], a[2], a[3]))
            }
            "LatencyAtQuantileMS" => match args.as_slice() {
                [Token::Float(q)] => Ok(Metric::LatencyAtQuantileMs(*q)),
                [_] => Err(format!("{name}: the quantile must be a float such as 50.0")),
                _ => Err(format!("{name} takes 1 argument, got {}", args.len())),
            },
            _ => Err(format!("unsupported function: {name}")),
        }
    }
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Gt => "gt",
        Op::Ge => "ge",
        Op::Lt => "lt",
        Op::Le => "le",
        Op::Eq => "eq",
        Op::Ne => "neq",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepted and rejected forms, as Traefik 3.7.15 accepts and rejects them
    /// (`RequestThreshold` aside).
    #[test]
    fn accepts_what_traefik_accepts() {
        for ok in [
            "NetworkErrorRatio() > 0.5",
            "NetworkErrorRatio() > 0.5 || LatencyAtQuantileMS(99.0) > 10 && ResponseCodeRatio(500,600,0,600) > 0.1",
            "NetworkErrorRatio() == 0.5",
            "NetworkErrorRatio() != 0.5",
            "LatencyAtQuantileMS(50.0) <= 1",
            "NetworkErrorRatio() > .5",
            "NetworkErrorRatio() > 5e-1",
            "LatencyAtQuantileMS(50.0) > 100",
            "ResponseCodeRatio(500, 600, 0, 600) > 0.25",
            "(NetworkErrorRatio() > 0.5)",
            "RequestThreshold() >= 10 && NetworkErrorRatio() > 0.5",
        ] {
            assert!(parse(ok).is_ok(), "{ok}: {:?}", parse(ok));
        }
        for (bad, why) in [
            ("NetworkErrorRatio()", "expected predicate"),
            ("0.5 < NetworkErrorRatio()", "lt: unsupported argument"),
            ("Foo() > 1", "unsupported function: Foo"),
            ("NetworkErrorRatio() >", "expected a number"),
            ("", "empty"),
            ("networkErrorRatio() > 0.5", "unsupported function"),
            ("NetworkErrorRatio(1) > 0.5", "takes 0 arguments"),
            ("NetworkErrorRatio() > 1", "float"),
            ("ResponseCodeRatio(500, 600, 0, 600.0) > 0.25", "integers"),
            ("RequestThreshold() > 5.0", "integer"),
            ("NetworkErrorRatio() > -0.5", "- is not supported"),
            ("LatencyAtQuantileMS(50) > 100", "float"),
            ("LatencyAtQuantileMS(50.0) > 100.5", "integer"),
            ("!(NetworkErrorRatio() > 0.5)", "! is not supported"),
            ("(NetworkErrorRatio() > 0.5", "expected )"),
            ("NetworkErrorRatio() > 0.5 &&", "expected operand"),
            ("NetworkErrorRatio() > 0.5 & x", "illegal character"),
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let e = parse(
            "NetworkErrorRatio() > 0.1 || NetworkErrorRatio() > 0.2 && NetworkErrorRatio() > 0.3",
        )
        .unwrap();
        assert!(matches!(e, Expr::Or(_, ref r) if matches!(**r, Expr::And(_, _))));
        assert!(!e.uses_latency());
        assert!(parse("LatencyAtQuantileMS(50.0) > 1")
            .unwrap()
            .uses_latency());
    }
}

//! Grammar of rules and the boolean tree they compile to. `||` binds looser than `&&`, `!` is
//! prefix and binds tightest, parentheses group. Each matcher call is handed to a builder
//! supplied by the HTTP or TCP side, which turns it into a sub-tree of compiled matchers (one
//! leaf, or an `||`/`&&` of leaves for v2's multi-argument forms). Nesting of parentheses and `!`
//! is capped so hostile input cannot exhaust the stack; `&&`/`||` chains are flat vectors and
//! cost no depth.

use crate::error::RuleError;
use crate::lexer::{tokenize, unexpected, Token, TokenKind};

/// Deepest nesting of `(` and `!` accepted. Real rules use a handful of levels.
pub(crate) const MAX_NESTING: usize = 100;

/// A compiled rule: a boolean tree over matchers `L`.
#[derive(Debug, Clone)]
pub(crate) enum Expr<L> {
    Leaf(L),
    Not(Box<Expr<L>>),
    And(Vec<Expr<L>>),
    Or(Vec<Expr<L>>),
}

impl<L> Expr<L> {
    /// Evaluates left to right with short-circuiting.
    pub(crate) fn eval(&self, leaf: &impl Fn(&L) -> bool) -> bool {
        match self {
            Expr::Leaf(l) => leaf(l),
            Expr::Not(e) => !e.eval(leaf),
            Expr::And(v) => v.iter().all(|e| e.eval(leaf)),
            Expr::Or(v) => v.iter().any(|e| e.eval(leaf)),
        }
    }

    /// Calls `f` on every leaf, left to right, including leaves under `!`.
    pub(crate) fn visit<'a>(&'a self, f: &mut impl FnMut(&'a L)) {
        match self {
            Expr::Leaf(l) => f(l),
            Expr::Not(e) => e.visit(f),
            Expr::And(v) | Expr::Or(v) => v.iter().for_each(|e| e.visit(f)),
        }
    }

    /// Builds an `||` of several sub-trees (v2 multi-argument matchers); one stays itself.
    pub(crate) fn any_of(mut v: Vec<Expr<L>>) -> Expr<L> {
        if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::Or(v)
        }
    }

    /// Builds an `&&` of several sub-trees; one stays itself.
    pub(crate) fn all_of(mut v: Vec<Expr<L>>) -> Expr<L> {
        if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::And(v)
        }
    }
}

/// One matcher call as written: `Name(args...)`.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    pub(crate) name: &'a str,
    pub(crate) args: Vec<String>,
    pub(crate) pos: usize,
}

/// Parses `rule`, compiling every call with `build`.
pub(crate) fn parse<L>(
    rule: &str,
    build: &mut dyn FnMut(Call<'_>) -> Result<Expr<L>, RuleError>,
) -> Result<Expr<L>, RuleError> {
    let tokens = tokenize(rule)?;
    if tokens.is_empty() {
        return Err(RuleError::new("empty rule"));
    }
    let mut p = Parser {
        tokens,
        next: 0,
        build,
    };
    let expr = p.or(0)?;
    match p.peek() {
        None => Ok(expr),
        Some(t) => Err(unexpected(t.text, t.pos)),
    }
}

struct Parser<'a, 'b, L> {
    tokens: Vec<Token<'a>>,
    next: usize,
    build: &'b mut dyn FnMut(Call<'_>) -> Result<Expr<L>, RuleError>,
}

impl<'a, L> Parser<'a, '_, L> {
    fn peek(&self) -> Option<&Token<'a>> {
        self.tokens.get(self.next)
    }

    fn bump(&mut self) -> Result<Token<'a>, RuleError> {
        let t = self
            .tokens
            .get(self.next)
            .cloned()
            .ok_or_else(|| RuleError::new("unexpected end of rule"))?;
        self.next += 1;
        Ok(t)
    }

    fn at(&self, kind: &TokenKind) -> bool {
        self.peek().is_some_and(|t| &t.kind == kind)
    }

    fn or(&mut self, depth: usize) -> Result<Expr<L>, RuleError> {
        let mut terms = vec![self.and(depth)?];
        while self.at(&TokenKind::Or) {
            self.next += 1;
            terms.push(self.and(depth)?);
        }
        Ok(Expr::any_of(terms))
    }

    fn and(&mut self, depth: usize) -> Result<Expr<L>, RuleError> {
        let mut terms = vec![self.unary(depth)?];
        while self.at(&TokenKind::And) {
            self.next += 1;
            terms.push(self.unary(depth)?);
        }
        Ok(Expr::all_of(terms))
    }

    fn unary(&mut self, depth: usize) -> Result<Expr<L>, RuleError> {
        let t = self.bump()?;
        match t.kind {
            TokenKind::Not => {
                let depth = nested(depth, t.pos)?;
                Ok(Expr::Not(Box::new(self.unary(depth)?)))
            }
            TokenKind::LParen => {
                let depth = nested(depth, t.pos)?;
                let inner = self.or(depth)?;
                let close = self.bump()?;
                if close.kind != TokenKind::RParen {
                    return Err(unexpected(close.text, close.pos));
                }
                Ok(inner)
            }
            TokenKind::Ident => self.call(t),
            _ => Err(unexpected(t.text, t.pos)),
        }
    }

    fn call(&mut self, name: Token<'a>) -> Result<Expr<L>, RuleError> {
        let open = self.bump().map_err(|_| {
            RuleError::new(format!(
                "`{}` at position {} is not a matcher call (expected `(`)",
                name.text, name.pos
            ))
        })?;
        if open.kind != TokenKind::LParen {
            return Err(unexpected(open.text, open.pos));
        }
        let mut args = Vec::new();
        loop {
            let t = self.bump()?;
            match t.kind {
                TokenKind::RParen => break,
                TokenKind::Str(s) => {
                    args.push(s);
                    let sep = self.bump()?;
                    match sep.kind {
                        TokenKind::Comma => {}
                        TokenKind::RParen => break,
                        _ => return Err(unexpected(sep.text, sep.pos)),
                    }
                }
                _ => return Err(unexpected(t.text, t.pos)),
            }
        }
        (self.build)(Call {
            name: name.text,
            args,
            pos: name.pos,
        })
    }
}

fn nested(depth: usize, pos: usize) -> Result<usize, RuleError> {
    if depth >= MAX_NESTING {
        return Err(RuleError::new(format!(
            "rule nests `(` and `!` more than {MAX_NESTING} levels deep (at position {pos})"
        )));
    }
    Ok(depth + 1)
}

/// Resolves a matcher name against the canonical names in `known`. Traefik accepts exactly four
/// spellings: canonical (`PathPrefix`), all lower-case, all upper-case, and capitalised
/// (`Pathprefix`).
pub(crate) fn resolve_name(name: &str, known: &[&'static str]) -> Option<&'static str> {
    known.iter().copied().find(|canonical| {
        if name == *canonical {
            return true;
        }
        if !name.eq_ignore_ascii_case(canonical) {
            return false;
        }
        let mut rest = name.bytes();
        let first = rest.next();
        let all_lower = name.bytes().all(|b| !b.is_ascii_uppercase());
        let all_upper = name.bytes().all(|b| !b.is_ascii_lowercase());
        let capitalised =
            first.is_some_and(|b| b.is_ascii_uppercase()) && rest.all(|b| !b.is_ascii_uppercase());
        all_lower || all_upper || capitalised
    })
}

/// The error for a name that is not a matcher, with a hint when the name is close to one.
pub(crate) fn unknown_matcher(
    call: &Call<'_>,
    known: &[&'static str],
    other_syntax: &[(&'static str, &'static str)],
) -> RuleError {
    let name = call.name;
    let mut msg = format!("unknown matcher `{name}` at position {}", call.pos);
    if let Some(canonical) = known.iter().find(|k| k.eq_ignore_ascii_case(name)) {
        msg.push_str(&format!(
            " (matcher names are accepted as `{canonical}`, `{}`, `{}` or `{}{}`)",
            canonical.to_ascii_lowercase(),
            canonical.to_ascii_uppercase(),
            &canonical[..1],
            canonical[1..].to_ascii_lowercase()
        ));
    } else if let Some((_, hint)) = other_syntax
        .iter()
        .find(|(other, _)| other.eq_ignore_ascii_case(name))
    {
        msg.push_str(&format!(" ({hint})"));
    }
    RuleError::new(msg)
}

/// Checks the argument count and that no argument is empty.
pub(crate) fn check_args(
    matcher: &str,
    args: &[String],
    min: usize,
    max: Option<usize>,
) -> Result<(), RuleError> {
    let n = args.len();
    let ok = n >= min && max.is_none_or(|m| n <= m);
    if !ok {
        let plural = |k: usize| if k == 1 { "argument" } else { "arguments" };
        let expected = match max {
            Some(m) if m == min => format!("{min} {}", plural(min)),
            Some(m) => format!("{min} or {m} arguments"),
            None => format!("at least {min} {}", plural(min)),
        };
        return Err(RuleError::new(format!(
            "{matcher}: expected {expected}, got {n}"
        )));
    }
    if let Some(i) = args.iter().position(|a| a.is_empty()) {
        return Err(RuleError::new(format!(
            "{matcher}: argument {} is empty",
            i + 1
        )));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tree(rule: &str) -> Result<String, RuleError> {
        let expr = parse(rule, &mut |c: Call<'_>| Ok(Expr::Leaf(c.args.join(","))))?;
        Ok(show(&expr))
    }

    fn show(e: &Expr<String>) -> String {
        match e {
            Expr::Leaf(s) => s.clone(),
            Expr::Not(e) => format!("!{}", show(e)),
            Expr::And(v) => format!("({})", v.iter().map(show).collect::<Vec<_>>().join(" & ")),
            Expr::Or(v) => format!("({})", v.iter().map(show).collect::<Vec<_>>().join(" | ")),
        }
    }

    #[test]
    fn precedence() {
        assert_eq!(tree("A(`a`) || B(`b`) && C(`c`)").unwrap(), "(a | (b & c))");
        assert_eq!(
            tree("(A(`a`) || B(`b`)) && C(`c`)").unwrap(),
            "((a | b) & c)"
        );
        assert_eq!(tree("!A(`a`) && B(`b`)").unwrap(), "(!a & b)");
        assert_eq!(tree("!(A(`a`) && !B(`b`))").unwrap(), "!(a & !b)");
        assert_eq!(tree("A(`a`, \"b\",)").unwrap(), "a,b");
        assert_eq!(tree("A()").unwrap(), "");
    }

    #[test]
    fn syntax_errors() {
        for rule in [
            "",
            "   ",
            "A",
            "A(",
            "A(`a`",
            "A(`a` `b`)",
            "A(,)",
            "A(`a`,,)",
            "(A(`a`)",
            "A(`a`))",
            "A(`a`) &&",
            "&& A(`a`)",
            "A(`a`) B(`b`)",
            "A(B(`b`))",
            "!",
            "()",
        ] {
            assert!(tree(rule).is_err(), "{rule:?} should not parse");
        }
    }

    #[test]
    fn nesting_is_capped() {
        let ok = format!(
            "{}A(`a`){}",
            "(".repeat(MAX_NESTING),
            ")".repeat(MAX_NESTING)
        );
        assert!(tree(&ok).is_ok());
        let deep = format!(
            "{}A(`a`){}",
            "(".repeat(MAX_NESTING + 1),
            ")".repeat(MAX_NESTING + 1)
        );
        assert!(tree(&deep).is_err());
        assert!(tree(&"(".repeat(100_000)).is_err());
        assert!(tree(&format!("{}A(`a`)", "!".repeat(100_000))).is_err());
    }

    #[test]
    fn spellings() {
        let known = ["PathPrefix", "ClientIP"];
        for ok in [
            "PathPrefix",
            "pathprefix",
            "PATHPREFIX",
            "Pathprefix",
            "Clientip",
        ] {
            assert!(resolve_name(ok, &known).is_some(), "{ok}");
        }
        for bad in [
            "pathPrefix",
            "PathPREFIX",
            "clientIp",
            "Path",
            "pathprefixx",
        ] {
            assert!(resolve_name(bad, &known).is_none(), "{bad}");
        }
    }
}

//! Traefik's rule language for Switchyard: it parses router rules (v3 syntax, and the older v2
//! syntax on request), compiles them into matcher trees, and answers "does this request (or TCP
//! connection) match?". It also computes the routing inputs those matchers look at (the routing
//! path and the normalised host) so the runtime and the rules can never disagree on them. It owns
//! no I/O and no configuration types: rule strings come from the model crate, request facts from
//! the runtime, which builds an [`HttpRequestView`] or [`TcpConnView`] per request/connection.
//!
//! The semantics follow the Traefik v3 reference (§3, our own restatement of Traefik's
//! behaviour); the crate README, included below, lists every matcher.
//!
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod error;
mod go_regex;
mod host;
mod http;
mod ip;
mod lexer;
mod parser;
mod path;
mod query;
mod tcp;
mod v2;

pub use crate::error::RuleError;
pub use crate::host::normalize_host;
pub use crate::http::{HttpRequestView, HttpRule};
pub use crate::path::{routing_path, PathError};
pub use crate::tcp::{TcpConnView, TcpRule};

/// Which dialect of the rule language a router uses (`ruleSyntax` / `core.defaultRuleSyntax`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Syntax {
    /// Traefik v2: multi-argument matchers, gorilla/mux `{name:regex}` templates.
    V2,
    /// Traefik v3 (the default): one value per matcher, plain Go regular expressions.
    #[default]
    V3,
}

impl std::str::FromStr for Syntax {
    type Err = RuleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("v3") {
            Ok(Syntax::V3)
        } else if s.eq_ignore_ascii_case("v2") {
            Ok(Syntax::V2)
        } else {
            Err(RuleError::new(format!(
                "unknown rule syntax `{s}` (expected `v2` or `v3`)"
            )))
        }
    }
}

impl std::fmt::Display for Syntax {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Syntax::V2 => "v2",
            Syntax::V3 => "v3",
        })
    }
}

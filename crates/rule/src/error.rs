//! The one error type of rule compilation. A rule that fails to compile disables only its own
//! router, so the message must say on its own what is wrong (which matcher, which argument,
//! where in the rule) without the caller adding context beyond the router name.

/// Why a rule string was rejected. The message names the problem, e.g.
/// "unknown matcher `pathPrefix`", "Host: expected 1 argument, got 2" or
/// "unexpected token `'` at position 5".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RuleError {
    message: String,
}

impl RuleError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        RuleError {
            message: message.into(),
        }
    }

    /// The human-readable message (the same text as `Display`).
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Formats a `regex` compile error on one line: the crate's multi-line diagram is noisy in
/// API output and logs, and its last "error: ..." line carries the actual reason.
pub(crate) fn regex_error(matcher: &str, pattern: &str, err: &regex::Error) -> RuleError {
    let reason = match err {
        regex::Error::Syntax(text) => text
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("error: "))
            .unwrap_or("invalid syntax")
            .to_string(),
        regex::Error::CompiledTooBig(_) => "regular expression too large".to_string(),
        other => other.to_string(),
    };
    RuleError::new(format!(
        "{matcher}: invalid regular expression `{pattern}`: {reason}"
    ))
}

//! Status code lists as Traefik writes them (`"500"`, `"500-599"`, `"404,418"`), shared by the
//! middlewares that react to statuses (`errors`, `retry`). Each entry may hold several
//! comma-separated codes or `from-to` ranges (both ends included); a code matches when any range
//! holds it. Also Go's status texts, which Traefik writes in the answers it makes itself.

use std::fmt;

/// Parsed status code ranges, in configuration order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodeRanges(Vec<(u16, u16)>);

impl CodeRanges {
    /// Parses every entry of `entries`; the error names the entry that could not be read.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        let mut ranges = Vec::new();
        for entry in entries {
            for part in entry.as_ref().split(',') {
                ranges.push(parse_range(part)?);
            }
        }
        Ok(Self(ranges))
    }

    /// Whether `code` is in one of the ranges.
    pub fn contains(&self, code: u16) -> bool {
        self.0.iter().any(|&(from, to)| from <= code && code <= to)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One `code` or `from-to`.
pub fn parse_range(part: &str) -> Result<(u16, u16), String> {
    let code = |s: &str| -> Result<u16, String> {
        s.trim()
            .parse::<u16>()
            .map_err(|_| format!("invalid status code {s:?} in {part:?}"))
    };
    match part.split_once('-') {
        Some((from, to)) => Ok((code(from)?, code(to)?)),
        None => {
            let c = code(part)?;
            Ok((c, c))
        }
    }
}

impl fmt::Display for CodeRanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (from, to)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if from == to {
                write!(f, "{from}")?;
            } else {
                write!(f, "{from}-{to}")?;
            }
        }
        Ok(())
    }
}

/// Go's `http.StatusText`: the reason phrases Traefik's own answers carry (they differ from
/// RFC 9110's for 413, 414, 416 and 422); empty for unknown codes.
pub fn status_text(code: http::StatusCode) -> &'static str {
    match code.as_u16() {
        413 => "Request Entity Too Large",
        414 => "Request URI Too Long",
        416 => "Requested Range Not Satisfiable",
        422 => "Unprocessable Entity",
        _ => code.canonical_reason().unwrap_or(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_status_texts() {
        assert_eq!(
            status_text(http::StatusCode::PAYLOAD_TOO_LARGE),
            "Request Entity Too Large"
        );
        assert_eq!(
            status_text(http::StatusCode::SERVICE_UNAVAILABLE),
            "Service Unavailable"
        );
        assert_eq!(status_text(http::StatusCode::from_u16(499).unwrap()), "");
    }

    #[test]
    fn parses_traefik_forms() {
        let r = CodeRanges::parse(&["500-599", "404,418", "302"]).unwrap();
        for (code, want) in [
            (500, true),
            (599, true),
            (550, true),
            (600, false),
            (499, false),
            (404, true),
            (418, true),
            (405, false),
            (302, true),
        ] {
            assert_eq!(r.contains(code), want, "{code}");
        }
        assert_eq!(r.to_string(), "500-599,404,418,302");
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["abc", "500-", "-500", "5xx", "", "500-600-700", "70000"] {
            assert!(CodeRanges::parse(&[bad]).is_err(), "{bad:?}");
        }
    }
}

//! Choosing the content coding from `Accept-Encoding`, and reading media types, both the way
//! Traefik 3.7 does (including its quirks: coding names are case-sensitive, spaces are removed
//! before parsing, an unparsable `q` makes a coding unacceptable, `*` wins ties).

use http::header::{HeaderMap, ACCEPT_ENCODING};

/// A content coding the middleware can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gzip,
    Brotli,
    Zstd,
}

impl Encoding {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "gzip" => Some(Self::Gzip),
            "br" => Some(Self::Brotli),
            "zstd" => Some(Self::Zstd),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Brotli => "br",
            Self::Zstd => "zstd",
        }
    }
}

/// What the request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Choice {
    /// Leave the response alone (no acceptable coding, or an empty `Accept-Encoding`).
    Identity,
    /// Compress with this coding (if the response qualifies).
    Encode(Encoding),
}

/// Picks the coding for a request: the acceptable coding with the highest weight, ties broken by
/// the order of `encodings` (server preference); `*` stands for `default` or the first coding.
/// Without `Accept-Encoding` only `default` is used, as RFC 9110 allows any coding then.
pub(super) fn choose(
    headers: &HeaderMap,
    encodings: &[Encoding],
    default: Option<Encoding>,
) -> Choice {
    let mut values = headers.get_all(ACCEPT_ENCODING).iter().peekable();
    if values.peek().is_none() {
        return default.map_or(Choice::Identity, Choice::Encode);
    }
    let values: Vec<&[u8]> = values.map(|v| v.as_bytes()).collect();
    if values.len() == 1 && values[0].is_empty() {
        return Choice::Identity;
    }
    // (rank in server preference, -1 for `*`; weight)
    let mut best: Option<(i64, f64)> = None;
    for line in values {
        let line: String = String::from_utf8_lossy(line).replace(' ', "");
        for item in line.split(',') {
            let (coding, params) = match item.split_once(';') {
                Some((c, p)) => (c, Some(p)),
                None => (item, None),
            };
            let rank = if coding == "*" {
                -1
            } else {
                match Encoding::parse(coding).and_then(|e| encodings.iter().position(|&x| x == e)) {
                    Some(i) => i as i64,
                    None => continue,
                }
            };
            let weight = match params.and_then(|p| p.strip_prefix("q=")) {
                Some(q) => q.parse::<f64>().unwrap_or(0.0),
                None => 1.0,
            };
            if weight == 0.0 {
                continue;
            }
            let better = match best {
                None => true,
                Some((r, w)) => weight > w || (weight == w && rank < r),
            };
            if better {
                best = Some((rank, weight));
            }
        }
    }
    match best {
        None => Choice::Identity,
        Some((-1, _)) => match default.or_else(|| encodings.first().copied()) {
            Some(e) => Choice::Encode(e),
            None => Choice::Identity,
        },
        Some((rank, _)) => usize::try_from(rank)
            .ok()
            .and_then(|i| encodings.get(i))
            .map_or(Choice::Identity, |&e| Choice::Encode(e)),
    }
}

/// Whether the first `Accept-Encoding` line accepts `gzip` by name. Traefik's gzip handler checks
/// this itself after the coding was chosen, so `*` alone never yields gzip.
pub(super) fn first_line_accepts_gzip(headers: &HeaderMap) -> bool {
    let Some(line) = headers.get(ACCEPT_ENCODING).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    line.split(',').any(|item| {
        let mut parts = item.split(';');
        if parts.next().map(str::trim) != Some("gzip") {
            return false;
        }
        match parts.find_map(|p| p.trim().strip_prefix("q=")) {
            Some(q) => q.trim().parse::<f64>().is_ok_and(|q| q > 0.0),
            None => true,
        }
    })
}

/// The media type of a `Content-Type` value, lowercased, checked the way Go's
/// `mime.ParseMediaType` checks it; the error is Go's text.
pub(super) fn media_type(value: &str) -> Result<String, &'static str> {
    let (base, mut rest) = match value.find(';') {
        Some(i) => (&value[..i], &value[i..]),
        None => (value, ""),
    };
    let base = base.trim();
    if base.is_empty() {
        return Err("mime: no media type");
    }
    let (first, sub) = match base.split_once('/') {
        Some((f, s)) => (f, Some(s)),
        None => (base, None),
    };
    if !is_token(first) {
        return Err("mime: expected slash after first token");
    }
    if let Some(sub) = sub {
        if sub.is_empty() || !sub.starts_with(is_token_char) {
            return Err("mime: expected token after slash");
        }
        if !is_token(sub) {
            return Err("mime: unexpected content after media subtype");
        }
    }
    // Parameters: `; name=value` with a token or quoted-string value; a lone trailing `;` is
    // tolerated.
    let mut names: Vec<String> = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        match media_param(rest) {
            Some((name, after)) => {
                let name = name.to_ascii_lowercase();
                if names.contains(&name) {
                    return Err("mime: duplicate parameter name");
                }
                names.push(name);
                rest = after;
            }
            None if rest.trim() == ";" => break,
            None => return Err("mime: invalid media parameter"),
        }
    }
    Ok(base.to_ascii_lowercase())
}

/// One `; name=value`, returning the name and what follows.
fn media_param(s: &str) -> Option<(&str, &str)> {
    let s = s.strip_prefix(';')?.trim_start();
    let name_len = s.find(|c: char| !is_token_char(c)).unwrap_or(s.len());
    if name_len == 0 {
        return None;
    }
    let (name, s) = s.split_at(name_len);
    let s = s.trim_start().strip_prefix('=')?.trim_start();
    if let Some(quoted) = s.strip_prefix('"') {
        let mut escaped = false;
        for (i, c) in quoted.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => return Some((name, &quoted[i + 1..])),
                _ => {}
            }
        }
        return None;
    }
    let value_len = s.find(|c: char| !is_token_char(c)).unwrap_or(s.len());
    if value_len == 0 {
        return None;
    }
    Some((name, &s[value_len..]))
}

fn is_token_char(c: char) -> bool {
    c.is_ascii() && c > ' ' && c != '\x7f' && !"()<>@,;:\\\"/[]?=".contains(c)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_token_char)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Encoding::*;

    fn ae(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(ACCEPT_ENCODING, v.parse().unwrap());
        }
        h
    }

    const ALL: &[Encoding] = &[Gzip, Brotli, Zstd];

    /// Cases checked against Traefik 3.7.15.
    #[test]
    fn negotiation_matches_traefik() {
        let id = Choice::Identity;
        let e = Choice::Encode;
        for (values, encodings, default, want) in [
            (&["gzip, br, zstd"][..], ALL, None, e(Gzip)),
            (&["br;q=0.5, gzip;q=0.4"], ALL, None, e(Brotli)),
            (&["zstd;q=1, br;q=1"], ALL, None, e(Brotli)),
            (&["identity"], ALL, None, id),
            (&[""], ALL, Some(Zstd), id),
            (&["deflate"], ALL, None, id),
            (&["gzip;q=0"], ALL, None, id),
            (&["GZIP"], ALL, None, id),
            (&["gzip;q=abc"], ALL, None, id),
            (&["gzip ; q=0.5 , br ; q = 0.6"], ALL, None, e(Brotli)),
            (&["gzip;q=0.5", "br"], ALL, None, e(Brotli)),
            (&["*"], ALL, None, e(Gzip)),
            (&["*"], &[Brotli], None, e(Brotli)),
            (&["*"], ALL, Some(Zstd), e(Zstd)),
            (&["br;q=0.4, *;q=0.5"], ALL, Some(Zstd), e(Zstd)),
            (&["*, zstd"], &[Brotli, Zstd], None, e(Brotli)),
            (&["zstd;q=0.5, *"], &[Brotli, Zstd], None, e(Brotli)),
            (&["gzip, zstd;q=0.1"], &[Brotli, Zstd], None, e(Zstd)),
            (&["zstd;q=0.5;foo=bar"], &[Brotli, Zstd], None, id),
            (&["zstd;foo=bar;q=0"], &[Brotli, Zstd], None, e(Zstd)),
            (&["zstd;Q=0"], &[Brotli, Zstd], None, e(Zstd)),
            (&["br;q=-1"], &[Brotli, Zstd], None, e(Brotli)),
        ] {
            assert_eq!(
                choose(&ae(values), encodings, default),
                want,
                "{values:?} {encodings:?} {default:?}"
            );
        }
        assert_eq!(choose(&HeaderMap::new(), ALL, None), id);
        assert_eq!(choose(&HeaderMap::new(), ALL, Some(Brotli)), e(Brotli));
    }

    #[test]
    fn gzip_handler_needs_gzip_by_name() {
        assert!(first_line_accepts_gzip(&ae(&["br, gzip"])));
        assert!(!first_line_accepts_gzip(&ae(&["*"])));
        assert!(!first_line_accepts_gzip(&ae(&["br;q=0.1", "gzip"])));
        assert!(!first_line_accepts_gzip(&ae(&["gzip;q=0"])));
        assert!(!first_line_accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn media_types_like_go() {
        assert_eq!(media_type("Text/HTML; charset=utf-8").unwrap(), "text/html");
        assert_eq!(media_type("application/json;").unwrap(), "application/json");
        assert_eq!(
            media_type("text/plain; a=\"x;y\"; b=c").unwrap(),
            "text/plain"
        );
        assert_eq!(
            media_type("text/html;;"),
            Err("mime: invalid media parameter")
        );
        assert_eq!(media_type(""), Err("mime: no media type"));
        assert_eq!(media_type("a;;b"), Err("mime: invalid media parameter"));
        assert_eq!(media_type("text/"), Err("mime: expected token after slash"));
        assert_eq!(
            media_type("text/html; a=1; A=2"),
            Err("mime: duplicate parameter name")
        );
    }
}

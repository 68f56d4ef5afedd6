//! `encodedCharacters`: rejects a request whose path (as sent, still percent-encoded) contains a
//! percent-encoded character that is not allowed — `%2F` `/`, `%5C` `\`, `%00`, `%3B` `;`, `%25`
//! `%`, `%3F` `?`, `%23` `#`, in either letter case. It answers on its own with an empty 400.
//! Every `allowEncoded*` option defaults to false for the middleware; the entry point option
//! `entryPoints.<n>.http.encodedCharacters` has the same shape with defaults true, and uses
//! [`EncodedCharacterPolicy`] through [`EncodedCharacterPolicy::from_config`] with `true`.

use http::header::{HeaderValue, CONTENT_LENGTH};
use http::{Request, Response, StatusCode};
use switchyard_model::config::dynamic::EncodedCharacters as Config;
use tracing::debug;

use super::{BoxFuture, Middleware, Next};
use crate::http::body::{empty, Body};
use crate::http::service::RequestCtx;

/// Which encoded characters a path may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodedCharacterPolicy {
    /// Bit i set: the i-th entry of [`DENIABLE`] is denied.
    denied: u8,
}

/// The characters the policy governs: their encoding's two hex digits (upper case).
const DENIABLE: [[u8; 2]; 7] = [
    *b"2F", // slash
    *b"5C", // backslash
    *b"00", // null character
    *b"3B", // semicolon
    *b"25", // percent
    *b"3F", // question mark
    *b"23", // hash
];

impl EncodedCharacterPolicy {
    /// The policy for `cfg`, each unset option taking `default_allow` (false for the middleware,
    /// true for the entry point option).
    pub fn from_config(cfg: &Config, default_allow: bool) -> Self {
        let allows = [
            cfg.allow_encoded_slash,
            cfg.allow_encoded_back_slash,
            cfg.allow_encoded_null_character,
            cfg.allow_encoded_semicolon,
            cfg.allow_encoded_percent,
            cfg.allow_encoded_question_mark,
            cfg.allow_encoded_hash,
        ];
        let mut denied = 0u8;
        for (i, allow) in allows.iter().enumerate() {
            if !allow.unwrap_or(default_allow) {
                denied |= 1 << i;
            }
        }
        Self { denied }
    }

    /// Whether nothing is denied (the check can be skipped).
    pub fn allows_everything(&self) -> bool {
        self.denied == 0
    }

    /// Whether the raw (still encoded) `path` contains no denied encoded character.
    pub fn allows(&self, path: &str) -> bool {
        if self.denied == 0 {
            return true;
        }
        let bytes = path.as_bytes();
        let mut i = 0;
        while let Some(pos) = bytes[i..].iter().position(|b| *b == b'%') {
            let at = i + pos;
            let (Some(hi), Some(lo)) = (bytes.get(at + 1), bytes.get(at + 2)) else {
                return true;
            };
            let code = [hi.to_ascii_uppercase(), lo.to_ascii_uppercase()];
            if let Some(k) = DENIABLE.iter().position(|d| *d == code) {
                if self.denied & (1 << k) != 0 {
                    return false;
                }
            }
            i = at + 1;
        }
        true
    }
}

/// Traefik's answer to a denied path: 400 with an empty body.
pub fn rejection() -> Response<Body> {
    let mut resp = Response::new(empty());
    *resp.status_mut() = StatusCode::BAD_REQUEST;
    resp.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    resp
}

#[derive(Debug)]
pub struct EncodedCharacters {
    policy: EncodedCharacterPolicy,
}

impl EncodedCharacters {
    pub fn new(cfg: &Config) -> Result<Self, String> {
        Ok(Self {
            policy: EncodedCharacterPolicy::from_config(cfg, false),
        })
    }
}

impl Middleware for EncodedCharacters {
    fn call<'a>(
        &'a self,
        req: Request<Body>,
        ctx: &'a RequestCtx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Response<Body>> {
        Box::pin(async move {
            if !self.policy.allows(req.uri().path()) {
                debug!(
                    path = req.uri().path(),
                    "rejecting a denied encoded character"
                );
                return rejection();
            }
            next.run(req, ctx).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn middleware_defaults_deny_everything() {
        let p = EncodedCharacterPolicy::from_config(&Config::default(), false);
        for path in [
            "/a%2Fb", "/a%2fb", "/a%5Cb", "/a%00", "/a%3Bb", "/a%25b", "/a%3Fb", "/a%23b",
        ] {
            assert!(!p.allows(path), "{path} should be denied");
        }
        for path in [
            "/", "/a%41b", "/a%20b", "/%", "/%2", "/100%", "/a%2Gb", "/é",
        ] {
            assert!(p.allows(path), "{path} should pass");
        }
    }

    #[test]
    fn each_option_allows_its_character() {
        let cfg = Config {
            allow_encoded_slash: Some(true),
            allow_encoded_hash: Some(true),
            ..Config::default()
        };
        let p = EncodedCharacterPolicy::from_config(&cfg, false);
        assert!(p.allows("/a%2Fb%23"));
        assert!(!p.allows("/a%2Fb%3F"));
        // "%252F" is an encoded percent followed by "2F", not an encoded slash.
        let only_percent = Config {
            allow_encoded_percent: Some(true),
            ..Config::default()
        };
        let p = EncodedCharacterPolicy::from_config(&only_percent, false);
        assert!(p.allows("/a%252F"));
    }

    #[test]
    fn entry_point_defaults_allow_everything() {
        let p = EncodedCharacterPolicy::from_config(&Config::default(), true);
        assert!(p.allows_everything());
        assert!(p.allows("/a%2F%00%25"));
        let cfg = Config {
            allow_encoded_slash: Some(false),
            ..Config::default()
        };
        let p = EncodedCharacterPolicy::from_config(&cfg, true);
        assert!(!p.allows("/a%2fb"));
        assert!(p.allows("/a%00b"));
    }

    #[test]
    fn rejection_is_an_empty_400() {
        let r = rejection();
        assert_eq!(r.status(), 400);
        assert!(r.headers().get("content-type").is_none());
    }
}

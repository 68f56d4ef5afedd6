//! `digestAuth`: HTTP Digest authentication (RFC 2617, `qop=auth`, MD5) against `users` /
//! `usersFile` entries `user:realm:HA1`, where HA1 = MD5(`user:realm:password`) and only users of
//! the middleware's `realm` (default `traefik`) can log in. Without valid credentials it answers
//! on its own with 401, `401 Unauthorized\n` and a fresh challenge
//! `Digest realm="…", nonce="…", opaque="…", algorithm="MD5", qop="auth"`.
//!
//! Nonces behave as in Traefik (go-http-auth): each 401 issues one; a nonce is accepted with a
//! nonce count above the last one it was used with (a repeated count is refused, a lower count
//! gets `stale="true"` so the client retries without prompting); the 1100 most recent nonces are
//! kept. The `uri` parameter must be the request target or a prefix of its path. Nonces and the
//! opaque value live in [`super::MiddlewareState`] (keyed by name and configuration), so an
//! unrelated reload does not invalidate logged-in clients.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use base64::Engine as _;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use http::{Request, Response};
use md5::{Digest as _, Md5};
use switchyard_model::config::dynamic::DigestAuth as Config;
use tracing::debug;

use super::basic_auth::{
    authenticated, constant_time_eq, header_field, unauthorized_response, user_entries,
};
use super::{BoxFuture, Middleware, Next};
use crate::http::body::Body;
use crate::http::service::RequestCtx;

/// Nonces kept before the oldest are dropped, and how many go at once (go-http-auth's
/// `ClientCacheSize` + `ClientCacheTolerance`, and twice the tolerance).
const MAX_NONCES: usize = 1100;
const PURGE: usize = 200;

/// The server side of digest sessions: the opaque value and the nonces handed out.
#[derive(Debug)]
pub struct DigestSessions {
    opaque: String,
    nonces: Mutex<HashMap<String, NonceUse>>,
}

#[derive(Debug, Clone, Copy)]
struct NonceUse {
    count: u64,
    last_seen: Instant,
}

impl Default for DigestSessions {
    /// New sessions with a random opaque value (the opaque value is no secret: should the system
    /// have no randomness, the clock stands in).
    fn default() -> Self {
        let opaque = random_key().unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            base64::engine::general_purpose::STANDARD.encode(nanos.to_le_bytes())
        });
        Self {
            opaque,
            nonces: Mutex::new(HashMap::new()),
        }
    }
}

impl DigestSessions {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, NonceUse>> {
        match self.nonces.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn issue(&self) -> Option<String> {
        let nonce = random_key()?;
        let mut nonces = self.lock();
        if nonces.len() > MAX_NONCES {
            let mut by_age: Vec<(Instant, String)> = nonces
                .iter()
                .map(|(k, v)| (v.last_seen, k.clone()))
                .collect();
            by_age.sort();
            for (_, key) in by_age.into_iter().take(PURGE) {
                nonces.remove(&key);
            }
        }
        nonces.insert(
            nonce.clone(),
            NonceUse {
                count: 0,
                last_seen: Instant::now(),
            },
        );
        Some(nonce)
    }
}

/// 12 random bytes, base64 (go-http-auth's `RandomKey`).
fn random_key() -> Option<String> {
    let mut bytes = [0u8; 12];
    rustls::crypto::aws_lc_rs::default_provider()
        .secure_random
        .fill(&mut bytes)
        .ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[derive(Debug)]
pub struct DigestAuth {
    /// `user:realm` → HA1.
    users: HashMap<String, String>,
    realm: String,
    header_field: Option<HeaderName>,
    remove_header: bool,
    sessions: Arc<DigestSessions>,
}

/// Why a request was refused.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    Invalid,
    /// A valid response with an out-of-date nonce count: `stale="true"`.
    Stale,
}

impl DigestAuth {
    /// Builds the middleware on `sessions` (from [`super::MiddlewareState`]).
    pub fn new(cfg: &Config, sessions: Arc<DigestSessions>) -> Result<Self, String> {
        let mut users = HashMap::new();
        for entry in user_entries("digestAuth", &cfg.users, cfg.users_file.as_deref())? {
            let parts: Vec<&str> = entry.line.split(':').collect();
            let [name, realm, ha1] = parts[..] else {
                return Err(format!(
                    "{}: invalid user {:?}: expected `name:realm:hash`",
                    entry.origin,
                    parts.first().copied().unwrap_or("")
                ));
            };
            users.insert(format!("{name}:{realm}"), ha1.to_owned());
        }
        let realm = cfg
            .realm
            .as_deref()
            .filter(|r| !r.is_empty())
            .unwrap_or("traefik")
            .to_owned();
        if realm.contains('"') || HeaderValue::from_str(&realm).is_err() {
            return Err(format!(
                "digestAuth.realm {realm:?}: not a valid header value"
            ));
        }
        Ok(Self {
            users,
            realm,
            header_field: header_field("digestAuth", cfg.header_field.as_deref())?,
            remove_header: cfg.remove_header.unwrap_or(false),
            sessions,
        })
    }

    /// The user name when the request carries a valid digest response.
    fn check(&self, req: &Request<Body>) -> Result<String, Refusal> {
        let header = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(Refusal::Invalid)?;
        let params = digest_params(header).ok_or(Refusal::Invalid)?;
        let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
        let algorithm = params.get("algorithm").map(String::as_str).unwrap_or("MD5");
        if get("opaque") != self.sessions.opaque || algorithm != "MD5" || get("qop") != "auth" {
            return Err(Refusal::Invalid);
        }
        let uri = get("uri");
        let target = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
        if uri != target && !uri_prefix_matches(uri, req.uri().path()) {
            return Err(Refusal::Invalid);
        }
        let user = get("username");
        let ha1 = self
            .users
            .get(&format!("{user}:{}", self.realm))
            .ok_or(Refusal::Invalid)?;
        let ha2 = md5_hex(&format!("{}:{uri}", req.method()));
        let expected = md5_hex(&format!(
            "{ha1}:{}:{}:{}:{}:{ha2}",
            get("nonce"),
            get("nc"),
            get("cnonce"),
            get("qop")
        ));
        if !constant_time_eq(expected.as_bytes(), get("response").as_bytes()) {
            return Err(Refusal::Invalid);
        }
        let count = u64::from_str_radix(get("nc"), 16).map_err(|_| Refusal::Invalid)?;
        let mut nonces = self.sessions.lock();
        let used = nonces.get_mut(get("nonce")).ok_or(Refusal::Invalid)?;
        if count < used.count {
            return Err(Refusal::Stale);
        }
        if used.count != 0 && count == used.count {
            return Err(Refusal::Invalid);
        }
        used.count = count;
        used.last_seen = Instant::now();
        Ok(user.to_owned())
    }

    fn challenge(&self, stale: bool) -> Response<Body> {
        let mut resp = unauthorized_response();
        let Some(nonce) = self.sessions.issue() else {
            *resp.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            return resp;
        };
        let stale = if stale { ", stale=\"true\"" } else { "" };
        let value = format!(
            "Digest realm=\"{}\", nonce=\"{nonce}\", opaque=\"{}\"{stale}, algorithm=\"MD5\", qop=\"auth\"",
            self.realm, self.sessions.opaque
        );
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.headers_mut().insert(WWW_AUTHENTICATE, v);
        }
        resp
    }
}

impl Middleware for DigestAuth {
    fn call<'a>(
        &'a self,
        mut req: Request<Body>,
        ctx: &'a RequestCtx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Response<Body>> {
        Box::pin(async move {
            match self.check(&req) {
                Ok(user) => {
                    authenticated(
                        &mut req,
                        &user,
                        self.header_field.as_ref(),
                        self.remove_header,
                    );
                    next.run(req, ctx).await
                }
                Err(refusal) => {
                    debug!(?refusal, "digest authentication failed");
                    self.challenge(refusal == Refusal::Stale)
                }
            }
        })
    }
}

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The parameters of `Digest k=v, k="v", …` (go-http-auth's `DigestAuthParams`): the scheme is
/// case-sensitive; quoted values may contain commas and backslash escapes.
fn digest_params(header: &str) -> Option<HashMap<String, String>> {
    let (scheme, rest) = header.split_once(' ')?;
    if scheme != "Digest" {
        return None;
    }
    let mut params = HashMap::new();
    for item in split_list(rest.trim()) {
        match item.split_once('=') {
            None => {
                params.insert(item, String::new());
            }
            Some((k, v)) => {
                let v = match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                    Some(unquoted) => unquoted,
                    None => v,
                };
                params.insert(k.to_owned(), v.to_owned());
            }
        }
    }
    Some(params)
}

/// Splits on commas outside quoted strings; escapes keep the escaped character.
fn split_list(value: &str) -> Vec<String> {
    let (mut list, mut cur) = (Vec::new(), String::new());
    let (mut escape, mut quote) = (false, false);
    for c in value.chars() {
        if escape {
            cur.push(c);
            escape = false;
        } else if quote {
            if c == '\\' {
                escape = true;
            } else {
                quote = c != '"';
                cur.push(c);
            }
        } else if c == ',' {
            list.push(cur.trim().to_owned());
            cur.clear();
        } else {
            quote = c == '"';
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        list.push(cur.trim().to_owned());
    }
    list
}

/// go-http-auth's leniency: the `uri` parameter's path may be a prefix of the request path
/// (both percent-decoded).
fn uri_prefix_matches(uri: &str, request_path: &str) -> bool {
    let uri_path = uri.split(['?', '#']).next().unwrap_or("");
    let (Some(uri_path), Some(path)) = (percent_decode(uri_path), percent_decode(request_path))
    else {
        return false;
    };
    path.starts_with(&uri_path)
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HA1: &str = "a2688e031edb4be6a3797f3882655c05"; // test:traefik:test

    fn middleware() -> DigestAuth {
        let cfg = Config {
            users: vec![
                format!("test:traefik:{HA1}"),
                format!("other:elsewhere:{HA1}"),
            ],
            ..Config::default()
        };
        DigestAuth::new(&cfg, Arc::default()).unwrap()
    }

    fn authorization(
        m: &DigestAuth,
        user: &str,
        ha1: &str,
        nonce: &str,
        nc: &str,
        uri: &str,
    ) -> String {
        let ha2 = md5_hex(&format!("GET:{uri}"));
        let response = md5_hex(&format!("{ha1}:{nonce}:{nc}:abc:auth:{ha2}"));
        format!(
            "Digest username=\"{user}\", realm=\"traefik\", nonce=\"{nonce}\", uri=\"{uri}\", \
             cnonce=\"abc\", nc={nc}, qop=auth, response=\"{response}\", opaque=\"{}\"",
            m.sessions.opaque
        )
    }

    fn request(target: &str, auth: &str) -> Request<Body> {
        Request::builder()
            .uri(target)
            .header(AUTHORIZATION, auth)
            .body(crate::http::body::empty())
            .unwrap()
    }

    #[test]
    fn md5_of_known_ha1() {
        assert_eq!(md5_hex("test:traefik:test"), HA1);
    }

    #[test]
    fn nonce_counts_follow_go_http_auth() {
        let m = middleware();
        let nonce = m.sessions.issue().unwrap();
        let check = |nc: &str| {
            m.check(&request(
                "/a?b=1",
                &authorization(&m, "test", HA1, &nonce, nc, "/a?b=1"),
            ))
        };
        assert_eq!(check("00000001"), Ok("test".to_owned()));
        assert_eq!(check("00000001"), Err(Refusal::Invalid), "a replayed count");
        assert_eq!(check("00000005"), Ok("test".to_owned()));
        assert_eq!(check("00000004"), Err(Refusal::Stale), "an older count");
        assert_eq!(check("zz"), Err(Refusal::Invalid));
        let unknown = m.check(&request(
            "/",
            &authorization(&m, "test", HA1, "AAAA", "00000001", "/"),
        ));
        assert_eq!(unknown, Err(Refusal::Invalid));
    }

    #[test]
    fn wrong_users_realms_and_uris_fail() {
        let m = middleware();
        let nonce = m.sessions.issue().unwrap();
        let check = |user: &str, ha1: &str, target: &str, uri: &str| {
            m.check(&request(
                target,
                &authorization(&m, user, ha1, &nonce, "00000009", uri),
            ))
        };
        assert!(check("test", &md5_hex("test:traefik:bad"), "/", "/").is_err());
        assert!(
            check("nobody", "", "/", "/").is_err(),
            "unknown user with an empty HA1"
        );
        assert!(
            check("other", HA1, "/", "/").is_err(),
            "user of another realm"
        );
        assert!(check("test", HA1, "/db/x", "/da").is_err());
        assert!(
            check("test", HA1, "/da/sub", "/da").is_ok(),
            "a path prefix is accepted"
        );
    }

    #[test]
    fn parses_quoted_lists() {
        let p =
            digest_params(r#"Digest username="a,b", uri="/x", nc=00000001, qop=auth, x="q\"z""#)
                .unwrap();
        assert_eq!(p["username"], "a,b");
        assert_eq!(p["nc"], "00000001");
        assert_eq!(p["x"], "q\"z");
        assert!(
            digest_params("digest username=a").is_none(),
            "scheme is case-sensitive"
        );
        assert!(digest_params("Basic abc").is_none());
    }

    #[test]
    fn challenge_format() {
        let m = middleware();
        let resp = m.challenge(true);
        assert_eq!(resp.status(), 401);
        let v = resp.headers()[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(v.starts_with("Digest realm=\"traefik\", nonce=\""), "{v}");
        assert!(
            v.ends_with(", stale=\"true\", algorithm=\"MD5\", qop=\"auth\""),
            "{v}"
        );
    }

    #[test]
    fn old_nonces_are_purged() {
        let m = middleware();
        for _ in 0..=MAX_NONCES + 1 {
            m.sessions.issue().unwrap();
        }
        assert!(m.sessions.lock().len() <= MAX_NONCES + 1);
    }

    #[test]
    fn bad_user_lines_are_named() {
        let cfg = Config {
            users: vec!["test:traefik".into()],
            ..Config::default()
        };
        let err = DigestAuth::new(&cfg, Arc::default()).unwrap_err();
        assert!(err.starts_with("digestAuth.users[0]"), "{err}");
    }
}

//! `basicAuth`: lets a request through only with `Authorization: Basic` credentials of a known
//! user, checked against its hash: MD5-crypt (`$apr1$…`, `$1$…`), `{SHA}` (base64 SHA-1) or
//! bcrypt (`$2a$`, `$2b$`, `$2x$`, `$2y$`); plain-text secrets never match, as in Traefik. Users
//! come from `users` and `usersFile` (read when the middleware is built; inline users win over
//! file users of the same name). Otherwise it answers on its own with 401,
//! `WWW-Authenticate: Basic realm="<realm>"` (default `traefik`) and `401 Unauthorized\n`.
//!
//! bcrypt is slow by design: it runs on the blocking pool, and successful checks are remembered
//! (a SHA-1 of user, password and hash, in memory) so a client sending the same credentials on
//! every request pays once.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{
    HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE,
};
use http::{Request, Response, StatusCode};
use md5::{Digest as _, Md5};
use sha1::Sha1;
use switchyard_model::config::dynamic::BasicAuth as Config;
use tracing::debug;

use super::{BoxFuture, Middleware, Next};
use crate::http::body::{full, Body};
use crate::http::service::RequestCtx;

/// Successful bcrypt checks remembered at most (the set is cleared when full).
const VERIFIED_CACHE: usize = 1024;

#[derive(Debug)]
pub struct BasicAuth {
    users: HashMap<String, String>,
    challenge: HeaderValue,
    header_field: Option<HeaderName>,
    remove_header: bool,
    verified: Mutex<HashSet<[u8; 20]>>,
}

impl BasicAuth {
    pub fn new(cfg: &Config) -> Result<Self, String> {
        let mut users = HashMap::new();
        for entry in user_entries("basicAuth", &cfg.users, cfg.users_file.as_deref())? {
            let parts: Vec<&str> = entry.line.split(':').collect();
            let [name, hash] = parts[..] else {
                return Err(format!(
                    "{}: invalid user {:?}: expected `name:hash`",
                    entry.origin,
                    parts.first().copied().unwrap_or("")
                ));
            };
            users.insert(name.to_owned(), hash.to_owned());
        }
        let realm = cfg
            .realm
            .as_deref()
            .filter(|r| !r.is_empty())
            .unwrap_or("traefik");
        let challenge = HeaderValue::from_str(&format!("Basic realm=\"{realm}\""))
            .map_err(|_| format!("basicAuth.realm {realm:?}: not a valid header value"))?;
        Ok(Self {
            users,
            challenge,
            header_field: header_field("basicAuth", cfg.header_field.as_deref())?,
            remove_header: cfg.remove_header.unwrap_or(false),
            verified: Mutex::new(HashSet::new()),
        })
    }

    async fn check(&self, user: &str, password: &[u8]) -> bool {
        let Some(secret) = self.users.get(user) else {
            return false;
        };
        if !is_bcrypt(secret) {
            return check_secret(password, secret);
        }
        let fingerprint: [u8; 20] = Sha1::new()
            .chain_update(user.as_bytes())
            .chain_update([0])
            .chain_update(password)
            .chain_update([0])
            .chain_update(secret.as_bytes())
            .finalize()
            .into();
        if self.cache().contains(&fingerprint) {
            return true;
        }
        let (password, secret) = (password.to_vec(), secret.clone());
        let ok = tokio::task::spawn_blocking(move || check_secret(&password, &secret))
            .await
            .unwrap_or(false);
        if ok {
            let mut cache = self.cache();
            if cache.len() >= VERIFIED_CACHE {
                cache.clear();
            }
            cache.insert(fingerprint);
        }
        ok
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; 20]>> {
        match self.verified.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn unauthorized(&self) -> Response<Body> {
        let mut resp = unauthorized_response();
        resp.headers_mut()
            .insert(WWW_AUTHENTICATE, self.challenge.clone());
        resp
    }
}

impl Middleware for BasicAuth {
    fn call<'a>(
        &'a self,
        mut req: Request<Body>,
        ctx: &'a RequestCtx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Response<Body>> {
        Box::pin(async move {
            let Some((user, password)) = basic_credentials(req.headers()) else {
                debug!("basic authentication failed: no credentials");
                return self.unauthorized();
            };
            if !self.check(&user, &password).await {
                debug!(user = %user, "basic authentication failed");
                // Traefik's access log names the user of a failed attempt too.
                crate::observe::record::note(&req, |t| t.username = Some(user.clone()));
                return self.unauthorized();
            }
            authenticated(
                &mut req,
                &user,
                self.header_field.as_ref(),
                self.remove_header,
            );
            next.run(req, ctx).await
        })
    }
}

/// What a successful authentication does to the request: `headerField` gets the user name and
/// `removeHeader` drops `Authorization`.
pub fn authenticated(
    req: &mut Request<Body>,
    user: &str,
    header_field: Option<&HeaderName>,
    remove_header: bool,
) {
    crate::observe::record::note(req, |t| t.username = Some(user.to_owned()));
    if let Some(field) = header_field {
        if let Ok(v) = HeaderValue::from_str(user) {
            req.headers_mut().insert(field.clone(), v);
        }
    }
    if remove_header {
        req.headers_mut().remove(AUTHORIZATION);
    }
}

/// The 401 both auth middlewares send (the caller adds `WWW-Authenticate`).
pub fn unauthorized_response() -> Response<Body> {
    let mut resp = Response::new(full(Bytes::from_static(b"401 Unauthorized\n")));
    *resp.status_mut() = StatusCode::UNAUTHORIZED;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp
}

/// Validates `headerField`.
pub fn header_field(middleware: &str, field: Option<&str>) -> Result<Option<HeaderName>, String> {
    field
        .filter(|f| !f.is_empty())
        .map(|f| {
            HeaderName::from_bytes(f.as_bytes())
                .map_err(|_| format!("{middleware}.headerField {f:?}: invalid header name"))
        })
        .transpose()
}

/// One user line and where it came from (for error messages).
pub struct UserEntry {
    pub line: String,
    pub origin: String,
}

/// `usersFile` lines (trimmed, blank and `#` lines skipped) followed by `users`, as Traefik
/// merges them (later entries win).
pub fn user_entries(
    middleware: &str,
    users: &[String],
    users_file: Option<&str>,
) -> Result<Vec<UserEntry>, String> {
    let mut out = Vec::new();
    if let Some(path) = users_file.filter(|p| !p.is_empty()) {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{middleware}.usersFile {path:?}: cannot read it: {e}"))?;
        for (i, line) in text.split('\n').enumerate() {
            let line = line.trim();
            if !line.is_empty() && !line.starts_with('#') {
                out.push(UserEntry {
                    line: line.to_owned(),
                    origin: format!("{middleware}.usersFile {path:?} line {}", i + 1),
                });
            }
        }
    }
    for (i, user) in users.iter().enumerate() {
        out.push(UserEntry {
            line: user.clone(),
            origin: format!("{middleware}.users[{i}]"),
        });
    }
    Ok(out)
}

/// User name and password of `Authorization: Basic …` (Go's `Request.BasicAuth`).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, Vec<u8>)> {
    let value = headers.get(AUTHORIZATION)?.as_bytes();
    let prefix = value.get(..6)?;
    if !prefix.eq_ignore_ascii_case(b"basic ") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&value[6..])
        .ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

fn is_bcrypt(secret: &str) -> bool {
    ["$2a$", "$2b$", "$2x$", "$2y$"]
        .iter()
        .any(|p| secret.starts_with(p))
}

/// Whether `password` matches `secret` (go-http-auth's `CheckSecret`).
pub fn check_secret(password: &[u8], secret: &str) -> bool {
    if let Some(sha) = secret.strip_prefix("{SHA}") {
        let digest = Sha1::digest(password);
        let encoded = base64::engine::general_purpose::STANDARD.encode(digest);
        return constant_time_eq(sha.as_bytes(), encoded.as_bytes());
    }
    if is_bcrypt(secret) {
        return bcrypt::verify(password, secret).unwrap_or(false);
    }
    // Any other secret is taken as MD5-crypt: `$magic$salt$hash`.
    let parts: Vec<&str> = secret.splitn(4, '$').collect();
    let [_, magic, salt, _] = parts[..] else {
        return false;
    };
    let computed = md5_crypt(password, salt.as_bytes(), format!("${magic}$").as_bytes());
    constant_time_eq(secret.as_bytes(), &computed)
}

/// Compares without an early exit on the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// MD5-crypt (Poul-Henning Kamp's algorithm, Apache's `$apr1$` variant by its magic): returns
/// `magic + salt + "$" + hash`.
pub fn md5_crypt(password: &[u8], salt: &[u8], magic: &[u8]) -> Vec<u8> {
    let mixin = Md5::new()
        .chain_update(password)
        .chain_update(salt)
        .chain_update(password)
        .finalize();
    let mut d = Md5::new()
        .chain_update(password)
        .chain_update(magic)
        .chain_update(salt);
    for i in 0..password.len() {
        d.update([mixin[i % 16]]);
    }
    let mut i = password.len();
    while i != 0 {
        if i & 1 == 0 {
            d.update([password[0]]);
        } else {
            d.update([0]);
        }
        i >>= 1;
    }
    let mut fin = d.finalize();
    for round in 0..1000 {
        let mut d2 = Md5::new();
        if round & 1 == 0 {
            d2.update(fin);
        } else {
            d2.update(password);
        }
        if round % 3 != 0 {
            d2.update(salt);
        }
        if round % 7 != 0 {
            d2.update(password);
        }
        if round & 1 == 0 {
            d2.update(password);
        } else {
            d2.update(fin);
        }
        fin = d2.finalize();
    }
    const SWAPS: [usize; 16] = [12, 6, 0, 13, 7, 1, 14, 8, 2, 15, 9, 3, 5, 10, 4, 11];
    let mut out = Vec::with_capacity(magic.len() + salt.len() + 23);
    out.extend_from_slice(magic);
    out.extend_from_slice(salt);
    out.push(b'$');
    let (mut v, mut bits) = (0u32, 0u32);
    for i in SWAPS {
        v |= u32::from(fin[i]) << bits;
        bits += 8;
        while bits > 6 {
            out.push(ITOA64[(v & 0x3f) as usize]);
            v >>= 6;
            bits -= 6;
        }
    }
    out.push(ITOA64[(v & 0x3f) as usize]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_crypt_matches_known_hashes() {
        // Traefik's documentation example (test:test) and `openssl passwd -apr1 -salt abcdefgh`.
        assert!(check_secret(
            b"test",
            "$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/"
        ));
        assert!(!check_secret(
            b"tesT",
            "$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/"
        ));
        assert!(check_secret(
            b"secret",
            "$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/"
        ));
        // `openssl passwd -1 -salt saltsalt password`
        assert!(check_secret(
            b"password",
            "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/"
        ));
    }

    #[test]
    fn sha_and_bcrypt_and_plain() {
        assert!(check_secret(b"test", "{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M="));
        assert!(!check_secret(b"nope", "{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M="));
        let hash = bcrypt::hash("pw", 4).unwrap();
        for prefix in ["$2a$", "$2b$", "$2x$", "$2y$"] {
            let h = format!("{prefix}{}", &hash[4..]);
            assert!(check_secret(b"pw", &h), "{h}");
            assert!(!check_secret(b"px", &h), "{h}");
        }
        assert!(
            !check_secret(b"plain", "plain"),
            "plain-text secrets never match"
        );
        assert!(!check_secret(b"", ""));
    }

    #[test]
    fn parses_basic_credentials() {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static("bAsIc dTpwdzp4"));
        assert_eq!(
            basic_credentials(&h),
            Some(("u".to_owned(), b"pw:x".to_vec()))
        );
        for bad in ["Basic", "Basic !!!", "Bearer dTpw", "Basic dXNlcg=="] {
            h.insert(AUTHORIZATION, HeaderValue::from_static(bad));
            assert_eq!(basic_credentials(&h), None, "{bad}");
        }
    }

    #[test]
    fn users_file_errors_name_the_file_and_inline_users_win() {
        let cfg = Config {
            users_file: Some("/nonexistent/users".into()),
            ..Config::default()
        };
        let err = BasicAuth::new(&cfg).unwrap_err();
        assert!(
            err.contains("basicAuth.usersFile \"/nonexistent/users\""),
            "{err}"
        );

        let dir = std::env::temp_dir().join(format!("basic-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("users");
        std::fs::write(&file, "# comment\n\n  a:{SHA}file  \nb:{SHA}b\n").unwrap();
        let cfg = Config {
            users: vec!["a:{SHA}inline".into()],
            users_file: Some(file.display().to_string()),
            ..Config::default()
        };
        let m = BasicAuth::new(&cfg).unwrap();
        assert_eq!(m.users["a"], "{SHA}inline");
        assert_eq!(m.users["b"], "{SHA}b");
        std::fs::write(&file, "broken-line\n").unwrap();
        let err = BasicAuth::new(&cfg).unwrap_err();
        assert!(err.contains("line 1"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn realm_and_header_field() {
        let m = BasicAuth::new(&Config::default()).unwrap();
        assert_eq!(m.challenge, "Basic realm=\"traefik\"");
        let err = BasicAuth::new(&Config {
            header_field: Some("bad header".into()),
            ..Config::default()
        })
        .unwrap_err();
        assert!(err.starts_with("basicAuth.headerField"), "{err}");
    }
}

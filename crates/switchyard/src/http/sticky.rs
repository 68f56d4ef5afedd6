//! Sticky sessions (`sticky.cookie` on `loadBalancer` and `weighted` services): a cookie names
//! the target that served the client, and later requests carrying it go to the same target while
//! it is usable. Traefik-identical on the wire:
//!
//! - cookie name: the configured one with every character outside the cookie token set replaced
//!   by `_`, or by default `_` + the first 5 hex digits of SHA-1(`_TRAEFIK_BACKEND_` + the
//!   service's qualified name);
//! - cookie value: the first 16 hex digits of SHA-256 of the target's name (a server's URL, a
//!   child service's name as written); the raw name and its FNV-1 (64-bit) hashes left by older
//!   Traefik versions are accepted and rewritten;
//! - attributes in Go's order: `Path` (default `/`, omitted when set empty), `Domain`, `Max-Age`
//!   (omitted for 0, `0` for negative values), `HttpOnly`, `Secure`, `SameSite` (none, lax,
//!   strict, case-insensitive; anything else leaves it out).
//!
//! Every `Set-Cookie` value is built once per compilation; a request costs one header scan and
//! one hash-map lookup.

use std::collections::HashMap;
use std::fmt::Write as _;

use http::header::{HeaderMap, HeaderValue, COOKIE, SET_COOKIE};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use switchyard_model::config::dynamic::StickyCookie;
use tracing::warn;

/// A compiled sticky cookie over a fixed list of targets.
#[derive(Debug)]
pub struct Sticky {
    name: String,
    /// The `Set-Cookie` value naming each target.
    set_cookie: Vec<HeaderValue>,
    /// Cookie value → (target, whether the value is a legacy one to rewrite).
    lookup: HashMap<String, (usize, bool)>,
}

impl Sticky {
    /// Compiles `cfg` for the service `service` (qualified name) over targets named `targets`.
    /// `option` is the configuration path, for warnings (`loadBalancer.sticky.cookie`).
    pub fn new(cfg: &StickyCookie, service: &str, targets: &[&str], option: &str) -> Self {
        let name = match cfg.name.as_deref() {
            Some(n) if !n.is_empty() => sanitize_name(n),
            _ => default_name(service),
        };
        let mut attributes = String::new();
        let path = cfg.path.as_deref().unwrap_or("/");
        if !path.is_empty() {
            let path: String = path
                .chars()
                .filter(|&c| (' '..='~').contains(&c) && c != ';')
                .collect();
            let _ = write!(attributes, "; Path={path}");
        }
        if let Some(domain) = cfg.domain.as_deref().filter(|d| !d.is_empty()) {
            if valid_cookie_domain(domain) {
                let _ = write!(
                    attributes,
                    "; Domain={}",
                    domain.strip_prefix('.').unwrap_or(domain)
                );
            } else {
                warn!(
                    option,
                    domain, "invalid cookie domain; the Domain attribute is left out"
                );
            }
        }
        match cfg.max_age.unwrap_or(0) {
            0 => {}
            n if n < 0 => attributes.push_str("; Max-Age=0"),
            n => {
                let _ = write!(attributes, "; Max-Age={n}");
            }
        }
        if cfg.http_only.unwrap_or(false) {
            attributes.push_str("; HttpOnly");
        }
        if cfg.secure.unwrap_or(false) {
            attributes.push_str("; Secure");
        }
        match cfg
            .same_site
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("") => {}
            Some("none") => attributes.push_str("; SameSite=None"),
            Some("lax") => attributes.push_str("; SameSite=Lax"),
            Some("strict") => attributes.push_str("; SameSite=Strict"),
            Some(other) => {
                warn!(option, same_site = other, "unknown sameSite value (expected none, lax or strict); the SameSite attribute is left out, as in Traefik");
            }
        }

        let mut lookup = HashMap::new();
        for (i, target) in targets.iter().enumerate() {
            let fnv = format!("{:x}", fnv1_64(target.as_bytes()));
            let fnv2 = format!("{:x}", fnv1_64(fnv.as_bytes()));
            for legacy in [target.to_string(), fnv, fnv2] {
                lookup.entry(legacy).or_insert((i, true));
            }
        }
        let mut set_cookie = Vec::with_capacity(targets.len());
        for (i, target) in targets.iter().enumerate() {
            let value = cookie_value(target);
            let header = format!("{name}={value}{attributes}");
            // Name (token characters), hex value and sanitized attributes are all visible ASCII.
            set_cookie.push(
                HeaderValue::from_str(&header).unwrap_or_else(|_| HeaderValue::from_static("")),
            );
            lookup.insert(value, (i, false));
        }
        Self {
            name,
            set_cookie,
            lookup,
        }
    }

    /// The cookie's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The target named by the request's cookie, and whether its cookie must be rewritten.
    pub fn target(&self, headers: &HeaderMap) -> Option<(usize, bool)> {
        let value = cookie(headers, &self.name)?;
        self.lookup.get(value).copied()
    }

    /// Adds the cookie naming `target` to a response, before any cookie already there (Traefik
    /// writes it before the upstream's headers).
    pub fn set_cookie(&self, headers: &mut HeaderMap, target: usize) {
        let Some(value) = self.set_cookie.get(target) else {
            return;
        };
        if headers.contains_key(SET_COOKIE) {
            let earlier: Vec<HeaderValue> = headers.get_all(SET_COOKIE).iter().cloned().collect();
            headers.remove(SET_COOKIE);
            headers.append(SET_COOKIE, value.clone());
            for v in earlier {
                headers.append(SET_COOKIE, v);
            }
        } else {
            headers.append(SET_COOKIE, value.clone());
        }
    }
}

/// The value of the first cookie called `name` in the request's `Cookie` headers (quotes
/// removed, as Go's `Request.Cookie`).
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| {
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v)
        })
}

/// Traefik's default cookie name for a service.
pub fn default_name(service: &str) -> String {
    let digest = Sha1::digest(format!("_TRAEFIK_BACKEND_{service}").as_bytes());
    let mut name = String::from("_");
    name.push_str(&hex(&digest)[..5]);
    name
}

/// The cookie value naming a target.
pub fn cookie_value(target: &str) -> String {
    hex(&Sha256::digest(target.as_bytes()))[..16].to_owned()
}

/// Replaces every character that may not appear in a cookie name by `_` (one per character).
fn sanitize_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "!#$%&'*+-.^`|~".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Go's rule for a `Domain` attribute: a domain name (optionally with a leading dot) or an IPv4
/// address.
fn valid_cookie_domain(domain: &str) -> bool {
    if domain.parse::<std::net::Ipv4Addr>().is_ok() {
        return true;
    }
    let d = domain.strip_prefix('.').unwrap_or(domain);
    if d.is_empty() || d.len() > 255 || d.ends_with('.') {
        return false;
    }
    let mut has_letter = false;
    for label in d.split('.') {
        if label.is_empty() || label.len() > 63 || label.starts_with('-') || label.ends_with('-') {
            return false;
        }
        for c in label.chars() {
            match c {
                'a'..='z' | 'A'..='Z' | '_' => has_letter = true,
                '0'..='9' | '-' => {}
                _ => return false,
            }
        }
    }
    has_letter
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// FNV-1 (not 1a), 64 bits: the hash of Traefik's earlier cookie values.
fn fnv1_64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        h ^= u64::from(b);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> StickyCookie {
        StickyCookie::default()
    }

    fn header(s: &Sticky, target: usize) -> String {
        let mut h = HeaderMap::new();
        s.set_cookie(&mut h, target);
        h.get(SET_COOKIE).unwrap().to_str().unwrap().to_owned()
    }

    fn request(cookie: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_str(cookie).unwrap());
        h
    }

    const A: &str = "http://127.0.0.1:9101";
    const B: &str = "http://127.0.0.1:9102";

    #[test]
    fn names_and_values_match_traefik() {
        // Observed from Traefik 3.7: service s@file, servers A and B.
        let s = Sticky::new(&cfg(), "s@file", &[A, B], "sticky");
        assert_eq!(s.name(), "_23300");
        assert_eq!(header(&s, 0), "_23300=c268f781ab94296e; Path=/");
        assert_eq!(header(&s, 1), "_23300=a8af2e64f8def05a; Path=/");
        assert_eq!(default_name("wsvc@file"), "_65e20");
        assert_eq!(cookie_value("s"), "043a718774c572bd");
    }

    #[test]
    fn attributes_in_go_order() {
        let c = StickyCookie {
            max_age: Some(10),
            same_site: Some("Lax".into()),
            secure: Some(true),
            http_only: Some(true),
            domain: Some("example.com".into()),
            ..cfg()
        };
        let s = Sticky::new(&c, "wsvc@file", &["s", "s2"], "sticky");
        assert_eq!(
            header(&s, 1),
            "_65e20=ad328846aa18b32a; Path=/; Domain=example.com; Max-Age=10; HttpOnly; Secure; SameSite=Lax"
        );
    }

    #[test]
    fn odd_settings_behave_like_traefik() {
        let c = StickyCookie {
            name: Some("my cookie;x=é".into()),
            max_age: Some(-5),
            same_site: Some("bogus".into()),
            path: Some("/foo".into()),
            ..cfg()
        };
        let s = Sticky::new(&c, "s1@file", &[A], "sticky");
        assert_eq!(
            header(&s, 0),
            "my_cookie_x__=c268f781ab94296e; Path=/foo; Max-Age=0"
        );

        let c = StickyCookie {
            name: Some(String::new()),
            same_site: Some("STRICT".into()),
            path: Some(String::new()),
            ..cfg()
        };
        let s = Sticky::new(&c, "s3@file", &[A], "sticky");
        assert_eq!(header(&s, 0), "_771e9=c268f781ab94296e; SameSite=Strict");

        let c = StickyCookie {
            name: Some("ok".into()),
            same_site: Some("none".into()),
            domain: Some("bad domain".into()),
            ..cfg()
        };
        let s = Sticky::new(&c, "s2@file", &[A], "sticky");
        assert_eq!(header(&s, 0), "ok=c268f781ab94296e; Path=/; SameSite=None");
    }

    #[test]
    fn lookup_current_and_legacy_values() {
        let s = Sticky::new(&cfg(), "s@file", &[A, B], "sticky");
        assert_eq!(
            s.target(&request("_23300=a8af2e64f8def05a")),
            Some((1, false))
        );
        assert_eq!(
            s.target(&request("x=1; _23300=\"c268f781ab94296e\"")),
            Some((0, false))
        );
        // Legacy values: the raw URL and FNV-1 hashes (Traefik 3.7 accepts and rewrites them).
        assert_eq!(s.target(&request(&format!("_23300={A}"))), Some((0, true)));
        assert_eq!(
            s.target(&request("_23300=632fe22f4487ff07")),
            Some((0, true))
        );
        let double = format!("{:x}", fnv1_64(b"632fe22f4487ff07"));
        assert_eq!(
            s.target(&request(&format!("_23300={double}"))),
            Some((0, true))
        );
        assert_eq!(s.target(&request("_23300=bogus")), None);
        assert_eq!(s.target(&request("other=a8af2e64f8def05a")), None);
        assert_eq!(s.target(&HeaderMap::new()), None);
    }

    #[test]
    fn sticky_cookie_goes_first() {
        let s = Sticky::new(&cfg(), "s@file", &[A], "sticky");
        let mut h = HeaderMap::new();
        h.append(SET_COOKIE, HeaderValue::from_static("app=1"));
        s.set_cookie(&mut h, 0);
        let all: Vec<&str> = h
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(all, vec!["_23300=c268f781ab94296e; Path=/", "app=1"]);
    }

    #[test]
    fn cookie_domains() {
        for ok in ["example.com", ".example.com", "a_b.example", "127.0.0.1"] {
            assert!(valid_cookie_domain(ok), "{ok}");
        }
        for bad in [
            "bad domain",
            "-a.com",
            "a..b",
            "123",
            "example.com.",
            "[::1]",
        ] {
            assert!(!valid_cookie_domain(bad), "{bad}");
        }
    }
}

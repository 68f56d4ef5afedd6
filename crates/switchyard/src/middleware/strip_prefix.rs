//! `stripPrefix` and `stripPrefixRegex`: remove the first matching prefix from the request path
//! (the result always starts with `/`) and record it in `X-Forwarded-Prefix`. Paths were already
//! cleaned by the entry point (`sanitizePath`), so `..` cannot climb out of the prefix.

use http::header::HeaderValue;
use http::{Request, Response};
use regex::Regex;
use switchyard_model::config::dynamic::{StripPrefix as Config, StripPrefixRegex as RegexConfig};

use super::{invalid_path, set_path, BoxFuture, Middleware, Next};
use crate::http::body::Body;
use crate::http::service::RequestCtx;

const X_FORWARDED_PREFIX: &str = "x-forwarded-prefix";

#[derive(Debug)]
pub struct StripPrefix {
    prefixes: Vec<String>,
}

impl StripPrefix {
    pub fn new(cfg: &Config) -> Result<Self, String> {
        Ok(Self {
            prefixes: cfg
                .prefixes
                .iter()
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect(),
        })
    }
}

/// `path` without `prefix`, with a leading slash.
fn strip(path: &str, prefix_len: usize) -> String {
    let rest = &path[prefix_len..];
    if rest.starts_with('/') {
        rest.to_owned()
    } else {
        format!("/{rest}")
    }
}

async fn forward_stripped<'a>(
    mut req: Request<Body>,
    prefix: &str,
    path: String,
    ctx: &'a RequestCtx,
    next: Next<'a>,
) -> Response<Body> {
    if set_path(&mut req, &path).is_err() {
        return invalid_path();
    }
    if let Ok(v) = HeaderValue::from_str(prefix) {
        req.headers_mut().append(X_FORWARDED_PREFIX, v);
    }
    next.run(req, ctx).await
}

impl Middleware for StripPrefix {
    fn call<'a>(
        &'a self,
        req: Request<Body>,
        ctx: &'a RequestCtx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Response<Body>> {
        Box::pin(async move {
            let path = req.uri().path();
            match self.prefixes.iter().find(|p| path.starts_with(p.as_str())) {
                Some(prefix) => {
                    let stripped = strip(path, prefix.len());
                    forward_stripped(req, prefix, stripped, ctx, next).await
                }
                None => next.run(req, ctx).await,
            }
        })
    }
}

#[derive(Debug)]
pub struct StripPrefixRegex {
    regexes: Vec<Regex>,
}

impl StripPrefixRegex {
    pub fn new(cfg: &RegexConfig) -> Result<Self, String> {
        let mut regexes = Vec::new();
        for (i, exp) in cfg.regex.iter().enumerate() {
            let re = Regex::new(exp.trim())
                .map_err(|e| format!("stripPrefixRegex.regex[{i}] {exp:?}: invalid regex: {e}"))?;
            regexes.push(re);
        }
        Ok(Self { regexes })
    }
}

impl Middleware for StripPrefixRegex {
    fn call<'a>(
        &'a self,
        req: Request<Body>,
        ctx: &'a RequestCtx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Response<Body>> {
        Box::pin(async move {
            let path = req.uri().path();
            let found = self
                .regexes
                .iter()
                .find_map(|re| re.find(path).filter(|m| m.start() == 0 && m.end() > 0));
            match found {
                Some(m) => {
                    let prefix = path[..m.end()].to_owned();
                    let stripped = strip(path, m.end());
                    forward_stripped(req, &prefix, stripped, ctx, next).await
                }
                None => next.run(req, ctx).await,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_with_leading_slash() {
        assert_eq!(strip("/api/users", 4), "/users");
        assert_eq!(strip("/api", 4), "/");
        assert_eq!(strip("/apiv2", 4), "/v2");
    }

    #[test]
    fn bad_regex_is_named() {
        let err = StripPrefixRegex::new(&RegexConfig {
            regex: vec!["/ok".into(), "(".into()],
        })
        .unwrap_err();
        assert!(err.contains("regex[1]"), "{err}");
    }
}

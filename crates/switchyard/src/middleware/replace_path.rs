//! `replacePath` and `replacePathRegex`: replace the request path (all of it, or what a regex
//! matched, with `$1`-style captures) and keep the original in `X-Replaced-Path`.

use http::header::HeaderValue;
use http::{Request, Response};
use regex::Regex;
use switchyard_model::config::dynamic::{ReplacePath as Config, ReplacePathRegex as RegexConfig};

use super::{invalid_path, set_path, BoxFuture, Middleware, Next};
use crate::http::body::Body;
use crate::http::service::RequestCtx;

const X_REPLACED_PATH: &str = "x-replaced-path";

async fn replace<'a>(
    mut req: Request<Body>,
    new_path: String,
    ctx: &'a RequestCtx,
    next: Next<'a>,
) -> Response<Body> {
    let original = req.uri().path().to_owned();
    if set_path(&mut req, &new_path).is_err() {
        return invalid_path();
    }
    if let Ok(v) = HeaderValue::from_str(&original) {
        req.headers_mut().insert(X_REPLACED_PATH, v);
    }
    next.run(req, ctx).await
}

#[derive(Debug)]
pub struct ReplacePath {
    path: String,
}

impl ReplacePath {
    pub fn new(cfg: &Config) -> Result<Self, String> {
        let path = cfg.path.clone().unwrap_or_default();
        if path.is_empty() {
            return Err("replacePath.path: a path is required".to_owned());
        }
        Ok(Self { path })
    }
}

impl Middleware for ReplacePath {
    fn call<'a>(
        &'a self,
        req: Request<Body>,
        ctx: &'a RequestCtx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Response<Body>> {
        Box::pin(replace(req, self.path.clone(), ctx, next))
    }
}

#[derive(Debug)]
pub struct ReplacePathRegex {
    regex: Regex,
    replacement: String,
}

impl ReplacePathRegex {
    pub fn new(cfg: &RegexConfig) -> Result<Self, String> {
        let exp = cfg.regex.clone().unwrap_or_default();
        let regex = Regex::new(exp.trim())
            .map_err(|e| format!("replacePathRegex.regex {exp:?}: invalid regex: {e}"))?;
        Ok(Self {
            regex,
            replacement: cfg.replacement.clone().unwrap_or_default(),
        })
    }
}

impl Middleware for ReplacePathRegex {
    fn call<'a>(
        &'a self,
        req: Request<Body>,
        ctx: &'a RequestCtx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Response<Body>> {
        Box::pin(async move {
            let path = req.uri().path();
            if self.regex.is_match(path) {
                let new_path = self
                    .regex
                    .replace_all(path, self.replacement.as_str())
                    .into_owned();
                replace(req, new_path, ctx, next).await
            } else {
                next.run(req, ctx).await
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(ReplacePath::new(&Config { path: None }).is_err());
        assert!(ReplacePathRegex::new(&RegexConfig {
            regex: Some("[".into()),
            replacement: None
        })
        .unwrap_err()
        .contains("replacePathRegex.regex"));
    }

    #[test]
    fn go_style_captures() {
        let m = ReplacePathRegex::new(&RegexConfig {
            regex: Some("^/foo/(.*)".into()),
            replacement: Some("/bar/$1".into()),
        })
        .unwrap();
        assert_eq!(
            m.regex.replace_all("/foo/x/y", m.replacement.as_str()),
            "/bar/x/y"
        );
    }
}

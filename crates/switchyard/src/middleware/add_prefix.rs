//! `addPrefix`: prepends `prefix` to the request path before it is forwarded.

use http::{Request, Response};
use switchyard_model::config::dynamic::AddPrefix as Config;

use super::{invalid_path, set_path, BoxFuture, Middleware, Next};
use crate::http::body::Body;
use crate::http::service::RequestCtx;

#[derive(Debug)]
pub struct AddPrefix {
    prefix: String,
}

impl AddPrefix {
    pub fn new(cfg: &Config) -> Result<Self, String> {
        let prefix = cfg.prefix.clone().unwrap_or_default();
        if prefix.is_empty() {
            return Err("addPrefix.prefix: a prefix is required".to_owned());
        }
        let prefix = if prefix.starts_with('/') {
            prefix
        } else {
            format!("/{prefix}")
        };
        Ok(Self { prefix })
    }
}

impl Middleware for AddPrefix {
    fn call<'a>(
        &'a self,
        mut req: Request<Body>,
        ctx: &'a RequestCtx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Response<Body>> {
        Box::pin(async move {
            let path = format!("{}{}", self.prefix.trim_end_matches('/'), req.uri().path());
            if set_path(&mut req, &path).is_err() {
                return invalid_path();
            }
            next.run(req, ctx).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requires_prefix() {
        assert!(AddPrefix::new(&Config { prefix: None })
            .unwrap_err()
            .contains("addPrefix.prefix"));
        assert_eq!(
            AddPrefix::new(&Config {
                prefix: Some("api".into())
            })
            .unwrap()
            .prefix,
            "/api"
        );
    }
}

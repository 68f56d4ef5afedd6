//! Resolving middlewares for the compiler: `name@provider` lookup, validation (exactly one type),
//! `chain` flattening with cycle detection, and building through [`crate::middleware::build`].
//! Every middleware is reported (enabled or disabled with its error), used or not.

use std::sync::Arc;

use switchyard_model::config::dynamic::Middleware as MiddlewareConfig;

use super::compile::{qualify, Compiler};
use super::report::{ObjectReport, Status};
use crate::middleware::{self, Middleware};

impl Compiler<'_> {
    /// The compiled middleware list for `qualified` (a chain expands to its members), or why it
    /// cannot be used.
    pub(super) fn middleware(
        &mut self,
        qualified: &str,
    ) -> Result<Vec<Arc<dyn Middleware>>, String> {
        if let Some(done) = self.middlewares.get(qualified) {
            return done.clone();
        }
        let key = format!("middleware:{qualified}");
        if !self.visiting.insert(key.clone()) {
            return Err(format!(
                "the middleware {qualified:?} references itself (cycle)"
            ));
        }
        let (name, provider) = qualify(qualified, "");
        let cfg = self
            .configs
            .get(&provider)
            .and_then(|c| c.http.as_ref())
            .and_then(|h| h.middlewares.get(&name))
            .cloned();
        let result = match &cfg {
            None => Err(format!("middleware {qualified:?} does not exist")),
            Some(cfg) => self.build_middleware(qualified, &provider, cfg),
        };
        self.visiting.remove(&key);
        if let Some(cfg) = &cfg {
            self.report.middlewares.insert(
                qualified.to_owned(),
                ObjectReport {
                    kind: cfg
                        .type_names()
                        .first()
                        .map(|t| t.to_string())
                        .unwrap_or_default(),
                    provider: provider.clone(),
                    status: if result.is_ok() {
                        Status::Enabled
                    } else {
                        Status::Disabled
                    },
                    error: result.as_ref().err().cloned().into_iter().collect(),
                },
            );
        }
        // A router using a broken middleware names the middleware in its own error.
        let result = result.map_err(|e| {
            if cfg.is_some() {
                format!("middleware {qualified:?}: {e}")
            } else {
                e
            }
        });
        self.middlewares
            .insert(qualified.to_owned(), result.clone());
        result
    }

    fn build_middleware(
        &mut self,
        qualified: &str,
        provider: &str,
        cfg: &MiddlewareConfig,
    ) -> Result<Vec<Arc<dyn Middleware>>, String> {
        let types = cfg.type_names();
        match types.len() {
            0 => return Err("no middleware type defined".to_owned()),
            1 => {}
            _ => {
                return Err(format!(
                    "only one middleware type per middleware, found {}",
                    types.join(", ")
                ))
            }
        }
        if let Some(chain) = &cfg.chain {
            let mut out = Vec::new();
            for (i, m) in chain.middlewares.iter().enumerate() {
                let (n, p) = qualify(m, provider);
                let list = self
                    .middleware(&format!("{n}@{p}"))
                    .map_err(|e| format!("chain.middlewares[{i}]: {e}"))?;
                out.extend(list);
            }
            return Ok(out);
        }
        if let Some(errors) = &cfg.errors {
            // The error page service lives in the middleware's provider namespace.
            let service = match errors.service.as_deref().map(str::trim) {
                Some(s) if !s.is_empty() => {
                    let (n, p) = qualify(s, provider);
                    self.service(&format!("{n}@{p}"))
                        .map_err(|e| format!("errors.service: {e}"))?
                }
                _ => return Err("errors.service: required".to_owned()),
            };
            let m = middleware::errors::Errors::new(errors, service)?;
            return Ok(vec![Arc::new(m)]);
        }
        match middleware::build(qualified, cfg, &self.ctx.middleware_state) {
            Some(result) => result.map(|m| vec![m]),
            None => Err(format!(
                "middleware type {:?} is not supported yet",
                types[0]
            )),
        }
    }
}

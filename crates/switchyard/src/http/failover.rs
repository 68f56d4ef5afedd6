//! The `failover` service: requests go to `service` while it is up, to `fallback` otherwise.
//! "Up" is the main service's health (it must have health checking unless `errors.status` is
//! set). With `errors.status` (3.7) the request body is buffered (up to
//! `errors.maxRequestBodyBytes`, else 413), and a main response with a listed status is discarded
//! and the request replayed to the fallback. With `healthCheck: {}` the fallback's health is
//! followed too: both down answers `503 Service Unavailable`.

use std::sync::Arc;

use http::header::CONTENT_LENGTH;
use http::{Request, Response, StatusCode};

use super::body::{full, text_response, Body};
use super::ctx::RequestCtx;
use super::service::Service;
use crate::middleware::code_ranges::CodeRanges;
use crate::middleware::replay::{read_limited, ReadError};

/// `failover.errors` with at least one status.
#[derive(Debug)]
pub struct FailoverErrors {
    pub status: CodeRanges,
    /// `None`: no limit.
    pub max_body: Option<u64>,
}

/// `failover` service.
#[derive(Debug)]
pub struct Failover {
    pub main: Arc<Service>,
    pub fallback: Arc<Service>,
    /// Whether the main service's health decides (it reports health).
    pub main_health: bool,
    /// `healthCheck: {}`: follow the fallback's health, and report health to parents.
    pub health_check: bool,
    pub errors: Option<FailoverErrors>,
}

impl Failover {
    pub(super) async fn call(&self, mut req: Request<Body>, ctx: &RequestCtx) -> Response<Body> {
        if !self.main_health || self.main.is_up() {
            let Some(errors) = &self.errors else {
                return self.main.call(req, ctx).await;
            };
            let (parts, body) = req.into_parts();
            let declared = parts
                .headers
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if let (Some(max), Some(len)) = (errors.max_body, declared) {
                if len > max {
                    return too_large();
                }
            }
            let buffered = match read_limited(body, errors.max_body).await {
                Ok(b) => b,
                Err(ReadError::TooLarge { .. }) => return too_large(),
                Err(ReadError::Body(e)) => {
                    let mut resp = Response::new(full(format!(
                        "Internal Server Error: creating reusable request: {e}\n"
                    )));
                    *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                    return resp;
                }
            };
            let first = Request::from_parts(parts.clone(), buffered.body());
            let resp = self.main.call(first, ctx).await;
            if !errors.status.contains(resp.status().as_u16()) {
                return resp;
            }
            drop(resp);
            req = Request::from_parts(parts, buffered.body());
        }
        if !self.health_check || self.fallback.is_up() {
            return self.fallback.call(req, ctx).await;
        }
        text_response(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable\n")
    }

    /// Up while the main service or the fallback is.
    pub fn is_up(&self) -> bool {
        (!self.main_health || self.main.is_up()) || self.fallback.is_up()
    }
}

fn too_large() -> Response<Body> {
    text_response(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large\n")
}

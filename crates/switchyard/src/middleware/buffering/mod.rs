//! `buffering`: reads the whole request before sending it to the service, and the whole response
//! before sending it to the client (memory up to `mem*BodyBytes`, then a temporary file), so that
//! a request can be sent again when `retryExpression` says so. It answers on its own with
//! `413 Request Entity Too Large` when the request is over `maxRequestBodyBytes` (checked against
//! `Content-Length` first, then while reading) and `500 Internal Server Error` when the response
//! is over `maxResponseBodyBytes` (0: no limit for either), as Traefik (oxy's buffer) does.

mod retry_expression;
mod spill;

use http::header::{HeaderValue, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{Method, Request, Response, StatusCode};
use switchyard_model::config::dynamic::Buffering as Config;

use super::{BoxFuture, Middleware, Next};
use crate::http::body::{full, Body};
use crate::http::service::RequestCtx;
use retry_expression::{Attempt, Expr};
use spill::{Held, HoldError};

const DEFAULT_MEM: usize = 1024 * 1024;
/// oxy's limit: a request is retried while its attempt number is at most this.
const MAX_RETRY_ATTEMPT: i64 = 10;

#[derive(Debug)]
pub struct Buffering {
    max_request: Option<u64>,
    mem_request: usize,
    max_response: Option<u64>,
    mem_response: usize,
    retry: Option<Expr>,
}

/// `0` means no limit; negative values are rejected (as oxy does).
fn max(option: &str, v: Option<i64>) -> Result<Option<u64>, String> {
    match v.unwrap_or(0) {
        n if n < 0 => Err(format!(
            "buffering.{option}: max bytes should be >= 0 got {n}"
        )),
        0 => Ok(None),
        n => Ok(u64::try_from(n).ok()),
    }
}

/// `0` means the 1 MiB default; negative values are rejected.
fn mem(option: &str, v: Option<i64>) -> Result<usize, String> {
    match v.unwrap_or(0) {
        n if n < 0 => Err(format!(
            "buffering.{option}: mem bytes should be >= 0 got {n}"
        )),
        0 => Ok(DEFAULT_MEM),
        n => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
    }
}

/// A status and its reason text, as oxy writes its own answers.
fn answer(status: StatusCode) -> Response<Body> {
    let mut resp = Response::new(full(super::code_ranges::status_text(status)));
    *resp.status_mut() = status;
    resp
}

impl Buffering {
    pub fn new(cfg: &Config) -> Result<Self, String> {
        let retry = match cfg.retry_expression.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(e) => Some(
                retry_expression::parse(e)
                    .map_err(|err| format!("buffering.retryExpression {e:?}: {err}"))?,
            ),
        };
        Ok(Self {
            max_request: max("maxRequestBodyBytes", cfg.max_request_body_bytes)?,
            mem_request: mem("memRequestBodyBytes", cfg.mem_request_body_bytes)?,
            max_response: max("maxResponseBodyBytes", cfg.max_response_body_bytes)?,
            mem_response: mem("memResponseBodyBytes", cfg.mem_response_body_bytes)?,
            retry,
        })
    }
}

fn expects_body(method: &Method, status: StatusCode) -> bool {
    !(method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED)
}

impl Middleware for Buffering {
    fn call<'a>(
        &'a self,
        req: Request<Body>,
        ctx: &'a RequestCtx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Response<Body>> {
        Box::pin(async move {
            let declared = req
                .headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            if let (Some(max), Some(len)) = (self.max_request, declared) {
                if len > max {
                    return answer(StatusCode::PAYLOAD_TOO_LARGE);
                }
            }
            let (mut parts, body) = req.into_parts();
            let held = match Held::read(body, self.mem_request, self.max_request).await {
                Ok(h) => h,
                Err(HoldError::TooLarge) => return answer(StatusCode::PAYLOAD_TOO_LARGE),
                Err(e) => {
                    tracing::debug!(error = %e, "buffering: cannot read the request body");
                    return answer(StatusCode::INTERNAL_SERVER_ERROR);
                }
            };
            // The upstream gets the length now known, whatever framing the client used.
            parts.headers.remove(TRANSFER_ENCODING);
            if held.len() > 0 || declared.is_some() {
                parts
                    .headers
                    .insert(CONTENT_LENGTH, HeaderValue::from(held.len()));
            }

            let mut attempt = 1;
            loop {
                let req = Request::from_parts(parts.clone(), held.body());
                let resp = next.run(req, ctx).await;
                if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
                    return resp;
                }
                let (resp_parts, body) = resp.into_parts();
                let body = if expects_body(&parts.method, resp_parts.status) {
                    match Held::read(body, self.mem_response, self.max_response).await {
                        Ok(h) => Some(h),
                        Err(HoldError::TooLarge) => {
                            tracing::debug!("buffering: response over maxResponseBodyBytes");
                            return answer(StatusCode::INTERNAL_SERVER_ERROR);
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "buffering: cannot read the response body");
                            return answer(StatusCode::BAD_GATEWAY);
                        }
                    }
                } else {
                    None
                };
                let retry = self.retry.as_ref().is_some_and(|e| {
                    attempt <= MAX_RETRY_ATTEMPT
                        && e.eval(&Attempt {
                            method: &parts.method,
                            attempt,
                            status: resp_parts.status.as_u16(),
                        })
                });
                if !retry {
                    let body = body.map_or_else(crate::http::body::empty, |h| h.body());
                    return Response::from_parts(resp_parts, body);
                }
                attempt += 1;
                tracing::debug!(attempt, "buffering: retrying the request");
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_option() {
        for (cfg, want) in [
            (
                Config {
                    max_request_body_bytes: Some(-1),
                    ..Default::default()
                },
                "buffering.maxRequestBodyBytes",
            ),
            (
                Config {
                    mem_response_body_bytes: Some(-1),
                    ..Default::default()
                },
                "buffering.memResponseBodyBytes",
            ),
            (
                Config {
                    retry_expression: Some("Foo()".into()),
                    ..Default::default()
                },
                "buffering.retryExpression \"Foo()\": unsupported function: Foo",
            ),
        ] {
            let err = Buffering::new(&cfg).unwrap_err();
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn defaults() {
        let b = Buffering::new(&Config::default()).unwrap();
        assert_eq!(b.max_request, None);
        assert_eq!(b.max_response, None);
        assert_eq!(b.mem_request, 1024 * 1024);
        assert_eq!(b.mem_response, 1024 * 1024);
        assert!(b.retry.is_none());
    }
}

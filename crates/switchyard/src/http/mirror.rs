//! The `mirroring` service: every request goes to `service`, and a share of them is copied to
//! each mirror (`percent`, counted exactly as Traefik does: the n-th request is mirrored when the
//! mirror's count so far × 100 is below n × percent). The copies are sent once the main response
//! has arrived, one mirror after the other, from a background task; their responses are read and
//! dropped. A mirror never delays, changes or fails the main response.
//!
//! With `mirrorBody` (default true) the request body is buffered for the copies; a body larger than
//! `maxBodySize` (default -1: no limit) goes to the main service alone, unmirrored. Without it the
//! copies carry no body. Requests no mirror wants are passed through without buffering.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use tracing::debug;

use super::body::{empty, full, Body};
use super::ctx::RequestCtx;
use super::service::Service;
use crate::middleware::replay::{prepend, read_limited, BufferedBody, ReadError};

/// One mirror and its share.
#[derive(Debug)]
pub struct Mirror {
    pub service: Arc<Service>,
    pub name: String,
    pub percent: u64,
    count: AtomicU64,
}

impl Mirror {
    pub fn new(service: Arc<Service>, name: String, percent: u64) -> Self {
        Self {
            service,
            name,
            percent,
            count: AtomicU64::new(0),
        }
    }
}

/// `mirroring` service.
#[derive(Debug)]
pub struct Mirroring {
    pub main: Arc<Service>,
    pub mirrors: Arc<[Mirror]>,
    pub mirror_body: bool,
    /// `None`: no limit.
    pub max_body: Option<u64>,
    /// `healthCheck: {}`: report the main service's health to parents.
    pub health_check: bool,
    total: AtomicU64,
}

impl Mirroring {
    pub fn new(
        main: Arc<Service>,
        mirrors: Vec<Mirror>,
        mirror_body: bool,
        max_body: Option<u64>,
        health_check: bool,
    ) -> Self {
        Self {
            main,
            mirrors: mirrors.into(),
            mirror_body,
            max_body,
            health_check,
            total: AtomicU64::new(0),
        }
    }

    pub(super) async fn call(&self, req: Request<Body>, ctx: &RequestCtx) -> Response<Body> {
        let chosen = self.choose();
        if chosen.is_empty() {
            return self.main.call(req, ctx).await;
        }
        let (parts, body) = req.into_parts();
        if !self.mirror_body {
            let resp = self
                .main
                .call(Request::from_parts(parts.clone(), body), ctx)
                .await;
            self.send_copies(chosen, parts, None, ctx);
            return resp;
        }
        match read_limited(body, self.max_body).await {
            Ok(buffered) => {
                let first = Request::from_parts(parts.clone(), buffered.body());
                let resp = self.main.call(first, ctx).await;
                self.send_copies(chosen, parts, Some(buffered), ctx);
                resp
            }
            Err(ReadError::TooLarge { read, rest }) => {
                debug!("no mirroring: request body larger than mirroring.maxBodySize");
                let req = Request::from_parts(parts, prepend(read, rest));
                self.main.call(req, ctx).await
            }
            Err(ReadError::Body(e)) => {
                let mut resp = Response::new(full(format!(
                    "Internal Server Error: creating reusable request: {e}\n"
                )));
                *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                resp
            }
        }
    }

    /// The mirrors that get this request (counts updated).
    fn choose(&self) -> Vec<usize> {
        if self.mirrors.is_empty() {
            return Vec::new();
        }
        let total = self.total.fetch_add(1, Ordering::Relaxed) + 1;
        let mut chosen = Vec::new();
        for (i, m) in self.mirrors.iter().enumerate() {
            let wants = m
                .count
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                    (c.saturating_mul(100) < total.saturating_mul(m.percent)).then_some(c + 1)
                })
                .is_ok();
            if wants {
                chosen.push(i);
            }
        }
        chosen
    }

    fn send_copies(
        &self,
        chosen: Vec<usize>,
        mut parts: http::request::Parts,
        body: Option<BufferedBody>,
        ctx: &RequestCtx,
    ) {
        if body.is_none() {
            parts.headers.remove(CONTENT_LENGTH);
            parts.headers.remove(TRANSFER_ENCODING);
        }
        // The copies are not the client's request: they must not write into its observability
        // trail (server URL, origin status, upstream spans), which describes the main service.
        parts
            .extensions
            .remove::<std::sync::Arc<crate::observe::record::Trail>>();
        let mirrors = self.mirrors.clone();
        let ctx = ctx.clone();
        tokio::spawn(async move {
            for i in chosen {
                let Some(mirror) = mirrors.get(i) else {
                    continue;
                };
                let copy_body = body.as_ref().map_or_else(empty, BufferedBody::body);
                let copy = Request::from_parts(parts.clone(), copy_body);
                let resp = mirror.service.call(copy, &ctx).await;
                let status = resp.status();
                let _ = resp.into_body().collect().await;
                debug!(mirror = %mirror.name, %status, "mirrored request done");
            }
        });
    }

    pub fn is_up(&self) -> bool {
        self.main.is_up()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::internal::Internal;

    fn mirroring(percents: &[u64]) -> Mirroring {
        let svc = || Arc::new(Service::Internal(Internal::Noop));
        let mirrors = percents
            .iter()
            .map(|&p| Mirror::new(svc(), format!("m{p}"), p))
            .collect();
        Mirroring::new(svc(), mirrors, true, None, false)
    }

    #[test]
    fn shares_are_counted_like_traefik() {
        // Observed from Traefik 3.7: a 30% mirror gets requests 1, 4 and 7 of 10.
        let m = mirroring(&[30, 100, 0]);
        let picks: Vec<Vec<usize>> = (0..10).map(|_| m.choose()).collect();
        let to_30: Vec<usize> = (0..10)
            .filter(|&i| picks[i].contains(&0))
            .map(|i| i + 1)
            .collect();
        assert_eq!(to_30, vec![1, 4, 7]);
        assert!(picks.iter().all(|p| p.contains(&1)));
        assert!(picks.iter().all(|p| !p.contains(&2)));
    }

    #[test]
    fn no_mirrors_no_work() {
        assert!(mirroring(&[]).choose().is_empty());
    }
}

//! `inFlightReq`: limits how many requests of one source (see [`super::source`]; default the
//! peer address) are being served at once. Over `amount` it answers on its own with 429 and
//! `max connections reached: <amount>`, as Traefik does. A request holds its slot until its
//! response body has been sent (or dropped), so a long download counts for its whole duration.
//!
//! The counters live in [`super::MiddlewareState`], shared by every build of the same middleware
//! with the same configuration, so a reload does not forget the requests still in flight.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_LENGTH};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use switchyard_model::config::dynamic::InFlightReq as Config;
use tracing::debug;

use super::source::SourceCriterion;
use super::{BoxFuture, Middleware, Next};
use crate::http::body::{full, Body};
use crate::http::service::RequestCtx;

/// Requests in flight, by source key.
#[derive(Debug, Default)]
pub struct InFlightCounters {
    counts: Mutex<HashMap<String, i64>>,
}

impl InFlightCounters {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, i64>> {
        match self.counts.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Takes a slot for `key` unless `max` are taken already.
    fn acquire(self: &Arc<Self>, key: String, max: i64) -> Option<Slot> {
        let mut counts = self.lock();
        let count = counts.get(&key).copied().unwrap_or(0);
        if count >= max {
            return None;
        }
        counts.insert(key.clone(), count + 1);
        Some(Slot {
            counters: self.clone(),
            key,
        })
    }

    #[cfg(test)]
    fn count(&self, key: &str) -> i64 {
        self.lock().get(key).copied().unwrap_or(0)
    }
}

/// One request in flight; dropping it frees the slot.
struct Slot {
    counters: Arc<InFlightCounters>,
    key: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.counters.lock();
        if let Some(count) = counts.get_mut(&self.key) {
            *count -= 1;
            if *count <= 0 {
                counts.remove(&self.key);
            }
        }
    }
}

#[derive(Debug)]
pub struct InFlightReq {
    amount: i64,
    source: SourceCriterion,
    counters: Arc<InFlightCounters>,
    rejection_text: Bytes,
}

impl InFlightReq {
    /// Builds the middleware on `counters` (from [`super::MiddlewareState`]).
    pub fn new(cfg: &Config, counters: Arc<InFlightCounters>) -> Result<Self, String> {
        let source =
            SourceCriterion::new(cfg.source_criterion.as_ref(), "inFlightReq.sourceCriterion")?;
        let amount = cfg.amount.unwrap_or(0);
        Ok(Self {
            amount,
            source,
            counters,
            rejection_text: Bytes::from(format!("max connections reached: {amount}")),
        })
    }

    fn rejection(&self) -> Response<Body> {
        let mut resp = Response::new(full(self.rejection_text.clone()));
        *resp.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        resp.headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(self.rejection_text.len()));
        resp
    }
}

impl Middleware for InFlightReq {
    fn call<'a>(
        &'a self,
        req: Request<Body>,
        ctx: &'a RequestCtx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Response<Body>> {
        Box::pin(async move {
            let key = self.source.key(&req, ctx.peer);
            let Some(slot) = self.counters.acquire(key, self.amount) else {
                debug!(
                    amount = self.amount,
                    "too many requests in flight for this source"
                );
                return self.rejection();
            };
            // Held until the response body is finished or dropped (or, if the client goes away
            // first, until this future is dropped).
            let resp = next.run(req, ctx).await;
            resp.map(|body| {
                body.map_frame(move |frame| {
                    let _held = &slot;
                    frame
                })
                .boxed()
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_key_and_released_on_drop() {
        let counters = Arc::new(InFlightCounters::default());
        let a1 = counters.acquire("a".into(), 2).unwrap();
        let _a2 = counters.acquire("a".into(), 2).unwrap();
        assert!(
            counters.acquire("a".into(), 2).is_none(),
            "third over amount 2"
        );
        let _b = counters.acquire("b".into(), 2).unwrap();
        assert_eq!(counters.count("a"), 2);
        drop(a1);
        assert_eq!(counters.count("a"), 1);
        assert!(counters.acquire("a".into(), 2).is_some());
    }

    #[test]
    fn amount_zero_rejects_everything() {
        let counters = Arc::new(InFlightCounters::default());
        assert!(counters.acquire("a".into(), 0).is_none());
        let m = InFlightReq::new(&Config::default(), counters).unwrap();
        assert_eq!(m.rejection_text, "max connections reached: 0");
        assert_eq!(m.rejection().status(), 429);
    }

    #[test]
    fn exclusive_criteria_are_rejected() {
        let cfg = Config {
            amount: Some(1),
            source_criterion: Some(switchyard_model::config::dynamic::SourceCriterion {
                ip_strategy: None,
                request_header_name: Some("X-A".into()),
                request_host: Some(true),
            }),
        };
        let err = InFlightReq::new(&cfg, Arc::default()).unwrap_err();
        assert!(err.starts_with("inFlightReq.sourceCriterion"), "{err}");
    }
}

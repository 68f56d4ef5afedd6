//! The configuration runtime: the [`watcher`] keeps the latest configuration of every provider,
//! throttles and merges them, and asks [`compile`] for a new [`Snapshot`], which is swapped into
//! [`Shared::snapshot`] atomically. State that must survive reloads (upstream pools) lives in
//! registries outside the snapshot.

pub mod compile;
pub mod internal;
pub mod middlewares;
pub mod report;
pub mod services;
pub mod watcher;

use std::sync::Arc;

use arc_swap::ArcSwap;
use http::HeaderValue;

use crate::http::internal::Health;
use crate::http::router::RouterTable;
pub use report::Report;

/// One compiled, immutable configuration.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// HTTP route tables, indexed by entry point index.
    pub http: Vec<RouterTable>,
    /// Status and errors of every object, for `check`, the logs and (later) the API.
    pub report: Report,
}

/// State shared by the data plane and the runtime.
#[derive(Debug)]
pub struct Shared {
    pub snapshot: ArcSwap<Snapshot>,
    pub health: Arc<Health>,
    /// This host's name, sent as `X-Forwarded-Server`.
    pub hostname: HeaderValue,
}

/// The machine's hostname, as Go's `os.Hostname` would give it.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

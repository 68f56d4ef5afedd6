//! Switchyard: a Traefik v3 compatible edge router.
//!
//! The crate is the runtime around the pure `switchyard-model` and `switchyard-rule` crates:
//!
//! - [`config`] finds and decodes the static configuration (file, flags or `TRAEFIK_*` env).
//! - [`provider`] tasks produce whole dynamic configurations (the file provider today).
//! - [`runtime`] keeps the latest configuration of each provider, merges, validates and compiles
//!   it into an immutable [`runtime::Snapshot`] that is swapped atomically.
//! - [`http`] is the data plane: entry points, routing, services, the proxy and its upstream pools.
//! - [`acme`] obtains and renews certificates from ACME CAs (`certificatesResolvers`).
//! - [`api`] serves Traefik's JSON API and the embedded dashboard.
//! - [`observe`] sets up logging and the per-request sinks: metrics, access log, tracing.
#![forbid(unsafe_code)]

pub mod acme;
pub mod api;
pub mod app;
pub mod check;
pub mod config;
pub mod http;
pub mod middleware;
pub mod observe;
pub mod provider;
pub mod runtime;
pub mod tls;

/// Switchyard's version, as `switchyard version` prints it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

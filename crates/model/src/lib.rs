//! Switchyard's configuration model. Pure: no tokio, no sockets, no file watching.
//!
//! - [`decode`]: one case-insensitive key-path decoder that turns YAML, TOML, JSON, CLI flags and
//!   `TRAEFIK_*` environment variables (and later Docker labels and KV paths) into typed config.
//! - [`config`]: serde types mirroring Traefik v3's static and dynamic configuration exactly.
//! - [`Duration`]: Go-style durations (`1m30s`) or bare seconds.
#![forbid(unsafe_code)]

pub mod config;
pub mod decode;
mod duration;

pub use duration::Duration;

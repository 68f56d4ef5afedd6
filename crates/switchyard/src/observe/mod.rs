//! Observability: the process log (`log` section). Access logs, metrics and tracing come later and
//! will live here too.

pub mod log;

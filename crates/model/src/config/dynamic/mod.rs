//! The dynamic ("routing") configuration: `http`, `tcp`, `udp` and `tls`, as any provider
//! delivers it (file, labels, KV, CRDs, HTTP, REST).
//!
//! A provider produces one [`DynamicConfig`]; the runtime namespaces its names (`name@provider`),
//! merges every provider's configuration, validates each router/service/middleware on its own
//! and compiles a snapshot. Nothing here resolves references or applies defaults.

mod http;
mod middleware;
mod tcp;
mod tls;
mod udp;

use crate::decode::section;

pub use super::common::{CertificateFiles, ClientTls, Domain, Spiffe};
pub use http::*;
pub use middleware::*;
pub use tcp::*;
pub use tls::*;
pub use udp::*;

model! {
    /// One provider's routing configuration.
    pub struct DynamicConfig {
        #[serde(with = "section")]
        pub http: Option<HttpConfig>,
        #[serde(with = "section")]
        pub tcp: Option<TcpConfig>,
        #[serde(with = "section")]
        pub udp: Option<UdpConfig>,
        #[serde(with = "section")]
        pub tls: Option<TlsConfig>,
    }
}

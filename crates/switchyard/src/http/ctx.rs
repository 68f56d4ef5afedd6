//! Per-connection facts every handler can read: who the peer is, which entry point accepted the
//! connection, and what TLS negotiated. Fixed for the connection's lifetime.

use std::net::SocketAddr;
use std::sync::Arc;

/// Per-request facts the middlewares and services need, fixed by the entry point and connection.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    pub peer: SocketAddr,
    pub entry_point: Arc<str>,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// The TLS options the handshake used (chosen by SNI), for the domain-fronting check.
    pub tls_options: Option<Arc<str>>,
    /// The SNI the client sent.
    pub sni: Option<Arc<str>>,
}

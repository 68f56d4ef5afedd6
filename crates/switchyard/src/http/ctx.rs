//! Per-connection facts every handler can read: who the peer is, which entry point accepted the
//! connection, and what TLS negotiated. Fixed for the connection's lifetime.

use std::net::SocketAddr;
use std::sync::Arc;

use http::HeaderValue;

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
    /// The peer's IP as a header value, made once per connection (`X-Forwarded-For`).
    pub peer_value: HeaderValue,
    /// Whether the proxy appends the peer to `X-Forwarded-For` (`notAppendXForwardedFor` off).
    pub append_xff: bool,
    /// The client's certificate chain on mutual-TLS connections (`passTLSClientCert`).
    pub client_certs: Option<Arc<Vec<rustls::pki_types::CertificateDer<'static>>>>,
    /// Negotiated TLS version and cipher, for the access log, metrics and tracing.
    pub tls_info: Option<crate::observe::record::TlsInfo>,
}

impl RequestCtx {
    /// A plain-HTTP connection's context.
    pub fn new(peer: SocketAddr, entry_point: Arc<str>, append_xff: bool) -> Self {
        Self {
            peer,
            entry_point,
            tls: false,
            tls_options: None,
            sni: None,
            peer_value: HeaderValue::from_str(&peer.ip().to_string())
                .unwrap_or_else(|_| HeaderValue::from_static("")),
            append_xff,
            client_certs: None,
            tls_info: None,
        }
    }
}

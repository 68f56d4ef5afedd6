//! Proxy errors that know where they came from. The kind decides the status code Traefik users
//! expect (502 for a refused or broken upstream connection, 504 for timeouts, 499 when the client
//! went away) and whether a retry would be safe.

use std::fmt;

/// Who is to blame for a failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// The client (it went away, or sent something unusable).
    Downstream,
    /// The upstream server.
    Upstream,
    /// Switchyard itself (configuration, internal error).
    Internal,
}

/// What went wrong while proxying a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The upstream connection could not be established (refused, unreachable, TLS handshake).
    ConnectFailed,
    /// Dialing the upstream took longer than `dialTimeout`.
    ConnectTimeout,
    /// The upstream did not send response headers within `responseHeaderTimeout`.
    ResponseHeaderTimeout,
    /// The upstream connection broke or the upstream spoke invalid HTTP.
    UpstreamProtocol,
    /// The service has no server to send the request to.
    NoServer,
    /// The client closed the connection before the response was written.
    ClientClosed,
    /// The request cannot be forwarded (e.g. invalid URL built from the server address).
    BadRequestTarget,
    /// Reading the client's request body failed (invalid chunked encoding, reset mid-body).
    ClientBody,
}

/// An error while reading the client's request body, marked so that a failed upstream request
/// can be blamed on the client (400) rather than the upstream (502).
#[derive(Debug)]
pub struct DownstreamBodyError(pub hyper::Error);

impl fmt::Display for DownstreamBodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "reading the request body: {}", self.0)
    }
}

impl std::error::Error for DownstreamBodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// A proxy error: its kind, its blame, and a message for the log.
#[derive(Debug)]
pub struct ProxyError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ProxyError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// Who is to blame, for logs and metrics.
    pub fn blame(&self) -> Blame {
        match self.kind {
            ErrorKind::ConnectFailed
            | ErrorKind::ConnectTimeout
            | ErrorKind::ResponseHeaderTimeout
            | ErrorKind::UpstreamProtocol => Blame::Upstream,
            ErrorKind::ClientClosed | ErrorKind::ClientBody => Blame::Downstream,
            ErrorKind::NoServer | ErrorKind::BadRequestTarget => Blame::Internal,
        }
    }

    /// Whether the request surely never reached the upstream, so that sending it again is safe.
    pub fn retry_safe(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::ConnectFailed | ErrorKind::ConnectTimeout
        )
    }

    /// The status code Traefik answers with.
    pub fn status(&self) -> http::StatusCode {
        match self.kind {
            ErrorKind::ConnectFailed | ErrorKind::UpstreamProtocol => http::StatusCode::BAD_GATEWAY,
            ErrorKind::ConnectTimeout | ErrorKind::ResponseHeaderTimeout => {
                http::StatusCode::GATEWAY_TIMEOUT
            }
            ErrorKind::NoServer => http::StatusCode::SERVICE_UNAVAILABLE,
            // 499 is nginx's and Traefik's "client closed request"; it is only recorded.
            ErrorKind::ClientClosed => {
                http::StatusCode::from_u16(499).unwrap_or(http::StatusCode::BAD_REQUEST)
            }
            ErrorKind::BadRequestTarget => http::StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::ClientBody => http::StatusCode::BAD_REQUEST,
        }
    }

    /// The body Traefik writes for this status.
    pub fn body_text(&self) -> &'static str {
        match self.status().as_u16() {
            502 => "Bad Gateway",
            503 => "no available server\n",
            504 => "Gateway Timeout",
            499 => "Client Closed Request",
            400 => "Bad Request",
            _ => "Internal Server Error",
        }
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for ProxyError {}

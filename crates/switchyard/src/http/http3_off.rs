//! Stand-in for `http::http3` in builds without the `http3` feature: an entry point's `http3`
//! section is reported and ignored (no UDP socket, no `Alt-Svc`).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;

use super::entrypoint::EntryPointSpec;
use crate::runtime::Shared;

/// Never built: this binary has no HTTP/3.
pub struct Http3Listener(std::convert::Infallible);

/// Warns when the entry point asks for HTTP/3; never binds.
pub fn bind(
    spec: &EntryPointSpec,
    _shared: &Arc<Shared>,
    _tcp: SocketAddr,
) -> Result<Option<Http3Listener>, String> {
    if spec.http3.is_some() {
        tracing::warn!(entry_point = %spec.name, "entryPoints.{}.http3: this build has no HTTP/3 support (cargo feature `http3`); ignored", spec.name);
    }
    Ok(None)
}

/// Unreachable: there is no listener to serve.
pub async fn serve(
    listener: Http3Listener,
    _spec: Arc<EntryPointSpec>,
    _shared: Arc<Shared>,
    _stop: watch::Receiver<bool>,
) {
    match listener.0 {}
}

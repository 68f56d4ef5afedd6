//! HTTP/3 (`entryPoints.<name>.http3`): QUIC on the entry point's port over UDP, with quinn and
//! h3. Requests go through the same [`crate::http::server::route`] as HTTP/1.1 and HTTP/2 over
//! TLS, so they see the entry point's TLS routers (the secure table), middlewares and services;
//! HTTP/3 is always TLS, so plain-HTTP routers are never reached this way. The TLS configuration
//! is chosen per connection from the SNI ([`tls`]). When the UDP socket is bound, the entry point's
//! HTTPS responses on TCP start advertising it with `Alt-Svc`.
//!
//! Graceful shutdown follows the TCP entry point: on the stop switch no new connection is
//! accepted, each connection sends GOAWAY and finishes its requests, and whatever is left after
//! `graceTimeOut` is closed.

mod body;
mod conn;
mod tls;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::entrypoint::EntryPointSpec;
use crate::runtime::Shared;

/// H3_NO_ERROR (RFC 9114 §8.1), the code of a clean close.
const H3_NO_ERROR: u32 = 0x100;

/// An entry point's bound HTTP/3 endpoint, ready to [`serve`].
pub struct Http3Listener {
    endpoint: quinn::Endpoint,
}

/// Binds the UDP side of an entry point with `http3` on the port its TCP listener got (`tcp`);
/// `None` when the entry point has no `http3`. A port that cannot be bound is an error, as for TCP.
pub fn bind(
    spec: &EntryPointSpec,
    shared: &Arc<Shared>,
    tcp: SocketAddr,
) -> Result<Option<Http3Listener>, String> {
    let Some(settings) = &spec.http3 else {
        return Ok(None);
    };
    let what = |e: &dyn std::fmt::Display| {
        format!(
            "entryPoints.{}.http3: cannot listen on {}/udp: {e}",
            spec.name, spec.address
        )
    };
    let crypto = tls::SniQuicConfig::new(shared.clone(), spec.index).map_err(|e| what(&e))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    // The connection's idle limit is the entry point's idleTimeout (none when 0).
    transport.max_idle_timeout(
        spec.idle_timeout
            .and_then(|d| quinn::IdleTimeout::try_from(d).ok()),
    );
    server.transport_config(Arc::new(transport));
    let socket = udp_socket(tcp, spec.reuse_port).map_err(|e| what(&e))?;
    let endpoint = quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(server),
        socket,
        Arc::new(quinn::TokioRuntime),
    )
    .map_err(|e| what(&e))?;
    let port = settings.advertised_port.unwrap_or(tcp.port());
    let _ = spec.alt_svc.set(settings.alt_svc(port));
    info!(entry_point = %spec.name, address = %endpoint.local_addr().map(|a| a.to_string()).unwrap_or_default(), advertised_port = port, "listening for HTTP/3");
    Ok(Some(Http3Listener { endpoint }))
}

/// The UDP socket: same address as the TCP listener, `SO_REUSEPORT` when asked, IPv6 wildcards
/// dual-stack.
fn udp_socket(addr: SocketAddr, reuse_port: bool) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        let _ = socket.set_only_v6(!addr.ip().is_unspecified());
    }
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Serves HTTP/3 until `stop` turns true, then drains connections for the grace timeout.
pub async fn serve(
    listener: Http3Listener,
    spec: Arc<EntryPointSpec>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let endpoint = listener.endpoint;
    tokio::spawn(warn_without_tls(spec.clone(), shared.clone()));
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            incoming = endpoint.accept() => match incoming {
                Some(incoming) => {
                    conns.spawn(conn::serve(incoming, spec.clone(), shared.clone(), stop.clone()));
                }
                None => break,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = stopped(&mut stop) => break,
        }
    }
    // Refuse new connections; those open drain (they saw the same stop switch).
    endpoint.set_server_config(None);
    info!(entry_point = %spec.name, grace = ?spec.grace_timeout, "HTTP/3 stopped accepting, draining connections");
    let drained = tokio::time::timeout(spec.grace_timeout, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!(entry_point = %spec.name, "grace timeout reached, closing remaining HTTP/3 connections");
    }
    conns.abort_all();
    endpoint.close(quinn::VarInt::from_u32(H3_NO_ERROR), b"shutting down");
    // Time for the CONNECTION_CLOSE frames to leave.
    if tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle())
        .await
        .is_err()
    {
        debug!(entry_point = %spec.name, "HTTP/3 endpoint closed before every peer acknowledged");
    }
}

/// Resolves once the stop switch is on.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// HTTP/3 serves only TLS routers: once the first configuration is in, say so when the entry
/// point has none (and no `http.tls` default), rather than leave users wondering.
async fn warn_without_tls(spec: Arc<EntryPointSpec>, shared: Arc<Shared>) {
    for _ in 0..600 {
        if shared.health.ready.load(Ordering::Relaxed) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let has_tls = shared
        .snapshot
        .load()
        .http
        .get(spec.index)
        .is_some_and(|t| t.has_tls);
    if !has_tls {
        warn!(
            entry_point = %spec.name,
            "entryPoints.{}.http3 is set but no router on this entry point has TLS: HTTP/3 always uses TLS and serves only routers with a `tls` section (or set entryPoints.{}.http.tls)",
            spec.name, spec.name
        );
    }
}

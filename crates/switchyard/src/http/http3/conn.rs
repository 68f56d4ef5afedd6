//! One HTTP/3 connection: the QUIC handshake, then each request stream turned into a
//! `Request<Body>` for [`server::route`] (the same routers, middlewares and services as over TCP)
//! and the response streamed back, trailers included. On the stop switch the connection sends
//! GOAWAY, lets its requests in flight finish, and closes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use h3::server::{RequestResolver, RequestStream};
use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, Request, Response, Version};
use http_body_util::BodyExt;
use rustls::pki_types::CertificateDer;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::debug;

use super::body::{peek, peek_wait, RecvBody};
use super::tls::Negotiated;
use crate::http::body::{Body, BoxError};
use crate::http::entrypoint::EntryPointSpec;
use crate::http::server::{self, Conn};
use crate::http::service::RequestCtx;
use crate::runtime::Shared;

type SendStream = RequestStream<h3_quinn::SendStream<Bytes>, Bytes>;

/// How long a draining connection waits, once its last response is written, before closing: time
/// for the client to acknowledge the last packets (closing abandons unacknowledged data).
const LINGER: Duration = Duration::from_millis(100);

/// Serves one incoming QUIC connection until the client closes it or the drain ends it.
pub(super) async fn serve(
    incoming: quinn::Incoming,
    spec: Arc<EntryPointSpec>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let remote = incoming.remote_address();
    let peer = SocketAddr::new(remote.ip().to_canonical(), remote.port());
    let limit = spec.read_timeout.unwrap_or(Duration::from_secs(60));
    let connecting = match incoming.accept() {
        Ok(c) => c,
        Err(e) => {
            debug!(%peer, error = %e, "QUIC connection refused");
            return;
        }
    };
    let quic = match tokio::time::timeout(limit, connecting).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            debug!(%peer, error = %e, "QUIC handshake failed");
            return;
        }
        Err(_) => {
            debug!(%peer, "QUIC handshake timed out");
            return;
        }
    };
    let conn = Arc::new(Conn::new(spec.clone(), shared, context(&quic, peer, &spec)));
    let mut h3 = match h3::server::builder()
        .max_field_section_size(u64::try_from(spec.max_header_bytes).unwrap_or(u64::MAX))
        .build::<_, Bytes>(h3_quinn::Connection::new(quic.clone()))
        .await
    {
        Ok(h3) => h3,
        Err(e) => {
            debug!(%peer, error = %e, "HTTP/3 connection setup failed");
            return;
        }
    };

    let mut requests = JoinSet::new();
    let mut draining = false;
    loop {
        tokio::select! {
            accepted = h3.accept() => match accepted {
                Ok(Some(resolver)) => {
                    requests.spawn(request(resolver, conn.clone(), limit));
                }
                Ok(None) => break,
                Err(e) => {
                    if !e.is_h3_no_error() {
                        debug!(%peer, error = %e, "HTTP/3 connection ended with an error");
                    }
                    break;
                }
            },
            Some(_) = requests.join_next(), if !requests.is_empty() => {}
            _ = stopped(&mut stop), if !draining => {
                draining = true;
                // GOAWAY: the client opens no new request here; those in flight go on.
                if h3.shutdown(0).await.is_err() {
                    break;
                }
            }
            _ = tokio::time::sleep(LINGER + quic.rtt() * 2), if draining && requests.is_empty() => {
                break;
            }
        }
    }
    while requests.join_next().await.is_some() {}
    // Dropping `h3` closes the connection with H3_NO_ERROR.
}

/// The request context: a TLS connection, with the SNI and TLS options the handshake chose and
/// the client's certificates (mutual TLS).
fn context(quic: &quinn::Connection, peer: SocketAddr, spec: &EntryPointSpec) -> RequestCtx {
    let mut ctx = RequestCtx::new(peer, spec.name.clone(), spec.forwarded.appends_xff());
    ctx.tls = true;
    if let Some(n) = quic
        .handshake_data()
        .and_then(|d| d.downcast::<Negotiated>().ok())
    {
        ctx.sni = n.sni;
        ctx.tls_options = Some(n.options);
    }
    ctx.client_certs = quic
        .peer_identity()
        .and_then(|id| id.downcast::<Vec<CertificateDer<'static>>>().ok())
        .map(|chain| Arc::new(*chain));
    ctx.tls_info = Some(crate::observe::record::TlsInfo {
        version: "1.3",
        cipher: "",
        client_certs: ctx.client_certs.clone(),
    });
    ctx
}

/// Resolves once the stop switch is on.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// One request stream: headers (within readTimeout), routing, then the response.
async fn request(
    resolver: RequestResolver<h3_quinn::Connection, Bytes>,
    conn: Arc<Conn>,
    limit: Duration,
) {
    let peer = conn.ctx.peer;
    let (req, stream) = match tokio::time::timeout(limit, resolver.resolve_request()).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            debug!(%peer, error = %e, "invalid HTTP/3 request");
            return;
        }
        Err(_) => {
            debug!(%peer, "HTTP/3 request headers timed out");
            return;
        }
    };
    let (mut send, mut recv) = stream.split();
    let first = match peek(&mut recv, peek_wait(req.method(), req.headers())).await {
        Ok(first) => first,
        Err(e) => {
            debug!(%peer, error = %e, "HTTP/3 request body failed");
            return;
        }
    };
    let (mut parts, ()) = req.into_parts();
    parts.version = Version::HTTP_3;
    let length = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let body = RecvBody::new(recv, first, length).boxed();
    let (method, path) = (parts.method.clone(), parts.uri.path().to_owned());
    let resp = server::observed(Request::from_parts(parts, body), &conn).await;
    if let Err(e) = respond(&mut send, resp).await {
        // The client went away, or the upstream body failed: the stream is reset.
        send.stop_stream(h3::error::Code::H3_INTERNAL_ERROR);
        debug!(%peer, %method, path, error = %e, "HTTP/3 response not completed");
    }
}

/// Writes the response head, streams the body, then the trailers if any.
async fn respond(send: &mut SendStream, resp: Response<Body>) -> Result<(), BoxError> {
    let (mut parts, mut body) = resp.into_parts();
    strip_connection_headers(&mut parts.headers);
    send.send_response(Response::from_parts(parts, ())).await?;
    while let Some(frame) = body.frame().await {
        match frame?.into_data() {
            Ok(data) if data.is_empty() => {}
            Ok(data) => send.send_data(data).await?,
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    send.send_trailers(trailers).await?;
                }
                break;
            }
        }
    }
    send.finish().await?;
    Ok(())
}

/// HTTP/3 forbids connection-specific header fields (RFC 9114 §4.2); upstream responses have
/// them stripped already, this catches the rest.
fn strip_connection_headers(headers: &mut HeaderMap) {
    for name in [CONNECTION, TRANSFER_ENCODING, UPGRADE] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

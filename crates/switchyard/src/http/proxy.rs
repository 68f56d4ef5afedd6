//! Forwarding one request to one upstream server: builds the upstream request (target, Host,
//! hop-by-hop headers), sends it through the transport's pool, streams the response back without
//! buffering (trailers included, so gRPC works), and tunnels `101 Switching Protocols` upgrades.
//! Failures become Traefik's answers: 502 when the upstream is unreachable or broken, 504 on
//! timeouts.
//!
//! Response body frames are written to the client as they arrive and flushed at once, so
//! `responseForwarding.flushInterval` (Traefik's upper bound on how long data may sit in a buffer)
//! always holds: nothing waits for an interval, whatever its value.

use std::error::Error as _;

use http::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION, HOST, TE, UPGRADE};
use http::uri::{PathAndQuery, Scheme, Uri};
use http::{Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tracing::debug;

use super::body::{full, Body};
use super::error::{ErrorKind, ProxyError};
use super::service::{LoadBalancer, RequestCtx, UpstreamScheme, UpstreamServer};

/// Hop-by-hop headers (RFC 9110 §7.6.1 and the de-facto ones Go's proxy strips). A `match` on
/// the (lower-case) name compiles to a length switch: cheaper than scanning a list per header.
fn is_hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "proxy-connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

/// Sends `req` to `server` and returns the response to write to the client.
pub async fn forward(
    lb: &LoadBalancer,
    server: &UpstreamServer,
    mut req: Request<Body>,
    ctx: &RequestCtx,
) -> Response<Body> {
    let upgrade = upgrade_protocol(req.headers());
    let client_upgrade = upgrade.as_ref().map(|_| hyper::upgrade::on(&mut req));
    super::forwarded::append_forwarded_for(req.headers_mut(), &ctx.peer_value, ctx.append_xff);
    let trail = crate::observe::record::Trail::of(&req).cloned();
    let mut upstream_req = match upstream_request(lb, server, req, upgrade.clone()) {
        Ok(r) => r,
        Err(e) => return error_response(&e, lb, server),
    };
    let sent_at = std::time::Instant::now();
    if let Some(trail) = &trail {
        trail.with(|t| {
            t.server_url = Some(server.url.clone());
            t.lb_service = Some(lb.name.clone());
            if let Some(trace) = &mut t.trace {
                trace.start_upstream_request(&server.url, &mut upstream_req);
            }
        });
    }
    let sent = send(lb, server.scheme, upstream_req);
    let result = match lb.client.response_header_timeout {
        Some(limit) => match tokio::time::timeout(limit, sent).await {
            Ok(r) => r,
            Err(_) => Err(ProxyError::new(
                ErrorKind::ResponseHeaderTimeout,
                format!("no response headers within {limit:?}"),
            )),
        },
        None => sent.await,
    };
    if let Some(trail) = &trail {
        let status = result.as_ref().ok().map(|r| r.status().as_u16());
        trail.with(|t| {
            t.origin_status = status;
            t.origin_duration = Some(sent_at.elapsed());
            if let Some(trace) = &mut t.trace {
                trace.end_upstream(status);
            }
        });
    }
    let mut resp = match result {
        Ok(resp) => resp,
        Err(e) => return error_response(&e, lb, server),
    };

    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_upgrade) = client_upgrade else {
            return error_response(
                &ProxyError::new(
                    ErrorKind::UpstreamProtocol,
                    "101 without an upgrade request",
                ),
                lb,
                server,
            );
        };
        let upstream_upgrade = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            match tokio::try_join!(client_upgrade, upstream_upgrade) {
                Ok((client, upstream)) => {
                    let mut client = TokioIo::new(client);
                    let mut upstream = TokioIo::new(upstream);
                    if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await
                    {
                        debug!(error = %e, "upgraded connection ended");
                    }
                }
                Err(e) => debug!(error = %e, "upgrade failed"),
            }
        });
        let (parts, _) = resp.into_parts();
        return Response::from_parts(parts, super::body::empty());
    }

    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers, false);
    // The client gets our protocol version, not the upstream's (an HTTP/1.0 upstream must not
    // turn the answer into HTTP/1.0).
    parts.version = Version::HTTP_11;
    Response::from_parts(parts, body.map_err(Into::into).boxed())
}

async fn send(
    lb: &LoadBalancer,
    scheme: UpstreamScheme,
    req: Request<Body>,
) -> Result<Response<hyper::body::Incoming>, ProxyError> {
    let result = match scheme {
        UpstreamScheme::Http => lb.client.http.request(req).await,
        UpstreamScheme::Https => lb.client.https.request(req).await,
        UpstreamScheme::H2c => lb.client.h2c.request(req).await,
    };
    result.map_err(classify)
}

/// Maps a client error to its kind: connect timeouts (504), connect failures (502), broken
/// connections or invalid responses (502).
fn classify(err: hyper_util::client::legacy::Error) -> ProxyError {
    let mut source = err.source();
    let mut timed_out = false;
    let mut client_body = false;
    while let Some(s) = source {
        client_body |= s.is::<super::error::DownstreamBodyError>();
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            timed_out |= io.kind() == std::io::ErrorKind::TimedOut;
        }
        timed_out |= s.to_string().contains("timed out");
        source = s.source();
    }
    let kind = match (err.is_connect(), timed_out) {
        _ if client_body => ErrorKind::ClientBody,
        (true, true) => ErrorKind::ConnectTimeout,
        (true, false) => ErrorKind::ConnectFailed,
        (false, _) => ErrorKind::UpstreamProtocol,
    };
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    ProxyError::new(kind, message)
}

fn error_response(err: &ProxyError, lb: &LoadBalancer, server: &UpstreamServer) -> Response<Body> {
    debug!(service = %lb.name, server = %server.url, error = %err, blame = ?err.blame(), "proxy error");
    let mut resp = Response::new(full(err.body_text()));
    *resp.status_mut() = err.status();
    // Middlewares (retry, circuitBreaker) tell a proxy error from an upstream's own answer by it.
    resp.extensions_mut().insert(err.kind);
    if err.status() == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    resp
}

/// The protocol named in `Upgrade` when the request asks for one (HTTP/1.1 only).
fn upgrade_protocol(headers: &HeaderMap) -> Option<HeaderValue> {
    // `Upgrade: h2c` (deprecated by RFC 9113) is answered as if absent, over HTTP/1.1, which
    // RFC 7540 allows; it is never forwarded as an upgrade.
    if headers
        .get(UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"h2c"))
    {
        return None;
    }
    let asks = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    if asks {
        headers.get(UPGRADE).cloned()
    } else {
        None
    }
}

/// Builds the request sent upstream from the client's request.
fn upstream_request(
    lb: &LoadBalancer,
    server: &UpstreamServer,
    req: Request<Body>,
    upgrade: Option<HeaderValue>,
) -> Result<Request<Body>, ProxyError> {
    let (mut parts, body) = req.into_parts();
    let original_host = parts.uri.authority().map(|a| a.as_str().to_owned());

    let path_and_query = match &server.path_prefix {
        Some(prefix) => {
            let pq = parts
                .uri
                .path_and_query()
                .map(PathAndQuery::as_str)
                .unwrap_or("/");
            let joined = format!("{}{}", prefix.trim_end_matches('/'), pq);
            PathAndQuery::try_from(joined)
                .map_err(|e| ProxyError::new(ErrorKind::BadRequestTarget, e.to_string()))?
        }
        None => parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/")),
    };
    let scheme = match server.scheme {
        UpstreamScheme::Https => Scheme::HTTPS,
        UpstreamScheme::Http | UpstreamScheme::H2c => Scheme::HTTP,
    };
    parts.uri = Uri::builder()
        .scheme(scheme)
        .authority(server.authority.clone())
        .path_and_query(path_and_query)
        .build()
        .map_err(|e| ProxyError::new(ErrorKind::BadRequestTarget, e.to_string()))?;

    let keep_trailers_te = parts
        .headers
        .get_all(TE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("trailers"));
    strip_hop_by_hop(&mut parts.headers, true);
    if keep_trailers_te {
        parts
            .headers
            .insert(TE, HeaderValue::from_static("trailers"));
    }
    if let Some(proto) = upgrade {
        parts
            .headers
            .insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        parts.headers.insert(UPGRADE, proto);
    }

    if lb.pass_host_header {
        // An HTTP/2 or absolute-form request carries its host in the authority, which wins over
        // any Host header (as in Go's server); HTTP/1.1 upstreams need it as `Host`.
        if let Some(host) = original_host.and_then(|h| HeaderValue::from_str(&h).ok()) {
            parts.headers.insert(HOST, host);
        }
    } else {
        parts.headers.remove(HOST);
    }
    parts.version = match server.scheme {
        UpstreamScheme::H2c => Version::HTTP_2,
        _ => Version::HTTP_11,
    };
    Ok(Request::from_parts(parts, body))
}

/// Removes hop-by-hop headers and every header named in `Connection`.
/// On requests, `Connection` cannot remove the forwarded headers the proxy manages.
fn strip_hop_by_hop(headers: &mut HeaderMap, protect_forwarded: bool) {
    // Most messages carry none of these: find out with one pass over the header names instead
    // of a hashed removal per hop-by-hop name.
    if !headers.keys().any(|k| is_hop_by_hop(k.as_str())) {
        return;
    }
    if headers.contains_key(CONNECTION) {
        let listed: Vec<HeaderName> = headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
            .collect();
        for name in listed {
            let managed = name.as_str().starts_with("x-forwarded-") || name == "x-real-ip";
            if !(protect_forwarded && managed) {
                headers.remove(name);
            }
        }
    }
    let present: Vec<HeaderName> = headers
        .keys()
        .filter(|k| is_hop_by_hop(k.as_str()))
        .cloned()
        .collect();
    for name in present {
        headers.remove(name);
    }
}

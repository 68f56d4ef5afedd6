//! Serving one TCP entry point: the accept loop, per-connection HTTP/1.1 + HTTP/2 (h2c prior
//! knowledge) with upgrades, and the per-request path from raw request to routed handler. Each
//! request loads the current snapshot once; a keep-alive connection therefore picks up a new
//! configuration on its next request, while requests in flight finish on the one they started with.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use http::header::{CONNECTION, HOST};
use http::{HeaderValue, Request, Response, StatusCode, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::body::{not_found, text_response, Body};
use super::entrypoint::EntryPointSpec;
use super::error::DownstreamBodyError;
use super::forwarded::ForwardedRequest;
use super::service::RequestCtx;
use crate::runtime::Shared;

/// Binds the entry point's socket (with `SO_REUSEPORT` when asked; IPv6 wildcard addresses are
/// dual-stack, like Go's `:port`).
pub fn bind(spec: &EntryPointSpec) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let addr = spec.addr;
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        // A wildcard IPv6 address also accepts IPv4, as Go does for ":80".
        let _ = socket.set_only_v6(!addr.ip().is_unspecified());
    }
    socket.set_reuse_address(true)?;
    if spec.reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_tcp_nodelay(true)?;
    socket.set_nonblocking(true)?;
    match socket.bind(&addr.into()) {
        Ok(()) => {}
        Err(e) if addr.is_ipv6() && addr.ip().is_unspecified() => {
            // No IPv6 on this host: fall back to the IPv4 wildcard.
            debug!(error = %e, "IPv6 wildcard bind failed, using 0.0.0.0");
            let v4 = SocketAddr::from(([0, 0, 0, 0], addr.port()));
            let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
            socket.set_reuse_address(true)?;
            if spec.reuse_port {
                socket.set_reuse_port(true)?;
            }
            socket.set_nonblocking(true)?;
            socket.bind(&v4.into())?;
            socket.listen(4096)?;
            return TcpListener::from_std(socket.into());
        }
        Err(e) => return Err(e),
    }
    socket.listen(4096)?;
    TcpListener::from_std(socket.into())
}

/// Per-connection state shared by the connection's requests.
pub(crate) struct Conn {
    pub(crate) spec: Arc<EntryPointSpec>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) ctx: RequestCtx,
    requests: AtomicU64,
    started: Instant,
}

impl Conn {
    pub(crate) fn new(spec: Arc<EntryPointSpec>, shared: Arc<Shared>, ctx: RequestCtx) -> Self {
        Self {
            spec,
            shared,
            ctx,
            requests: AtomicU64::new(0),
            started: Instant::now(),
        }
    }
}

/// Serves `listener` until `stop` turns true, then drains connections for the grace timeout.
pub async fn serve(
    listener: TcpListener,
    spec: Arc<EntryPointSpec>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    {
        let mut h1 = builder.http1();
        h1.timer(TokioTimer::new())
            .keep_alive(true)
            .max_buf_size(spec.max_header_bytes.max(8192));
        // hyper's header-read timer also runs while a keep-alive connection waits for its next
        // request, so it enforces both readTimeout (headers) and idleTimeout.
        let header_timeout = match (spec.read_timeout, spec.idle_timeout) {
            (Some(r), Some(i)) => Some(r.min(i)),
            (r, i) => r.or(i),
        };
        h1.header_read_timeout(header_timeout);
    }
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(spec.http2_max_concurrent_streams);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();

    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let ctx = RequestCtx::new(peer, spec.name.clone(), spec.forwarded.appends_xff());
                    let conn = Conn::new(spec.clone(), shared.clone(), ctx);
                    let open = shared.observe.metrics.as_ref().map(|m| m.open_connection(&spec.name, "TCP"));
                    let (builder, watcher) = (builder.clone(), graceful.watcher());
                    tokio::spawn(async move {
                        connection(stream, conn, builder, watcher).await;
                        drop(open);
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: log, back off a little, go on.
                    warn!(entry_point = %spec.name, error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = stopped(&mut stop) => break,
        }
    }
    drop(listener);
    info!(entry_point = %spec.name, grace = ?spec.grace_timeout, "stopped accepting, draining connections");
    if tokio::time::timeout(spec.grace_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        warn!(entry_point = %spec.name, "grace timeout reached, closing remaining connections");
    }
}

/// Serves one accepted connection: TLS when the entry point has TLS routers and the client opens
/// with a TLS record (the first byte peeked is a handshake record), plain HTTP otherwise.
async fn connection(
    stream: TcpStream,
    mut conn: Conn,
    builder: Arc<auto::Builder<TokioExecutor>>,
    watcher: Watcher,
) {
    let has_tls = conn
        .shared
        .snapshot
        .load()
        .http
        .get(conn.spec.index)
        .is_some_and(|t| t.has_tls)
        || conn.shared.acme.tls_pending();
    let limit = conn
        .spec
        .read_timeout
        .unwrap_or(std::time::Duration::from_secs(60));
    if has_tls {
        let mut first = [0u8; 1];
        match tokio::time::timeout(limit, stream.peek(&mut first)).await {
            Ok(Ok(1)) if first[0] == 0x16 => {
                if let Some(tls) = handshake(stream, &mut conn, limit).await {
                    serve_io(tls, conn, &builder, watcher).await;
                }
                return;
            }
            Ok(Ok(1)) => {}
            _ => return, // closed or silent
        }
    }
    serve_io(stream, conn, &builder, watcher).await;
}

/// The TLS handshake, with the configuration chosen from the SNI: the TLS options of the routers
/// whose Host() names that SNI, else `default`. Failures are the client's business: logged at
/// debug, the connection is closed.
async fn handshake(
    stream: TcpStream,
    conn: &mut Conn,
    limit: std::time::Duration,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let acceptor =
        tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream);
    let start = match tokio::time::timeout(limit, acceptor).await {
        Ok(Ok(start)) => start,
        Ok(Err(e)) => {
            debug!(peer = %conn.ctx.peer, error = %e, "invalid TLS client hello");
            return None;
        }
        Err(_) => return None,
    };
    let sni: Option<Arc<str>> = start
        .client_hello()
        .server_name()
        .map(|s| Arc::from(s.to_ascii_lowercase()));
    // ACME TLS-ALPN-01: a validation handshake gets the challenge certificate, then the
    // connection ends (RFC 8737); it never reaches the routers.
    if let Some(config) = acme_tls_alpn(&conn.shared, &start, sni.as_deref()) {
        if let Ok(Ok(mut tls)) = tokio::time::timeout(limit, start.into_stream(config)).await {
            debug!(peer = %conn.ctx.peer, sni = ?sni, "answered an ACME TLS-ALPN-01 challenge");
            let _ = tokio::io::AsyncWriteExt::shutdown(&mut tls).await;
        }
        return None;
    }
    let (name, config) = {
        let snapshot = conn.shared.snapshot.load();
        let options = snapshot
            .http
            .get(conn.spec.index)
            .and_then(|t| crate::tls::options_for_host(&t.tls_hosts, sni.as_deref()))
            .cloned()
            .unwrap_or_else(|| Arc::from(crate::tls::DEFAULT_OPTIONS));
        snapshot.tls.config(&options)?
    };
    match tokio::time::timeout(limit, start.into_stream(config)).await {
        Ok(Ok(tls)) => {
            conn.ctx.tls = true;
            conn.ctx.client_certs = tls
                .get_ref()
                .1
                .peer_certificates()
                .map(|chain| Arc::new(chain.iter().map(|c| c.clone().into_owned()).collect()));
            conn.ctx.tls_options = Some(name);
            conn.ctx.sni = sni;
            conn.ctx.tls_info = tls_info(tls.get_ref().1, conn.ctx.client_certs.clone());
            Some(tls)
        }
        Ok(Err(e)) => {
            debug!(peer = %conn.ctx.peer, sni = ?sni, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => None,
    }
}

/// The negotiated version and cipher suite, named as Traefik's logs and metrics name them.
fn tls_info(
    session: &rustls::ServerConnection,
    client_certs: Option<Arc<Vec<rustls::pki_types::CertificateDer<'static>>>>,
) -> Option<crate::observe::record::TlsInfo> {
    let version = match session.protocol_version()? {
        rustls::ProtocolVersion::TLSv1_3 => "1.3",
        rustls::ProtocolVersion::TLSv1_2 => "1.2",
        rustls::ProtocolVersion::TLSv1_1 => "1.1",
        rustls::ProtocolVersion::TLSv1_0 => "1.0",
        _ => "unknown",
    };
    let cipher = session
        .negotiated_cipher_suite()
        .and_then(|s| s.suite().as_str())
        .unwrap_or("unknown");
    Some(crate::observe::record::TlsInfo {
        version,
        cipher,
        client_certs,
    })
}

/// The TLS-ALPN-01 configuration when the client offers ALPN `acme-tls/1` and a
/// challenge for its SNI is pending.
fn acme_tls_alpn(
    shared: &Shared,
    start: &tokio_rustls::StartHandshake<TcpStream>,
    sni: Option<&str>,
) -> Option<Arc<rustls::ServerConfig>> {
    if !shared.acme.tls_pending() {
        return None;
    }
    let hello = start.client_hello();
    let mut alpn = hello.alpn()?;
    if !alpn.any(|p| p == crate::acme::challenge::ACME_TLS_ALPN) {
        return None;
    }
    shared.acme.tls_alpn01(sni?)
}

/// Runs HTTP/1.1 or HTTP/2 on an established connection until it ends or the drain closes it.
async fn serve_io<I>(io: I, conn: Conn, builder: &auto::Builder<TokioExecutor>, watcher: Watcher)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let conn = Arc::new(conn);
    let svc = service_fn(move |req: Request<Incoming>| {
        let conn = conn.clone();
        async move { Ok::<_, Infallible>(handle(req, &conn).await) }
    });
    let served = builder
        .serve_connection_with_upgrades(TokioIo::new(io), svc)
        .into_owned();
    if let Err(e) = watcher.watch(served).await {
        debug!(error = %e, "connection ended with an error");
    }
}

/// Resolves once the stop switch is on.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn handle(req: Request<Incoming>, conn: &Conn) -> Response<Body> {
    let spec = &conn.spec;
    let n = conn.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let http1 = req.version() <= Version::HTTP_11;
    let close = http1
        && ((spec.keep_alive_max_requests > 0 && n >= spec.keep_alive_max_requests)
            || spec
                .keep_alive_max_time
                .is_some_and(|t| conn.started.elapsed() >= t));
    let method = req.method().clone();
    let uri = req.uri().clone(); // cheap: the path is reference-counted bytes
    let mut guard = ClientGone {
        entry_point: &spec.name,
        method: &method,
        uri: &uri,
        answered: false,
    };
    let req = req.map(|b| {
        b.map_err(|e| Box::new(DownstreamBodyError(e)) as super::body::BoxError)
            .boxed()
    });
    let mut resp = observed(req, conn).await;
    guard.answered = true;
    // HTTP/3 advertised on HTTPS responses once its UDP socket listens (see `http::http3`).
    if conn.ctx.tls {
        if let Some(alt_svc) = conn.spec.alt_svc.get() {
            resp.headers_mut()
                .insert(http::header::ALT_SVC, alt_svc.clone());
        }
    }
    if close {
        resp.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// Records a 499 when the client goes away before the response is ready (the request future is
/// dropped mid-way).
struct ClientGone<'a> {
    entry_point: &'a str,
    method: &'a http::Method,
    uri: &'a Uri,
    answered: bool,
}

impl Drop for ClientGone<'_> {
    fn drop(&mut self) {
        if !self.answered {
            debug!(entry_point = self.entry_point, method = %self.method, path = self.uri.path(), status = 499, "client closed the connection before the response");
        }
    }
}

/// Routes one request, feeding the observability sinks when any is configured: the request gets
/// a trail, and its record is completed when the response body is written (or abandoned with 499
/// when the client goes away first).
pub(crate) async fn observed(mut req: Request<Body>, conn: &Conn) -> Response<Body> {
    let observers = &conn.shared.observe;
    if !observers.is_active() {
        return route(req, conn).await;
    }
    let pending = observers.begin(&mut req, &conn.ctx, conn.spec.observe);
    let mut guard = Abandoned(Some(pending));
    let resp = route(req, conn).await;
    match guard.0.take() {
        Some(pending) => pending.attach(resp),
        None => resp,
    }
}

/// Completes the record with 499 if the request future is dropped before the response.
struct Abandoned(Option<crate::observe::Pending>);

impl Drop for Abandoned {
    fn drop(&mut self) {
        if let Some(pending) = self.0.take() {
            pending.abandon();
        }
    }
}

fn bad_request() -> Response<Body> {
    text_response(StatusCode::BAD_REQUEST, "400 Bad Request")
}

/// Normalises the request as the entry point says, routes it and calls the handler.
/// Routes one request (any protocol: the HTTP/1.1 and HTTP/2 server here, HTTP/3 elsewhere) and
/// calls the matched router's handler.
pub(crate) async fn route(req: Request<Body>, conn: &Conn) -> Response<Body> {
    let spec = &conn.spec;
    // ACME HTTP-01, answered on the challenge entry points before any router (Traefik's
    // `acme-http@internal` at the highest priority).
    if !conn.ctx.tls {
        if let Some(answer) = conn.shared.acme.http01(&spec.name, req.uri().path()) {
            crate::observe::record::note(&req, |t| {
                t.router = Some(Arc::from("acme-http@internal"));
                t.service = Some(Arc::from("acme-http@internal"));
            });
            return acme_http01(answer);
        }
    }
    let (mut parts, body) = req.into_parts();
    if let Some(policy) = &spec.encoded_characters {
        if !policy.allows(parts.uri.path()) {
            return crate::middleware::encoded_characters::rejection();
        }
    }
    if let Some(uri) =
        normalized_target(&parts.uri, spec.sanitize_path, spec.encode_query_semicolons)
    {
        if let Some(trail) = parts.extensions.get::<Arc<crate::observe::record::Trail>>() {
            trail.with(|t| t.normalized_uri = Some(uri.clone()));
        }
        parts.uri = uri;
    }

    // The host as the client sent it: the authority (HTTP/2, absolute-form) or the Host header.
    // Cloning a parsed header value shares its bytes.
    let host_value: Option<HeaderValue> = match parts.uri.authority() {
        Some(a) => HeaderValue::from_str(a.as_str()).ok(),
        None => parts.headers.get(HOST).cloned(),
    };
    let upgrade = parts.headers.contains_key(http::header::UPGRADE);
    spec.forwarded.apply(
        &mut parts.headers,
        &ForwardedRequest {
            peer: conn.ctx.peer.ip(),
            peer_value: &conn.ctx.peer_value,
            tls: conn.ctx.tls,
            upgrade,
            host: host_value.as_ref(),
            server_name: &conn.shared.hostname,
        },
    );

    let host_str = host_value
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let host = switchyard_rule::normalize_host(host_str);
    let snapshot = conn.shared.snapshot.load();
    let Some(tables) = snapshot.http.get(spec.index) else {
        return not_found();
    };
    let table = if conn.ctx.tls {
        &tables.secure
    } else {
        &tables.plain
    };
    let handler = {
        let routing_path = match switchyard_rule::routing_path(parts.uri.path(), spec.sanitize_path)
        {
            Ok(p) => p,
            Err(e) => {
                debug!(path = parts.uri.path(), error = %e, "rejecting request path");
                return bad_request();
            }
        };
        let view = switchyard_rule::HttpRequestView {
            host: &host,
            method: parts.method.as_str(),
            path: &routing_path,
            query: parts.uri.query(),
            headers: &parts.headers,
            client_ip: Some(conn.ctx.peer.ip()),
        };
        match table.find(&view) {
            // Domain-fronting guard: the handshake (SNI) chose other TLS options than this
            // router requires.
            Some(route) if conn.ctx.tls && route.tls_options != conn.ctx.tls_options => {
                debug!(router = %route.name, sni = ?conn.ctx.sni, host = %host, "TLS options of SNI and Host differ");
                return text_response(StatusCode::MISDIRECTED_REQUEST, "421 Misdirected Request\n");
            }
            Some(route) => {
                if let Some(trail) = parts.extensions.get::<Arc<crate::observe::record::Trail>>() {
                    trail.with(|t| {
                        t.router = Some(route.name.clone());
                        t.service = Some(route.handler.service_name.clone());
                        t.switches = Some(route.observe);
                        if !route.observe.tracing {
                            t.trace = None;
                        }
                    });
                }
                route.handler.clone()
            }
            None => {
                debug!(entry_point = %spec.name, host = %host, path = %routing_path, "no router matched");
                return not_found();
            }
        }
    };
    drop(snapshot);
    let req = Request::from_parts(parts, body);
    handler.call(req, &conn.ctx).await
}

/// The HTTP-01 response: the key authorization, or Traefik's empty 404 for an unknown token.
fn acme_http01(answer: crate::acme::Http01Answer) -> Response<Body> {
    let (status, body) = match answer {
        crate::acme::Http01Answer::KeyAuthorization(k) => (StatusCode::OK, super::body::full(k)),
        crate::acme::Http01Answer::Unknown => (StatusCode::NOT_FOUND, super::body::empty()),
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    if status == StatusCode::OK {
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    resp
}

/// The request target to forward when the entry point changes it: dot-segments cleaned
/// (`sanitizePath`) and `;` in the query turned into `&` (or `%3B` with `encodeQuerySemicolons`).
/// `None` when the target stays as the client sent it.
fn normalized_target(uri: &Uri, sanitize: bool, encode_semicolons: bool) -> Option<Uri> {
    let path = uri.path();
    let cleaned = if sanitize { clean_path(path) } else { None };
    let query = uri.query().filter(|q| q.contains(';')).map(|q| {
        if encode_semicolons {
            q.replace(';', "%3B")
        } else {
            q.replace(';', "&")
        }
    });
    if cleaned.is_none() && query.is_none() {
        return None;
    }
    let mut pq = cleaned.unwrap_or_else(|| path.to_owned());
    if let Some(q) = query.as_deref().or(uri.query()) {
        pq.push('?');
        pq.push_str(q);
    }
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = pq.parse().ok();
    Uri::from_parts(parts).ok()
}

/// Go's `path.Clean` on the raw (still encoded) path, keeping a trailing slash; `None` when the
/// path is already clean.
fn clean_path(raw: &str) -> Option<String> {
    // `%2E` is an unreserved character in disguise (RFC 3986 §6.2.2.2): decode it first, so
    // that `/%2e%2e/` is cleaned like `/../` and never reaches the upstream.
    let decoded;
    let path = if raw.contains("%2e") || raw.contains("%2E") {
        decoded = raw.replace("%2e", ".").replace("%2E", ".");
        decoded.as_str()
    } else {
        raw
    };
    let dirty = path.contains("//")
        || path.contains("/./")
        || path.contains("/../")
        || path.ends_with("/.")
        || path.ends_with("/..")
        || !path.starts_with('/');
    if !dirty {
        return (path != raw).then(|| path.to_owned());
    }
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut cleaned = String::with_capacity(path.len());
    for seg in &out {
        cleaned.push('/');
        cleaned.push_str(seg);
    }
    let trailing = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    if cleaned.is_empty() || (trailing && !cleaned.ends_with('/')) {
        cleaned.push('/');
    }
    (cleaned != raw).then_some(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_paths() {
        assert_eq!(clean_path("/a/b"), None);
        assert_eq!(clean_path("/foo/../bar").as_deref(), Some("/bar"));
        assert_eq!(clean_path("//a/./b/").as_deref(), Some("/a/b/"));
        assert_eq!(clean_path("/..").as_deref(), Some("/"));
        assert_eq!(clean_path("/a/%2e%2e/b").as_deref(), Some("/b"));
        assert_eq!(clean_path("/a/%2Efile").as_deref(), Some("/a/.file"));
    }

    #[test]
    fn semicolons() {
        let uri: Uri = "/p?a=1;b=2".parse().unwrap();
        assert_eq!(
            normalized_target(&uri, true, false).unwrap().to_string(),
            "/p?a=1&b=2"
        );
        assert_eq!(
            normalized_target(&uri, true, true).unwrap().to_string(),
            "/p?a=1%3Bb=2"
        );
        let plain: Uri = "/p?a=1".parse().unwrap();
        assert!(normalized_target(&plain, true, false).is_none());
    }
}

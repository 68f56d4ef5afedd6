//! The batching OTLP exporter: finished requests hand their encoded spans to a bounded queue
//! (never waiting: a full queue drops them), and one thread with its own current-thread tokio
//! runtime sends them in batches, over OTLP/HTTP (protobuf) or OTLP/gRPC.
//!
//! Batching follows OpenTelemetry Go's `BatchSpanProcessor`, which Traefik uses: a batch leaves
//! after the schedule delay (5 s) or as soon as 512 spans are waiting; the queue holds 2048
//! spans' worth of requests; each export attempt has a 10 s timeout. The `OTEL_BSP_*`
//! environment variables override these as they do for Go. A failed export is retried with
//! exponential backoff (5 s doubling to 30 s, for at most a minute, as Go's exporters do) when
//! the failure is transient (connection errors, timeouts, HTTP 429/502/503/504, gRPC
//! UNAVAILABLE and friends), and dropped otherwise. Nothing here ever blocks a request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, USER_AGENT};
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::proto;

/// The gRPC method of the trace service.
pub(super) const GRPC_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
/// The instrumentation scope Traefik reports.
pub(super) const SCOPE: &str = "github.com/traefik/traefik";

/// How spans travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Protocol {
    /// OTLP/HTTP, binary protobuf.
    Http,
    /// OTLP/gRPC.
    Grpc,
}

/// Where and how to export.
#[derive(Debug)]
pub(super) struct Settings {
    pub(super) protocol: Protocol,
    /// The full URL to POST to.
    pub(super) uri: Uri,
    /// Extra request headers (`headers` of the exporter section).
    pub(super) headers: Vec<(HeaderName, HeaderValue)>,
    /// Client TLS for `https` endpoints.
    pub(super) tls: rustls::ClientConfig,
    /// The encoded `Resource` message body.
    pub(super) resource: Vec<u8>,
    pub(super) batch: BatchSettings,
}

/// Batching and retry limits.
#[derive(Debug, Clone)]
pub(super) struct BatchSettings {
    pub(super) schedule_delay: Duration,
    pub(super) max_batch: usize,
    pub(super) max_queue: usize,
    pub(super) timeout: Duration,
    pub(super) initial_backoff: Duration,
    pub(super) max_backoff: Duration,
    pub(super) max_elapsed: Duration,
}

impl BatchSettings {
    /// Go's defaults, overridden by `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`,
    /// `OTEL_BSP_MAX_QUEUE_SIZE` and `OTEL_BSP_EXPORT_TIMEOUT` / `OTEL_EXPORTER_OTLP_TIMEOUT` /
    /// `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT` (milliseconds).
    pub(super) fn from_env() -> Self {
        let env = |name: &str| -> Option<u64> {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let max_queue = env("OTEL_BSP_MAX_QUEUE_SIZE").unwrap_or(2048).max(1) as usize;
        let max_batch = env("OTEL_BSP_MAX_EXPORT_BATCH_SIZE").unwrap_or(512).max(1) as usize;
        let timeout = env("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
            .or_else(|| env("OTEL_EXPORTER_OTLP_TIMEOUT"))
            .or_else(|| env("OTEL_BSP_EXPORT_TIMEOUT"))
            .unwrap_or(10_000)
            .max(1);
        BatchSettings {
            schedule_delay: Duration::from_millis(
                env("OTEL_BSP_SCHEDULE_DELAY").unwrap_or(5_000).max(1),
            ),
            max_batch: max_batch.min(max_queue),
            max_queue,
            timeout: Duration::from_millis(timeout),
            initial_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(60),
        }
    }
}

enum Msg {
    /// Encoded `ScopeSpans.spans` entries and how many spans they hold.
    Spans(Vec<u8>, usize),
    /// Export everything queued, then answer.
    Flush(std::sync::mpsc::Sender<()>),
}

/// The handle requests use.
#[derive(Debug)]
pub(super) struct Exporter {
    tx: mpsc::Sender<Msg>,
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Spans(_, n) => write!(f, "Spans({n})"),
            Msg::Flush(_) => f.write_str("Flush"),
        }
    }
}

impl Exporter {
    /// Starts the exporter thread.
    pub(super) fn spawn(settings: Settings) -> Result<Exporter, String> {
        // The queue is counted in spans by Go; requests carry two spans or so.
        let capacity = (settings.batch.max_queue / 2).max(1);
        let (tx, rx) = mpsc::channel(capacity);
        let dropped = Arc::new(AtomicU64::new(0));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("tracing: cannot start the exporter runtime: {e}"))?;
        let counter = dropped.clone();
        std::thread::Builder::new()
            .name("otlp-trace-exporter".into())
            .spawn(move || runtime.block_on(Worker::new(settings, counter).run(rx)))
            .map_err(|e| format!("tracing: cannot start the exporter thread: {e}"))?;
        Ok(Exporter { tx, dropped })
    }

    /// Queues one request's spans; drops them when the queue is full.
    pub(super) fn send(&self, spans: Vec<u8>, count: usize) {
        if self.tx.try_send(Msg::Spans(spans, count)).is_err() {
            self.dropped.fetch_add(count as u64, Ordering::Relaxed);
        }
    }

    /// Exports everything queued so far, waiting at most `timeout`. Returns whether it finished.
    pub(super) fn flush(&self, timeout: Duration) -> bool {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let deadline = Instant::now() + timeout;
        let mut msg = Msg::Flush(done_tx);
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => break,
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
                Err(mpsc::error::TrySendError::Full(m)) => {
                    if Instant::now() >= deadline {
                        return false;
                    }
                    msg = m;
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        done_rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_ok()
    }
}

type HttpsConnector = hyper_rustls::HttpsConnector<HttpConnector>;

struct Worker {
    settings: Settings,
    client: Client<HttpsConnector, Full<Bytes>>,
    dropped: Arc<AtomicU64>,
}

/// Why an attempt failed.
struct Failure {
    retryable: bool,
    message: String,
    retry_after: Option<Duration>,
}

impl Failure {
    fn retry(message: String) -> Self {
        Failure {
            retryable: true,
            message,
            retry_after: None,
        }
    }

    fn fatal(message: String) -> Self {
        Failure {
            retryable: false,
            message,
            retry_after: None,
        }
    }
}

impl Worker {
    fn new(settings: Settings, dropped: Arc<AtomicU64>) -> Worker {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(settings.batch.timeout));
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(settings.tls.clone())
            .https_or_http();
        let connector = match settings.protocol {
            Protocol::Grpc => builder.enable_http2().wrap_connector(http),
            Protocol::Http => builder.enable_http1().enable_http2().wrap_connector(http),
        };
        let mut client = Client::builder(TokioExecutor::new());
        client.pool_idle_timeout(Duration::from_secs(90));
        if settings.protocol == Protocol::Grpc {
            client.http2_only(true);
        }
        Worker {
            client: client.build(connector),
            settings,
            dropped,
        }
    }

    async fn run(self, mut rx: mpsc::Receiver<Msg>) {
        let batch = self.settings.batch.clone();
        let mut spans: Vec<u8> = Vec::new();
        let mut count = 0usize;
        let mut waiting: Vec<std::sync::mpsc::Sender<()>> = Vec::new();
        let mut closed = false;
        while !closed {
            // Idle until something arrives.
            match rx.recv().await {
                Some(msg) => take(msg, &mut spans, &mut count, &mut waiting),
                None => break,
            }
            let deadline = tokio::time::Instant::now() + batch.schedule_delay;
            while count < batch.max_batch && waiting.is_empty() {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(msg)) => take(msg, &mut spans, &mut count, &mut waiting),
                    Ok(None) => {
                        closed = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            if !waiting.is_empty() {
                // A flush exports everything already queued.
                while let Ok(msg) = rx.try_recv() {
                    take(msg, &mut spans, &mut count, &mut waiting);
                }
            }
            if count > 0 {
                let body = proto::export_request(&self.settings.resource, SCOPE, &spans);
                spans.clear();
                self.export(Bytes::from(body), std::mem::take(&mut count))
                    .await;
            }
            for w in waiting.drain(..) {
                let _ = w.send(());
            }
            let dropped = self.dropped.swap(0, Ordering::Relaxed);
            if dropped > 0 {
                warn!(spans = dropped, "tracing: export queue full, spans dropped");
            }
        }
        if count > 0 {
            let body = proto::export_request(&self.settings.resource, SCOPE, &spans);
            self.export(Bytes::from(body), count).await;
        }
    }

    /// Sends one batch, retrying transient failures with backoff.
    async fn export(&self, body: Bytes, count: usize) {
        let batch = &self.settings.batch;
        let started = Instant::now();
        let mut backoff = batch.initial_backoff;
        loop {
            let failure =
                match tokio::time::timeout(batch.timeout, self.attempt(body.clone())).await {
                    Ok(Ok(())) => {
                        debug!(spans = count, "tracing: spans exported");
                        return;
                    }
                    Ok(Err(f)) => f,
                    Err(_) => Failure::retry(format!("no answer within {:?}", batch.timeout)),
                };
            let wait = failure.retry_after.unwrap_or(backoff);
            if !failure.retryable || started.elapsed() + wait > batch.max_elapsed {
                warn!(
                    endpoint = %self.settings.uri,
                    spans = count,
                    error = %failure.message,
                    "tracing: cannot export spans, dropping them"
                );
                return;
            }
            debug!(endpoint = %self.settings.uri, error = %failure.message, retry_in = ?wait, "tracing: export failed, retrying");
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(batch.max_backoff);
        }
    }

    async fn attempt(&self, body: Bytes) -> Result<(), Failure> {
        match self.settings.protocol {
            Protocol::Http => self.attempt_http(body).await,
            Protocol::Grpc => self.attempt_grpc(body).await,
        }
    }

    fn request(
        &self,
        content_type: &'static str,
        body: Bytes,
    ) -> Result<Request<Full<Bytes>>, Failure> {
        let mut req = Request::post(self.settings.uri.clone())
            .header(CONTENT_TYPE, content_type)
            .header(
                USER_AGENT,
                concat!("Switchyard OTLP exporter/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(body))
            .map_err(|e| Failure::fatal(e.to_string()))?;
        for (k, v) in &self.settings.headers {
            req.headers_mut().insert(k.clone(), v.clone());
        }
        Ok(req)
    }

    async fn attempt_http(&self, body: Bytes) -> Result<(), Failure> {
        let req = self.request("application/x-protobuf", body)?;
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| Failure::retry(error_chain(&e)))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // Read the body so that the connection can be reused.
        let _ = resp.into_body().collect().await;
        if status.is_success() {
            return Ok(());
        }
        let message = format!("collector answered {status}");
        match status {
            StatusCode::TOO_MANY_REQUESTS
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT => Err(Failure {
                retryable: true,
                message,
                retry_after,
            }),
            _ => Err(Failure::fatal(message)),
        }
    }

    async fn attempt_grpc(&self, body: Bytes) -> Result<(), Failure> {
        let len = u32::try_from(body.len())
            .map_err(|_| Failure::fatal("batch too large for one gRPC message".into()))?;
        let mut framed = Vec::with_capacity(body.len() + 5);
        framed.push(0); // not compressed
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&body);
        let mut req = self.request("application/grpc", Bytes::from(framed))?;
        req.headers_mut()
            .insert(http::header::TE, HeaderValue::from_static("trailers"));
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| Failure::retry(error_chain(&e)))?;
        let status = resp.status();
        let (parts, body) = resp.into_parts();
        // Trailers-only responses carry grpc-status in the headers.
        let mut grpc = grpc_status(&parts.headers);
        if grpc.is_none() {
            let collected = body
                .collect()
                .await
                .map_err(|e| Failure::retry(format!("reading the response: {e}")))?;
            grpc = collected.trailers().and_then(grpc_status);
        }
        if status != StatusCode::OK {
            // HTTP errors map to gRPC codes; 429, 502, 503, 504 are UNAVAILABLE.
            let message = format!("collector answered HTTP {status}");
            return Err(match status.as_u16() {
                429 | 502 | 503 | 504 => Failure::retry(message),
                _ => Failure::fatal(message),
            });
        }
        match grpc {
            Some((0, _)) => Ok(()),
            Some((code, message)) => {
                let message = format!("grpc-status {code}: {message}");
                // CANCELLED, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, OUT_OF_RANGE,
                // UNAVAILABLE, DATA_LOSS.
                if matches!(code, 1 | 4 | 8 | 10 | 11 | 14 | 15) {
                    Err(Failure::retry(message))
                } else {
                    Err(Failure::fatal(message))
                }
            }
            None => Err(Failure::retry("response without grpc-status".into())),
        }
    }
}

fn take(
    msg: Msg,
    spans: &mut Vec<u8>,
    count: &mut usize,
    waiting: &mut Vec<std::sync::mpsc::Sender<()>>,
) {
    match msg {
        Msg::Spans(bytes, n) => {
            spans.extend_from_slice(&bytes);
            *count += n;
        }
        Msg::Flush(done) => waiting.push(done),
    }
}

fn grpc_status(headers: &http::HeaderMap) -> Option<(u32, String)> {
    let code = headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let message = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    Some((code, message))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

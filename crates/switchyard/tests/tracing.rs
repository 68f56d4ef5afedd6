//! OpenTelemetry tracing (`tracing.otlp`): spans exported over OTLP/HTTP and OTLP/gRPC to a
//! collector the test runs on loopback, decoded with `opentelemetry-proto` (an implementation
//! independent of the tracer's encoder); W3C trace-context propagation to the upstream;
//! sampling; resource, captured headers and query redaction as Traefik 3.7 emits them; and a
//! collector that is down or hangs never slowing requests.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;

const GRPC_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
const SERVER: i32 = 2;
const CLIENT: i32 = 3;
const INTERNAL: i32 = 1;

/// The proxy inherits this process's environment: export batches after 100 ms instead of 5 s.
fn fast_export() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "100"));
}

/// One export request the collector received.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: http::HeaderMap,
    request: ExportTraceServiceRequest,
}

/// A span with its resource's attributes.
#[derive(Debug, Clone)]
struct Got {
    resource: Vec<KeyValue>,
    scope: String,
    span: Span,
}

/// An OTLP collector on loopback answering OTLP/HTTP (`POST /v1/traces`, or any other path) and
/// OTLP/gRPC (h2c) on the same port.
struct Collector {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Collector {
    fn start() -> Collector {
        let std_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let rec = received.clone();
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                loop {
                    tokio::select! {
                        Ok((stream, _)) = listener.accept() => {
                            let rec = rec.clone();
                            tokio::spawn(async move {
                                let svc = hyper::service::service_fn(move |req| {
                                    collect(rec.clone(), req)
                                });
                                let builder = hyper_util::server::conn::auto::Builder::new(
                                    hyper_util::rt::TokioExecutor::new(),
                                );
                                let _ = builder
                                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                                    .await;
                            });
                        }
                        _ = &mut stop_rx => break,
                    }
                }
            });
        });
        Collector {
            addr,
            received,
            stop: Some(stop_tx),
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn spans(&self) -> Vec<Got> {
        let mut out = Vec::new();
        for r in self.received() {
            for rs in r.request.resource_spans {
                let resource = rs.resource.map(|r| r.attributes).unwrap_or_default();
                for ss in rs.scope_spans {
                    let scope = ss.scope.map(|s| s.name).unwrap_or_default();
                    for span in ss.spans {
                        out.push(Got {
                            resource: resource.clone(),
                            scope: scope.clone(),
                            span,
                        });
                    }
                }
            }
        }
        out
    }

    /// Waits until the spans of trace `trace_id` (hex) number at least `n`.
    fn trace(&self, trace_id: &str, n: usize) -> Vec<Got> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let spans: Vec<Got> = self
                .spans()
                .into_iter()
                .filter(|g| hex(&g.span.trace_id) == trace_id)
                .collect();
            if spans.len() >= n {
                return spans;
            }
            assert!(
                Instant::now() < deadline,
                "trace {trace_id}: {} of {n} spans arrived: {spans:#?}",
                spans.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

type RespBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn collect(
    rec: Arc<Mutex<Vec<Received>>>,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<RespBody>, Infallible> {
    let path = req.uri().path().to_owned();
    let headers = req.headers().clone();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    if path == GRPC_PATH {
        // gRPC: one uncompressed, length-prefixed message.
        assert!(body.len() >= 5, "short gRPC frame");
        assert_eq!(body[0], 0, "compressed gRPC frame");
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        assert_eq!(body.len(), 5 + len, "gRPC frame length");
        let request = ExportTraceServiceRequest::decode(&body[5..]).expect("decodable request");
        rec.lock().unwrap().push(Received {
            path,
            headers,
            request,
        });
        let msg = ExportTraceServiceResponse::default().encode_to_vec();
        let mut frame = vec![0u8];
        frame.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        frame.extend_from_slice(&msg);
        let mut trailers = hyper::HeaderMap::new();
        trailers.insert("grpc-status", "0".parse().unwrap());
        let frames: Vec<Result<Frame<Bytes>, Infallible>> = vec![
            Ok(Frame::data(Bytes::from(frame))),
            Ok(Frame::trailers(trailers)),
        ];
        let mut resp =
            hyper::Response::new(StreamBody::new(futures_util::stream::iter(frames)).boxed());
        resp.headers_mut()
            .insert("content-type", "application/grpc".parse().unwrap());
        return Ok(resp);
    }
    let request = ExportTraceServiceRequest::decode(body.as_ref()).expect("decodable request");
    rec.lock().unwrap().push(Received {
        path,
        headers,
        request,
    });
    let mut resp = hyper::Response::new(
        Full::new(Bytes::from(
            ExportTraceServiceResponse::default().encode_to_vec(),
        ))
        .boxed(),
    );
    resp.headers_mut()
        .insert("content-type", "application/x-protobuf".parse().unwrap());
    Ok(resp)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Any> {
    attrs
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn str_attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    match attr(attrs, key) {
        Some(Any::StringValue(s)) => Some(s.clone()),
        None => None,
        other => panic!("{key}: not a string: {other:?}"),
    }
}

fn s(span: &Span, key: &str) -> String {
    match attr(&span.attributes, key) {
        Some(Any::StringValue(v)) => v.clone(),
        other => panic!(
            "{}: {key} is {other:?}; attributes {:#?}",
            span.name, span.attributes
        ),
    }
}

fn i(span: &Span, key: &str) -> i64 {
    match attr(&span.attributes, key) {
        Some(Any::IntValue(v)) => *v,
        other => panic!(
            "{}: {key} is {other:?}; attributes {:#?}",
            span.name, span.attributes
        ),
    }
}

fn strs(span: &Span, key: &str) -> Vec<String> {
    match attr(&span.attributes, key) {
        Some(Any::ArrayValue(a)) => a
            .values
            .iter()
            .map(|v| match &v.value {
                Some(Any::StringValue(s)) => s.clone(),
                other => panic!("{key}: {other:?}"),
            })
            .collect(),
        other => panic!("{}: {key} is {other:?}", span.name),
    }
}

fn status_code(span: &Span) -> i32 {
    span.status.as_ref().map(|s| s.code).unwrap_or(0)
}

/// The `traceparent` the backend received, from its echo: (trace id, parent id, flags).
fn upstream_traceparent(resp: &RawResponse) -> Option<(String, String, String)> {
    let text = resp.text();
    let line = text.lines().find(|l| l.starts_with("traceparent: "))?;
    let v: Vec<&str> = line["traceparent: ".len()..].split('-').collect();
    assert_eq!(v.len(), 4, "{line}");
    assert_eq!(v[0], "00");
    Some((v[1].to_owned(), v[2].to_owned(), v[3].to_owned()))
}

fn echoed_header(resp: &RawResponse, name: &str) -> Option<String> {
    let prefix = format!("{name}: ");
    resp.text()
        .lines()
        .find(|l| l.starts_with(&prefix))
        .map(|l| l[prefix.len()..].to_owned())
}

fn tracing_static(collector_url: &str, extra: &str) -> String {
    format!("tracing:\n{extra}  otlp:\n    http:\n      endpoint: \"{collector_url}\"\n")
}

fn by_kind(spans: &[Got], kind: i32) -> Vec<&Span> {
    spans
        .iter()
        .map(|g| &g.span)
        .filter(|s| s.kind == kind)
        .collect()
}

#[test]
fn http_export_continues_the_callers_trace() {
    fast_export();
    let collector = Collector::start();
    let backend = Backend::start("b1");
    let proxy = Proxy::start(
        &one_route("PathPrefix(`/`)", &[backend.url()]),
        &tracing_static(
            &format!("http://{}/v1/traces", collector.addr),
            "  serviceName: edge\n  resourceAttributes:\n    env: test\n    service.version: pinned\n  capturedRequestHeaders: [X-Req, User-Agent, x-absent]\n  capturedResponseHeaders: [X-Backend]\n  safeQueryParams: [keep]\n",
        ),
    );
    let caller_trace = "0af7651916cd43dd8448eb211c80319c";
    let caller_span = "b7ad6b7169203331";
    let resp = request(
        proxy.web(),
        "GET",
        "/p/a%20b?keep=1&secret=x%20y&b=2&b=3",
        "example.test",
        &[
            (
                "traceparent",
                &format!("00-{caller_trace}-{caller_span}-01"),
            ),
            ("tracestate", "congo=t61rcWkgMzE"),
            ("X-Req", "one"),
            ("X-Req", "two"),
            ("User-Agent", "tester/1.0"),
        ],
        "",
    );
    assert_eq!(resp.status, 200);
    let (up_trace, up_parent, up_flags) = upstream_traceparent(&resp).expect("traceparent");
    assert_eq!(up_trace, caller_trace);
    assert_eq!(up_flags, "01");
    assert_ne!(up_parent, caller_span);
    assert_eq!(
        echoed_header(&resp, "tracestate").as_deref(),
        Some("congo=t61rcWkgMzE")
    );

    let spans = collector.trace(caller_trace, 2);
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let received = collector.received();
    assert_eq!(received[0].path, "/v1/traces");
    assert_eq!(
        received[0].headers["content-type"],
        "application/x-protobuf"
    );
    let got = &spans[0];
    assert_eq!(got.scope, "github.com/traefik/traefik");
    assert_eq!(
        str_attr(&got.resource, "service.name").as_deref(),
        Some("edge")
    );
    assert_eq!(str_attr(&got.resource, "env").as_deref(), Some("test"));
    // resourceAttributes override what the tracer sets itself.
    assert_eq!(
        str_attr(&got.resource, "service.version").as_deref(),
        Some("pinned")
    );
    assert!(str_attr(&got.resource, "host.name").is_some());

    let server = by_kind(&spans, SERVER)[0];
    let client = by_kind(&spans, CLIENT)[0];
    // Server span: the entry point's, child of the caller's span.
    assert_eq!(server.name, "GET");
    assert_eq!(hex(&server.parent_span_id), caller_span);
    assert_eq!(server.trace_state, "congo=t61rcWkgMzE");
    assert_eq!(server.flags, 0x301, "sampled, parent is remote");
    assert_eq!(s(server, "entry_point"), "web");
    assert_eq!(s(server, "http.request.method"), "GET");
    assert_eq!(s(server, "network.protocol.version"), "1.1");
    assert_eq!(i(server, "http.request.body.size"), 0);
    assert_eq!(s(server, "url.path"), "/p/a b");
    assert_eq!(s(server, "url.query"), "b=REDACTED&keep=1&secret=REDACTED");
    assert_eq!(s(server, "url.scheme"), "http");
    assert_eq!(s(server, "user_agent.original"), "tester/1.0");
    assert_eq!(s(server, "server.address"), "example.test");
    assert_eq!(s(server, "client.address"), "127.0.0.1");
    assert_eq!(s(server, "network.peer.address"), "127.0.0.1");
    assert!(i(server, "client.port") > 0);
    assert_eq!(strs(server, "http.request.header.x-req"), ["one", "two"]);
    assert!(attr(&server.attributes, "http.request.header.user-agent").is_none());
    assert!(attr(&server.attributes, "http.request.header.x-absent").is_none());
    assert_eq!(i(server, "http.response.status_code"), 200);
    assert_eq!(strs(server, "http.response.header.x-backend"), ["b1"]);
    assert_eq!(status_code(server), 0);
    assert!(server.end_time_unix_nano >= server.start_time_unix_nano);
    assert!(server.start_time_unix_nano > 1_600_000_000_000_000_000);

    // Client span: one per upstream attempt, child of the server span; its id is the parent
    // id the upstream received.
    assert_eq!(client.name, "ReverseProxy");
    assert_eq!(hex(&client.parent_span_id), hex(&server.span_id));
    assert_eq!(hex(&client.span_id), up_parent);
    assert_eq!(client.flags, 0x101);
    assert_eq!(client.trace_state, "congo=t61rcWkgMzE");
    assert_eq!(s(client, "http.request.method"), "GET");
    assert_eq!(
        s(client, "url.full"),
        format!(
            "{}/p/a%20b?b=REDACTED&keep=1&secret=REDACTED",
            backend.url()
        )
    );
    assert_eq!(s(client, "url.scheme"), "http");
    assert_eq!(s(client, "server.address"), "127.0.0.1");
    assert_eq!(i(client, "server.port"), i64::from(backend.addr.port()));
    assert_eq!(s(client, "network.peer.address"), "127.0.0.1");
    assert_eq!(
        i(client, "network.peer.port"),
        i64::from(backend.addr.port())
    );
    assert_eq!(s(client, "user_agent.original"), "tester/1.0");
    assert_eq!(strs(client, "http.request.header.x-req"), ["one", "two"]);
    assert_eq!(i(client, "http.response.status_code"), 200);
    assert_eq!(status_code(client), 0);
    assert!(client.start_time_unix_nano >= server.start_time_unix_nano);
    assert!(client.end_time_unix_nano <= server.end_time_unix_nano);
}

#[test]
fn grpc_export_starts_a_trace() {
    fast_export();
    let collector = Collector::start();
    let backend = Backend::start("g1");
    let proxy = Proxy::start(
        &one_route("PathPrefix(`/`)", &[backend.url()]),
        &format!(
            "tracing:\n  otlp:\n    grpc:\n      endpoint: \"{}\"\n      insecure: true\n      headers:\n        authorization: Bearer sekret\n",
            collector.addr
        ),
    );
    let resp = get(proxy.web(), "localhost", "/grpc");
    assert_eq!(resp.status, 200);
    let (trace, parent, flags) = upstream_traceparent(&resp).expect("traceparent");
    assert_eq!(flags, "01");
    let spans = collector.trace(&trace, 2);
    let received = collector.received();
    assert!(received.iter().all(|r| r.path == GRPC_PATH));
    assert_eq!(received[0].headers["content-type"], "application/grpc");
    assert_eq!(received[0].headers["authorization"], "Bearer sekret");
    assert_eq!(
        str_attr(&spans[0].resource, "service.name").as_deref(),
        Some("traefik")
    );
    let server = by_kind(&spans, SERVER)[0];
    let client = by_kind(&spans, CLIENT)[0];
    assert!(
        server.parent_span_id.is_empty(),
        "a new trace has no parent"
    );
    assert_eq!(server.flags, 0x101);
    assert_eq!(server.trace_state, "");
    assert_eq!(s(server, "url.query"), "");
    assert_eq!(hex(&client.span_id), parent);
    assert_eq!(hex(&client.parent_span_id), hex(&server.span_id));
    assert_eq!(s(client, "url.full"), format!("{}/grpc", backend.url()));
}

#[test]
fn sample_rate_zero_propagates_but_exports_only_sampled_parents() {
    fast_export();
    let collector = Collector::start();
    let backend = Backend::start("z");
    let proxy = Proxy::start(
        &one_route("PathPrefix(`/`)", &[backend.url()]),
        &tracing_static(&format!("http://{}", collector.addr), "  sampleRate: 0\n"),
    );
    // No parent: a fresh trace, not sampled, still propagated (flags 00).
    let resp = get(proxy.web(), "localhost", "/root");
    let (t1, p1, f1) = upstream_traceparent(&resp).expect("traceparent");
    assert_eq!(f1, "00");
    assert_ne!(t1, "0".repeat(32));
    assert_ne!(p1, "0".repeat(16));
    // An unsampled parent: same trace, new span id, not sampled.
    let unsampled = "1af7651916cd43dd8448eb211c80319c";
    let resp = request(
        proxy.web(),
        "GET",
        "/unsampled",
        "localhost",
        &[(
            "traceparent",
            &format!("00-{unsampled}-b7ad6b7169203331-00"),
        )],
        "",
    );
    let (t2, p2, f2) = upstream_traceparent(&resp).expect("traceparent");
    assert_eq!((t2.as_str(), f2.as_str()), (unsampled, "00"));
    assert_ne!(p2, "b7ad6b7169203331");
    // A sampled parent wins over the rate (ParentBased), as in Traefik.
    let sampled = "2af7651916cd43dd8448eb211c80319c";
    let resp = request(
        proxy.web(),
        "GET",
        "/sampled",
        "localhost",
        &[("traceparent", &format!("00-{sampled}-b7ad6b7169203331-01"))],
        "",
    );
    let (t3, _, f3) = upstream_traceparent(&resp).expect("traceparent");
    assert_eq!((t3.as_str(), f3.as_str()), (sampled, "01"));
    collector.trace(sampled, 2);
    // The sampled request finished last: had the others been exported, they would be here.
    std::thread::sleep(Duration::from_millis(300));
    let traces: Vec<String> = collector
        .spans()
        .iter()
        .map(|g| hex(&g.span.trace_id))
        .collect();
    assert!(traces.iter().all(|t| t == sampled), "{traces:?}");
    // The collector got the default path appended to an endpoint without one.
    assert!(collector.received().iter().all(|r| r.path == "/v1/traces"));
}

#[test]
fn malformed_traceparents_start_new_traces() {
    fast_export();
    let collector = Collector::start();
    let backend = Backend::start("m");
    let proxy = Proxy::start(
        &one_route("PathPrefix(`/`)", &[backend.url()]),
        &tracing_static(&format!("http://{}/v1/traces", collector.addr), ""),
    );
    for bad in [
        "garbage",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0g",
        "00-\u{e9}t\u{e9}",
    ] {
        let resp = request(
            proxy.web(),
            "GET",
            "/x",
            "localhost",
            &[("traceparent", bad)],
            "",
        );
        assert_eq!(resp.status, 200, "{bad:?}");
        let (trace, _, flags) = upstream_traceparent(&resp).expect("traceparent");
        assert_ne!(trace, "0af7651916cd43dd8448eb211c80319c", "{bad:?}");
        assert_eq!(flags, "01");
        let spans = collector.trace(&trace, 2);
        let server = by_kind(&spans, SERVER)[0];
        assert!(server.parent_span_id.is_empty(), "{bad:?}");
        assert_eq!(server.flags, 0x101);
    }
    // An invalid tracestate is dropped; the traceparent still counts.
    let resp = request(
        proxy.web(),
        "GET",
        "/x",
        "localhost",
        &[
            (
                "traceparent",
                "00-3af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
            ("tracestate", "Invalid Key=1"),
        ],
        "",
    );
    let spans = collector.trace("3af7651916cd43dd8448eb211c80319c", 2);
    let server = by_kind(&spans, SERVER)[0];
    assert_eq!(hex(&server.parent_span_id), "b7ad6b7169203331");
    assert_eq!(server.trace_state, "");
    assert_eq!(resp.status, 200);
}

#[test]
fn upstream_failures_are_errors() {
    fast_export();
    let collector = Collector::start();
    let backend = Backend::start("e");
    let dead = format!("http://127.0.0.1:{}", free_port());
    let dynamic = format!(
        "http:\n  routers:\n    ok:\n      rule: \"PathPrefix(`/status`)\"\n      service: ok\n    dead:\n      rule: \"PathPrefix(`/dead`)\"\n      service: dead\n  services:\n    ok:\n      loadBalancer:\n        servers:\n          - url: \"{}\"\n    dead:\n      loadBalancer:\n        servers:\n          - url: \"{dead}\"\n",
        backend.url()
    );
    let proxy = Proxy::start(
        &dynamic,
        &tracing_static(&format!("http://{}/v1/traces", collector.addr), ""),
    );
    let trace_of = |target: &str, tid: &str| {
        let resp = request(
            proxy.web(),
            "POST",
            target,
            "localhost",
            &[("traceparent", &format!("00-{tid}-b7ad6b7169203331-01"))],
            "abc",
        );
        let spans = collector.trace(tid, 2);
        (resp.status, spans)
    };
    // No upstream answer: 502, both spans in error, the client span with the status sent.
    let (status, spans) = trace_of("/dead", "4af7651916cd43dd8448eb211c80319c");
    assert_eq!(status, 502);
    let server = by_kind(&spans, SERVER)[0];
    let client = by_kind(&spans, CLIENT)[0];
    assert_eq!(server.name, "POST");
    assert_eq!(i(server, "http.request.body.size"), 3);
    assert_eq!(status_code(server), 2);
    assert_eq!(i(server, "http.response.status_code"), 502);
    assert_eq!(status_code(client), 2);
    assert_eq!(i(client, "http.response.status_code"), 502);
    // 4xx: an error for the client span only; 5xx for both.
    let (status, spans) = trace_of("/status/404", "5af7651916cd43dd8448eb211c80319c");
    assert_eq!(status, 404);
    assert_eq!(status_code(by_kind(&spans, SERVER)[0]), 0);
    assert_eq!(status_code(by_kind(&spans, CLIENT)[0]), 2);
    let (status, spans) = trace_of("/status/503", "6af7651916cd43dd8448eb211c80319c");
    assert_eq!(status, 503);
    assert_eq!(status_code(by_kind(&spans, SERVER)[0]), 2);
    assert_eq!(status_code(by_kind(&spans, CLIENT)[0]), 2);
    // No router: the server span alone, 404 not an error.
    let resp = request(
        proxy.web(),
        "GET",
        "/nomatch",
        "localhost",
        &[(
            "traceparent",
            "00-7af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )],
        "",
    );
    assert_eq!(resp.status, 404);
    let spans = collector.trace("7af7651916cd43dd8448eb211c80319c", 1);
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].span.kind, SERVER);
    assert_eq!(status_code(&spans[0].span), 0);
}

#[test]
fn internal_routers_are_traced_only_with_add_internals() {
    fast_export();
    for add_internals in [false, true] {
        let collector = Collector::start();
        let backend = Backend::start("i");
        let proxy = Proxy::start(
            &one_route("PathPrefix(`/`)", &[backend.url()]),
            &tracing_static(
                &format!("http://{}/v1/traces", collector.addr),
                &format!("  addInternals: {add_internals}\n"),
            ),
        );
        let ping = "8af7651916cd43dd8448eb211c80319c";
        let resp = request(
            proxy.addr("traefik"),
            "GET",
            "/ping",
            "localhost",
            &[("traceparent", &format!("00-{ping}-b7ad6b7169203331-01"))],
            "",
        );
        assert_eq!(resp.status, 200);
        let marker = "9af7651916cd43dd8448eb211c80319c";
        request(
            proxy.web(),
            "GET",
            "/marker",
            "localhost",
            &[("traceparent", &format!("00-{marker}-b7ad6b7169203331-01"))],
            "",
        );
        collector.trace(marker, 2);
        let ping_spans: Vec<Got> = collector
            .spans()
            .into_iter()
            .filter(|g| hex(&g.span.trace_id) == ping)
            .collect();
        if add_internals {
            assert_eq!(ping_spans.len(), 1, "{ping_spans:#?}");
            assert_eq!(s(&ping_spans[0].span, "entry_point"), "traefik");
            assert_eq!(s(&ping_spans[0].span, "url.path"), "/ping");
        } else {
            assert!(ping_spans.is_empty(), "{ping_spans:#?}");
        }
    }
}

#[test]
fn entry_point_observability_switches() {
    fast_export();
    let collector = Collector::start();
    let backend = Backend::start("d");
    let proxy = Proxy::start_with_eps(
        &["web", "quiet"],
        &format!(
            "http:\n  routers:\n    r:\n      rule: \"PathPrefix(`/`)\"\n      service: s\n      entryPoints: [web, quiet]\n  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: \"{}\"\n",
            backend.url()
        ),
        &format!(
            "EP[web]:observability:\nEP[web]:  traceVerbosity: detailed\nEP[quiet]:observability:\nEP[quiet]:  tracing: false\n{}",
            tracing_static(&format!("http://{}/v1/traces", collector.addr), "")
        ),
    );
    let quiet = "aaf7651916cd43dd8448eb211c80319c";
    let resp = request(
        proxy.addr("quiet"),
        "GET",
        "/q",
        "localhost",
        &[("traceparent", &format!("00-{quiet}-b7ad6b7169203331-01"))],
        "",
    );
    assert_eq!(resp.status, 200);
    // Detailed: Router and Service spans between the server and client spans.
    let detailed = "baf7651916cd43dd8448eb211c80319c";
    let resp = request(
        proxy.web(),
        "GET",
        "/d",
        "localhost",
        &[("traceparent", &format!("00-{detailed}-b7ad6b7169203331-01"))],
        "",
    );
    let (_, up_parent, _) = upstream_traceparent(&resp).expect("traceparent");
    let spans = collector.trace(detailed, 4);
    let server = by_kind(&spans, SERVER)[0];
    let internal = by_kind(&spans, INTERNAL);
    let router = internal
        .iter()
        .find(|s| s.name == "Router")
        .expect("Router");
    let service = internal
        .iter()
        .find(|s| s.name == "Service")
        .expect("Service");
    let client = by_kind(&spans, CLIENT)[0];
    assert_eq!(router.parent_span_id, server.span_id);
    assert_eq!(s(router, "traefik.router.name"), "r@file");
    assert_eq!(s(router, "traefik.service.name"), "s@file");
    assert_eq!(service.parent_span_id, router.span_id);
    assert_eq!(s(service, "traefik.service.name"), "s@file");
    assert_eq!(client.parent_span_id, service.span_id);
    assert_eq!(hex(&client.span_id), up_parent);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        collector
            .spans()
            .iter()
            .all(|g| hex(&g.span.trace_id) != quiet),
        "tracing: false on the entry point"
    );
}

/// Sends `n` requests one after another; returns the slowest latency.
fn slowest(addr: SocketAddr, n: usize) -> Duration {
    let mut worst = Duration::ZERO;
    for k in 0..n {
        let started = Instant::now();
        let resp = get(addr, "localhost", &format!("/r{k}"));
        assert_eq!(resp.status, 200, "request {k}");
        worst = worst.max(started.elapsed());
    }
    worst
}

#[test]
fn a_down_or_hanging_collector_never_slows_requests() {
    fast_export();
    let backend = Backend::start("h");
    // A collector that accepts connections and never answers.
    let hanging = TcpListener::bind("127.0.0.1:0").unwrap();
    let hanging_addr = hanging.local_addr().unwrap();
    let held: Arc<Mutex<Vec<std::net::TcpStream>>> = Arc::default();
    let held2 = held.clone();
    std::thread::spawn(move || {
        for s in hanging.incoming().flatten() {
            held2.lock().unwrap().push(s);
        }
    });
    let nothing = format!("127.0.0.1:{}", free_port());
    let mut worst = HashMap::new();
    for (name, endpoint, grpc) in [
        (
            "http, nothing listening",
            format!("http://{nothing}/v1/traces"),
            false,
        ),
        (
            "http, hanging",
            format!("http://{hanging_addr}/v1/traces"),
            false,
        ),
        ("grpc, nothing listening", nothing.clone(), true),
        ("grpc, hanging", hanging_addr.to_string(), true),
    ] {
        let exporter = if grpc {
            format!("    grpc:\n      endpoint: \"{endpoint}\"\n      insecure: true\n")
        } else {
            format!("    http:\n      endpoint: \"{endpoint}\"\n")
        };
        let proxy = Proxy::start(
            &one_route("PathPrefix(`/`)", &[backend.url()]),
            &format!("tracing:\n  otlp:\n{exporter}"),
        );
        // Measure while the exporter fails or waits (an attempt gives up after 10 s: a request
        // waiting on the exporter would take that long). Loose bounds: the machine may be busy.
        get(proxy.web(), "localhost", "/warm");
        let started = Instant::now();
        let w = slowest(proxy.web(), 150);
        let total = started.elapsed();
        worst.insert(name, (w, total));
        assert!(w < Duration::from_secs(2), "{name}: slowest request {w:?}");
        assert!(
            total < Duration::from_secs(20),
            "{name}: 150 requests took {total:?}"
        );
        assert!(
            !proxy.logs().contains("panicked"),
            "{name}: {}",
            proxy.logs()
        );
    }
    if std::env::var_os("TRACING_TEST_VERBOSE").is_some() {
        eprintln!("{worst:#?}");
    }
}

#[test]
fn a_full_export_queue_drops_spans_instead_of_blocking() {
    fast_export();
    let backend = Backend::start("q");
    // Nothing will ever answer; the exporter retries for a minute while requests keep coming.
    let hanging = TcpListener::bind("127.0.0.1:0").unwrap();
    let hanging_addr = hanging.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in hanging.incoming().flatten() {
            held.push(s);
        }
    });
    let proxy = Proxy::start(
        &one_route("PathPrefix(`/`)", &[backend.url()]),
        &format!(
            "tracing:\n  otlp:\n    http:\n      endpoint: \"http://{hanging_addr}/v1/traces\"\n"
        ),
    );
    // More requests than the queue holds (2048 spans, two per request).
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let addr = proxy.web();
            std::thread::spawn(move || slowest(addr, 400))
        })
        .collect();
    for t in threads {
        let w = t.join().unwrap();
        assert!(w < Duration::from_secs(2), "slowest request {w:?}");
    }
}

#[test]
fn each_retry_attempt_gets_its_client_span() {
    fast_export();
    let collector = Collector::start();
    let backend = Backend::start("r");
    let dead = format!("http://127.0.0.1:{}", free_port());
    // Round robin starts with the dead server; the retry goes to the live one.
    let dynamic = format!(
        "http:\n  routers:\n    r:\n      rule: \"PathPrefix(`/`)\"\n      service: s\n      middlewares: [retry]\n  middlewares:\n    retry:\n      retry:\n        attempts: 2\n  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: \"{dead}\"\n          - url: \"{}\"\n",
        backend.url()
    );
    let proxy = Proxy::start(
        &dynamic,
        &tracing_static(&format!("http://{}/v1/traces", collector.addr), ""),
    );
    let mut checked = false;
    for n in 0..4 {
        let tid = format!("c{n}f7651916cd43dd8448eb211c80319c");
        let resp = request(
            proxy.web(),
            "GET",
            "/retry",
            "localhost",
            &[("traceparent", &format!("00-{tid}-b7ad6b7169203331-01"))],
            "",
        );
        assert_eq!(resp.status, 200);
        let (_, up_parent, _) = upstream_traceparent(&resp).expect("traceparent");
        let first = collector.trace(&tid, 2);
        let clients = by_kind(&first, CLIENT).len();
        if clients < 2 {
            continue; // this request went to the live server first
        }
        let spans = collector.trace(&tid, 3);
        let server = by_kind(&spans, SERVER)[0];
        let mut clients = by_kind(&spans, CLIENT);
        clients.sort_by_key(|s| s.start_time_unix_nano);
        assert_eq!(clients.len(), 2, "{spans:#?}");
        assert!(clients.iter().all(|c| c.parent_span_id == server.span_id));
        assert_eq!(s(clients[0], "url.full"), format!("{dead}/retry"));
        assert_eq!(status_code(clients[0]), 2);
        assert!(attr(&clients[0].attributes, "http.response.status_code").is_none());
        assert!(clients[0].end_time_unix_nano <= clients[1].start_time_unix_nano);
        assert_eq!(
            s(clients[1], "url.full"),
            format!("{}/retry", backend.url())
        );
        assert_eq!(i(clients[1], "http.response.status_code"), 200);
        assert_eq!(status_code(clients[1]), 0);
        // The upstream that answered saw the second attempt's span as its parent.
        assert_eq!(hex(&clients[1].span_id), up_parent);
        assert_eq!(i(server, "http.response.status_code"), 200);
        checked = true;
        break;
    }
    assert!(checked, "no request hit the dead server first");
}

/// A router with `observability.tracing: false` drops the trace its entry point started: nothing
/// is exported and the caller's `traceparent` reaches the upstream untouched; the entry point's
/// other routers are traced.
#[test]
fn router_observability_switch() {
    fast_export();
    let collector = Collector::start();
    let backend = Backend::start("r");
    let proxy = Proxy::start(
        &format!(
            "http:\n  routers:\n    hush:\n      rule: \"PathPrefix(`/hush`)\"\n      service: s\n      observability:\n        tracing: false\n    loud:\n      rule: \"PathPrefix(`/loud`)\"\n      service: s\n  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: \"{}\"\n",
            backend.url()
        ),
        &tracing_static(&format!("http://{}/v1/traces", collector.addr), ""),
    );
    let hushed = "caf7651916cd43dd8448eb211c80319c";
    let sent = format!("00-{hushed}-b7ad6b7169203331-01");
    let resp = request(
        proxy.web(),
        "GET",
        "/hush",
        "localhost",
        &[("traceparent", &sent)],
        "",
    );
    assert_eq!(resp.status, 200);
    assert_eq!(
        echoed_header(&resp, "traceparent").as_deref(),
        Some(sent.as_str())
    );
    let loud = "daf7651916cd43dd8448eb211c80319c";
    let resp = request(
        proxy.web(),
        "GET",
        "/loud",
        "localhost",
        &[("traceparent", &format!("00-{loud}-b7ad6b7169203331-01"))],
        "",
    );
    assert_eq!(resp.status, 200);
    collector.trace(loud, 2);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        collector
            .spans()
            .iter()
            .all(|g| hex(&g.span.trace_id) != hushed),
        "tracing: false on the router"
    );
}

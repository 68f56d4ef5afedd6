//! OpenTelemetry tracing (`tracing.otlp`), compatible with Traefik v3 (see `docs/tracing.md`).
//!
//! Per request:
//! - [`Tracer::start`] (when the request arrives) continues the caller's W3C trace context
//!   (`traceparent`, `tracestate`) or starts a trace, and decides sampling as Traefik does
//!   (`ParentBased(TraceIDRatioBased(sampleRate))`). The request's [`RequestTrace`] lives in its
//!   trail. An unsampled request keeps a trace too: it still propagates context (flags `00`).
//! - [`RequestTrace::start_upstream`] (each upstream attempt) opens a client span and writes
//!   `traceparent` (and `tracestate`) into the upstream request; the span id sent is the client
//!   span's, which is exported.
//! - [`Tracer::finish`] (when the response is written) builds the spans from the request's
//!   [`Record`]: the entry point's server span (named after the method), Traefik's `Router` and
//!   `Service` spans when the entry point's `traceVerbosity` is `detailed`, and one
//!   `ReverseProxy` client span per upstream attempt; they are encoded to protobuf right away and
//!   queued for the exporter thread ([`export`]).
//!
//! Attribute names and values follow Traefik 3.7 (OpenTelemetry HTTP semantic conventions plus
//! `entry_point`, `traefik.router.name`, `traefik.service.name`); query values not listed in
//! `safeQueryParams` are replaced by `REDACTED`, as Go's `url.Values` would re-encode them.

mod context;
mod export;
mod proto;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::header::{HeaderName, HeaderValue, USER_AGENT};
use http::{HeaderMap, Method, Request, Uri, Version};
use switchyard_model::config::static_cfg::{OtlpGrpc, OtlpHttp, StaticConfig, Tracing};

use super::record::Record;
use context::{SpanId, TraceId};
use proto::Attrs;

/// The tracer and its exporter.
#[derive(Debug)]
pub struct Tracer {
    sample_rate: f64,
    add_internals: bool,
    captured: Arc<Captured>,
    safe_query_params: Vec<String>,
    /// Per entry point: (tracing enabled, detailed verbosity).
    entry_points: HashMap<String, (bool, bool)>,
    exporter: export::Exporter,
}

/// The headers `capturedRequestHeaders` / `capturedResponseHeaders` name, with their attribute
/// keys (`http.request.header.<lower-case name>`).
#[derive(Debug, Default)]
struct Captured {
    request: Vec<(HeaderName, String)>,
    response: Vec<(HeaderName, String)>,
}

/// Values of captured headers: (index into the configured list, values).
type HeaderValues = Vec<(usize, Vec<String>)>;

impl Captured {
    fn values(list: &[(HeaderName, String)], headers: &HeaderMap) -> HeaderValues {
        let mut out = Vec::new();
        for (i, (name, _)) in list.iter().enumerate() {
            let values: Vec<String> = headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            if !values.is_empty() {
                out.push((i, values));
            }
        }
        out
    }
}

/// One request's trace state, kept in its trail.
#[derive(Debug)]
pub struct RequestTrace {
    trace_id: TraceId,
    /// The entry point's server span.
    span_id: SpanId,
    /// The caller's span, when the request carried a valid `traceparent`.
    remote_parent: Option<SpanId>,
    sampled: bool,
    trace_state: Option<String>,
    /// What is only kept for sampled requests.
    detail: Option<Box<Detail>>,
}

#[derive(Debug)]
struct Detail {
    captured: Arc<Captured>,
    user_agent: String,
    request_headers: HeaderValues,
    upstreams: Vec<Upstream>,
}

/// One upstream attempt (a `ReverseProxy` client span).
#[derive(Debug)]
struct Upstream {
    span_id: SpanId,
    server_url: String,
    start: SystemTime,
    end: Option<SystemTime>,
    status: Option<u16>,
    /// The upstream request, when the proxy passed it whole.
    target: Option<(Method, Uri, Version)>,
    user_agent: String,
    headers: HeaderValues,
}

impl Tracer {
    /// `None` when `tracing` is not configured. May run outside a tokio runtime: the exporter
    /// has its own thread and runtime.
    pub fn from_static(cfg: &StaticConfig) -> Result<Option<Self>, String> {
        let Some(t) = cfg.tracing.as_ref() else {
            return Ok(None);
        };
        let settings = exporter_settings(t)?;
        let exporter = export::Exporter::spawn(settings)?;
        let captured = Arc::new(Captured {
            request: header_list(&t.captured_request_headers, "request", true),
            response: header_list(&t.captured_response_headers, "response", false),
        });
        let entry_points = cfg
            .entry_points
            .iter()
            .map(|(name, ep)| {
                let o = ep.observability.as_ref();
                let enabled = o.and_then(|o| o.tracing).unwrap_or(true);
                let detailed = o
                    .and_then(|o| o.trace_verbosity.as_deref())
                    .is_some_and(|v| v.eq_ignore_ascii_case("detailed"));
                (name.clone(), (enabled, detailed))
            })
            .collect();
        Ok(Some(Tracer {
            sample_rate: t.sample_rate.unwrap_or(1.0),
            add_internals: t.add_internals.unwrap_or(false),
            captured,
            safe_query_params: t.safe_query_params.clone(),
            entry_points,
            exporter,
        }))
    }

    /// Whether `Record::response_headers` is needed (`capturedResponseHeaders`).
    pub fn wants_response_headers(&self) -> bool {
        !self.captured.response.is_empty()
    }

    /// A request arrived: continue its trace (`traceparent`) or start one, as sampling says.
    /// Always `Some`: unsampled requests still propagate their trace context.
    pub fn start(&self, headers: &HeaderMap) -> Option<RequestTrace> {
        let (trace_id, remote_parent, sampled, trace_state) = match context::extract(headers) {
            Some(r) => (r.trace_id, Some(r.span_id), r.sampled, r.trace_state),
            None => {
                let id = context::new_trace_id();
                (
                    id,
                    None,
                    context::ratio_sampled(&id, self.sample_rate),
                    None,
                )
            }
        };
        let detail = sampled.then(|| {
            Box::new(Detail {
                captured: self.captured.clone(),
                user_agent: user_agent(headers),
                request_headers: Captured::values(&self.captured.request, headers),
                upstreams: Vec::new(),
            })
        });
        Some(RequestTrace {
            trace_id,
            span_id: context::new_span_id(),
            remote_parent,
            sampled,
            trace_state,
            detail,
        })
    }

    /// [`Tracer::start`] for a request on `entry_point`: `None` when the entry point has
    /// `observability.tracing: false`, so that, as in Traefik, its requests are neither traced
    /// nor have their trace context rewritten.
    pub fn start_on(&self, entry_point: &str, headers: &HeaderMap) -> Option<RequestTrace> {
        if self
            .entry_points
            .get(entry_point)
            .is_some_and(|(on, _)| !on)
        {
            return None;
        }
        self.start(headers)
    }

    /// The request finished: export its spans (when sampled and traced).
    pub fn finish(&self, r: &Record) {
        let Some(trace) = r.trail.trace.as_ref() else {
            return;
        };
        let Some(detail) = trace.detail.as_deref() else {
            return;
        };
        if r.internal && !self.add_internals {
            return;
        }
        let (enabled, detailed) = self
            .entry_points
            .get(&*r.entry_point)
            .copied()
            .unwrap_or((true, false));
        if !enabled {
            return;
        }
        let (spans, count) = self.encode(r, trace, detail, detailed);
        self.exporter.send(spans, count);
    }

    /// Exports the spans queued so far, waiting at most `timeout` (for a graceful shutdown, as
    /// Traefik flushes its tracer provider within 5 s). Returns whether everything was sent.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.exporter.flush(timeout)
    }

    fn encode(
        &self,
        r: &Record,
        trace: &RequestTrace,
        detail: &Detail,
        detailed: bool,
    ) -> (Vec<u8>, usize) {
        let start = unix_nanos(r.start);
        let end = unix_nanos(r.start + r.duration);
        let flags_local = proto::FLAG_SAMPLED | proto::FLAG_HAS_IS_REMOTE;
        let mut out = Vec::with_capacity(2048);
        let mut count = 0;
        let trace_state = trace.trace_state.as_deref();

        // Server span.
        let mut a = Attrs::new(9);
        a.str("entry_point", &r.entry_point)
            .str("http.request.method", r.method.as_str())
            .str("network.protocol.version", protocol_version(r.version))
            .int(
                "http.request.body.size",
                i64::try_from(r.request_size).unwrap_or(i64::MAX),
            )
            .str("url.path", &percent_decode(r.uri.path()))
            .str(
                "url.query",
                &redact_query(r.uri.query().unwrap_or(""), &self.safe_query_params),
            )
            .str("url.scheme", if r.tls.is_some() { "https" } else { "http" })
            .str("user_agent.original", &detail.user_agent)
            .str("server.address", &r.host);
        let peer_ip = r.client.ip().to_string();
        let peer_port = i64::from(r.client.port());
        a.str("network.peer.address", &peer_ip)
            .str("client.address", &peer_ip)
            .int("client.port", peer_port)
            .int("network.peer.port", peer_port);
        for (i, values) in &detail.request_headers {
            a.strs(&detail.captured.request[*i].1, values);
        }
        let status = i64::from(r.status);
        if status > 0 {
            a.int("http.response.status_code", status);
        }
        let response_headers = r
            .response_headers
            .as_ref()
            .map(|h| Captured::values(&detail.captured.response, h))
            .unwrap_or_default();
        for (i, values) in &response_headers {
            a.strs(&detail.captured.response[*i].1, values);
        }
        let (code, message) = server_status(r.status);
        proto::Span {
            trace_id: &trace.trace_id,
            span_id: &trace.span_id,
            trace_state,
            parent: trace.remote_parent.as_ref(),
            name: r.method.as_str(),
            kind: proto::KIND_SERVER,
            start_unix_nano: start,
            end_unix_nano: end,
            attrs: &a,
            status_code: code,
            status_message: &message,
            flags: if trace.remote_parent.is_some() {
                flags_local | proto::FLAG_IS_REMOTE
            } else {
                flags_local
            },
        }
        .encode_into(&mut out);
        count += 1;

        // Detailed verbosity: Router and Service spans between the entry point and the proxy.
        let mut proxy_parent = trace.span_id;
        if detailed {
            if let Some(router) = r.trail.router.as_deref() {
                let id = context::new_span_id();
                let mut a = Attrs::new(9);
                if let Some(service) = r.trail.service.as_deref() {
                    a.str("traefik.service.name", service);
                }
                a.str("traefik.router.name", router);
                proto::Span {
                    trace_id: &trace.trace_id,
                    span_id: &id,
                    trace_state,
                    parent: Some(&proxy_parent),
                    name: "Router",
                    kind: proto::KIND_INTERNAL,
                    start_unix_nano: start,
                    end_unix_nano: end,
                    attrs: &a,
                    status_code: proto::STATUS_UNSET,
                    status_message: "",
                    flags: flags_local,
                }
                .encode_into(&mut out);
                count += 1;
                proxy_parent = id;
            }
            if let Some(service) = r.trail.service.as_deref() {
                let id = context::new_span_id();
                let mut a = Attrs::new(9);
                a.str("traefik.service.name", service);
                let service_start = detail
                    .upstreams
                    .first()
                    .map(|u| unix_nanos(u.start))
                    .unwrap_or(start);
                proto::Span {
                    trace_id: &trace.trace_id,
                    span_id: &id,
                    trace_state,
                    parent: Some(&proxy_parent),
                    name: "Service",
                    kind: proto::KIND_INTERNAL,
                    start_unix_nano: service_start,
                    end_unix_nano: end,
                    attrs: &a,
                    status_code: proto::STATUS_UNSET,
                    status_message: "",
                    flags: flags_local,
                }
                .encode_into(&mut out);
                count += 1;
                proxy_parent = id;
            }
        }

        // One ReverseProxy client span per upstream attempt.
        let last = detail.upstreams.len().saturating_sub(1);
        for (n, u) in detail.upstreams.iter().enumerate() {
            let is_last = n == last;
            // The final attempt's span covers the response body too, as Traefik's does.
            let u_end = match (is_last, u.status, u.end) {
                (true, Some(_), _) => end.max(unix_nanos(u.start)),
                (_, _, Some(e)) => unix_nanos(e),
                (_, _, None) => end,
            };
            // No response: the status the client got (502, 504) on the final attempt.
            let code = u
                .status
                .or_else(|| (is_last && r.status >= 500).then_some(r.status));
            let mut a = Attrs::new(9);
            let url = UpstreamUrl::new(u, r, &self.safe_query_params);
            let (method, version) = match &u.target {
                Some((m, _, v)) => (m.as_str(), protocol_version(*v)),
                None => (
                    r.method.as_str(),
                    if u.server_url.starts_with("h2c:") {
                        "2"
                    } else {
                        "1.1"
                    },
                ),
            };
            a.str("http.request.method", method)
                .str("network.protocol.version", version)
                .str("url.full", &url.full)
                .str("url.scheme", &url.scheme)
                .str("user_agent.original", &u.user_agent)
                .str("network.peer.address", &url.host)
                .int("network.peer.port", i64::from(url.port))
                .str("server.address", &url.host)
                .int("server.port", i64::from(url.port));
            for (i, values) in &u.headers {
                a.strs(&detail.captured.request[*i].1, values);
            }
            if let Some(code) = code {
                a.int("http.response.status_code", i64::from(code));
            }
            if is_last && u.status.is_some() {
                for (i, values) in &response_headers {
                    a.strs(&detail.captured.response[*i].1, values);
                }
            }
            let (status_code, message) = match code {
                Some(c) => client_status(c),
                None => (proto::STATUS_ERROR, String::new()),
            };
            proto::Span {
                trace_id: &trace.trace_id,
                span_id: &u.span_id,
                trace_state,
                parent: Some(&proxy_parent),
                name: "ReverseProxy",
                kind: proto::KIND_CLIENT,
                start_unix_nano: unix_nanos(u.start),
                end_unix_nano: u_end,
                attrs: &a,
                status_code,
                status_message: &message,
                flags: flags_local,
            }
            .encode_into(&mut out);
            count += 1;
        }
        (out, count)
    }
}

impl RequestTrace {
    /// An upstream attempt starts: opens its client span and writes `traceparent` (and
    /// `tracestate`) into the upstream request's headers.
    pub fn start_upstream(&mut self, server_url: &str, headers: &mut HeaderMap) {
        self.open_upstream(server_url, headers, None);
    }

    /// [`RequestTrace::start_upstream`] with the whole upstream request, so that the client span
    /// reports the upstream method, URL (after path rewriting middlewares) and protocol.
    pub fn start_upstream_request<B>(&mut self, server_url: &str, req: &mut Request<B>) {
        let target = (req.method().clone(), req.uri().clone(), req.version());
        self.open_upstream(server_url, req.headers_mut(), Some(target));
    }

    fn open_upstream(
        &mut self,
        server_url: &str,
        headers: &mut HeaderMap,
        target: Option<(Method, Uri, Version)>,
    ) {
        let span_id = context::new_span_id();
        let tp = context::format_traceparent(&self.trace_id, &span_id, self.sampled);
        if let Ok(v) = HeaderValue::from_str(&tp) {
            headers.insert(HeaderName::from_static("traceparent"), v);
        }
        if let Some(ts) = &self.trace_state {
            if let Ok(v) = HeaderValue::from_str(ts) {
                headers.insert(HeaderName::from_static("tracestate"), v);
            }
        }
        if let Some(detail) = self.detail.as_deref_mut() {
            let captured = Captured::values(&detail.captured.request, headers);
            detail.upstreams.push(Upstream {
                span_id,
                server_url: server_url.to_owned(),
                start: SystemTime::now(),
                end: None,
                status: None,
                target,
                user_agent: user_agent(headers),
                headers: captured,
            });
        }
    }

    /// The attempt ended with the upstream's status (`None`: no response). Closes the most
    /// recent attempt still open.
    pub fn end_upstream(&mut self, status: Option<u16>) {
        if let Some(detail) = self.detail.as_deref_mut() {
            if let Some(u) = detail.upstreams.iter_mut().rev().find(|u| u.end.is_none()) {
                u.end = Some(SystemTime::now());
                u.status = status;
            }
        }
    }

    /// `(trace id, span id)` in hex (the entry point's server span), for the access log.
    pub fn ids(&self) -> Option<(String, String)> {
        Some((context::hex(&self.trace_id), context::hex(&self.span_id)))
    }

    /// Whether this request's spans are recorded and exported.
    pub fn is_sampled(&self) -> bool {
        self.sampled
    }
}

/// The client span's URL facts.
struct UpstreamUrl {
    full: String,
    scheme: String,
    host: String,
    port: u16,
}

impl UpstreamUrl {
    fn new(u: &Upstream, r: &Record, safe: &[String]) -> Self {
        let server: Option<Uri> = u.server_url.parse().ok();
        let (scheme, authority, path, query) = match &u.target {
            Some((_, uri, _)) if uri.authority().is_some() => (
                uri.scheme_str().unwrap_or("http").to_owned(),
                uri.authority()
                    .map(|a| a.as_str().to_owned())
                    .unwrap_or_default(),
                uri.path().to_owned(),
                uri.query().map(str::to_owned),
            ),
            target => {
                let (path, query) = match target {
                    Some((_, uri, _)) => (uri.path(), uri.query()),
                    None => (r.uri.path(), r.uri.query()),
                };
                (
                    server
                        .as_ref()
                        .and_then(|s| s.scheme_str())
                        .unwrap_or("http")
                        .to_owned(),
                    server
                        .as_ref()
                        .and_then(|s| s.authority())
                        .map(|a| a.as_str().to_owned())
                        .unwrap_or_default(),
                    path.to_owned(),
                    query.map(str::to_owned),
                )
            }
        };
        // h2c servers are reached with http URLs.
        let scheme = if scheme == "h2c" {
            "http".to_owned()
        } else {
            scheme
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((_, hp)) => ("REDACTED:REDACTED@", hp.to_owned()),
            None => ("", authority.clone()),
        };
        let (host, port) = split_host_port(&hostport, &scheme);
        let query = redact_query(query.as_deref().unwrap_or(""), safe);
        let mut full = format!("{scheme}://{userinfo}{hostport}{path}");
        if !query.is_empty() {
            full.push('?');
            full.push_str(&query);
        }
        UpstreamUrl {
            full,
            scheme,
            host,
            port,
        }
    }
}

/// `host:port` → (host without IPv6 brackets, port or the scheme's default).
fn split_host_port(hostport: &str, scheme: &str) -> (String, u16) {
    let default = if scheme == "https" { 443 } else { 80 };
    if let Some(rest) = hostport.strip_prefix('[') {
        if let Some((host, after)) = rest.split_once(']') {
            let port = after
                .strip_prefix(':')
                .and_then(|p| p.parse().ok())
                .unwrap_or(default);
            return (host.to_owned(), port);
        }
    }
    match hostport.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => {
            (host.to_owned(), port.parse().unwrap_or(default))
        }
        _ => (hostport.to_owned(), default),
    }
}

fn user_agent(headers: &HeaderMap) -> String {
    headers
        .get(USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default()
}

fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// `network.protocol.version` as Traefik writes it.
fn protocol_version(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_11 => "1.1",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

/// Server spans: 5xx (and invalid codes) are errors, 4xx are not.
fn server_status(code: u16) -> (u64, String) {
    if !(100..600).contains(&code) {
        return (
            proto::STATUS_ERROR,
            format!("Invalid HTTP status code {code}"),
        );
    }
    if code >= 500 {
        (proto::STATUS_ERROR, String::new())
    } else {
        (proto::STATUS_UNSET, String::new())
    }
}

/// Client spans: 4xx and 5xx are errors.
fn client_status(code: u16) -> (u64, String) {
    if !(100..600).contains(&code) {
        return (
            proto::STATUS_ERROR,
            format!("Invalid HTTP status code {code}"),
        );
    }
    if code >= 400 {
        (proto::STATUS_ERROR, String::new())
    } else {
        (proto::STATUS_UNSET, String::new())
    }
}

/// The configured header names (deduplicated, invalid ones skipped) with their attribute keys.
/// `User-Agent` is skipped for requests: `user_agent.original` already carries it.
fn header_list(names: &[String], kind: &str, skip_user_agent: bool) -> Vec<(HeaderName, String)> {
    let mut out: Vec<(HeaderName, String)> = Vec::new();
    for name in names {
        let lower = name.trim().to_ascii_lowercase();
        let Ok(h) = HeaderName::from_bytes(lower.as_bytes()) else {
            tracing::warn!(header = %name, "tracing: ignoring invalid captured header name");
            continue;
        };
        if (skip_user_agent && h == USER_AGENT) || out.iter().any(|(o, _)| *o == h) {
            continue;
        }
        out.push((h, format!("http.{kind}.header.{lower}")));
    }
    out
}

/// Percent-decodes a path (Go's `URL.Path`); invalid escapes stay as they are.
fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                out.push((h << 4) | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Go's `url.QueryUnescape`: `+` is a space; an invalid escape fails.
fn query_unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let h = hex_val(*b.get(i + 1)?)?;
                let l = hex_val(*b.get(i + 2)?)?;
                out.push((h << 4) | l);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &c in s.as_bytes() {
        match c {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(c as char)
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(HEX[usize::from(c >> 4)] as char);
                out.push(HEX[usize::from(c & 15)] as char);
            }
        }
    }
}

/// The query as Traefik reports it: parsed like Go's `url.ParseQuery` (pairs with `;` or bad
/// escapes dropped), every value of a parameter not in `safe` replaced by one `REDACTED`, and
/// re-encoded like `url.Values.Encode` (keys sorted, values query-escaped).
fn redact_query(raw: &str, safe: &[String]) -> String {
    if raw.is_empty() {
        return String::new();
    }
    let mut params: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in raw.split('&') {
        if pair.is_empty() || pair.contains(';') {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(k), Some(v)) = (query_unescape(k), query_unescape(v)) else {
            continue;
        };
        params.entry(k).or_default().push(v);
    }
    let mut out = String::with_capacity(raw.len() + 16);
    for (k, values) in &params {
        let redacted = [String::from("REDACTED")];
        let values: &[String] = if safe.iter().any(|s| s == k) {
            values
        } else {
            &redacted
        };
        for v in values {
            if !out.is_empty() {
                out.push('&');
            }
            query_escape(k, &mut out);
            out.push('=');
            query_escape(v, &mut out);
        }
    }
    out
}

/// Exporter settings from `tracing.otlp` (gRPC when `grpc` is set, else HTTP with Traefik's
/// defaults).
fn exporter_settings(t: &Tracing) -> Result<export::Settings, String> {
    let otlp = t.otlp.as_ref();
    let (protocol, uri, headers, tls) = match (
        otlp.and_then(|o| o.grpc.as_ref()),
        otlp.and_then(|o| o.http.as_ref()),
    ) {
        (Some(g), _) => grpc_endpoint(g)?,
        (None, h) => http_endpoint(h)?,
    };
    let headers = headers
        .iter()
        .map(|(k, v)| {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| format!("tracing.otlp headers: {k:?}: {e}"))?;
            let value =
                HeaderValue::from_str(v).map_err(|e| format!("tracing.otlp headers: {k}: {e}"))?;
            Ok((name, value))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let tls = tls_config(tls, uri.scheme_str() == Some("https"))?;
    Ok(export::Settings {
        protocol,
        uri,
        headers,
        tls,
        resource: resource(t),
        batch: export::BatchSettings::from_env(),
    })
}

type Endpoint<'a> = (
    export::Protocol,
    Uri,
    &'a BTreeMap<String, String>,
    Option<&'a switchyard_model::config::dynamic::ClientTls>,
);

fn http_endpoint(h: Option<&OtlpHttp>) -> Result<Endpoint<'_>, String> {
    static NO_HEADERS: BTreeMap<String, String> = BTreeMap::new();
    let raw = h
        .and_then(|h| h.endpoint.as_deref())
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .unwrap_or("https://localhost:4318");
    let at = "tracing.otlp.http.endpoint";
    let (scheme, rest) = raw
        .split_once("://")
        .ok_or_else(|| format!("{at}: {raw:?} is not an http(s) URL"))?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(format!("{at}: {raw:?} is not an http(s) URL"));
    }
    // Go's exporter posts to the URL's path, or to /v1/traces when it has none.
    let has_path = rest
        .split(['?', '#'])
        .next()
        .is_some_and(|a| a.contains('/'));
    let url = if has_path {
        raw.to_owned()
    } else {
        format!("{}/v1/traces", raw.trim_end_matches(['?', '#']))
    };
    let uri: Uri = url.parse().map_err(|e| format!("{at}: {raw:?}: {e}"))?;
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("{at}: {raw:?} has no host"));
    }
    Ok((
        export::Protocol::Http,
        uri,
        h.map(|h| &h.headers).unwrap_or(&NO_HEADERS),
        h.and_then(|h| h.tls.as_ref()),
    ))
}

fn grpc_endpoint(g: &OtlpGrpc) -> Result<Endpoint<'_>, String> {
    let at = "tracing.otlp.grpc.endpoint";
    let raw = g
        .endpoint
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .unwrap_or("localhost:4317");
    let mut insecure = g.insecure.unwrap_or(false);
    // Traefik wants host:port; a URL's scheme is accepted too.
    let hostport = if let Some(rest) = raw.strip_prefix("http://") {
        insecure = true;
        rest
    } else if let Some(rest) = raw.strip_prefix("https://") {
        rest
    } else {
        raw
    };
    let hostport = hostport.trim_end_matches('/');
    let authority: http::uri::Authority = hostport
        .parse()
        .map_err(|e| format!("{at}: {raw:?}: {e}"))?;
    if authority.port_u16().is_none() || authority.host().is_empty() {
        return Err(format!("{at}: {raw:?} must be host:port"));
    }
    let scheme = if insecure { "http" } else { "https" };
    let uri: Uri = format!("{scheme}://{authority}{}", export::GRPC_PATH)
        .parse()
        .map_err(|e| format!("{at}: {raw:?}: {e}"))?;
    Ok((export::Protocol::Grpc, uri, &g.headers, g.tls.as_ref()))
}

/// The client TLS configuration: `tls.ca` (else the system roots), `tls.cert` + `tls.key`,
/// `tls.insecureSkipVerify`. Plain-text endpoints get an unused, empty configuration.
fn tls_config(
    tls: Option<&switchyard_model::config::dynamic::ClientTls>,
    https: bool,
) -> Result<rustls::ClientConfig, String> {
    use crate::http::upstream::{load_certs, load_key, NoVerify};
    const AT: &str = "tracing.otlp tls";
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("{AT}: {e}"))?;
    let default = switchyard_model::config::dynamic::ClientTls::default();
    let tls = tls.unwrap_or(&default);
    let builder = if tls.insecure_skip_verify.unwrap_or(false) {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        match tls.ca.as_deref().filter(|c| !c.is_empty()) {
            Some(ca) => {
                for cert in load_certs(ca).map_err(|e| format!("{AT}.ca: {e}"))? {
                    roots.add(cert).map_err(|e| format!("{AT}.ca: {e}"))?;
                }
            }
            None if https => {
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            }
            None => {}
        }
        builder.with_root_certificates(roots)
    };
    let cert = tls.cert.as_deref().filter(|c| !c.is_empty());
    let key = tls.key.as_deref().filter(|c| !c.is_empty());
    match (cert, key) {
        (Some(cert), Some(key)) => {
            let chain = load_certs(cert).map_err(|e| format!("{AT}.cert: {e}"))?;
            let key = load_key(key).map_err(|e| format!("{AT}.key: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("{AT}.cert: {e}"))
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err(format!("{AT}: cert and key must be set together")),
    }
}

/// The resource: host, OS, process and SDK facts, then `service.name` / `service.version`, then
/// `resourceAttributes` (after the deprecated `globalAttributes`), then `OTEL_RESOURCE_ATTRIBUTES`
/// and `OTEL_SERVICE_NAME`; later ones override earlier ones, as in Traefik.
fn resource(t: &Tracing) -> Vec<u8> {
    enum V {
        S(String),
        I(i64),
    }
    let mut attrs: Vec<(String, V)> = Vec::new();
    let mut set = |k: &str, v: V| match attrs.iter_mut().find(|(key, _)| key == k) {
        Some(slot) => slot.1 = v,
        None => attrs.push((k.to_owned(), v)),
    };
    set("host.name", V::S(crate::runtime::hostname()));
    set("os.type", V::S(std::env::consts::OS.to_owned()));
    set("process.pid", V::I(i64::from(std::process::id())));
    if let Ok(exe) = std::env::current_exe() {
        if let Some(name) = exe.file_name() {
            set(
                "process.executable.name",
                V::S(name.to_string_lossy().into_owned()),
            );
        }
        set(
            "process.executable.path",
            V::S(exe.to_string_lossy().into_owned()),
        );
    }
    set("process.runtime.name", V::S("rust".to_owned()));
    set("telemetry.sdk.language", V::S("rust".to_owned()));
    set("telemetry.sdk.name", V::S("switchyard".to_owned()));
    set("telemetry.sdk.version", V::S(crate::VERSION.to_owned()));
    set(
        "service.name",
        V::S(
            t.service_name
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "traefik".to_owned()),
        ),
    );
    set("service.version", V::S(crate::VERSION.to_owned()));
    for (k, v) in t.global_attributes.iter().chain(&t.resource_attributes) {
        set(k, V::S(v.clone()));
    }
    if let Ok(env) = std::env::var("OTEL_RESOURCE_ATTRIBUTES") {
        for pair in env.split(',') {
            if let Some((k, v)) = pair.split_once('=') {
                let k = k.trim();
                if let (false, Some(v)) =
                    (k.is_empty(), query_unescape(&v.trim().replace('+', "%2B")))
                {
                    set(k, V::S(v));
                }
            }
        }
    }
    if let Ok(name) = std::env::var("OTEL_SERVICE_NAME") {
        if !name.is_empty() {
            set("service.name", V::S(name));
        }
    }
    let mut a = Attrs::new(1);
    for (k, v) in &attrs {
        match v {
            V::S(s) => a.str(k, s),
            V::I(i) => a.int(k, *i),
        };
    }
    a.bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_redaction_matches_go() {
        let safe = vec!["keep".to_owned()];
        assert_eq!(
            redact_query("keep=1&secret=x%20y&b=2&b=3", &safe),
            "b=REDACTED&keep=1&secret=REDACTED"
        );
        assert_eq!(redact_query("", &safe), "");
        // Safe values keep every value, re-escaped the Go way.
        assert_eq!(
            redact_query("keep=a+b&keep=c%2Fd&keep=%C3%A9", &safe),
            "keep=a+b&keep=c%2Fd&keep=%C3%A9"
        );
        // No '=' is an empty value; bad escapes and ';' pairs are dropped.
        assert_eq!(
            redact_query("flag&bad=%zz&a;b=1&keep", &safe),
            "flag=REDACTED&keep="
        );
        // Keys are escaped and sorted by bytes.
        assert_eq!(
            redact_query("z=1&a%20b=2&A=3", &[]),
            "A=REDACTED&a+b=REDACTED&z=REDACTED"
        );
    }

    #[test]
    fn paths_are_decoded_like_go() {
        assert_eq!(percent_decode("/a%20b/%2F/c"), "/a b///c");
        assert_eq!(percent_decode("/bad%zz%4"), "/bad%zz%4");
        assert_eq!(percent_decode("/plain"), "/plain");
    }

    #[test]
    fn host_and_port_split() {
        assert_eq!(
            split_host_port("127.0.0.1:81", "http"),
            ("127.0.0.1".into(), 81)
        );
        assert_eq!(
            split_host_port("example.com", "https"),
            ("example.com".into(), 443)
        );
        assert_eq!(split_host_port("[::1]:8080", "http"), ("::1".into(), 8080));
        assert_eq!(split_host_port("[::1]", "http"), ("::1".into(), 80));
    }

    #[test]
    fn statuses_follow_traefik() {
        assert_eq!(server_status(404).0, proto::STATUS_UNSET);
        assert_eq!(server_status(500).0, proto::STATUS_ERROR);
        assert_eq!(client_status(404).0, proto::STATUS_ERROR);
        assert_eq!(client_status(302).0, proto::STATUS_UNSET);
        assert_eq!(
            server_status(99),
            (
                proto::STATUS_ERROR,
                "Invalid HTTP status code 99".to_owned()
            )
        );
    }

    #[test]
    fn endpoints_follow_traefik() {
        let (p, uri, _, _) = http_endpoint(None).unwrap();
        assert_eq!(p, export::Protocol::Http);
        assert_eq!(uri.to_string(), "https://localhost:4318/v1/traces");
        let h = |e: &str| OtlpHttp {
            endpoint: Some(e.to_owned()),
            ..OtlpHttp::default()
        };
        let uri = |e: &str| http_endpoint(Some(&h(e))).map(|x| x.1.to_string());
        assert_eq!(uri("http://c:4318").unwrap(), "http://c:4318/v1/traces");
        assert_eq!(uri("http://c:4318/").unwrap(), "http://c:4318/");
        assert_eq!(
            uri("http://c:4318/custom/path").unwrap(),
            "http://c:4318/custom/path"
        );
        assert!(uri("c:4318").is_err());
        assert!(uri("ftp://c:4318").is_err());
        let g = |e: Option<&str>, insecure: bool| OtlpGrpc {
            endpoint: e.map(str::to_owned),
            insecure: Some(insecure),
            ..OtlpGrpc::default()
        };
        let guri = |e: Option<&str>, i: bool| grpc_endpoint(&g(e, i)).map(|x| x.1.to_string());
        assert_eq!(
            guri(None, false).unwrap(),
            "https://localhost:4317/opentelemetry.proto.collector.trace.v1.TraceService/Export"
        );
        assert_eq!(
            guri(Some("127.0.0.1:9"), true).unwrap(),
            "http://127.0.0.1:9/opentelemetry.proto.collector.trace.v1.TraceService/Export"
        );
        assert!(guri(Some("nohost"), true).is_err());
    }

    #[test]
    fn unsampled_requests_propagate_without_recording() {
        let mut h = HeaderMap::new();
        h.insert(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
                .parse()
                .unwrap(),
        );
        let tracer = test_tracer(1.0);
        let mut t = tracer.start(&h).unwrap();
        assert!(!t.is_sampled());
        let mut up = HeaderMap::new();
        t.start_upstream("http://127.0.0.1:1", &mut up);
        t.end_upstream(Some(200));
        let tp = up["traceparent"].to_str().unwrap();
        assert!(tp.starts_with("00-0af7651916cd43dd8448eb211c80319c-"));
        assert!(tp.ends_with("-00"));
        assert!(!tp.contains("b7ad6b7169203331"));
        assert!(t.detail.is_none());
        // A malformed traceparent starts a new, sampled trace.
        h.insert("traceparent", "00-zz".parse().unwrap());
        let t = tracer.start(&h).unwrap();
        assert!(t.is_sampled() && t.remote_parent.is_none());
        assert!(test_tracer(0.0)
            .start(&HeaderMap::new())
            .is_some_and(|t| !t.is_sampled()));
    }

    #[test]
    fn entry_points_can_switch_tracing_off() {
        use switchyard_model::config::static_cfg::{EntryPoint, EntryPointObservability};
        let mut cfg = test_config(1.0);
        cfg.entry_points.insert(
            "quiet".to_owned(),
            EntryPoint {
                observability: Some(EntryPointObservability {
                    tracing: Some(false),
                    ..EntryPointObservability::default()
                }),
                ..EntryPoint::default()
            },
        );
        cfg.entry_points
            .insert("web".to_owned(), EntryPoint::default());
        let tracer = Tracer::from_static(&cfg).unwrap().unwrap();
        assert!(tracer.start_on("quiet", &HeaderMap::new()).is_none());
        assert!(tracer.start_on("web", &HeaderMap::new()).is_some());
        assert!(tracer.start_on("unknown", &HeaderMap::new()).is_some());
    }

    fn test_tracer(rate: f64) -> Tracer {
        Tracer::from_static(&test_config(rate)).unwrap().unwrap()
    }

    fn test_config(rate: f64) -> StaticConfig {
        use switchyard_model::config::static_cfg::OtlpExporter;
        StaticConfig {
            tracing: Some(Tracing {
                sample_rate: Some(rate),
                otlp: Some(OtlpExporter {
                    http: Some(OtlpHttp {
                        endpoint: Some("http://127.0.0.1:9/v1/traces".to_owned()),
                        ..OtlpHttp::default()
                    }),
                    ..OtlpExporter::default()
                }),
                ..Tracing::default()
            }),
            ..StaticConfig::default()
        }
    }
}

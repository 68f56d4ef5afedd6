//! One access log line from a [`Record`]: Traefik's fields, computed the way Traefik 3.7 computes
//! them, written as Traefik CLF (`common`), generic CLF or JSON (logrus' JSON formatter over
//! Go's `encoding/json`: keys sorted, `<`, `>`, `&` escaped, invalid UTF-8 as `\ufffd`).

use std::io::Write;
use std::net::IpAddr;
use std::time::Duration;

use http::{HeaderMap, HeaderName, Version};

use super::config::{Format, HeaderMode, Settings};
use super::time::Civil;
use crate::observe::record::Record;

/// Traefik's core fields, in the order `encoding/json` sorts their names (all capitalised, so
/// they precede every lowercase key; `entryPointName` is handled apart for that reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub(super) enum Field {
    ClientAddr,
    ClientHost,
    ClientPort,
    ClientUsername,
    DownstreamContentSize,
    DownstreamStatus,
    Duration,
    GzipRatio,
    OriginContentSize,
    OriginDuration,
    OriginStatus,
    Overhead,
    RequestAddr,
    RequestContentSize,
    RequestCount,
    RequestHost,
    RequestMethod,
    RequestPath,
    RequestPort,
    RequestProtocol,
    RequestScheme,
    RetryAttempts,
    RouterName,
    ServiceAddr,
    ServiceName,
    ServiceUrl,
    SpanId,
    StartLocal,
    StartUtc,
    TlsCipher,
    TlsClientSubject,
    TlsVersion,
    TraceId,
    EntryPointName,
}

/// Number of [`Field`]s.
pub(super) const FIELD_COUNT: usize = 34;

/// The fields in [`Field`] order with their Traefik names.
pub(super) const FIELDS: [(Field, &str); FIELD_COUNT] = [
    (Field::ClientAddr, "ClientAddr"),
    (Field::ClientHost, "ClientHost"),
    (Field::ClientPort, "ClientPort"),
    (Field::ClientUsername, "ClientUsername"),
    (Field::DownstreamContentSize, "DownstreamContentSize"),
    (Field::DownstreamStatus, "DownstreamStatus"),
    (Field::Duration, "Duration"),
    (Field::GzipRatio, "GzipRatio"),
    (Field::OriginContentSize, "OriginContentSize"),
    (Field::OriginDuration, "OriginDuration"),
    (Field::OriginStatus, "OriginStatus"),
    (Field::Overhead, "Overhead"),
    (Field::RequestAddr, "RequestAddr"),
    (Field::RequestContentSize, "RequestContentSize"),
    (Field::RequestCount, "RequestCount"),
    (Field::RequestHost, "RequestHost"),
    (Field::RequestMethod, "RequestMethod"),
    (Field::RequestPath, "RequestPath"),
    (Field::RequestPort, "RequestPort"),
    (Field::RequestProtocol, "RequestProtocol"),
    (Field::RequestScheme, "RequestScheme"),
    (Field::RetryAttempts, "RetryAttempts"),
    (Field::RouterName, "RouterName"),
    (Field::ServiceAddr, "ServiceAddr"),
    (Field::ServiceName, "ServiceName"),
    (Field::ServiceUrl, "ServiceURL"),
    (Field::SpanId, "SpanId"),
    (Field::StartLocal, "StartLocal"),
    (Field::StartUtc, "StartUTC"),
    (Field::TlsCipher, "TLSCipher"),
    (Field::TlsClientSubject, "TLSClientSubject"),
    (Field::TlsVersion, "TLSVersion"),
    (Field::TraceId, "TraceId"),
    (Field::EntryPointName, "entryPointName"),
];

/// The body Traefik's proxy writes for a client that went away (`499 Client Closed Request`),
/// which it then counts as the response size although the client never reads it.
const CLIENT_CLOSED_BODY_LEN: u64 = "Client Closed Request".len() as u64;

/// What the line says, derived once from the record.
pub(super) struct Facts<'a> {
    r: &'a Record,
    count: u64,
    /// The request reached an upstream server (the proxy picked one).
    proxied: bool,
    origin_status: u64,
    origin_size: u64,
    origin_duration: Duration,
    down_size: u64,
    /// `(host, port)` of the Host header, Go's `net.SplitHostPort` (`-` for no port).
    host_port: Option<(&'a str, &'a str)>,
    trace: Option<(String, String)>,
    /// `origin_*` headers are logged: the request reached the proxy (its own error answers
    /// included); the response's headers stand in for the origin's.
    origin_headers: bool,
}

impl<'a> Facts<'a> {
    pub(super) fn new(r: &'a Record, count: u64) -> Self {
        let t = &r.trail;
        let proxied = t.server_url.is_some();
        let mut down_size = r.response_size;
        // Traefik's proxy answers a client that went away with 499 and a body it counts.
        let client_gone = r.status == 499 && r.response_size == 0 && proxied;
        if client_gone {
            down_size = CLIENT_CLOSED_BODY_LEN;
        }
        // OriginStatus/OriginContentSize: what the proxy's response writer saw. Traefik counts
        // its own error answers (502, 504, 499) there too; requests that never reached the
        // proxy (auth failures, redirects, 404) log 0. The response size stands in for the
        // origin's body size (the same unless a middleware such as compress changed it).
        let (origin_status, origin_size, origin_duration) = if proxied {
            let status = t.origin_status.unwrap_or(r.status);
            let duration = match t.origin_duration {
                Some(d) if !client_gone => d,
                _ => r.duration,
            };
            (u64::from(status), down_size, duration)
        } else {
            (0, 0, Duration::ZERO)
        };
        let host_port = (!r.host.is_empty()).then(|| split_host_port(&r.host));
        let trace = t.trace.as_ref().and_then(|tr| tr.ids());
        Facts {
            r,
            count,
            proxied,
            origin_status,
            origin_size,
            origin_duration,
            down_size,
            host_port,
            trace,
            origin_headers: proxied,
        }
    }

    fn overhead(&self) -> Duration {
        self.r.duration.saturating_sub(self.origin_duration)
    }

    /// Traefik: set when the origin size differs from what the client got (and that is not 0).
    fn gzip_ratio(&self) -> Option<f64> {
        (self.origin_size != self.down_size && self.down_size != 0)
            .then(|| self.origin_size as f64 / self.down_size as f64)
    }

    /// `ServiceName` is set by Traefik's load balancer service (the innermost one, for weighted
    /// or failover services), so it is absent when the request stopped before one (auth
    /// failure, redirect) or was served by an internal handler; the request having been
    /// forwarded tells the same here.
    fn service_name(&self) -> Option<&'a str> {
        if self.proxied {
            let t = &self.r.trail;
            t.lb_service.as_deref().or(t.service.as_deref())
        } else {
            None
        }
    }
}

/// Writes the line for `r` (with its `\n`) to `out`.
pub(super) fn write_line(s: &Settings, f: &Facts<'_>, out: &mut Vec<u8>) {
    match s.format {
        Format::Common => write_clf(s, f, out, true),
        Format::GenericClf => write_clf(s, f, out, false),
        Format::Json => write_json(s, f, out),
    }
}

// ---------------------------------------------------------------------------------------------
// CLF

/// `<ClientHost> - <ClientUsername> [<StartUTC>] "<RequestMethod> <RequestPath> <RequestProtocol>"
/// <DownstreamStatus> <DownstreamContentSize> "<request_Referer>" "<request_User-Agent>"`, and
/// for Traefik's own format ` <RequestCount> "<RouterName>" "<ServiceURL>" <Duration>ms`.
/// A dropped field prints as `-` (a dropped header too: with the default header mode `drop`
/// Traefik prints `"-"` for the referer and user agent).
fn write_clf(s: &Settings, f: &Facts<'_>, out: &mut Vec<u8>, traefik: bool) {
    let r = f.r;
    let keep = |field: Field| s.keep[field as usize];
    if keep(Field::ClientHost) {
        write_client_host(r, out);
    } else {
        out.push(b'-');
    }
    out.extend_from_slice(b" - ");
    match r.trail.username.as_deref() {
        Some(u) if keep(Field::ClientUsername) && !u.is_empty() => {
            clf_write(out, u.as_bytes(), false)
        }
        _ => out.push(b'-'),
    }
    out.extend_from_slice(b" [");
    if keep(Field::StartUtc) || keep(Field::StartLocal) {
        Civil::of(r.start).write_clf(out);
    } else {
        out.push(b'-');
    }
    out.extend_from_slice(b"] \"");
    if keep(Field::RequestMethod) {
        out.extend_from_slice(r.method.as_str().as_bytes());
    } else {
        out.push(b'-');
    }
    out.push(b' ');
    if keep(Field::RequestPath) {
        let len = out.len();
        write_request_path(r, s.drop_query, out);
        if out.len() == len {
            out.push(b'-');
        }
    } else {
        out.push(b'-');
    }
    out.push(b' ');
    if keep(Field::RequestProtocol) {
        out.extend_from_slice(protocol(r.version).as_bytes());
    } else {
        out.push(b'-');
    }
    out.extend_from_slice(b"\" ");
    if keep(Field::DownstreamStatus) {
        int(out, u64::from(r.status));
    } else {
        out.push(b'-');
    }
    out.push(b' ');
    if keep(Field::DownstreamContentSize) {
        int(out, f.down_size);
    } else {
        out.push(b'-');
    }
    out.push(b' ');
    clf_request_header(s, r, &http::header::REFERER, out);
    out.push(b' ');
    clf_request_header(s, r, &http::header::USER_AGENT, out);
    if traefik {
        out.push(b' ');
        if keep(Field::RequestCount) {
            int(out, f.count);
        } else {
            out.push(b'-');
        }
        out.push(b' ');
        clf_quoted(
            keep(Field::RouterName)
                .then_some(r.trail.router.as_deref())
                .flatten()
                .map(str::as_bytes),
            out,
        );
        out.push(b' ');
        clf_quoted(
            keep(Field::ServiceUrl)
                .then_some(r.trail.server_url.as_deref())
                .flatten()
                .map(str::as_bytes),
            out,
        );
        out.push(b' ');
        let ms = if keep(Field::Duration) {
            r.duration.as_millis()
        } else {
            0
        };
        let _ = write!(out, "{ms}ms");
    }
    out.push(b'\n');
}

/// A quoted CLF value: `"value"` with `"` escaped as `\"` (nothing else), `"-"` when empty.
fn clf_quoted(v: Option<&[u8]>, out: &mut Vec<u8>) {
    match v {
        Some(v) if !v.is_empty() => {
            out.push(b'"');
            clf_escape(out, v);
            out.push(b'"');
        }
        _ => out.extend_from_slice(b"\"-\""),
    }
}

/// Traefik escapes `"` in quoted CLF values, and nothing else. Control characters other than
/// tab (which Traefik writes raw) are written `\xNN` here, so that no value can start a new line.
fn clf_escape(out: &mut Vec<u8>, v: &[u8]) {
    clf_write(out, v, true);
}

/// `quotes`: escape `"` (quoted values; the unquoted user name keeps them, as in Traefik).
fn clf_write(out: &mut Vec<u8>, v: &[u8], quotes: bool) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in v {
        match b {
            b'"' if quotes => out.extend_from_slice(b"\\\""),
            0x00..=0x08 | 0x0a..=0x1f | 0x7f => {
                out.extend_from_slice(b"\\x");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
            _ => out.push(b),
        }
    }
}

fn clf_request_header(s: &Settings, r: &Record, name: &HeaderName, out: &mut Vec<u8>) {
    let Some(headers) = &r.request_headers else {
        out.extend_from_slice(b"\"-\"");
        return;
    };
    if !headers.contains_key(name) {
        out.extend_from_slice(b"\"-\"");
        return;
    }
    match s.headers.mode(name.as_str()) {
        HeaderMode::Drop => out.extend_from_slice(b"\"-\""),
        HeaderMode::Redact => out.extend_from_slice(b"\"REDACTED\""),
        HeaderMode::Keep => {
            let start = out.len();
            out.push(b'"');
            for (i, v) in headers.get_all(name).iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                clf_escape(out, v.as_bytes());
            }
            if out.len() == start + 1 {
                out.extend_from_slice(b"-");
            }
            out.push(b'"');
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JSON

fn write_json(s: &Settings, f: &Facts<'_>, out: &mut Vec<u8>) {
    let r = f.r;
    let t = &r.trail;
    let start = Civil::of(r.start);
    let mut j = Json { out, first: true };
    for &(field, name) in &FIELDS {
        if !s.keep[field as usize] || field == Field::EntryPointName {
            continue;
        }
        match field {
            Field::ClientAddr => {
                j.key(name);
                j.out.push(b'"');
                match r.client {
                    std::net::SocketAddr::V4(a) => {
                        write_ip(j.out, IpAddr::V4(*a.ip()));
                        j.out.push(b':');
                        int(j.out, u64::from(a.port()));
                    }
                    v6 => {
                        let _ = write!(j.out, "{v6}");
                    }
                }
                j.out.push(b'"');
            }
            Field::ClientHost => {
                j.key(name);
                j.out.push(b'"');
                write_client_host(r, j.out);
                j.out.push(b'"');
            }
            Field::ClientPort => {
                j.key(name);
                j.out.push(b'"');
                int(j.out, u64::from(r.client.port()));
                j.out.push(b'"');
            }
            Field::ClientUsername => j.str(name, t.username.as_deref().unwrap_or("-")),
            Field::DownstreamContentSize => j.int(name, f.down_size),
            Field::DownstreamStatus => j.int(name, u64::from(r.status)),
            Field::Duration => j.int(name, nanos(r.duration)),
            Field::GzipRatio => {
                if let Some(ratio) = f.gzip_ratio() {
                    j.key(name);
                    write_go_float(j.out, ratio);
                }
            }
            Field::OriginContentSize => j.int(name, f.origin_size),
            Field::OriginDuration => j.int(name, nanos(f.origin_duration)),
            Field::OriginStatus => j.int(name, f.origin_status),
            Field::Overhead => j.int(name, nanos(f.overhead())),
            Field::RequestAddr => {
                if f.host_port.is_some() {
                    j.str(name, &r.host);
                }
            }
            Field::RequestContentSize => j.int(name, r.request_size),
            Field::RequestCount => j.int(name, f.count),
            Field::RequestHost => {
                if let Some((host, _)) = f.host_port {
                    j.str(name, host);
                }
            }
            Field::RequestMethod => j.str(name, r.method.as_str()),
            Field::RequestPath => {
                j.key(name);
                let mut path = Vec::new();
                write_request_path(r, s.drop_query, &mut path);
                json_string(j.out, &path);
            }
            Field::RequestPort => {
                if let Some((_, port)) = f.host_port {
                    j.str(name, port);
                }
            }
            Field::RequestProtocol => j.str(name, protocol(r.version)),
            Field::RequestScheme => j.str(name, if r.tls.is_some() { "https" } else { "http" }),
            Field::RetryAttempts => j.int(name, u64::from(t.retry_attempts)),
            Field::RouterName => {
                if let Some(router) = &t.router {
                    j.str(name, router);
                }
            }
            Field::ServiceAddr => {
                if let Some(url) = &t.server_url {
                    j.str(name, url_host(url));
                }
            }
            Field::ServiceName => {
                if let Some(service) = f.service_name() {
                    j.str(name, service);
                }
            }
            Field::ServiceUrl => {
                if let Some(url) = &t.server_url {
                    j.str(name, url);
                }
            }
            Field::SpanId => {
                if let Some((_, span)) = &f.trace {
                    j.str(name, span);
                }
            }
            Field::StartLocal | Field::StartUtc => {
                j.key(name);
                j.out.push(b'"');
                start.write_rfc3339_nano(j.out);
                j.out.push(b'"');
            }
            Field::TlsCipher => {
                if let Some(tls) = &r.tls {
                    j.str(name, &go_cipher_name(tls.cipher));
                }
            }
            Field::TlsClientSubject => {
                let subject = r
                    .tls
                    .as_ref()
                    .and_then(|tls| tls.client_certs.as_ref())
                    .and_then(|certs| certs.first())
                    .and_then(|leaf| super::subject::go_subject(leaf));
                if let Some(subject) = subject {
                    j.str(name, &subject);
                }
            }
            Field::TlsVersion => {
                if let Some(tls) = &r.tls {
                    j.str(name, tls.version);
                }
            }
            Field::TraceId => {
                if let Some((trace, _)) = &f.trace {
                    j.str(name, trace);
                }
            }
            Field::EntryPointName => {}
        }
    }
    // Lowercase keys, in byte order: downstream_*, entryPointName, level, msg, origin_*,
    // request_*, time.
    let response = r.response_headers.as_ref();
    // Traefik's routers disable Content-Type sniffing by setting an empty Content-Type on
    // responses without one: routed responses show `Content-Type: ""`.
    let ct_quirk = t.router.is_some();
    if let Some(h) = response {
        j.headers(s, "downstream_", h, ct_quirk);
    }
    if s.keep[Field::EntryPointName as usize] {
        j.str("entryPointName", &r.entry_point);
    }
    j.str("level", "info");
    j.str("msg", "");
    if let (true, Some(h)) = (f.origin_headers, response) {
        j.headers(s, "origin_", h, ct_quirk);
    }
    if let Some(h) = &r.request_headers {
        j.headers(s, "request_", h, false);
    }
    j.key("time");
    j.out.push(b'"');
    let end = r.start.checked_add(r.duration).unwrap_or(r.start);
    Civil::of(end).write_rfc3339_secs(j.out);
    j.out.extend_from_slice(b"\"}\n");
}

struct Json<'b> {
    out: &'b mut Vec<u8>,
    first: bool,
}

impl Json<'_> {
    fn key(&mut self, name: &str) {
        self.out
            .extend_from_slice(if self.first { b"{\"" } else { b",\"" });
        self.first = false;
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn str(&mut self, name: &str, v: &str) {
        self.key(name);
        json_string(self.out, v.as_bytes());
    }

    fn int(&mut self, name: &str, v: u64) {
        self.key(name);
        int(self.out, v);
    }

    /// The headers of `h` as `<prefix><Canonical-Name>` keys, in Go's key order, as the header
    /// modes say. `ct_quirk`: a response without `Content-Type` shows it empty.
    fn headers(&mut self, s: &Settings, prefix: &str, h: &HeaderMap, ct_quirk: bool) {
        if !s.headers.any() {
            return;
        }
        let connection = h.get(http::header::CONNECTION).is_some();
        let mut names: Vec<(&str, HeaderMode)> = Vec::with_capacity(h.keys_len() + 1);
        for name in h.keys() {
            if skip_header(h, name, connection) {
                continue;
            }
            let mode = s.headers.mode(name.as_str());
            if mode != HeaderMode::Drop {
                names.push((name.as_str(), mode));
            }
        }
        let ct = http::header::CONTENT_TYPE.as_str();
        if ct_quirk && !h.contains_key(ct) {
            let mode = s.headers.mode(ct);
            if mode != HeaderMode::Drop {
                names.push((ct, mode));
            }
        }
        names.sort_unstable_by(|a, b| canonical_cmp(a.0, b.0));
        for (name, mode) in names {
            self.out.extend_from_slice(b",\"");
            self.out.extend_from_slice(prefix.as_bytes());
            write_canonical(self.out, name);
            self.out.extend_from_slice(b"\":");
            match mode {
                HeaderMode::Redact => self.out.extend_from_slice(b"\"REDACTED\""),
                _ => json_joined(self.out, h, name),
            }
        }
    }
}

/// Headers Go's server never shows in `Request.Header` (Host, Transfer-Encoding, Trailer) or
/// that Traefik's entry point removes before the access log sees them (Connection and the
/// headers it lists).
/// `connection`: whether `h` has a Connection header (that may list others).
fn skip_header(h: &HeaderMap, name: &HeaderName, connection: bool) -> bool {
    use http::header::{CONNECTION, HOST, TRAILER, TRANSFER_ENCODING};
    if name == HOST || name == CONNECTION || name == TRANSFER_ENCODING || name == TRAILER {
        return true;
    }
    connection
        && h.get_all(CONNECTION).iter().any(|v| {
            v.as_bytes().split(|&b| b == b',').any(|t| {
                t.trim_ascii()
                    .eq_ignore_ascii_case(name.as_str().as_bytes())
            })
        })
}

/// Byte `i` of the canonical MIME form of the lowercase header name `name`.
fn canonical_byte(name: &[u8], i: usize) -> u8 {
    let b = name[i];
    if i == 0 || name[i - 1] == b'-' {
        b.to_ascii_uppercase()
    } else {
        b.to_ascii_lowercase()
    }
}

fn canonical_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    for i in 0..a.len().min(b.len()) {
        match canonical_byte(a, i).cmp(&canonical_byte(b, i)) {
            std::cmp::Ordering::Equal => {}
            other => return other,
        }
    }
    a.len().cmp(&b.len())
}

/// Go's `textproto.CanonicalMIMEHeaderKey` (names here are valid tokens already).
fn write_canonical(out: &mut Vec<u8>, name: &str) {
    let name = name.as_bytes();
    for i in 0..name.len() {
        out.push(canonical_byte(name, i));
    }
}

/// Go's `encoding/json` string encoding (HTML-safe): `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`,
/// other controls as `\u00XX`, `<`, `>`, `&`, U+2028, U+2029 as `\uXXXX`, and every byte of an
/// invalid UTF-8 sequence as `\ufffd`.
pub(super) fn json_string(out: &mut Vec<u8>, v: &[u8]) {
    out.push(b'"');
    json_escape(out, v);
    out.push(b'"');
}

/// The headers values of `name` as one JSON string, joined with `,`.
fn json_joined(out: &mut Vec<u8>, h: &HeaderMap, name: &str) {
    out.push(b'"');
    for (i, v) in h.get_all(name).iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_escape(out, v.as_bytes());
    }
    out.push(b'"');
}

/// [`json_string`] without the quotes.
fn json_escape(out: &mut Vec<u8>, v: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Most values are printable ASCII without anything to escape.
    if v.iter()
        .all(|&b| (0x20..0x7f).contains(&b) && !matches!(b, b'"' | b'\\' | b'<' | b'>' | b'&'))
    {
        out.extend_from_slice(v);
        return;
    }
    for chunk in v.utf8_chunks() {
        let valid = chunk.valid().as_bytes();
        let mut start = 0;
        let mut i = 0;
        while i < valid.len() {
            let b = valid[i];
            let esc: Option<&[u8]> = match b {
                b'"' => Some(b"\\\""),
                b'\\' => Some(b"\\\\"),
                b'\n' => Some(b"\\n"),
                b'\r' => Some(b"\\r"),
                b'\t' => Some(b"\\t"),
                0x08 => Some(b"\\b"),
                0x0c => Some(b"\\f"),
                b'<' => Some(b"\\u003c"),
                b'>' => Some(b"\\u003e"),
                b'&' => Some(b"\\u0026"),
                // U+2028 / U+2029: E2 80 A8 / E2 80 A9.
                0xe2 if valid.get(i + 1) == Some(&0x80)
                    && matches!(valid.get(i + 2), Some(0xa8 | 0xa9)) =>
                {
                    if valid[i + 2] == 0xa8 {
                        Some(b"\\u2028")
                    } else {
                        Some(b"\\u2029")
                    }
                }
                _ => None,
            };
            if let Some(esc) = esc {
                out.extend_from_slice(&valid[start..i]);
                out.extend_from_slice(esc);
                i += if b == 0xe2 { 3 } else { 1 };
                start = i;
            } else if b < 0x20 {
                out.extend_from_slice(&valid[start..i]);
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
                i += 1;
                start = i;
            } else {
                i += 1;
            }
        }
        out.extend_from_slice(&valid[start..]);
        for _ in chunk.invalid() {
            out.extend_from_slice(b"\\ufffd");
        }
    }
}

/// A float as Go's `encoding/json` writes it (shortest representation; exponent form outside
/// [1e-6, 1e21)).
fn write_go_float(out: &mut Vec<u8>, v: f64) {
    if !v.is_finite() {
        // Go refuses to encode these; logrus would then log an error instead of the line.
        out.push(b'0');
        return;
    }
    let abs = v.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{v:e}");
        // Rust: `1e21`, `1.5e-7`; Go: `1e+21`, `1.5e-07`.
        if let Some((mant, exp)) = s.split_once('e') {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            let _ = write!(out, "{mant}e{sign}");
            if digits.len() < 2 {
                out.push(b'0');
            }
            out.extend_from_slice(digits.as_bytes());
            return;
        }
    }
    let _ = write!(out, "{v}");
}

fn int(out: &mut Vec<u8>, v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = v;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// `ClientHost`: the client's IP (Traefik shows `X-Forwarded-For` instead when the entry point
/// trusts it; see the module docs of `access_log`).
fn write_client_host(r: &Record, out: &mut Vec<u8>) {
    write_ip(out, r.client.ip());
}

fn write_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                int(out, u64::from(*octet));
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// Go's `Request.Proto`.
fn protocol(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// Go's cipher suite names (`tls.CipherSuiteName`): rustls calls the TLS 1.3 suites `TLS13_*`.
fn go_cipher_name(cipher: &str) -> std::borrow::Cow<'_, str> {
    match cipher.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}").into(),
        None => cipher.into(),
    }
}

/// `host[:port]` of an upstream URL (Go's `URL.Host`).
fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    authority.rsplit_once('@').map_or(authority, |(_, h)| h)
}

/// Go's `net.SplitHostPort`, or `(value, "-")` when it fails (Traefik's `silentSplitHostPort`).
pub(super) fn split_host_port(v: &str) -> (&str, &str) {
    let has = |s: &str, set: &[u8]| s.bytes().any(|b| set.contains(&b));
    if let Some(rest) = v.strip_prefix('[') {
        if let Some((host, after)) = rest.split_once(']') {
            if let Some(port) = after.strip_prefix(':') {
                if !has(port, b":[]") && !has(host, b"[]") {
                    return (host, port);
                }
            }
        }
        return (v, "-");
    }
    match v.as_bytes().iter().rposition(|&b| b == b':') {
        Some(i) if !has(&v[..i], b":[]") && !has(&v[i + 1..], b"[]") => (&v[..i], &v[i + 1..]),
        _ => (v, "-"),
    }
}

/// `RequestPath`: Go's `URL.String()` of path, query and fragment: the path as sent when it is
/// a valid encoding (`url.EscapedPath`), re-escaped otherwise; the query verbatim (or dropped).
pub(super) fn write_request_path(r: &Record, drop_query: bool, out: &mut Vec<u8>) {
    // Traefik logs the path after the entry point's normalisation.
    let uri = r.trail.normalized_uri.as_ref().unwrap_or(&r.uri);
    let path = uri.path();
    if path == "*" || valid_encoded_path(path.as_bytes()) {
        out.extend_from_slice(path.as_bytes());
    } else {
        escape_path(&unescape(path.as_bytes()), out);
    }
    if !drop_query {
        if let Some(q) = uri.query() {
            out.push(b'?');
            out.extend_from_slice(q.as_bytes());
        }
    }
}

/// Go's `shouldEscape(c, encodePath)`.
fn path_should_escape(c: u8) -> bool {
    !(c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'-' | b'_'
                | b'.'
                | b'~'
                | b'$'
                | b'&'
                | b'+'
                | b','
                | b'/'
                | b':'
                | b';'
                | b'='
                | b'@'
        ))
}

/// Go's `validEncoded(s, encodePath)`.
fn valid_encoded_path(s: &[u8]) -> bool {
    s.iter().all(|&c| {
        matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
                | b'['
                | b']'
                | b'%'
        ) || !path_should_escape(c)
    })
}

fn unescape(s: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            if let (Some(h), Some(l)) = (hex(s[i + 1]), hex(s[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

fn escape_path(s: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &c in s {
        if path_should_escape(c) {
            out.push(b'%');
            out.push(HEX[usize::from(c >> 4)]);
            out.push(HEX[usize::from(c & 0xf)]);
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn js(v: &[u8]) -> String {
        let mut o = Vec::new();
        json_string(&mut o, v);
        String::from_utf8(o).unwrap()
    }

    #[test]
    fn json_escaping_is_gos() {
        assert_eq!(js(b"plain"), r#""plain""#);
        assert_eq!(js(b"a\"q\" \\b"), r#""a\"q\" \\b""#);
        assert_eq!(js(b"<>&"), r#""\u003c\u003e\u0026""#);
        assert_eq!(js(b"\t\n\r\x08\x0c\x01\x1f"), r#""\t\n\r\b\f\u0001\u001f""#);
        assert_eq!(js("é ✓".as_bytes()), "\"é ✓\"");
        assert_eq!(js("a\u{2028}b\u{2029}".as_bytes()), r#""a\u2028b\u2029""#);
        assert_eq!(js(b"r\xff"), r#""r\ufffd""#);
        // A truncated 3-byte sequence: one replacement per byte, as Go does.
        assert_eq!(js(b"\xe2\x82A"), r#""\ufffd\ufffdA""#);
        assert_eq!(js(b"\x7f"), "\"\x7f\"");
    }

    #[test]
    fn floats_are_gos() {
        let f = |v: f64| {
            let mut o = Vec::new();
            write_go_float(&mut o, v);
            String::from_utf8(o).unwrap()
        };
        assert_eq!(f(0.0), "0");
        assert_eq!(f(2.4), "2.4");
        assert_eq!(f(12.0), "12");
        assert_eq!(f(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(f(1e21), "1e+21");
        assert_eq!(f(1.5e-7), "1.5e-07");
    }

    #[test]
    fn host_port_split_is_gos() {
        assert_eq!(split_host_port("h:80"), ("h", "80"));
        assert_eq!(split_host_port("h"), ("h", "-"));
        assert_eq!(split_host_port("h:"), ("h", ""));
        assert_eq!(split_host_port("[::1]:8080"), ("::1", "8080"));
        assert_eq!(split_host_port("[::1]"), ("[::1]", "-"));
        assert_eq!(split_host_port("::1"), ("::1", "-"));
        assert_eq!(split_host_port("a:b:c"), ("a:b:c", "-"));
    }

    #[test]
    fn paths_are_escaped_like_go() {
        let p = |raw: &str| {
            let mut o = Vec::new();
            if raw == "*" || valid_encoded_path(raw.as_bytes()) {
                o.extend_from_slice(raw.as_bytes());
            } else {
                escape_path(&unescape(raw.as_bytes()), &mut o);
            }
            String::from_utf8(o).unwrap()
        };
        assert_eq!(p("/a%20b"), "/a%20b");
        assert_eq!(p("/a/b;c=d:e@f!$'()*+,"), "/a/b;c=d:e@f!$'()*+,");
        assert_eq!(p("/a{b}|c"), "/a%7Bb%7D%7Cc");
        assert_eq!(p("/\u{e9}%41"), "/%C3%A9A");
        assert_eq!(p("/x%2"), "/x%2");
    }

    #[test]
    fn canonical_header_names() {
        let c = |n: &str| {
            let mut o = Vec::new();
            write_canonical(&mut o, n);
            String::from_utf8(o).unwrap()
        };
        assert_eq!(c("user-agent"), "User-Agent");
        assert_eq!(c("x-real-ip"), "X-Real-Ip");
        assert_eq!(c("te"), "Te");
        let mut names = vec![
            "x-multi",
            "content-type",
            "x-forwarded-host",
            "a",
            "content-length",
        ];
        names.sort_by(|a, b| canonical_cmp(a, b));
        assert_eq!(
            names,
            [
                "a",
                "content-length",
                "content-type",
                "x-forwarded-host",
                "x-multi"
            ]
        );
    }

    #[test]
    fn cipher_names_and_upstream_hosts() {
        assert_eq!(
            go_cipher_name("TLS13_AES_128_GCM_SHA256"),
            "TLS_AES_128_GCM_SHA256"
        );
        assert_eq!(
            go_cipher_name("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
        );
        assert_eq!(url_host("http://127.0.0.1:8080"), "127.0.0.1:8080");
        assert_eq!(url_host("https://u:p@backend/x?y"), "backend");
        assert_eq!(url_host("h2c://[::1]:9/"), "[::1]:9");
    }
}

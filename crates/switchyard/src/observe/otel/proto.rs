//! Protobuf encoding of the few OTLP messages the tracer sends (opentelemetry-proto v1):
//!
//! ```text
//! ExportTraceServiceRequest { 1: repeated ResourceSpans }
//! ResourceSpans  { 1: Resource, 2: repeated ScopeSpans }
//! Resource       { 1: repeated KeyValue attributes }
//! ScopeSpans     { 1: InstrumentationScope, 2: repeated Span }
//! InstrumentationScope { 1: name, 2: version }
//! Span { 1: trace_id, 2: span_id, 3: trace_state, 4: parent_span_id, 5: name, 6: kind,
//!        7: start_time_unix_nano (fixed64), 8: end_time_unix_nano (fixed64),
//!        9: repeated KeyValue attributes, 15: Status, 16: flags (fixed32) }
//! Status   { 2: message, 3: code }
//! KeyValue { 1: key, 2: AnyValue }
//! AnyValue { oneof 1: string, 2: bool, 3: int64, 4: double, 5: ArrayValue }
//! ArrayValue { 1: repeated AnyValue }
//! ```
//!
//! Spans are encoded when a request finishes, already tagged as `ScopeSpans.spans` entries, so
//! the exporter only concatenates them into a request.

/// Span kinds (`Span.SpanKind`).
pub(super) const KIND_INTERNAL: u64 = 1;
pub(super) const KIND_SERVER: u64 = 2;
pub(super) const KIND_CLIENT: u64 = 3;

/// Status codes (`Status.StatusCode`).
pub(super) const STATUS_UNSET: u64 = 0;
pub(super) const STATUS_ERROR: u64 = 2;

/// `Span.flags`: bits 0–7 are the W3C trace flags; bit 8 says whether bit 9 (the parent is
/// remote) is known.
pub(super) const FLAG_SAMPLED: u32 = 0x01;
pub(super) const FLAG_HAS_IS_REMOTE: u32 = 0x100;
pub(super) const FLAG_IS_REMOTE: u32 = 0x200;

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_tag(buf: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(buf, (u64::from(field) << 3) | u64::from(wire));
}

fn tag_len(field: u32) -> usize {
    varint_len(u64::from(field) << 3)
}

/// A length-delimited field (bytes, string or an encoded message).
pub(super) fn put_bytes(buf: &mut Vec<u8>, field: u32, data: &[u8]) {
    put_tag(buf, field, LEN);
    put_varint(buf, data.len() as u64);
    buf.extend_from_slice(data);
}

fn put_u64(buf: &mut Vec<u8>, field: u32, v: u64) {
    put_tag(buf, field, VARINT);
    put_varint(buf, v);
}

fn put_fixed64(buf: &mut Vec<u8>, field: u32, v: u64) {
    put_tag(buf, field, FIXED64);
    buf.extend_from_slice(&v.to_le_bytes());
}

fn put_fixed32(buf: &mut Vec<u8>, field: u32, v: u32) {
    put_tag(buf, field, FIXED32);
    buf.extend_from_slice(&v.to_le_bytes());
}

/// The size of a length-delimited field holding `len` bytes.
fn field_len(field: u32, len: usize) -> usize {
    tag_len(field) + varint_len(len as u64) + len
}

/// An attribute value.
#[derive(Debug, Clone, Copy)]
pub(super) enum Value<'a> {
    Str(&'a str),
    Int(i64),
    Strs(&'a [String]),
}

impl Value<'_> {
    /// The encoded size of the `AnyValue` message.
    fn any_len(&self) -> usize {
        match self {
            Value::Str(s) => field_len(1, s.len()),
            Value::Int(i) => 1 + varint_len(*i as u64),
            Value::Strs(list) => field_len(5, array_len(list)),
        }
    }

    fn put_any(&self, buf: &mut Vec<u8>) {
        match self {
            Value::Str(s) => put_bytes(buf, 1, s.as_bytes()),
            Value::Int(i) => put_u64(buf, 3, *i as u64),
            Value::Strs(list) => {
                put_tag(buf, 5, LEN);
                put_varint(buf, array_len(list) as u64);
                for s in list.iter() {
                    // ArrayValue.values: AnyValue { string_value }
                    put_tag(buf, 1, LEN);
                    put_varint(buf, field_len(1, s.len()) as u64);
                    put_bytes(buf, 1, s.as_bytes());
                }
            }
        }
    }
}

/// The encoded size of an `ArrayValue` of strings.
fn array_len(list: &[String]) -> usize {
    list.iter()
        .map(|s| field_len(1, field_len(1, s.len())))
        .sum()
}

/// Encoded `KeyValue` entries of a repeated attributes field.
#[derive(Debug)]
pub(super) struct Attrs {
    field: u32,
    buf: Vec<u8>,
}

impl Attrs {
    /// Attributes for the repeated field `field` (9 in `Span`, 1 in `Resource`).
    pub(super) fn new(field: u32) -> Self {
        Attrs {
            field,
            buf: Vec::with_capacity(512),
        }
    }

    pub(super) fn add(&mut self, key: &str, value: Value<'_>) -> &mut Self {
        let any = value.any_len();
        let kv = field_len(1, key.len()) + field_len(2, any);
        put_tag(&mut self.buf, self.field, LEN);
        put_varint(&mut self.buf, kv as u64);
        put_bytes(&mut self.buf, 1, key.as_bytes());
        put_tag(&mut self.buf, 2, LEN);
        put_varint(&mut self.buf, any as u64);
        value.put_any(&mut self.buf);
        self
    }

    pub(super) fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.add(key, Value::Str(value))
    }

    pub(super) fn int(&mut self, key: &str, value: i64) -> &mut Self {
        self.add(key, Value::Int(value))
    }

    pub(super) fn strs(&mut self, key: &str, value: &[String]) -> &mut Self {
        self.add(key, Value::Strs(value))
    }

    /// The encoded entries.
    pub(super) fn bytes(&self) -> &[u8] {
        &self.buf
    }
}

/// One span.
#[derive(Debug)]
pub(super) struct Span<'a> {
    pub(super) trace_id: &'a [u8; 16],
    pub(super) span_id: &'a [u8; 8],
    pub(super) trace_state: Option<&'a str>,
    pub(super) parent: Option<&'a [u8; 8]>,
    pub(super) name: &'a str,
    pub(super) kind: u64,
    pub(super) start_unix_nano: u64,
    pub(super) end_unix_nano: u64,
    /// Built with `Attrs::new(9)`.
    pub(super) attrs: &'a Attrs,
    pub(super) status_code: u64,
    pub(super) status_message: &'a str,
    pub(super) flags: u32,
}

impl Span<'_> {
    /// Appends the span as a `ScopeSpans.spans` entry (field 2) to `out`.
    pub(super) fn encode_into(&self, out: &mut Vec<u8>) {
        let mut s = Vec::with_capacity(self.attrs.bytes().len() + 128);
        put_bytes(&mut s, 1, self.trace_id);
        put_bytes(&mut s, 2, self.span_id);
        if let Some(ts) = self.trace_state.filter(|t| !t.is_empty()) {
            put_bytes(&mut s, 3, ts.as_bytes());
        }
        if let Some(p) = self.parent {
            put_bytes(&mut s, 4, p);
        }
        put_bytes(&mut s, 5, self.name.as_bytes());
        if self.kind != 0 {
            put_u64(&mut s, 6, self.kind);
        }
        put_fixed64(&mut s, 7, self.start_unix_nano);
        put_fixed64(&mut s, 8, self.end_unix_nano);
        s.extend_from_slice(self.attrs.bytes());
        let mut status = Vec::new();
        if !self.status_message.is_empty() {
            put_bytes(&mut status, 2, self.status_message.as_bytes());
        }
        if self.status_code != 0 {
            put_u64(&mut status, 3, self.status_code);
        }
        put_bytes(&mut s, 15, &status);
        put_fixed32(&mut s, 16, self.flags);
        put_bytes(out, 2, &s);
    }
}

/// An `ExportTraceServiceRequest` of one resource and one scope holding `spans` (concatenated
/// `ScopeSpans.spans` entries from [`Span::encode_into`]). `resource` is a `Resource` message
/// body (its attributes).
pub(super) fn export_request(resource: &[u8], scope_name: &str, spans: &[u8]) -> Vec<u8> {
    let mut scope = Vec::with_capacity(scope_name.len() + 4);
    put_bytes(&mut scope, 1, scope_name.as_bytes());
    let scope_spans_len = field_len(1, scope.len()) + spans.len();
    let resource_spans_len = field_len(1, resource.len()) + field_len(2, scope_spans_len);
    let mut out = Vec::with_capacity(field_len(1, resource_spans_len));
    put_tag(&mut out, 1, LEN);
    put_varint(&mut out, resource_spans_len as u64);
    put_bytes(&mut out, 1, resource);
    put_tag(&mut out, 2, LEN);
    put_varint(&mut out, scope_spans_len as u64);
    put_bytes(&mut out, 1, &scope);
    out.extend_from_slice(spans);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    use prost::Message as _;

    #[test]
    fn decodes_with_an_independent_implementation() {
        let mut res = Attrs::new(1);
        res.str("service.name", "svc").int("process.pid", 42);
        let mut attrs = Attrs::new(9);
        let long = "x".repeat(300);
        attrs
            .str("http.request.method", "GET")
            .int("http.response.status_code", 200)
            .int("negative", -1)
            .str("long", &long)
            .strs(
                "http.request.header.x-a",
                &["one".to_owned(), String::new(), long.clone()],
            );
        let mut spans = Vec::new();
        let (t, s, p) = ([7u8; 16], [1u8; 8], [2u8; 8]);
        Span {
            trace_id: &t,
            span_id: &s,
            trace_state: Some("a=b"),
            parent: Some(&p),
            name: "GET",
            kind: KIND_SERVER,
            start_unix_nano: 1_000,
            end_unix_nano: u64::MAX,
            attrs: &attrs,
            status_code: STATUS_ERROR,
            status_message: "boom",
            flags: FLAG_SAMPLED | FLAG_HAS_IS_REMOTE | FLAG_IS_REMOTE,
        }
        .encode_into(&mut spans);
        let empty = Attrs::new(9);
        Span {
            trace_id: &t,
            span_id: &p,
            trace_state: None,
            parent: None,
            name: "",
            kind: KIND_CLIENT,
            start_unix_nano: 0,
            end_unix_nano: 0,
            attrs: &empty,
            status_code: STATUS_UNSET,
            status_message: "",
            flags: 0,
        }
        .encode_into(&mut spans);
        let bytes = export_request(res.bytes(), "github.com/traefik/traefik", &spans);
        let req = ExportTraceServiceRequest::decode(bytes.as_slice()).unwrap();
        assert_eq!(req.resource_spans.len(), 1);
        let rs = &req.resource_spans[0];
        let resource = rs.resource.as_ref().unwrap();
        assert_eq!(resource.attributes.len(), 2);
        assert_eq!(resource.attributes[0].key, "service.name");
        assert_eq!(
            resource.attributes[1].value.as_ref().unwrap().value,
            Some(Any::IntValue(42))
        );
        let ss = &rs.scope_spans[0];
        assert_eq!(
            ss.scope.as_ref().unwrap().name,
            "github.com/traefik/traefik"
        );
        assert_eq!(ss.spans.len(), 2);
        let sp = &ss.spans[0];
        assert_eq!(sp.trace_id, vec![7u8; 16]);
        assert_eq!(sp.span_id, vec![1u8; 8]);
        assert_eq!(sp.parent_span_id, vec![2u8; 8]);
        assert_eq!(sp.trace_state, "a=b");
        assert_eq!(sp.name, "GET");
        assert_eq!(sp.kind, 2);
        assert_eq!(sp.start_time_unix_nano, 1_000);
        assert_eq!(sp.end_time_unix_nano, u64::MAX);
        assert_eq!(sp.flags, 0x301);
        let status = sp.status.as_ref().unwrap();
        assert_eq!((status.code, status.message.as_str()), (2, "boom"));
        let value = |k: &str| {
            sp.attributes
                .iter()
                .find(|a| a.key == k)
                .and_then(|a| a.value.clone())
                .and_then(|v| v.value)
        };
        assert_eq!(
            value("http.request.method"),
            Some(Any::StringValue("GET".into()))
        );
        assert_eq!(value("http.response.status_code"), Some(Any::IntValue(200)));
        assert_eq!(value("negative"), Some(Any::IntValue(-1)));
        assert_eq!(value("long"), Some(Any::StringValue(long.clone())));
        match value("http.request.header.x-a") {
            Some(Any::ArrayValue(a)) => {
                let v: Vec<_> = a.values.into_iter().map(|v| v.value).collect();
                assert_eq!(
                    v,
                    vec![
                        Some(Any::StringValue("one".into())),
                        Some(Any::StringValue(String::new())),
                        Some(Any::StringValue(long)),
                    ]
                );
            }
            other => panic!("{other:?}"),
        }
        let sp = &ss.spans[1];
        assert_eq!(sp.kind, 3);
        assert!(sp.parent_span_id.is_empty());
        assert!(sp.attributes.is_empty());
        assert_eq!(sp.status.as_ref().unwrap().code, 0);
    }
}

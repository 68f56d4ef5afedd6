//! `grpcWeb`: lets browsers call gRPC services. A gRPC-Web request (`POST` with
//! `application/grpc-web[+proto]`, or the base64 `application/grpc-web-text[+proto]`) is sent to
//! the service as gRPC (`application/grpc…`, body decoded), and the answer comes back as
//! gRPC-Web: same status and headers, content type turned back, the body passed through (or
//! base64-encoded), and the gRPC trailers appended to the body as a trailer frame. It answers on
//! its own only the CORS preflight of gRPC-Web calls (`OPTIONS` asking for `x-grpc-web`), with
//! `200` and, for an origin in `allowOrigins` (`*`: any), the CORS headers. Other requests pass
//! untouched. Behaviour follows Traefik's (improbable-eng's grpc-web wrapper with rs/cors).

use std::pin::Pin;
use std::task::{Context, Poll};

use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};
use http::header::{
    HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, ORIGIN, TE, TRAILER, VARY,
};
use http::{Method, Request, Response, Version};
use http_body_util::BodyExt;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use switchyard_model::config::dynamic::GrpcWeb as Config;

use super::{BoxFuture, Middleware, Next};
use crate::http::body::{empty, Body, BoxError};
use crate::http::service::RequestCtx;

const GRPC: &str = "application/grpc";
const GRPC_WEB: &str = "application/grpc-web";
const GRPC_WEB_TEXT: &str = "application/grpc-web-text";
/// rs/cors' preflight cache time Traefik's wrapper sets (10 minutes).
const MAX_AGE: &str = "600";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

#[derive(Debug)]
pub struct GrpcWeb {
    origins: Vec<String>,
    any_origin: bool,
}

impl GrpcWeb {
    pub fn new(cfg: &Config) -> Result<Self, String> {
        Ok(Self {
            any_origin: cfg.allow_origins.iter().any(|o| o == "*"),
            origins: cfg.allow_origins.clone(),
        })
    }

    fn origin_allowed(&self, origin: &[u8]) -> bool {
        self.any_origin || self.origins.iter().any(|o| o.as_bytes() == origin)
    }

    /// rs/cors' preflight answer.
    fn preflight(&self, req: &Request<Body>) -> Response<Body> {
        let mut resp = Response::new(empty());
        let h = resp.headers_mut();
        for v in [
            "Origin",
            "Access-Control-Request-Method",
            "Access-Control-Request-Headers",
        ] {
            h.append(VARY, HeaderValue::from_static(v));
        }
        let origin = match req.headers().get(ORIGIN) {
            Some(o) if !o.is_empty() && self.origin_allowed(o.as_bytes()) => o.clone(),
            _ => return resp,
        };
        let method = req
            .headers()
            .get("access-control-request-method")
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static(""));
        let upper = method.to_str().unwrap_or("").to_ascii_uppercase();
        if !matches!(upper.as_str(), "GET" | "POST" | "HEAD") {
            return resp;
        }
        let requested: Vec<String> = req
            .headers()
            .get_all("access-control-request-headers")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(canonical)
            .collect();
        h.insert("access-control-allow-origin", origin);
        h.insert("access-control-allow-methods", method);
        if let Ok(v) = HeaderValue::from_str(&requested.join(", ")) {
            if !requested.is_empty() {
                h.insert("access-control-allow-headers", v);
            }
        }
        h.insert(
            "access-control-allow-credentials",
            HeaderValue::from_static("true"),
        );
        h.insert("access-control-max-age", HeaderValue::from_static(MAX_AGE));
        resp
    }
}

/// Go's canonical header key (`x-grpc-web` → `X-Grpc-Web`).
fn canonical(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        });
        upper = c == '-';
    }
    out
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

impl Middleware for GrpcWeb {
    fn call<'a>(
        &'a self,
        req: Request<Body>,
        ctx: &'a RequestCtx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Response<Body>> {
        Box::pin(async move {
            let cors_request = req.method() == Method::OPTIONS
                && req
                    .headers()
                    .get("access-control-request-headers")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.to_ascii_lowercase().contains("x-grpc-web"));
            let grpc_web =
                req.method() == Method::POST && content_type(req.headers()).starts_with(GRPC_WEB);
            if !cors_request && !grpc_web {
                return next.run(req, ctx).await;
            }
            if req.method() == Method::OPTIONS
                && req.headers().contains_key("access-control-request-method")
            {
                return self.preflight(&req);
            }

            // rs/cors on an actual request: CORS headers for allowed origins.
            let mut cors = HeaderMap::new();
            cors.append(VARY, HeaderValue::from_static("Origin"));
            if let Some(origin) = req.headers().get(ORIGIN).filter(|o| !o.is_empty()) {
                let method_ok = matches!(*req.method(), Method::GET | Method::POST | Method::HEAD);
                if self.origin_allowed(origin.as_bytes()) && method_ok {
                    cors.insert("access-control-allow-origin", origin.clone());
                    cors.insert(
                        "access-control-allow-credentials",
                        HeaderValue::from_static("true"),
                    );
                }
            }

            let (mut parts, body) = req.into_parts();
            let ct = content_type(&parts.headers).to_owned();
            let text = ct.starts_with(GRPC_WEB_TEXT);
            let from = if text { GRPC_WEB_TEXT } else { GRPC_WEB };
            if let Ok(v) = HeaderValue::from_str(&ct.replacen(from, GRPC, 1)) {
                parts.headers.insert(CONTENT_TYPE, v);
            }
            // The length of the HTTP/1.1 payload means nothing once it is sent as HTTP/2 frames.
            parts.headers.remove(CONTENT_LENGTH);
            parts
                .headers
                .insert(TE, HeaderValue::from_static("trailers"));
            parts.version = Version::HTTP_2;
            let body = if text {
                Base64Decode {
                    inner: body,
                    pending: Vec::new(),
                }
                .boxed()
            } else {
                body
            };
            let resp = next.run(Request::from_parts(parts, body), ctx).await;
            web_response(resp, cors, text)
        })
    }
}

/// Turns a gRPC answer into a gRPC-Web one.
fn web_response(resp: Response<Body>, cors: HeaderMap, text: bool) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    let upstream = std::mem::take(&mut parts.headers);
    let mut headers = cors;
    for (name, value) in &upstream {
        if name == TRAILER || name == CONTENT_LENGTH {
            continue;
        }
        if name == CONTENT_TYPE {
            let web = if text { GRPC_WEB_TEXT } else { GRPC_WEB };
            let ct = value.to_str().unwrap_or("").replacen(GRPC, web, 1);
            if let Ok(v) = HeaderValue::from_str(&ct) {
                headers.insert(CONTENT_TYPE, v);
            }
            continue;
        }
        headers.remove(name);
    }
    for (name, value) in &upstream {
        if name != TRAILER && name != CONTENT_LENGTH && name != CONTENT_TYPE {
            headers.append(name, value.clone());
        }
    }
    // Browsers only let scripts read the headers named here.
    let mut exposed: Vec<String> = Vec::new();
    for name in headers.keys() {
        let c = canonical(name.as_str());
        if !exposed.contains(&c) {
            exposed.push(c);
        }
    }
    exposed.push("grpc-status".into());
    exposed.push("grpc-message".into());
    if let Ok(v) = HeaderValue::from_str(&exposed.join(", ")) {
        headers.insert("access-control-expose-headers", v);
    }
    let flushed: Vec<HeaderName> = headers.keys().cloned().collect();
    parts.headers = headers;
    let body = WebBody {
        inner: body,
        flushed,
        text,
        done: false,
    };
    Response::from_parts(parts, body.boxed())
}

/// The gRPC-Web trailer frame: flag 0x80, big-endian length, then `key: value\r\n` lines with
/// lower-case keys, sorted (as Go's `Header.Write`), leaving out headers already sent.
fn trailer_frame(trailers: Option<&HeaderMap>, flushed: &[HeaderName]) -> Bytes {
    let mut lines: Vec<(String, &HeaderValue)> = trailers
        .into_iter()
        .flat_map(|t| t.iter())
        .filter(|(k, _)| !flushed.contains(k) && *k != TRAILER)
        .map(|(k, v)| (k.as_str().to_owned(), v))
        .collect();
    lines.sort_by(|a, b| a.0.cmp(&b.0));
    let mut payload = BytesMut::new();
    for (k, v) in lines {
        payload.put_slice(k.as_bytes());
        payload.put_slice(b": ");
        payload.put_slice(v.as_bytes());
        payload.put_slice(b"\r\n");
    }
    let mut frame = BytesMut::with_capacity(5 + payload.len());
    frame.put_u8(0x80);
    frame.put_u32(u32::try_from(payload.len()).unwrap_or(u32::MAX));
    frame.put_slice(&payload);
    frame.freeze()
}

/// The response body: data as is (or base64), then the trailer frame.
struct WebBody {
    inner: Body,
    flushed: Vec<HeaderName>,
    text: bool,
    done: bool,
}

impl WebBody {
    fn out(&self, data: Bytes) -> Bytes {
        if self.text {
            Bytes::from(B64.encode(&data))
        } else {
            data
        }
    }
}

impl HttpBody for WebBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.done {
            return Poll::Ready(None);
        }
        loop {
            return match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) if data.is_empty() => continue,
                    Ok(data) => Poll::Ready(Some(Ok(Frame::data(self.out(data))))),
                    Err(frame) => {
                        self.done = true;
                        let trailers = frame.into_trailers().ok();
                        let t = trailer_frame(trailers.as_ref(), &self.flushed);
                        Poll::Ready(Some(Ok(Frame::data(self.out(t)))))
                    }
                },
                Poll::Ready(None) => {
                    self.done = true;
                    let t = trailer_frame(None, &self.flushed);
                    Poll::Ready(Some(Ok(Frame::data(self.out(t)))))
                }
            };
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// Invalid base64 in a `grpc-web-text` request.
#[derive(Debug, thiserror::Error)]
#[error("invalid base64 in the grpc-web-text request body: {0}")]
struct InvalidBase64(base64::DecodeError);

/// Decodes a base64 request body as it streams: whole 4-character groups are decoded, the rest
/// waits for the next frame; padded groups may appear mid-stream (each client flush pads).
struct Base64Decode {
    inner: Body,
    pending: Vec<u8>,
}

impl HttpBody for Base64Decode {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        loop {
            match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        self.pending
                            .extend(data.iter().filter(|b| !b.is_ascii_whitespace()));
                        let whole = self.pending.len() / 4 * 4;
                        if whole == 0 {
                            continue;
                        }
                        let chunk: Vec<u8> = self.pending.drain(..whole).collect();
                        return Poll::Ready(Some(decode_groups(&chunk).map(Frame::data)));
                    }
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                Poll::Ready(None) => {
                    if self.pending.is_empty() {
                        return Poll::Ready(None);
                    }
                    let rest = std::mem::take(&mut self.pending);
                    return Poll::Ready(Some(decode_groups(&rest).map(Frame::data)));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_empty() && self.inner.is_end_stream()
    }
}

/// Decodes base64 text that may hold several padded segments.
fn decode_groups(text: &[u8]) -> Result<Bytes, BoxError> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    for segment in text.split_inclusive(|&b| b == b'=') {
        // `split_inclusive` leaves the second `=` of `==` as its own piece.
        if segment == b"=" {
            continue;
        }
        let mut seg = segment.to_vec();
        while seg.len() % 4 != 0 && seg.ends_with(b"=") {
            seg.push(b'=');
        }
        B64.decode_vec(&seg, &mut out)
            .map_err(|e| Box::new(InvalidBase64(e)) as BoxError)?;
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    #[test]
    fn trailer_frames_like_grpc_web() {
        let mut t = HeaderMap::new();
        t.insert("grpc-status", "0".parse().unwrap());
        t.insert("grpc-message", "ok".parse().unwrap());
        t.insert("x-sent", "1".parse().unwrap());
        let frame = trailer_frame(Some(&t), &[HeaderName::from_static("x-sent")]);
        let payload = b"grpc-message: ok\r\ngrpc-status: 0\r\n";
        assert_eq!(frame[0], 0x80);
        assert_eq!(&frame[1..5], &(payload.len() as u32).to_be_bytes());
        assert_eq!(&frame[5..], payload);
        assert_eq!(&trailer_frame(None, &[])[..], &[0x80, 0, 0, 0, 0]);
    }

    #[test]
    fn decodes_padded_segments() {
        let a = B64.encode(b"hello");
        let b = B64.encode(b"world!");
        let joined = format!("{a}{b}");
        assert_eq!(
            &decode_groups(joined.as_bytes()).unwrap()[..],
            b"helloworld!"
        );
        assert!(decode_groups(b"!!!!").is_err());
    }

    #[tokio::test]
    async fn streaming_base64_request_body() {
        let text = B64.encode(b"\x00\x00\x00\x00\x05hello");
        let (head, tail) = text.split_at(5);
        let frames: Vec<Result<Frame<Bytes>, BoxError>> = vec![
            Ok(Frame::data(Bytes::from(head.to_owned()))),
            Ok(Frame::data(Bytes::from(tail.to_owned()))),
        ];
        let body = Base64Decode {
            inner: http_body_util::StreamBody::new(futures_util::stream::iter(frames)).boxed(),
            pending: Vec::new(),
        };
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"\x00\x00\x00\x00\x05hello");
    }

    #[test]
    fn preflight_for_allowed_origins_only() {
        let g = GrpcWeb::new(&Config {
            allow_origins: vec!["https://app.example.com".into()],
        })
        .unwrap();
        let req = |origin: &str| {
            Request::builder()
                .method(Method::OPTIONS)
                .header(ORIGIN, origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "x-grpc-web,content-type")
                .body(empty())
                .unwrap()
        };
        let r = g.preflight(&req("https://app.example.com"));
        assert_eq!(r.status(), StatusCode::OK);
        let h = r.headers();
        assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
        assert_eq!(
            h["access-control-allow-headers"],
            "X-Grpc-Web, Content-Type"
        );
        assert_eq!(h["access-control-allow-methods"], "POST");
        assert_eq!(h["access-control-allow-credentials"], "true");
        assert_eq!(h["access-control-max-age"], "600");
        assert_eq!(h.get_all(VARY).iter().count(), 3);
        let r = g.preflight(&req("https://evil.example.com"));
        assert!(!r.headers().contains_key("access-control-allow-origin"));
        assert_eq!(r.headers().get_all(VARY).iter().count(), 3);
    }
}

//! `contentType`: gives a response that has no `Content-Type` one sniffed from the start of its
//! body, with Go's `http.DetectContentType` rules (HTML, XML, PDF, images, audio/video, fonts,
//! archives, `text/plain; charset=utf-8`, else `application/octet-stream`). Traefik v3 does not
//! sniff by default; this middleware turns it back on. It never answers on its own.
//!
//! As in Go, nothing is sniffed for an empty body, a `Content-Encoding`, or a status without a
//! body. The first non-empty chunk of the body is sniffed (Go sniffs its first write): the body
//! still streams, only its first chunk is awaited before the headers go out. `autoDetect: false`
//! (deprecated in Traefik) leaves sniffing off, as it is by default.

use bytes::Bytes;
use futures_util::StreamExt;
use http::header::{HeaderValue, CONTENT_ENCODING, CONTENT_TYPE};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, BodyStream, StreamBody};
use hyper::body::Frame;
use switchyard_model::config::dynamic::ContentType as Config;

use super::{BoxFuture, Middleware, Next};
use crate::http::body::{Body, BoxError};
use crate::http::service::RequestCtx;

#[derive(Debug)]
pub struct ContentType {
    sniff: bool,
}

impl ContentType {
    pub fn new(cfg: &Config) -> Result<Self, String> {
        if cfg.auto_detect.is_some() {
            tracing::warn!(
                "contentType.autoDetect is deprecated: the contentType middleware only turns \
                 Content-Type detection on; remove the option"
            );
        }
        Ok(Self {
            sniff: cfg.auto_detect.unwrap_or(true),
        })
    }
}

impl Middleware for ContentType {
    fn call<'a>(
        &'a self,
        req: Request<Body>,
        ctx: &'a RequestCtx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Response<Body>> {
        Box::pin(async move {
            let resp = next.run(req, ctx).await;
            if !self.sniff || !wants_sniffing(&resp) {
                return resp;
            }
            sniff_response(resp).await
        })
    }
}

fn wants_sniffing(resp: &Response<Body>) -> bool {
    let status = resp.status();
    let has_body = !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED);
    let encoded = resp
        .headers()
        .get(CONTENT_ENCODING)
        .is_some_and(|v| !v.is_empty());
    has_body && !encoded && !resp.headers().contains_key(CONTENT_TYPE)
}

/// Waits for the first non-empty data frame, sets the sniffed type, and puts the frames read so
/// far back in front of the rest of the body.
async fn sniff_response(resp: Response<Body>) -> Response<Body> {
    let (mut parts, mut body) = resp.into_parts();
    let mut read: Vec<Result<Frame<Bytes>, BoxError>> = Vec::new();
    let mut ended = true;
    let mut first_data: Option<Bytes> = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                let data = frame.data_ref().filter(|d| !d.is_empty()).cloned();
                let trailers = frame.is_trailers();
                read.push(Ok(frame));
                if data.is_some() || trailers {
                    first_data = data;
                    ended = false;
                    break;
                }
            }
            Err(e) => {
                read.push(Err(e));
                break;
            }
        }
    }
    if let Some(data) = &first_data {
        parts
            .headers
            .insert(CONTENT_TYPE, HeaderValue::from_static(detect(data)));
    }
    let head = futures_util::stream::iter(read);
    let body = if ended {
        BodyExt::boxed(StreamBody::new(head))
    } else {
        BodyExt::boxed(StreamBody::new(head.chain(BodyStream::new(body))))
    };
    Response::from_parts(parts, body)
}

const SNIFF_LEN: usize = 512;

/// Go's `http.DetectContentType` (net/http/sniff.go, the WHATWG MIME sniffing rules).
pub fn detect(data: &[u8]) -> &'static str {
    let data = &data[..data.len().min(SNIFF_LEN)];
    let first_non_ws = data
        .iter()
        .position(|b| !matches!(b, b'\t' | b'\n' | 0x0c | b'\r' | b' '))
        .unwrap_or(data.len());
    let text = &data[first_non_ws..];
    for tag in HTML_TAGS {
        if html_tag(text, tag) {
            return "text/html; charset=utf-8";
        }
    }
    if text.starts_with(b"<?xml") {
        return "text/xml; charset=utf-8";
    }
    for (prefix, ct) in EXACT_BEFORE_MEDIA {
        if data.starts_with(prefix) {
            return ct;
        }
    }
    if data.len() >= 4 && data[..2] == *b"\xFE\xFF" {
        return "text/plain; charset=utf-16be";
    }
    if data.len() >= 4 && data[..2] == *b"\xFF\xFE" {
        return "text/plain; charset=utf-16le";
    }
    for (prefix, ct) in EXACT_IMAGES {
        if data.starts_with(prefix) {
            return ct;
        }
    }
    for (pattern, ct) in MASKED_MEDIA {
        if masked(data, pattern) {
            return ct;
        }
    }
    if is_mp4(data) {
        return "video/mp4";
    }
    if data.starts_with(b"\x1A\x45\xDF\xA3") {
        return "video/webm";
    }
    if data.len() >= 36 && data[34..36] == *b"LP" {
        return "application/vnd.ms-fontobject";
    }
    for (prefix, ct) in EXACT_FONTS_ARCHIVES {
        if data.starts_with(prefix) {
            return ct;
        }
    }
    let binary = text
        .iter()
        .any(|b| matches!(b, 0x00..=0x08 | 0x0B | 0x0E..=0x1A | 0x1C..=0x1F));
    if binary {
        "application/octet-stream"
    } else {
        "text/plain; charset=utf-8"
    }
}

const HTML_TAGS: [&[u8]; 17] = [
    b"<!DOCTYPE HTML",
    b"<HTML",
    b"<HEAD",
    b"<SCRIPT",
    b"<IFRAME",
    b"<H1",
    b"<DIV",
    b"<FONT",
    b"<TABLE",
    b"<A",
    b"<STYLE",
    b"<TITLE",
    b"<B",
    b"<BODY",
    b"<BR",
    b"<P",
    b"<!--",
];

/// The tag (letters case-insensitive) followed by a space or `>`.
fn html_tag(data: &[u8], tag: &[u8]) -> bool {
    if data.len() < tag.len() + 1 {
        return false;
    }
    let same = tag.iter().zip(data).all(|(t, d)| {
        let d = if t.is_ascii_uppercase() { d & 0xDF } else { *d };
        *t == d
    });
    same && matches!(data[tag.len()], b' ' | b'>')
}

const EXACT_BEFORE_MEDIA: [(&[u8], &str); 3] = [
    (b"%PDF-", "application/pdf"),
    (b"%!PS-Adobe-", "application/postscript"),
    (b"\xEF\xBB\xBF", "text/plain; charset=utf-8"),
];

const EXACT_IMAGES: [(&[u8], &str); 7] = [
    (b"\x00\x00\x01\x00", "image/x-icon"),
    (b"\x00\x00\x02\x00", "image/x-icon"),
    (b"BM", "image/bmp"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"\x89PNG\x0D\x0A\x1A\x0A", "image/png"),
    (b"\xFF\xD8\xFF", "image/jpeg"),
];

/// Patterns where `?` matches any byte.
const MASKED_MEDIA: [(&[u8], &str); 8] = [
    (b"RIFF????WEBPVP", "image/webp"),
    (b".snd", "audio/basic"),
    (b"FORM????AIFF", "audio/aiff"),
    (b"ID3", "audio/mpeg"),
    (b"OggS\x00", "application/ogg"),
    (b"MThd\x00\x00\x00\x06", "audio/midi"),
    (b"RIFF????AVI ", "video/avi"),
    (b"RIFF????WAVE", "audio/wave"),
];

const EXACT_FONTS_ARCHIVES: [(&[u8], &str); 10] = [
    (b"\x00\x01\x00\x00", "font/ttf"),
    (b"OTTO", "font/otf"),
    (b"ttcf", "font/collection"),
    (b"wOFF", "font/woff"),
    (b"wOF2", "font/woff2"),
    (b"\x1F\x8B\x08", "application/x-gzip"),
    (b"PK\x03\x04", "application/zip"),
    (b"Rar!\x1A\x07\x00", "application/x-rar-compressed"),
    (b"Rar!\x1A\x07\x01\x00", "application/x-rar-compressed"),
    (b"\x00\x61\x73\x6D", "application/wasm"),
];

fn masked(data: &[u8], pattern: &[u8]) -> bool {
    data.len() >= pattern.len() && pattern.iter().zip(data).all(|(p, d)| *p == b'?' || p == d)
}

/// The WHATWG mp4 signature: an `ftyp` box naming an `mp4` brand.
fn is_mp4(data: &[u8]) -> bool {
    if data.len() < 12 {
        return false;
    }
    let box_size = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
    if data.len() < box_size || box_size & 3 != 0 || data[4..8] != *b"ftyp" {
        return false;
    }
    (8..box_size)
        .step_by(4)
        .filter(|st| *st != 12)
        .any(|st| data.get(st..st + 3) == Some(b"mp4"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[test]
    fn detects_like_go() {
        let table: &[(&[u8], &str)] = &[
            (b"", "text/plain; charset=utf-8"),
            (
                b"  <html><body>hi</body></html>",
                "text/html; charset=utf-8",
            ),
            (b"<!DOCTYPE html>", "text/html; charset=utf-8"),
            (b"<htmlx>", "text/plain; charset=utf-8"),
            (b"<p>x</p>", "text/html; charset=utf-8"),
            (b"<!-- c -->", "text/html; charset=utf-8"),
            (b"\n<?xml version=\"1.0\"?>", "text/xml; charset=utf-8"),
            (b"{\"a\": 1}", "text/plain; charset=utf-8"),
            (b"hello", "text/plain; charset=utf-8"),
            (b"%PDF-1.4", "application/pdf"),
            (b"\x89PNG\r\n\x1a\n\0\0\0", "image/png"),
            (b"\xFF\xD8\xFF\xE0", "image/jpeg"),
            (b"GIF89a....", "image/gif"),
            (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
            (b"RIFF\x10\x00\x00\x00WAVEfmt ", "audio/wave"),
            (b"ID3\x03", "audio/mpeg"),
            (b"\x1F\x8B\x08\x00", "application/x-gzip"),
            (b"PK\x03\x04", "application/zip"),
            (b"\x00asm\x01\x00\x00\x00", "application/wasm"),
            (b"wOF2", "font/woff2"),
            (b"\xFE\xFF\x00\x41", "text/plain; charset=utf-16be"),
            (b"\xEF\xBB\xBFhi", "text/plain; charset=utf-8"),
            (b"\x00\x01\x02\xff", "application/octet-stream"),
            (
                b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom",
                "video/mp4",
            ),
        ];
        for (data, want) in table {
            assert_eq!(detect(data), *want, "{:?}", String::from_utf8_lossy(data));
        }
    }

    fn response(ct: Option<&str>, chunks: Vec<&'static [u8]>) -> Response<Body> {
        let frames: Vec<Result<Frame<Bytes>, BoxError>> = chunks
            .into_iter()
            .map(|c| Ok(Frame::data(Bytes::from_static(c))))
            .collect();
        let mut resp = Response::new(BodyExt::boxed(StreamBody::new(futures_util::stream::iter(
            frames,
        ))));
        if let Some(ct) = ct {
            resp.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        }
        resp
    }

    #[tokio::test]
    async fn sniffs_the_first_chunk_and_keeps_the_body() {
        let resp = response(None, vec![b"", b"<html>", b" rest"]);
        assert!(wants_sniffing(&resp));
        let resp = sniff_response(resp).await;
        assert_eq!(resp.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "<html> rest");
    }

    #[tokio::test]
    async fn empty_bodies_and_typed_responses_are_left_alone() {
        let resp = sniff_response(response(None, vec![])).await;
        assert!(resp.headers().get(CONTENT_TYPE).is_none());
        assert!(!wants_sniffing(&response(Some("x/y"), vec![b"hi"])));
        let mut encoded = response(None, vec![b"hi"]);
        encoded
            .headers_mut()
            .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        assert!(!wants_sniffing(&encoded));
        let mut no_content = response(None, vec![]);
        *no_content.status_mut() = StatusCode::NO_CONTENT;
        assert!(!wants_sniffing(&no_content));
    }
}

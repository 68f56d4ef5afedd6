//! `compress`: compresses response bodies with gzip, brotli or zstd, as the client's
//! `Accept-Encoding` and the server's `encodings` preference decide. It never answers on its own.
//!
//! Like Traefik 3.7: `HEAD` requests, gRPC requests (and requests whose `Content-Type` is
//! excluded) pass untouched; a response is compressed unless it already has a `Content-Encoding`,
//! is `application/grpc`, is excluded (or not included) by its media type, or is smaller than
//! `minResponseBodyBytes` (1024). `Vary: Accept-Encoding` is added whenever a coding was chosen.
//! A response without `Content-Length` is buffered up to the minimum size; if the upstream pauses
//! before that, compression starts anyway so that streams are not held back.

mod encoder;
mod negotiate;

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use http::header::{HeaderValue, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, VARY};
use http::{Method, Request, Response};
use http_body_util::BodyExt;
use switchyard_model::config::dynamic::Compress as Config;

use super::replay::{self, BufferedBody};
use super::{BoxFuture, Middleware, Next};
use crate::http::body::Body;
use crate::http::service::RequestCtx;
use encoder::CompressedBody;
pub use negotiate::Encoding;
use negotiate::{choose, first_line_accepts_gzip, media_type, Choice};

const DEFAULT_MIN_SIZE: usize = 1024;
const GRPC: &str = "application/grpc";

#[derive(Debug)]
pub struct Compress {
    /// Server preference, best first.
    encodings: Vec<Encoding>,
    default: Option<Encoding>,
    /// Lowercased media types.
    excluded: Vec<String>,
    included: Vec<String>,
    min_size: usize,
}

impl Compress {
    pub fn new(cfg: &Config) -> Result<Self, String> {
        if !cfg.excluded_content_types.is_empty() && !cfg.included_content_types.is_empty() {
            return Err("compress: excludedContentTypes and includedContentTypes options are mutually exclusive".into());
        }
        let media_types = |option: &str, kind: &str, list: &[String]| {
            list.iter()
                .enumerate()
                .map(|(i, v)| {
                    media_type(v).map_err(|e| {
                        format!("compress.{option}[{i}] {v:?}: parsing {kind} media type: {e}")
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let excluded = media_types(
            "excludedContentTypes",
            "excluded",
            &cfg.excluded_content_types,
        )?;
        let included = media_types(
            "includedContentTypes",
            "included",
            &cfg.included_content_types,
        )?;
        let encodings = if cfg.encodings.is_empty() {
            vec![Encoding::Gzip, Encoding::Brotli, Encoding::Zstd]
        } else {
            cfg.encodings
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    Encoding::parse(e.trim()).ok_or_else(|| {
                        format!("compress.encodings[{i}]: unsupported encoding: {e}")
                    })
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        let default = match cfg.default_encoding.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(d) => Some(
                Encoding::parse(d)
                    .filter(|e| encodings.contains(e))
                    .ok_or_else(|| {
                        format!("compress.defaultEncoding: unsupported default encoding: {d} (it must be one of encodings)")
                    })?,
            ),
        };
        let min_size = match cfg.min_response_body_bytes {
            Some(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
            _ => DEFAULT_MIN_SIZE,
        };
        Ok(Self {
            encodings,
            default,
            excluded,
            included,
            min_size,
        })
    }

    /// Whether a response of this media type may be compressed (`None`: no or unparsable
    /// `Content-Type`, decided by the caller).
    fn compressible(&self, media: &str) -> bool {
        media != GRPC
            && (self.included.is_empty() || self.included.iter().any(|m| m == media))
            && !self.excluded.iter().any(|m| m == media)
    }

    async fn respond(
        &self,
        mut resp: Response<Body>,
        encoding: Encoding,
        gzip_ok: bool,
    ) -> Response<Body> {
        if resp.status().is_informational() {
            return resp;
        }
        let headers = resp.headers_mut();
        headers.append(VARY, HeaderValue::from_static("Accept-Encoding"));
        if !gzip_ok || headers.get(CONTENT_ENCODING).is_some_and(|v| !v.is_empty()) {
            return resp;
        }
        if let Some(ct) = headers.get(CONTENT_TYPE) {
            match ct.to_str().map_err(|_| "").and_then(media_type) {
                Ok(media) if !self.compressible(&media) => return resp,
                // Traefik's gzip handler compresses what it cannot parse; brotli and zstd don't.
                Err(_) if encoding != Encoding::Gzip => return resp,
                _ => {}
            }
        }
        let length = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .or_else(|| hyper::body::Body::size_hint(resp.body()).exact());
        let (mut parts, mut body) = resp.into_parts();
        let (head, trailers) = match length {
            Some(len) if len < self.min_size as u64 => return Response::from_parts(parts, body),
            Some(_) => (Bytes::new(), None),
            None => {
                // Unknown length: read up to the minimum size to decide.
                let mut buf = BytesMut::new();
                let mut trailers = None;
                let mut frame = body.frame().await;
                loop {
                    match frame {
                        None => {
                            let whole = BufferedBody {
                                data: buf.freeze(),
                                trailers,
                            };
                            return Response::from_parts(parts, whole.body());
                        }
                        Some(Err(e)) => {
                            let failed =
                                http_body_util::StreamBody::new(futures_util::stream::iter([
                                    Err::<hyper::body::Frame<Bytes>, _>(e),
                                ]));
                            return Response::from_parts(
                                parts,
                                replay::prepend(buf.freeze(), failed.boxed()),
                            );
                        }
                        Some(Ok(f)) => match f.into_data() {
                            Ok(data) => buf.extend_from_slice(&data),
                            Err(f) => {
                                if let Ok(t) = f.into_trailers() {
                                    trailers = Some(t);
                                }
                            }
                        },
                    }
                    if buf.len() >= self.min_size {
                        break;
                    }
                    frame = match body.frame().now_or_never() {
                        Some(f) => f,
                        // The upstream paused: a stream; start compressing so it can flow.
                        None if !buf.is_empty() => break,
                        None => body.frame().await,
                    };
                }
                (buf.freeze(), trailers)
            }
        };
        parts.headers.remove(CONTENT_LENGTH);
        parts
            .headers
            .insert(CONTENT_ENCODING, HeaderValue::from_static(encoding.name()));
        let compressed = CompressedBody::new(encoding, head, trailers, body);
        Response::from_parts(parts, compressed.boxed())
    }
}

impl Middleware for Compress {
    fn call<'a>(
        &'a self,
        req: Request<Body>,
        ctx: &'a RequestCtx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Response<Body>> {
        Box::pin(async move {
            if req.method() == Method::HEAD {
                return next.run(req, ctx).await;
            }
            if let Some(media) = req
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| media_type(v).ok())
            {
                if media == GRPC || self.excluded.contains(&media) {
                    return next.run(req, ctx).await;
                }
            }
            let Choice::Encode(encoding) = choose(req.headers(), &self.encodings, self.default)
            else {
                return next.run(req, ctx).await;
            };
            let gzip_ok = encoding != Encoding::Gzip || first_line_accepts_gzip(req.headers());
            let resp = next.run(req, ctx).await;
            self.respond(resp, encoding, gzip_ok).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(cfg: Config) -> String {
        Compress::new(&cfg).unwrap_err()
    }

    #[test]
    fn validation_matches_traefik() {
        let e = err(Config {
            excluded_content_types: vec!["text/html".into()],
            included_content_types: vec!["text/plain".into()],
            ..Default::default()
        });
        assert!(e.contains("mutually exclusive"), "{e}");
        let e = err(Config {
            excluded_content_types: vec!["text/html;;".into()],
            ..Default::default()
        });
        assert!(e.contains("compress.excludedContentTypes[0]"), "{e}");
        assert!(e.contains("mime: invalid media parameter"), "{e}");
        let e = err(Config {
            encodings: vec!["deflate".into()],
            ..Default::default()
        });
        assert!(e.contains("unsupported encoding: deflate"), "{e}");
        for d in ["br", "identity"] {
            let e = err(Config {
                encodings: vec!["gzip".into()],
                default_encoding: Some(d.into()),
                ..Default::default()
            });
            assert!(e.contains("compress.defaultEncoding"), "{e}");
        }
    }

    #[test]
    fn defaults() {
        let c = Compress::new(&Config::default()).unwrap();
        assert_eq!(
            c.encodings,
            [Encoding::Gzip, Encoding::Brotli, Encoding::Zstd]
        );
        assert_eq!(c.min_size, 1024);
        assert_eq!(c.default, None);
        let c = Compress::new(&Config {
            min_response_body_bytes: Some(-5),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.min_size, 1024);
    }

    #[test]
    fn media_type_filters() {
        let c = Compress::new(&Config {
            included_content_types: vec!["application/json; charset=utf-8".into()],
            ..Default::default()
        })
        .unwrap();
        assert!(c.compressible("application/json"));
        assert!(!c.compressible("text/plain"));
        assert!(!c.compressible("application/grpc"));
        let c = Compress::new(&Config {
            excluded_content_types: vec!["Text/HTML".into()],
            ..Default::default()
        })
        .unwrap();
        assert!(!c.compressible("text/html"));
        assert!(c.compressible("text/plain"));
    }

    fn response(headers: &[(&str, &str)], body: Body) -> Response<Body> {
        let mut r = Response::new(body);
        for (k, v) in headers {
            r.headers_mut().append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        r
    }

    fn chunked(parts: Vec<&'static str>) -> Body {
        let frames = parts.into_iter().map(|p| {
            Ok::<_, crate::http::body::BoxError>(hyper::body::Frame::data(Bytes::from(p)))
        });
        http_body_util::StreamBody::new(futures_util::stream::iter(frames)).boxed()
    }

    const BIG: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    async fn run(
        c: &Compress,
        resp: Response<Body>,
        encoding: Encoding,
    ) -> (Response<()>, Vec<u8>) {
        let resp = c.respond(resp, encoding, true).await;
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes().to_vec();
        (Response::from_parts(parts, ()), bytes)
    }

    #[tokio::test]
    async fn response_decisions() {
        let c = Compress::new(&Config {
            excluded_content_types: vec!["image/png".into()],
            ..Default::default()
        })
        .unwrap();
        let big = BIG.repeat(32);
        let full = |s: &str| crate::http::body::full(s.to_owned());

        // Known length at or over the minimum: compressed at once, Content-Length dropped.
        let (r, body) = run(
            &c,
            response(&[("content-length", "2048")], full(&big)),
            Encoding::Zstd,
        )
        .await;
        assert_eq!(r.headers()[CONTENT_ENCODING], "zstd");
        assert_eq!(r.headers()[VARY], "Accept-Encoding");
        assert!(!r.headers().contains_key(CONTENT_LENGTH));
        assert_eq!(
            encoder::tests::decode(Encoding::Zstd, &body).await,
            big.as_bytes()
        );

        // Too small, already encoded, gRPC, excluded: untouched but for Vary.
        for (headers, text) in [
            (vec![("content-length", "10")], "0123456789"),
            (vec![("content-encoding", "foo")], big.as_str()),
            (vec![("content-type", "application/grpc")], big.as_str()),
            (vec![("content-type", "image/png")], big.as_str()),
            (vec![("content-type", "a;;b")], big.as_str()),
        ] {
            let (r, body) = run(&c, response(&headers, full(text)), Encoding::Brotli).await;
            assert_ne!(
                r.headers().get(CONTENT_ENCODING).map(|v| v.as_bytes()),
                Some(&b"br"[..]),
                "{headers:?}"
            );
            assert_eq!(r.headers()[VARY], "Accept-Encoding");
            assert_eq!(body, text.as_bytes());
        }
        // Traefik's gzip handler compresses an unparsable Content-Type.
        let (r, _) = run(
            &c,
            response(&[("content-type", "a;;b")], full(&big)),
            Encoding::Gzip,
        )
        .await;
        assert_eq!(r.headers()[CONTENT_ENCODING], "gzip");

        // Unknown length: a small stream stays as it is (with its exact length)...
        let (r, body) = run(&c, response(&[], chunked(vec!["ab", "cd"])), Encoding::Gzip).await;
        assert!(!r.headers().contains_key(CONTENT_ENCODING));
        assert_eq!(body, b"abcd");
        // ...a larger one is compressed once the minimum is reached.
        let parts: Vec<&'static str> = std::iter::repeat_n(BIG, 32).collect();
        let (r, body) = run(&c, response(&[], chunked(parts)), Encoding::Gzip).await;
        assert_eq!(r.headers()[CONTENT_ENCODING], "gzip");
        assert_eq!(
            encoder::tests::decode(Encoding::Gzip, &body).await,
            big.as_bytes()
        );
        // A coding chosen for `*` that the gzip handler would refuse: only Vary.
        let resp = c
            .respond(response(&[], full(&big)), Encoding::Gzip, false)
            .await;
        assert!(!resp.headers().contains_key(CONTENT_ENCODING));
        assert_eq!(resp.headers()[VARY], "Accept-Encoding");
    }

    #[tokio::test]
    async fn a_paused_stream_is_compressed_and_flushed() {
        let c = Compress::new(&Config::default()).unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel::<
            Result<hyper::body::Frame<Bytes>, crate::http::body::BoxError>,
        >(4);
        tx.try_send(Ok(hyper::body::Frame::data(Bytes::from_static(
            b"data: first\n\n",
        ))))
        .unwrap();
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        let body = http_body_util::StreamBody::new(stream).boxed();
        let resp = c
            .respond(
                response(&[("content-type", "text/event-stream")], body),
                Encoding::Gzip,
                true,
            )
            .await;
        assert_eq!(resp.headers()[CONTENT_ENCODING], "gzip");
        let mut body = resp.into_body();
        // The first event is readable while the upstream is still open.
        let mut got = Vec::new();
        while let Some(frame) =
            tokio::time::timeout(std::time::Duration::from_secs(1), body.frame())
                .await
                .expect("the first event must be flushed")
        {
            got.extend_from_slice(&frame.unwrap().into_data().unwrap());
            let mut dec = async_compression::codecs::GzipDecoder::new();
            let mut input = async_compression::core::util::PartialBuffer::new(&got[..]);
            let mut out = async_compression::core::util::PartialBuffer::new(vec![0u8; 256]);
            use async_compression::codecs::Decode;
            let _ = dec.decode(&mut input, &mut out);
            if out.written() == b"data: first\n\n" {
                return;
            }
        }
        panic!("stream ended");
    }
}

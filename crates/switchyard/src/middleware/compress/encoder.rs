//! The compressing response body: encodes each data frame as it arrives and flushes the encoder
//! whenever the upstream body has nothing more ready (so streamed responses such as server-sent
//! events reach the client without waiting for more data), then finishes the stream and passes
//! the trailers on.

use std::pin::Pin;
use std::task::{Context, Poll};

use async_compression::codecs::{BrotliEncoder, EncodeV2, GzipEncoder, ZstdEncoder};
use async_compression::core::util::{PartialBuffer, WriteBuffer};
use async_compression::Level;
use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use hyper::body::{Body as HttpBody, Frame, SizeHint};

use super::negotiate::Encoding;
use crate::http::body::{Body, BoxError};

/// Output is produced in pieces of this size.
const SCRATCH: usize = 16 * 1024;

/// A codec, boxed so one body type serves all three.
type Codec = Box<dyn EncodeV2 + Send + Sync>;

/// The codec with Traefik's levels: gzip 6 (Go's default), brotli 6, zstd 3 (default).
fn codec(encoding: Encoding) -> Codec {
    match encoding {
        Encoding::Gzip => Box::new(GzipEncoder::new(Level::Default.into())),
        Encoding::Brotli => Box::new(BrotliEncoder::new(
            async_compression::brotli::EncoderParams::default().quality(Level::Precise(6)),
        )),
        Encoding::Zstd => Box::new(ZstdEncoder::new(
            async_compression::zstd::CParameter::quality(Level::Default),
        )),
    }
}

pub(super) struct CompressedBody {
    inner: Body,
    codec: Codec,
    scratch: Box<[u8]>,
    /// Input given to the codec since its last flush.
    unflushed: bool,
    /// Already compressed output waiting to be sent.
    ready: BytesMut,
    /// Bytes read before compression was decided, encoded on the first poll.
    head: Option<Bytes>,
    trailers: Option<HeaderMap>,
    finished: bool,
}

impl CompressedBody {
    /// Compresses `head` (bytes already read from `inner`) followed by the rest of `inner`;
    /// `trailers` were already read from `inner` too.
    pub(super) fn new(
        encoding: Encoding,
        head: Bytes,
        trailers: Option<HeaderMap>,
        inner: Body,
    ) -> Self {
        Self {
            inner,
            codec: codec(encoding),
            scratch: vec![0u8; SCRATCH].into_boxed_slice(),
            unflushed: false,
            ready: BytesMut::new(),
            head: Some(head).filter(|h| !h.is_empty()),
            trailers,
            finished: false,
        }
    }

    fn encode(&mut self, data: &[u8]) -> std::io::Result<()> {
        let mut input = PartialBuffer::new(data);
        while !input.unwritten().is_empty() {
            let mut out = WriteBuffer::new_initialized(&mut self.scratch);
            self.codec.encode(&mut input, &mut out)?;
            self.ready.extend_from_slice(out.written());
        }
        self.unflushed = true;
        Ok(())
    }

    /// Runs `flush` (or `finish`) until the codec says it is done.
    fn drain(&mut self, finish: bool) -> std::io::Result<()> {
        let mut idle_rounds = 0;
        loop {
            let mut out = WriteBuffer::new_initialized(&mut self.scratch);
            let done = if finish {
                self.codec.finish(&mut out)?
            } else {
                self.codec.flush(&mut out)?
            };
            let written = out.written_len();
            self.ready.extend_from_slice(out.written());
            if done {
                self.unflushed = false;
                return Ok(());
            }
            // A codec that neither finishes nor writes would spin forever.
            idle_rounds = if written == 0 { idle_rounds + 1 } else { 0 };
            if idle_rounds > 8 {
                return Err(std::io::Error::other("compressor made no progress"));
            }
        }
    }

    fn take_ready(&mut self) -> Option<Frame<Bytes>> {
        (!self.ready.is_empty()).then(|| Frame::data(self.ready.split().freeze()))
    }
}

impl HttpBody for CompressedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some(head) = this.head.take() {
            if let Err(e) = this.encode(&head) {
                return Poll::Ready(Some(Err(e.into())));
            }
        }
        loop {
            if this.finished {
                if let Some(frame) = this.take_ready() {
                    return Poll::Ready(Some(Ok(frame)));
                }
                return Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(t))));
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        if let Err(e) = this.encode(&data) {
                            return Poll::Ready(Some(Err(e.into())));
                        }
                        // Keep reading while data flows: bigger frames compress better.
                    }
                    Err(frame) => {
                        if let Ok(t) = frame.into_trailers() {
                            this.trailers.get_or_insert_with(HeaderMap::new).extend(t);
                        }
                    }
                },
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => {
                    if let Err(e) = this.drain(true) {
                        return Poll::Ready(Some(Err(e.into())));
                    }
                    this.finished = true;
                }
                Poll::Pending => {
                    // Nothing more right now: flush what was encoded so the client sees it.
                    if this.unflushed {
                        if let Err(e) = this.drain(false) {
                            return Poll::Ready(Some(Err(e.into())));
                        }
                    }
                    return match this.take_ready() {
                        Some(frame) => Poll::Ready(Some(Ok(frame))),
                        None => Poll::Pending,
                    };
                }
            }
            if this.ready.len() >= SCRATCH {
                if let Some(frame) = this.take_ready() {
                    return Poll::Ready(Some(Ok(frame)));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finished && self.ready.is_empty() && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn roundtrip(encoding: Encoding) -> Vec<u8> {
        let text = "hello world ".repeat(500);
        let body = CompressedBody::new(
            encoding,
            Bytes::from_static(b"head "),
            None,
            crate::http::body::full(text),
        );
        body.collect().await.unwrap().to_bytes().to_vec()
    }

    /// Decompresses with async-compression's own decoders.
    pub(crate) async fn decode(encoding: Encoding, data: &[u8]) -> Vec<u8> {
        use async_compression::tokio::bufread::{BrotliDecoder, GzipDecoder, ZstdDecoder};
        use tokio::io::AsyncReadExt;
        let mut out = Vec::new();
        match encoding {
            Encoding::Gzip => GzipDecoder::new(data).read_to_end(&mut out).await,
            Encoding::Brotli => BrotliDecoder::new(data).read_to_end(&mut out).await,
            Encoding::Zstd => ZstdDecoder::new(data).read_to_end(&mut out).await,
        }
        .unwrap();
        out
    }

    #[tokio::test]
    async fn produces_valid_streams() {
        let want = format!("head {}", "hello world ".repeat(500));
        for encoding in [Encoding::Gzip, Encoding::Brotli, Encoding::Zstd] {
            let data = roundtrip(encoding).await;
            assert!(data.len() < want.len() / 10, "{encoding:?} compresses");
            assert_eq!(
                decode(encoding, &data).await,
                want.as_bytes(),
                "{encoding:?}"
            );
        }
    }
}

//! An HTTP/3 request body as an `http_body::Body`: DATA frames stream as they arrive, trailers
//! (a trailing HEADERS frame) follow them. Flow control comes from QUIC: nothing is read ahead
//! of what the consumer (the upstream request) polls.

use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use h3::server::RequestStream;
use http::header::CONTENT_LENGTH;
use http::{HeaderMap, Method};
use hyper::body::{Body, Frame, SizeHint};

use crate::http::body::BoxError;

type RecvStream = RequestStream<h3_quinn::RecvStream, Bytes>;

/// The receiving half of a request stream, read as a body.
///
/// A body dropped before its end (a response that did not need it) is not stopped with
/// `H3_NO_ERROR` here: h3-quinn's `stop_sending` panics while a read is in flight, which cannot be
/// told from outside. quinn then sends STOP_SENDING with code 0 itself.
pub(super) struct RecvBody {
    stream: RecvStream,
    /// A frame read ahead while finding out whether the body is empty.
    first: Option<Frame<Bytes>>,
    state: Phase,
    /// `Content-Length`, when the client sent one.
    length: Option<u64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Data,
    Trailers,
    Done,
}

impl RecvBody {
    /// Wraps `stream`; `first` is what [`peek`] read, `length` the request's `Content-Length`.
    pub(super) fn new(stream: RecvStream, first: Peeked, length: Option<u64>) -> Self {
        let (first, state) = match first {
            Peeked::Chunk(b) => (Some(Frame::data(b)), Phase::Data),
            Peeked::Pending => (None, Phase::Data),
            Peeked::Trailers(t) => (Some(Frame::trailers(t)), Phase::Done),
            Peeked::TrailersPending => (None, Phase::Trailers),
            Peeked::Empty => (None, Phase::Done),
        };
        Self {
            stream,
            first,
            state,
            length,
        }
    }
}

/// What the request stream held right after the headers.
pub(super) enum Peeked {
    /// The first piece of the body.
    Chunk(Bytes),
    /// Nothing yet: the body (if any) is still on its way.
    Pending,
    /// No data, only trailers.
    Trailers(HeaderMap),
    /// No data; trailers may still come.
    TrailersPending,
    /// The stream ended with the headers: no body.
    Empty,
}

/// Looks at what follows the headers, waiting at most `wait`, so that a request without a body
/// is forwarded without one (no `Transfer-Encoding: chunked` on a GET).
pub(super) async fn peek(
    stream: &mut RecvStream,
    wait: Duration,
) -> Result<Peeked, h3::error::StreamError> {
    let probe = std::future::poll_fn(|cx| {
        Poll::Ready(match ready!(stream.poll_recv_data(cx)) {
            Ok(Some(mut buf)) => Ok(Peeked::Chunk(buf.copy_to_bytes(buf.remaining()))),
            Ok(None) => match stream.poll_recv_trailers(cx) {
                Poll::Pending => Ok(Peeked::TrailersPending),
                Poll::Ready(Ok(Some(t))) => Ok(Peeked::Trailers(t)),
                Poll::Ready(Ok(None)) => Ok(Peeked::Empty),
                Poll::Ready(Err(e)) => Err(e),
            },
            Err(e) => Err(e),
        })
    });
    // A timeout polls its future first: with no wait this is a plain look.
    tokio::time::timeout(wait, probe)
        .await
        .unwrap_or(Ok(Peeked::Pending))
}

/// How long to wait for the end of a request whose method usually has no body and that has no
/// `Content-Length` (Go's transport probes such bodies for 200 ms). Browsers end the stream with
/// the headers, so this wait only applies to unusual clients.
pub(super) fn peek_wait(method: &Method, headers: &HeaderMap) -> Duration {
    let usually_bodiless = matches!(
        method.as_str(),
        "GET" | "HEAD" | "DELETE" | "OPTIONS" | "PROPFIND" | "SEARCH"
    );
    if usually_bodiless && !headers.contains_key(CONTENT_LENGTH) {
        Duration::from_millis(200)
    } else {
        Duration::ZERO
    }
}

impl Body for RecvBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some(first) = this.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        loop {
            match this.state {
                Phase::Data => match ready!(this.stream.poll_recv_data(cx)) {
                    Ok(Some(mut buf)) => {
                        let bytes = buf.copy_to_bytes(buf.remaining());
                        if bytes.is_empty() {
                            continue;
                        }
                        return Poll::Ready(Some(Ok(Frame::data(bytes))));
                    }
                    Ok(None) => this.state = Phase::Trailers,
                    Err(e) => {
                        this.state = Phase::Done;
                        return Poll::Ready(Some(Err(Box::new(e))));
                    }
                },
                Phase::Trailers => {
                    let trailers = ready!(this.stream.poll_recv_trailers(cx));
                    this.state = Phase::Done;
                    return Poll::Ready(match trailers {
                        Ok(Some(t)) => Some(Ok(Frame::trailers(t))),
                        Ok(None) => None,
                        Err(e) => Some(Err(Box::new(e))),
                    });
                }
                Phase::Done => return Poll::Ready(None),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.state == Phase::Done && self.first.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match self.length {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

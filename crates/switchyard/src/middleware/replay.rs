//! Request bodies that can be sent more than once, for the middlewares that call `next` again
//! (`retry`, `buffering`). A body is either read into memory up to a limit ([`read_limited`]) and
//! replayed from there, or handed out lazily ([`DeferredBody`]): each attempt gets a handle that
//! takes the real body on its first poll, so an attempt that failed before sending anything (a
//! refused connection) leaves the body for the next one.
//!
//! Errors of the client's body pass through unchanged, so the proxy still blames the client.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body_util::BodyExt;
use hyper::body::{Body as HttpBody, Frame, SizeHint};

use crate::http::body::{full, Body, BoxError};

/// A body read completely into memory, with its trailers.
#[derive(Debug, Clone, Default)]
pub struct BufferedBody {
    pub data: Bytes,
    pub trailers: Option<HeaderMap>,
}

impl BufferedBody {
    /// A fresh body with the same bytes and trailers (cheap: the bytes are shared).
    pub fn body(&self) -> Body {
        match &self.trailers {
            None => full(self.data.clone()),
            Some(t) => Replayed {
                data: Some(self.data.clone()).filter(|d| !d.is_empty()),
                trailers: Some(t.clone()),
                len: self.data.len() as u64,
            }
            .boxed(),
        }
    }
}

/// Why [`read_limited`] did not return the whole body.
#[derive(Debug)]
pub enum ReadError {
    /// The body is larger than the limit: what was read, and the rest, still unread.
    TooLarge { read: Bytes, rest: Body },
    /// Reading the body failed.
    Body(BoxError),
}

/// Reads `body` into memory while it stays within `max` bytes (`None`: no limit).
pub async fn read_limited(mut body: Body, max: Option<u64>) -> Result<BufferedBody, ReadError> {
    let mut buf = BytesMut::new();
    let mut trailers: Option<HeaderMap> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(ReadError::Body)?;
        match frame.into_data() {
            Ok(data) => {
                buf.extend_from_slice(&data);
                if max.is_some_and(|m| buf.len() as u64 > m) {
                    return Err(ReadError::TooLarge {
                        read: buf.freeze(),
                        rest: body,
                    });
                }
            }
            Err(frame) => {
                if let Ok(t) = frame.into_trailers() {
                    match &mut trailers {
                        Some(all) => all.extend(t),
                        None => trailers = Some(t),
                    }
                }
            }
        }
    }
    Ok(BufferedBody {
        data: buf.freeze(),
        trailers,
    })
}

/// `read` followed by `rest`: the body of a request that was too large to buffer, whole again.
pub fn prepend(read: Bytes, rest: Body) -> Body {
    Prepended {
        head: Some(read).filter(|b| !b.is_empty()),
        rest,
    }
    .boxed()
}

struct Replayed {
    data: Option<Bytes>,
    trailers: Option<HeaderMap>,
    len: u64,
}

impl HttpBody for Replayed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(d) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(d))));
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len)
    }
}

struct Prepended {
    head: Option<Bytes>,
    rest: Body,
}

impl HttpBody for Prepended {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(h) = self.head.take() {
            return Poll::Ready(Some(Ok(Frame::data(h))));
        }
        Pin::new(&mut self.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.head.is_none() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let head = self.head.as_ref().map_or(0, |h| h.len() as u64);
        let rest = self.rest.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower().saturating_add(head));
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper.saturating_add(head));
        }
        hint
    }
}

/// A body shared by successive attempts, handed to the first attempt that reads it.
#[derive(Clone)]
pub struct DeferredBody {
    slot: Arc<Mutex<Option<Body>>>,
    hint: SizeHint,
    end: bool,
}

impl DeferredBody {
    pub fn new(body: Body) -> Self {
        Self {
            hint: body.size_hint(),
            end: body.is_end_stream(),
            slot: Arc::new(Mutex::new(Some(body))),
        }
    }

    /// Whether no attempt has started reading the body yet.
    pub fn untouched(&self) -> bool {
        self.slot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// A handle for one attempt: it takes the body when first polled.
    pub fn attempt(&self) -> Body {
        Deferred {
            slot: self.slot.clone(),
            inner: None,
            hint: self.hint,
            end: self.end,
        }
        .boxed()
    }
}

struct Deferred {
    slot: Arc<Mutex<Option<Body>>>,
    inner: Option<Body>,
    hint: SizeHint,
    end: bool,
}

/// An attempt found the body already consumed by an earlier one (never expected: a retry only
/// happens while the body is untouched).
#[derive(Debug, thiserror::Error)]
#[error("the request body was already consumed by an earlier attempt")]
struct BodyConsumed;

impl HttpBody for Deferred {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.inner.is_none() {
            let taken = self.slot.lock().unwrap_or_else(|p| p.into_inner()).take();
            match taken {
                Some(b) => self.inner = Some(b),
                None => return Poll::Ready(Some(Err(Box::new(BodyConsumed)))),
            }
        }
        match self.inner.as_mut() {
            Some(inner) => Pin::new(inner).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Some(inner) => inner.is_end_stream(),
            None => self.end,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Some(inner) => inner.size_hint(),
            None => self.hint,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static str]) -> Body {
        let frames: Vec<Result<Frame<Bytes>, BoxError>> = parts
            .iter()
            .map(|p| Ok(Frame::data(Bytes::from_static(p.as_bytes()))))
            .collect();
        http_body_util::StreamBody::new(futures_util::stream::iter(frames)).boxed()
    }

    async fn text(body: Body) -> String {
        let bytes = body.collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn buffered_body_replays() {
        let b = read_limited(chunks(&["ab", "cd"]), Some(4)).await.unwrap();
        assert_eq!(text(b.body()).await, "abcd");
        assert_eq!(text(b.body()).await, "abcd");
        assert_eq!(b.body().size_hint().exact(), Some(4));
    }

    #[tokio::test]
    async fn too_large_keeps_every_byte() {
        match read_limited(chunks(&["ab", "cd", "ef"]), Some(3)).await {
            Err(ReadError::TooLarge { read, rest }) => {
                assert_eq!(&read[..], b"abcd");
                assert_eq!(text(prepend(read, rest)).await, "abcdef");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn deferred_body_goes_to_the_first_reader() {
        let d = DeferredBody::new(full("hello"));
        let first = d.attempt();
        drop(first); // an attempt that failed before sending
        assert!(d.untouched());
        let second = d.attempt();
        assert_eq!(second.size_hint().exact(), Some(5));
        assert_eq!(text(second).await, "hello");
        assert!(!d.untouched());
        assert!(d.attempt().collect().await.is_err());
    }
}

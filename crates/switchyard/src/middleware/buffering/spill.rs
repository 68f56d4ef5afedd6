//! Bodies held in memory up to a size, then in an anonymous temporary file (deleted by the
//! system once closed), so large buffered requests and responses do not hold the memory. A held
//! body can be sent any number of times: file reads are positioned, so bodies made from the same
//! held body never disturb each other.

use std::fs::File;
use std::io::Write;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body_util::BodyExt;
use hyper::body::{Body as HttpBody, Frame, SizeHint};

use crate::http::body::{Body, BoxError};

const READ_CHUNK: usize = 64 * 1024;

/// A body read completely: the first bytes in memory, the rest in a file.
#[derive(Debug, Clone)]
pub(super) struct Held {
    mem: Bytes,
    file: Option<Arc<File>>,
    file_len: u64,
    trailers: Option<HeaderMap>,
}

#[derive(Debug, thiserror::Error)]
pub(super) enum HoldError {
    /// Over the maximum size.
    #[error("body over the maximum size")]
    TooLarge,
    /// Reading the body failed.
    #[error("reading the body: {0}")]
    Body(BoxError),
    /// The temporary file could not be written.
    #[error("temporary file: {0}")]
    Io(std::io::Error),
}

impl Held {
    pub(super) fn len(&self) -> u64 {
        self.mem.len() as u64 + self.file_len
    }

    /// Reads `body` completely, keeping up to `mem` bytes in memory; fails once it is over `max`
    /// bytes (`None`: no maximum).
    pub(super) async fn read(
        mut body: Body,
        mem: usize,
        max: Option<u64>,
    ) -> Result<Held, HoldError> {
        let mut buf = BytesMut::new();
        let mut file: Option<File> = None;
        let mut file_len = 0u64;
        let mut trailers: Option<HeaderMap> = None;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(HoldError::Body)?;
            let data = match frame.into_data() {
                Ok(d) => d,
                Err(f) => {
                    if let Ok(t) = f.into_trailers() {
                        trailers.get_or_insert_with(HeaderMap::new).extend(t);
                    }
                    continue;
                }
            };
            let total = buf.len() as u64 + file_len + data.len() as u64;
            if max.is_some_and(|m| total > m) {
                return Err(HoldError::TooLarge);
            }
            let room = mem.saturating_sub(buf.len()).min(data.len());
            buf.extend_from_slice(&data[..room]);
            let rest = data.slice(room..);
            if rest.is_empty() {
                continue;
            }
            let f = match file.take() {
                Some(f) => f,
                None => tokio::task::spawn_blocking(tempfile::tempfile)
                    .await
                    .map_err(|e| HoldError::Io(std::io::Error::other(e)))?
                    .map_err(HoldError::Io)?,
            };
            let len = rest.len() as u64;
            let f = tokio::task::spawn_blocking(move || {
                let mut f = f;
                f.write_all(&rest).map(|()| f)
            })
            .await
            .map_err(|e| HoldError::Io(std::io::Error::other(e)))?
            .map_err(HoldError::Io)?;
            file_len += len;
            file = Some(f);
        }
        Ok(Held {
            mem: buf.freeze(),
            file: file.map(Arc::new),
            file_len,
            trailers,
        })
    }

    /// A body with the held bytes and trailers, of exact length.
    pub(super) fn body(&self) -> Body {
        HeldBody {
            held: self.clone(),
            mem_sent: self.mem.is_empty(),
            offset: 0,
            reading: None,
            done: false,
        }
        .boxed()
    }
}

type Read = tokio::task::JoinHandle<std::io::Result<Bytes>>;

struct HeldBody {
    held: Held,
    mem_sent: bool,
    /// Next position to read in the file.
    offset: u64,
    reading: Option<Read>,
    done: bool,
}

fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        std::os::windows::fs::FileExt::seek_read(file, buf, offset)
    }
}

impl HttpBody for HeldBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        use std::task::Poll;
        let this = &mut *self;
        if !this.mem_sent {
            this.mem_sent = true;
            return Poll::Ready(Some(Ok(Frame::data(this.held.mem.clone()))));
        }
        if let Some(file) = &this.held.file {
            if this.offset < this.held.file_len {
                let read = this.reading.get_or_insert_with(|| {
                    let file = file.clone();
                    let offset = this.offset;
                    let want = READ_CHUNK.min((this.held.file_len - offset) as usize);
                    tokio::task::spawn_blocking(move || {
                        let mut buf = vec![0u8; want];
                        let n = read_at(&file, &mut buf, offset)?;
                        if n == 0 {
                            return Err(std::io::ErrorKind::UnexpectedEof.into());
                        }
                        buf.truncate(n);
                        Ok(Bytes::from(buf))
                    })
                });
                return match std::pin::Pin::new(read).poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(result) => {
                        this.reading = None;
                        match result.map_err(std::io::Error::other).and_then(|r| r) {
                            Ok(chunk) => {
                                this.offset += chunk.len() as u64;
                                Poll::Ready(Some(Ok(Frame::data(chunk))))
                            }
                            Err(e) => {
                                this.done = true;
                                Poll::Ready(Some(Err(e.into())))
                            }
                        }
                    }
                };
            }
        }
        if this.done {
            return Poll::Ready(None);
        }
        this.done = true;
        Poll::Ready(this.held.trailers.clone().map(|t| Ok(Frame::trailers(t))))
    }

    fn is_end_stream(&self) -> bool {
        self.done || (self.held.len() == 0 && self.held.trailers.is_none())
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.held.len())
    }
}

use std::future::Future;

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(n: usize, size: usize) -> Body {
        let frames: Vec<Result<Frame<Bytes>, BoxError>> = (0..n)
            .map(|i| Ok(Frame::data(Bytes::from(vec![b'a' + (i % 26) as u8; size]))))
            .collect();
        http_body_util::StreamBody::new(futures_util::stream::iter(frames)).boxed()
    }

    #[tokio::test]
    async fn spills_to_a_file_and_replays() {
        let held = Held::read(chunks(40, 10_000), 25_000, None).await.unwrap();
        assert_eq!(held.len(), 400_000);
        assert!(held.file.is_some());
        assert_eq!(held.mem.len(), 25_000);
        let want: Vec<u8> = (0..40)
            .flat_map(|i| vec![b'a' + (i % 26) as u8; 10_000])
            .collect();
        for _ in 0..2 {
            let body = held.body();
            assert_eq!(body.size_hint().exact(), Some(400_000));
            assert_eq!(body.collect().await.unwrap().to_bytes().to_vec(), want);
        }
    }

    #[tokio::test]
    async fn limits() {
        assert!(matches!(
            Held::read(chunks(3, 10), 5, Some(29)).await,
            Err(HoldError::TooLarge)
        ));
        let held = Held::read(chunks(3, 10), 100, Some(30)).await.unwrap();
        assert!(held.file.is_none());
        assert_eq!(held.body().collect().await.unwrap().to_bytes().len(), 30);
    }
}

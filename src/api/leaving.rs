//! A request's body that says when the connection first reads it: the moment the request
//! really leaves this process. `rate::RateLimit::go` lets it out earlier than that when a
//! connection must be made first, or, on a busy host, when the connection's task waits to
//! be woken; the API counts arrivals, so the rate limit counts it from here
//! (`RateLimit::left`).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::body::{Body, Bytes, Frame, SizeHint};

pub struct Leaving {
    bytes: Option<Bytes>,
    /// Called once, at the first read.
    left: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl Leaving {
    pub fn new(bytes: Vec<u8>, left: impl FnOnce() + Send + Sync + 'static) -> Self {
        Self {
            bytes: Some(Bytes::from(bytes)),
            left: Some(Box::new(left)),
        }
    }
}

impl Body for Leaving {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if let Some(left) = this.left.take() {
            left();
        }
        Poll::Ready(this.bytes.take().map(|bytes| Ok(Frame::data(bytes))))
    }

    fn is_end_stream(&self) -> bool {
        self.bytes.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        // Exact: the request says its Content-Length, as a JSON body built whole did.
        SizeHint::with_exact(self.bytes.as_ref().map_or(0, |b| b.len() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use http_body_util::BodyExt;

    #[tokio::test]
    async fn says_once_when_first_read_and_gives_the_bytes() {
        let reads = Arc::new(AtomicUsize::new(0));
        let counted = reads.clone();
        let body = Leaving::new(b"[\"VI1\"]".to_vec(), move || {
            counted.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(body.size_hint().exact(), Some(7));
        assert_eq!(reads.load(Ordering::SeqCst), 0, "said before it was read");
        let bytes = body.collect().await.map(|c| c.to_bytes());
        assert_eq!(bytes.ok().as_deref(), Some(&b"[\"VI1\"]"[..]));
        assert_eq!(reads.load(Ordering::SeqCst), 1);
    }
}

//! Answers that come before the request body, over HTTP/2.
//!
//! A refusal (403 before a handler runs, 404, 405) is made without reading
//! the request's body. Over HTTP/2 hyper then ends the stream while the
//! client is still sending, with RST_STREAM: the protocol allows it, but
//! clients that are still sending (curl 7.88 among them) drop the answer
//! and report a stream error. So what the handlers left unread is read
//! here and thrown away, within bounds, before the answer goes out; the
//! stream then ends normally. HTTP/1 needs none of this (hyper closes the
//! connection after the answer, which clients handle).

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use http_body_util::BodyExt;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};

/// At most this much of an unread body is read and dropped...
const DRAIN_BYTES: u64 = 16 * 1024 * 1024;
/// ...within this long; past either, hyper resets the stream as before.
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// A request body shared by the handler (through [`Unread::body`]) and
/// the server, which reads what the handler left ([`Unread::drain`]).
#[derive(Clone)]
pub struct Unread(Arc<Mutex<Incoming>>);

impl Unread {
    pub fn new(body: Incoming) -> Self {
        Self(Arc::new(Mutex::new(body)))
    }

    /// The body for the handler.
    pub fn body(&self) -> Body {
        Body::new(self.clone())
    }

    /// Reads and drops what is left of the body, within the bounds.
    pub async fn drain(mut self) {
        if self.is_end_stream() {
            return;
        }
        let _ = tokio::time::timeout(DRAIN_TIME, async {
            let mut left = DRAIN_BYTES;
            while let Some(Ok(frame)) = self.frame().await {
                let read = frame.data_ref().map_or(0, |d| d.len() as u64);
                match left.checked_sub(read) {
                    Some(rest) => left = rest,
                    None => return,
                }
            }
        })
        .await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Incoming> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl HttpBody for Unread {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut *self.lock()).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.lock().is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.lock().size_hint()
    }
}

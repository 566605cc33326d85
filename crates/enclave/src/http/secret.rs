//! Answer bodies that carry secrets (decrypted plaintext, data keys,
//! exported keys, backups, the root token, the tutorial's fresh keys).
//!
//! The body is written into a [`SecretBuf`] and handed to hyper as
//! `Bytes` owned by a [`Wiped`]: hyper writes from our buffer (no copy on
//! HTTP/1 over TLS) and the buffer is zeroized when the last `Bytes` that
//! shares it is dropped, after the write. What this cannot reach (hyper's
//! and h2's own buffers, rustls' records, serde's scratch) is listed in
//! docs/operations.md, "Secrets in memory".
//!
//! Answers without secrets (encrypt, sign, key reads) do not come here:
//! a plain `Vec` costs one allocation less and no wipe.

use std::io;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;
use zeroize::Zeroize;

use crate::error::Error;

/// A growing buffer for a secret answer. It grows by copying into a new,
/// bigger buffer and wiping the old one; `Vec`'s own growth (`realloc`)
/// would free the old bytes unwiped.
pub struct SecretBuf(Vec<u8>);

impl SecretBuf {
    pub fn with_capacity(capacity: usize) -> Self {
        Self(Vec::with_capacity(capacity))
    }

    /// The body for hyper: wiped once hyper (and anyone else) drops it.
    pub fn into_body(mut self) -> Body {
        Body::from(Bytes::from_owner(Wiped(std::mem::take(&mut self.0))))
    }
}

impl io::Write for SecretBuf {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let needed = self.0.len().saturating_add(data.len());
        if needed > self.0.capacity() {
            let mut bigger = Vec::with_capacity(needed.max(self.0.capacity().saturating_mul(2)));
            bigger.extend_from_slice(&self.0);
            // The old buffer is wiped as it is replaced.
            self.0.zeroize();
            self.0 = bigger;
        }
        self.0.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An answer dropped before it became a body (a serialisation error) is
/// wiped too.
impl Drop for SecretBuf {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// The owner of a secret answer's bytes once hyper has them: zeroizes
/// them when the last `Bytes` sharing them goes.
struct Wiped(Vec<u8>);

impl AsRef<[u8]> for Wiped {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Wiped {
    fn drop(&mut self) {
        // The bytes themselves (not `Vec::zeroize`, which also clears the
        // length), so that a test can see them zeroed before they are freed.
        self.0.as_mut_slice().zeroize();
        #[cfg(test)]
        tests::observe(&self.0);
    }
}

/// `value` as a bare JSON answer (no envelope), status 200, wiped after
/// it is sent.
pub fn json<T: Serialize>(value: &T) -> Response {
    let mut body = SecretBuf::with_capacity(512);
    match serde_json::to_writer(&mut body, value) {
        Ok(()) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body.into_body(),
        )
            .into_response(),
        Err(e) => Error::internal("answer", e).into_response(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use std::cell::RefCell;
    use std::io::Write;

    use super::*;

    thread_local! {
        /// Each wiped body this thread dropped: its length, and whether
        /// every byte was zero when its owner let go of it.
        static WIPED: RefCell<Vec<(usize, bool)>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn observe(bytes: &[u8]) {
        WIPED.with(|w| {
            w.borrow_mut()
                .push((bytes.len(), bytes.iter().all(|b| *b == 0)))
        });
    }

    /// The wipes seen on this thread since the last call.
    pub(crate) fn wiped() -> Vec<(usize, bool)> {
        WIPED.with(|w| std::mem::take(&mut *w.borrow_mut()))
    }

    /// A response's body as hyper would take it (one frame, the same
    /// `Bytes`, no copy).
    pub(crate) fn body_of(response: Response) -> Bytes {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(axum::body::to_bytes(response.into_body(), usize::MAX))
            .unwrap()
    }

    /// Checks that `response`'s body is `expected` and is wiped when the
    /// last reference to it goes, and not before.
    pub(crate) fn assert_wiped_after_use(response: Response, expected: &[u8]) {
        let _ = wiped();
        let sent = body_of(response);
        assert_eq!(&sent[..], expected);
        let shared = sent.clone();
        drop(sent);
        assert_eq!(wiped(), [], "wiped while still shared");
        drop(shared);
        assert_eq!(wiped(), [(expected.len(), true)]);
    }

    #[test]
    fn a_secret_json_answer_is_wiped_after_use() {
        let value = serde_json::json!({ "aes_key": "c2VjcmV0" });
        let expected = serde_json::to_vec(&value).unwrap();
        assert_wiped_after_use(json(&value), &expected);
    }

    #[test]
    fn a_grown_buffer_keeps_the_whole_text_and_is_wiped() {
        let mut buf = SecretBuf::with_capacity(4);
        let text: Vec<u8> = (0..5000u32).map(|i| b'a' + (i % 26) as u8).collect();
        for chunk in text.chunks(7) {
            buf.write_all(chunk).unwrap();
        }
        let _ = wiped();
        let body = tests::body_of(buf.into_body().into_response());
        assert_eq!(&body[..], &text[..]);
        drop(body);
        assert_eq!(wiped(), [(text.len(), true)]);
    }
}

//! Request bodies: bounded JSON.
//!
//! At most [`MAX_BODY`] bytes (413 beyond, after reading the rest: see
//! [`drain`]), sent within [`BODY_TIMEOUT`] (408 after); an empty body is the request type's default; a body that
//! does not parse is a 400 that gives only the error's position (serde's
//! messages can quote the input).

use std::time::Duration;

use axum::body::Body;
use http_body_util::{BodyExt, Limited};
use serde::de::DeserializeOwned;

use crate::error::Error;

/// Largest request body accepted.
pub const MAX_BODY: usize = 1024 * 1024;
/// How long a client may take to send a whole request body (408 after):
/// a slow client must not hold a connection and a worker for ever.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a body over [`MAX_BODY`] is read, and for how long, before
/// the 413 goes out: an HTTP/1.1 client still sending would otherwise see
/// the connection reset instead of the answer (as nginx's lingering close).
const DRAIN_BODY: usize = 64 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// Reads a bounded JSON body; an empty body is `T::default()`.
pub async fn json_body<T: DeserializeOwned + Default>(mut body: Body) -> Result<T, Error> {
    let read = tokio::time::timeout(BODY_TIMEOUT, Limited::new(&mut body, MAX_BODY).collect());
    let bytes = match read.await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Err(_) => {
            return Err(Error::Timeout(format!(
                "request body not received within {} seconds",
                BODY_TIMEOUT.as_secs()
            )))
        }
        Ok(Err(_)) => {
            drain(body).await;
            return Err(Error::TooLarge(format!(
                "request body too large (limit {MAX_BODY} bytes)"
            )));
        }
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    // serde_json's messages can quote the input: give only the position.
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::invalid(format!(
            "invalid request body ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

/// Reads what is left of `body` and drops it, up to [`DRAIN_BODY`] bytes
/// and [`DRAIN_TIME`]; past either, hyper closes the connection.
async fn drain(mut body: Body) {
    if axum::body::HttpBody::size_hint(&body).lower() > DRAIN_BODY as u64 {
        return;
    }
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        let mut left = DRAIN_BODY;
        while let Some(Ok(frame)) = body.frame().await {
            let read = frame.data_ref().map_or(0, axum::body::Bytes::len);
            match left.checked_sub(read) {
                Some(rest) => left = rest,
                None => return,
            }
        }
    })
    .await;
}

//! Request bodies: bounded JSON, or form-encoded fields.
//!
//! At most [`BodyLimit`] bytes (413 beyond, after reading the rest: see
//! [`drain`]), sent within [`BODY_TIMEOUT`] (408 after); an empty body,
//! or JSON `null` (what `bao write -f` sends), is the request type's
//! default; a body that does not parse is a 400 that gives only the
//! error's position (serde's messages can quote the input). As Vault, a
//! body sent as `application/x-www-form-urlencoded` is read as form
//! fields unless it starts like JSON (`{` or `[`: `curl -d '{...}'` sends
//! JSON with that content type); a field given twice is its values
//! joined with commas.
//!
//! The token's parameter constraints ([`Params`]) are checked on the body
//! as the route parsed it (its request type, [`check_params`]), with the
//! parameters the route takes from its path ([`Posted::with_path`]): never
//! on the raw spelling, which the route may read otherwise (`"1"` and a
//! form's `t` are `true` to a boolean field).

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use http_body_util::{BodyExt, Limited};
use serde::de::DeserializeOwned;
use serde::Serialize;
use zeroize::{Zeroize, Zeroizing};

use serde_json::{Map, Value};

use super::layers::Authed;
use crate::core::input::wipe_value;
use crate::error::Error;
use crate::state::params::Params;

/// Largest request body accepted from a caller without a valid token (the
/// open routes: init, unseal, join, attested login), whatever the limit:
/// anyone may send those, and their bodies are small.
pub const MAX_BODY: usize = 1024 * 1024;
/// The default limit on a request body (`kms-host run --max-request-size`):
/// 4 MiB, so a 2 MiB plaintext (2.7 MiB in base64) passes. Chosen from the
/// enclave's memory: a request holds about five times its body at its peak
/// (the bytes, the parsed string, the decoded plaintext, the ciphertext
/// and its encoding), and 16 at once (the Gramine manifest's
/// `sgx.max_threads`) then take 320 MiB of its 512 MiB, leaving the rest to
/// the key store and TLS.
pub const DEFAULT_REQUEST_SIZE: usize = 4 * 1024 * 1024;
/// The largest limit an operator may set: Vault's default
/// `max_request_size` (32 MiB), for an enclave made larger to match.
pub const MAX_REQUEST_SIZE: usize = 32 * 1024 * 1024;
/// The smallest: a policy or a key import must still fit.
pub const MIN_REQUEST_SIZE: usize = 64 * 1024;

/// The request body limit the server was started with, put into each
/// request by the accept loop (`crate::server`). Checked here: the host
/// that asks for it is not trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyLimit(usize);

impl Default for BodyLimit {
    fn default() -> Self {
        Self(DEFAULT_REQUEST_SIZE)
    }
}

impl BodyLimit {
    /// The limit asked for (`None`: the default), or why not.
    pub fn new(asked: Option<u64>) -> Result<Self, Error> {
        let Some(asked) = asked else {
            return Ok(Self::default());
        };
        match usize::try_from(asked) {
            Ok(n) if (MIN_REQUEST_SIZE..=MAX_REQUEST_SIZE).contains(&n) => Ok(Self(n)),
            _ => Err(Error::invalid(format!(
                "max request size {asked}: give {MIN_REQUEST_SIZE} to {MAX_REQUEST_SIZE} bytes"
            ))),
        }
    }

    /// The limit for a request: ours, or at most [`MAX_BODY`] for one
    /// without a valid token.
    fn for_caller(self, authed: bool) -> usize {
        if authed {
            self.0
        } else {
            self.0.min(MAX_BODY)
        }
    }
}
/// How long a client may take to send a whole request body (408 after):
/// a slow client must not hold a connection and a worker for ever.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a body over [`MAX_BODY`] is read, and for how long, before
/// the 413 goes out: an HTTP/1.1 client still sending would otherwise see
/// the connection reset instead of the answer (as nginx's lingering close).
const DRAIN_BODY: usize = 64 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// A request body, whether its content type says form fields, the
/// parameter constraints the token's policies put on it (the guard's
/// decision, [`Authed`]), and the parameters its route takes from the path.
pub struct Posted {
    body: Body,
    /// The most bytes read of it.
    limit: usize,
    form_type: bool,
    params: Option<Params>,
    path: Vec<(&'static str, String)>,
}

impl Posted {
    /// Adds a parameter the route takes from its path (`hmac/NAME/ALG`),
    /// under the name of the body field the route would otherwise read
    /// (`algorithm`): the constraints see it as given, with the value the
    /// route acts on (the path's, over the body's).
    pub fn with_path(mut self, name: &'static str, value: Option<&str>) -> Self {
        if let Some(value) = value {
            self.path.push((name, value.to_string()));
        }
        self
    }
}

impl<S: Send + Sync> FromRequest<S> for Posted {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let form_type = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        let authed = req.extensions().get::<Authed>();
        let limit = req
            .extensions()
            .get::<BodyLimit>()
            .copied()
            .unwrap_or_default()
            .for_caller(authed.is_some());
        let params = authed
            .map(|a| &a.0.params)
            .filter(|p| !p.is_empty())
            .cloned();
        Ok(Self {
            body: req.into_body(),
            limit,
            form_type,
            params,
            path: Vec::new(),
        })
    }
}

impl From<Body> for Posted {
    /// A body read as JSON whatever it starts with.
    fn from(body: Body) -> Self {
        Self {
            body,
            limit: MAX_BODY,
            form_type: false,
            params: None,
            path: Vec::new(),
        }
    }
}

/// Reads a bounded body (JSON or form fields, see the module's doc); an
/// empty body or `null` is `T::default()`. The bytes read are wiped after
/// parsing where this holds the only reference ([`Received`]), and so are
/// form fields: bodies carry plaintext and imported keys.
pub async fn json_body<T: DeserializeOwned + Serialize + Default>(
    posted: impl Into<Posted>,
) -> Result<T, Error> {
    read_body(posted, false).await.map(|(parsed, _)| parsed)
}

/// [`json_body`], and the names of the body's top-level fields (for
/// Vault's warning about the ones a route does not know).
pub async fn json_body_named<T: DeserializeOwned + Serialize + Default>(
    posted: impl Into<Posted>,
) -> Result<(T, Vec<String>), Error> {
    read_body(posted, true).await
}

async fn read_body<T: DeserializeOwned + Serialize + Default>(
    posted: impl Into<Posted>,
    want_names: bool,
) -> Result<(T, Vec<String>), Error> {
    let Posted {
        mut body,
        limit,
        form_type,
        params,
        path,
    } = posted.into();
    let read = tokio::time::timeout(BODY_TIMEOUT, collect(Limited::new(&mut body, limit)));
    let received = match read.await {
        Ok(Ok(received)) => received,
        Err(_) => {
            return Err(Error::Timeout(format!(
                "request body not received within {} seconds",
                BODY_TIMEOUT.as_secs()
            )))
        }
        Ok(Err(_)) => {
            drain(body).await;
            return Err(Error::TooLarge(format!(
                "request body too large (limit {limit} bytes)"
            )));
        }
    };
    let bytes = received.as_slice();
    let start = bytes.iter().find(|b| !b.is_ascii_whitespace());
    let empty = start.is_none() || bytes.trim_ascii() == b"null";
    let form = form_type && !matches!(start, Some(b'{' | b'['));
    let parsed: T = if empty {
        T::default()
    } else if form {
        form_fields(bytes)?
    } else {
        // serde_json's messages can quote the input: give only the position.
        serde_json::from_slice(bytes).map_err(|e| {
            Error::invalid(format!(
                "invalid request body ({:?} error at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?
    };
    if let Some(params) = params {
        let raw = if empty {
            Map::new()
        } else if form {
            form_map(bytes)
        } else {
            serde_json::from_slice::<Map<String, Value>>(bytes)
                .map_err(|_| Error::invalid("invalid request body (not a JSON object)"))?
        };
        check_params(&params, raw, &path, &parsed)?;
    }
    let names = if !want_names || empty {
        Vec::new()
    } else if form {
        form_urlencoded::parse(bytes)
            .map(|(k, _)| k.into_owned())
            .collect()
    } else {
        // Only the names: the values are skipped, never copied.
        serde_json::from_slice::<std::collections::BTreeMap<String, serde::de::IgnoredAny>>(bytes)
            .map(|m| m.into_keys().collect())
            .unwrap_or_default()
    };
    Ok((parsed, names))
}

/// Checks a request against the token's parameter constraints
/// ([`Params`]), 403 if they refuse it: the names given (`raw`, the body's
/// fields as sent, and `path`, the route's path parameters), each with the
/// value the route acts on: `parsed`'s (the route's request type) where it
/// has the field, the path's over the body's. A path value the request
/// type cannot read is a 400, as the route would answer. Every value read
/// for this is wiped after.
pub fn check_params<T: DeserializeOwned + Serialize>(
    params: &Params,
    mut raw: Map<String, Value>,
    path: &[(&'static str, String)],
    parsed: &T,
) -> Result<(), Error> {
    let failed = |_| Error::failed("request serialisation");
    let mut typed = serde_json::to_value(parsed).map_err(failed)?;
    if !path.is_empty() {
        let from_path: Map<String, Value> = path
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
            .collect();
        let read = T::deserialize(&Value::Object(from_path.clone()))
            .map_err(|_| Error::invalid("invalid parameter in the request's path"))
            .and_then(|t| serde_json::to_value(&t).map_err(failed))?;
        for (k, v) in from_path {
            if let (Value::Object(typed), Some(t)) = (&mut typed, read.get(&k)) {
                typed.insert(k.clone(), t.clone());
            }
            if let Some(old) = raw.insert(k, v) {
                wipe_value(old);
            }
        }
        wipe_value(read);
    }
    let view = as_parsed(raw, &typed);
    let allowed = params.allows(&view);
    wipe_value(Value::Object(view));
    wipe_value(typed);
    if allowed {
        Ok(())
    } else {
        Err(Error::Denied)
    }
}

/// [`check_params`] for a request without a body: only `path`'s
/// parameters, as strings.
pub fn check_path(params: &Params, path: &[(&'static str, String)]) -> Result<(), Error> {
    if params.is_empty() {
        return Ok(());
    }
    check_params(params, Map::new(), path, &Value::Object(Map::new()))
}

/// The fields given (`raw`), each with `typed`'s value for it where that
/// has one (the route's reading), else as sent; objects in lists
/// (`batch_input` items) field by field.
fn as_parsed(raw: Map<String, Value>, typed: &Value) -> Map<String, Value> {
    raw.into_iter()
        .map(|(name, sent)| {
            let value = match (sent, typed.get(&name)) {
                (Value::Array(sent), Some(Value::Array(read))) if sent.len() == read.len() => {
                    Value::Array(
                        sent.into_iter()
                            .zip(read)
                            .map(|(sent, read)| one_as_parsed(sent, read))
                            .collect(),
                    )
                }
                (sent, Some(read)) => one_as_parsed(sent, read),
                (sent, None) => sent,
            };
            (name, value)
        })
        .collect()
}

fn one_as_parsed(sent: Value, read: &Value) -> Value {
    match sent {
        Value::Object(sent) => Value::Object(as_parsed(sent, read)),
        sent if read.is_null() => sent,
        sent => {
            wipe_value(sent);
            read.clone()
        }
    }
}

/// Form fields (`a=1&b=x`) as a JSON object of strings; a field given
/// twice is its values joined with commas.
fn form_map(bytes: &[u8]) -> Map<String, Value> {
    let mut fields = Map::new();
    for (k, v) in form_urlencoded::parse(bytes) {
        match fields.get_mut(k.as_ref()) {
            Some(Value::String(joined)) => {
                joined.push(',');
                joined.push_str(&v);
            }
            _ => {
                fields.insert(k.into_owned(), Value::String(v.into_owned()));
            }
        }
    }
    fields
}

/// Form fields (`a=1&b=x`) as the request type, each value a string (the
/// lenient field readers take numbers and booleans as strings); the
/// decoded values are wiped once read.
fn form_fields<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let fields = Value::Object(form_map(bytes));
    let parsed = T::deserialize(&fields).map_err(|_| {
        Error::invalid("invalid request body (a form field has the wrong type or value)")
    });
    wipe_value(fields);
    parsed
}

/// A request body as read: one frame as hyper gave it (no copy: the
/// common case), or several joined into a buffer of their total size (no
/// regrowth). Dropping it wipes what it can: the joined buffer always, a
/// frame when no one else shares its memory ([`wipe`]).
enum Received {
    One(Bytes),
    Joined(Zeroizing<Vec<u8>>),
}

impl Received {
    fn as_slice(&self) -> &[u8] {
        match self {
            Received::One(bytes) => bytes,
            Received::Joined(joined) => joined,
        }
    }
}

impl Drop for Received {
    fn drop(&mut self) {
        if let Received::One(bytes) = self {
            wipe(std::mem::take(bytes));
        }
    }
}

/// Zeroizes `bytes` if this is the only reference to its memory. Hyper's
/// HTTP/1 frames share the connection's read buffer (`split_to`), so they
/// are often not unique: docs/operations.md, "Secrets in memory".
fn wipe(bytes: Bytes) -> bool {
    match bytes.try_into_mut() {
        Ok(mut only) => {
            only.as_mut().zeroize();
            true
        }
        Err(_) => false,
    }
}

/// Collects the data frames of `body` (whose errors are the limit's or the
/// connection's).
async fn collect<B>(mut body: B) -> Result<Received, B::Error>
where
    B: axum::body::HttpBody<Data = Bytes> + Unpin,
{
    let mut frames: Vec<Bytes> = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            if !data.is_empty() {
                frames.push(data);
            }
        }
    }
    if frames.len() <= 1 {
        return Ok(Received::One(frames.pop().unwrap_or_default()));
    }
    let total = frames.iter().map(Bytes::len).sum();
    let mut joined = Zeroizing::new(Vec::with_capacity(total));
    for frame in frames {
        joined.extend_from_slice(&frame);
        wipe(frame);
    }
    Ok(Received::Joined(joined))
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
            let read = frame.data_ref().map_or(0, Bytes::len);
            match left.checked_sub(read) {
                Some(rest) => left = rest,
                None => return,
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use hyper::body::Frame;

    use super::*;

    /// A body that arrives in the given frames.
    struct Frames(VecDeque<Bytes>);

    impl axum::body::HttpBody for Frames {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
        }
    }

    #[test]
    fn the_limit_is_checked_here_and_open_routes_stay_at_1_mib() {
        // The host is not trusted: out-of-range values are refused here too.
        for bad in [0, 1024, 32 * 1024 * 1024 + 1, u64::MAX] {
            let e = BodyLimit::new(Some(bad)).unwrap_err().to_string();
            assert!(e.contains("give 65536 to 33554432 bytes"), "{bad}: {e}");
        }
        let default = BodyLimit::new(None).unwrap();
        assert_eq!(default.for_caller(true), 4 * 1024 * 1024);
        assert_eq!(default.for_caller(false), MAX_BODY);
        let small = BodyLimit::new(Some(65_536)).unwrap();
        assert_eq!(
            (small.for_caller(true), small.for_caller(false)),
            (65_536, 65_536)
        );
    }

    fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn a_frame_is_wiped_only_when_it_is_ours_alone() {
        assert!(wipe(Bytes::from(b"plaintext".to_vec())));
        let shared = Bytes::from(b"plaintext".to_vec());
        assert!(!wipe(shared.clone()));
        assert_eq!(&shared[..], b"plaintext");
    }

    #[test]
    fn a_body_in_several_frames_is_joined_and_parsed() {
        let text = br#"{"plaintext": "c2VjcmV0", "key_version": 2}"#;
        let frames: VecDeque<Bytes> = text.chunks(5).map(|c| Bytes::from(c.to_vec())).collect();
        let kept = frames[0].clone();
        let received = run(collect(Frames(frames))).unwrap();
        assert!(matches!(received, Received::Joined(_)));
        assert_eq!(received.as_slice(), text);
        // A frame someone else still holds is left as it is.
        assert_eq!(&kept[..], &text[..5]);

        let body = Body::new(Frames(
            text.chunks(5).map(|c| Bytes::from(c.to_vec())).collect(),
        ));
        let item: crate::core::crypt::Item = run(json_body(body)).unwrap();
        assert_eq!(item.plaintext.unwrap().as_str(), "c2VjcmV0");
        assert_eq!(item.key_version, Some(2));
    }

    #[test]
    fn one_frame_is_parsed_without_a_copy() {
        let text = Bytes::from_static(br#"{"plaintext": "c2VjcmV0"}"#);
        let received = run(collect(Frames(VecDeque::from([text.clone()])))).unwrap();
        let Received::One(bytes) = &received else {
            panic!("copied");
        };
        assert_eq!(bytes.as_ptr(), text.as_ptr());
    }
}

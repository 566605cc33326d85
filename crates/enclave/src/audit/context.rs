//! The audited request's context, visible to its handler: the request id
//! (Vault's envelope returns it as `request_id`), the key version the
//! answer names, and whether it changed state. A tokio task-local, carried
//! into `spawn_blocking` by [`in_context`].

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

tokio::task_local! {
    static CURRENT: Arc<RequestContext>;
}

/// One request's audit context.
pub struct RequestContext {
    pub request_id: RequestId,
    key_version: Mutex<Option<u64>>,
    /// A durable write was made for this request.
    wrote: AtomicBool,
}

impl RequestContext {
    pub fn new() -> Self {
        Self {
            request_id: new_request_id(),
            key_version: Mutex::new(None),
            wrote: AtomicBool::new(false),
        }
    }

    pub fn key_version(&self) -> Option<u64> {
        *self
            .key_version
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the request changed state (its entry must then be as
    /// durable as the change).
    pub fn wrote(&self) -> bool {
        self.wrote.load(Ordering::Acquire)
    }
}

impl Default for RequestContext {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs `f` as the request `ctx`.
pub fn scope<F: Future>(ctx: Arc<RequestContext>, f: F) -> impl Future<Output = F::Output> {
    // Not an `async fn`: that would hold `f` twice in its state (this
    // wraps every request's whole future).
    CURRENT.scope(ctx, f)
}

/// The current request's context, to carry onto a blocking thread.
pub fn current() -> Option<Arc<RequestContext>> {
    CURRENT.try_with(Arc::clone).ok()
}

/// Runs `f` (on a blocking thread) as the request `ctx`, if any.
pub fn in_context<R>(ctx: Option<Arc<RequestContext>>, f: impl FnOnce() -> R) -> R {
    match ctx {
        Some(ctx) => CURRENT.sync_scope(ctx, f),
        None => f(),
    }
}

/// The current request's id; a fresh one outside any audited request.
pub fn request_id() -> RequestId {
    CURRENT
        .try_with(|c| c.request_id)
        .unwrap_or_else(|_| new_request_id())
}

/// Notes the key version an answer names (`key_version`, else
/// `latest_version` of a key description), for the audit entry.
pub fn note_key_version(data: &serde_json::Value) {
    let version = data
        .get("key_version")
        .or_else(|| data.get("latest_version"))
        .and_then(serde_json::Value::as_u64);
    if let Some(v) = version {
        note_version(v);
    }
}

/// Notes the key version an answer names.
pub fn note_version(v: u64) {
    let _ = CURRENT.try_with(|c| {
        *c.key_version.lock().unwrap_or_else(PoisonError::into_inner) = Some(v);
    });
}

/// Notes that the current request made a durable write (the store's group
/// commit calls this), so its audit entry is fsynced before the answer.
pub fn note_durable_write() {
    let _ = CURRENT.try_with(|c| c.wrote.store(true, Ordering::Release));
}

/// A UUID-shaped id, as Vault's: 8 random bytes drawn once per process and
/// a counter, so ids never repeat and making one costs no trip to the
/// random source (ids name requests; they are not secrets).
pub fn new_request_id() -> RequestId {
    static PREFIX: std::sync::OnceLock<[u8; 8]> = std::sync::OnceLock::new();
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        let mut p = [0u8; 8];
        // The OS random source does not fail on Linux; a zero prefix would
        // still give unique ids within this process.
        let _ = aws_lc_rs::rand::fill(&mut p);
        p
    });
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(prefix);
    id[8..].copy_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    // 8-4-4-4-12 hex digits, written in place.
    let mut out = [b'-'; 36];
    for (bytes, at) in [(0..4, 0), (4..6, 9), (6..8, 14), (8..10, 19), (10..16, 24)] {
        let end = at + 2 * bytes.len();
        let _ = hex::encode_to_slice(&id[bytes], &mut out[at..end]);
    }
    Inline(out)
}

/// Now, RFC 3339 UTC with milliseconds (`2026-11-27T10:30:00.123Z`),
/// written digit by digit: every audit entry has one.
pub fn now_rfc3339() -> Timestamp {
    let t = time::OffsetDateTime::now_utc();
    let mut out = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut n: u32| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, u32::try_from(t.year()).unwrap_or(0));
    put(5, 2, u32::from(u8::from(t.month())));
    put(8, 2, u32::from(t.day()));
    put(11, 2, u32::from(t.hour()));
    put(14, 2, u32::from(t.minute()));
    put(17, 2, u32::from(t.second()));
    put(20, 3, u32::from(t.millisecond()));
    Inline(out)
}

/// A request id: `8-4-4-4-12` hex digits.
pub type RequestId = Inline<36>;

/// An entry's time: RFC 3339 UTC with milliseconds.
pub type Timestamp = Inline<24>;

/// Fixed-width ASCII text held in place: every request makes an id and a
/// time, and a `String` for each was two more heap allocations per request
/// (the time freed on the audit writer's thread, not the one that made it).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Inline<const N: usize>([u8; N]);

impl<const N: usize> Inline<N> {
    pub fn as_str(&self) -> &str {
        // Only made above, from ASCII digits, letters and punctuation.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl<const N: usize> std::ops::Deref for Inline<N> {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> std::fmt::Display for Inline<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> std::fmt::Debug for Inline<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_uuid_shaped_and_unique() {
        let (a, b) = (new_request_id(), new_request_id());
        assert_ne!(a, b);
        for id in [&a, &b] {
            let groups: Vec<usize> = id.split('-').map(str::len).collect();
            assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
            assert!(id.bytes().all(|c| c == b'-' || c.is_ascii_hexdigit()));
        }
        // Same process: same random prefix, counter in the last 8 bytes.
        assert_eq!(a[..18], b[..18]);
    }

    #[test]
    fn times_are_rfc3339_with_milliseconds() {
        let before = time::OffsetDateTime::now_utc();
        let text = now_rfc3339();
        let parsed =
            time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
                .unwrap();
        assert_eq!(text.len(), 24, "{text}");
        assert!(text.ends_with('Z'));
        let slack = time::Duration::milliseconds(1);
        assert!(parsed >= before - slack && parsed <= time::OffsetDateTime::now_utc());
    }
}

//! Managed keys in the sealed store ([`crate::store`]), behind Vault's
//! Transit API under `/v1/transit` so that Vault clients (hvac) work
//! unchanged.
//!
//! Layout, one module per operation family:
//! - [`keys`]: the key model and each key type's crypto.
//! - [`manage`]: create, read, list, delete, config, rotate, trim, export,
//!   backup, restore.
//! - [`crypt`]: encrypt, decrypt, rewrap, datakey.
//! - [`sign`]: sign and verify (signatures and HMACs), hmac.
//! - [`utility`]: random, hash.
//! - [`auth`]: the decision for every request ([`auth::Authed`]), `sys/init`.
//! - [`tokens`]: `auth/token/*`: create, lookup, revoke.
//! - [`acl`]: ACL policies (Vault's HCL path form) and how they match.
//! - [`policies`]: `sys/policy` and `sys/policies/acl`.
//!
//! Wire rules (Vault's): answers with data come in Vault's envelope;
//! writes without data answer 204; errors are `{"errors": [...]}`
//! (`application/json`). Every `/v1` route except `sys/init` needs a token
//! (`X-Vault-Token` or `Authorization: Bearer`) whose policies allow the
//! request, else 403 `permission denied` and nothing happens.
//!
//! Limits: request bodies at most [`MAX_BODY`] bytes (413 beyond, after
//! reading the rest: see `drain`), batches at most [`MAX_BATCH`] items
//! (400 beyond), random at most [`utility::MAX_RANDOM`] bytes, key names at
//! most [`MAX_NAME`] characters of `[A-Za-z0-9_.-]`.

pub mod acl;
pub mod auth;
pub mod crypt;
pub mod import;
pub mod keys;
pub mod manage;
pub mod policies;
pub mod sign;
pub mod tokens;
pub mod utility;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use http_body_util::{BodyExt, Limited};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use zeroize::Zeroizing;

use crate::api::{ApiError, AppState, StateLayer};
use crate::audit::context::RequestId;
use crate::platform::Platform;
use crate::store::group::GroupCommit;
use crate::store::{Store, StoreError, Table};
use keys::Key;

/// Largest request body accepted.
pub const MAX_BODY: usize = 1024 * 1024;
/// How much of a body over [`MAX_BODY`] is read, and for how long, before
/// the 413 goes out: an HTTP/1.1 client still sending would otherwise see
/// the connection reset instead of the answer (as nginx's lingering close).
const DRAIN_BODY: usize = 64 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(10);
/// Largest `batch_input` accepted.
pub const MAX_BATCH: usize = 1000;
/// Longest key name accepted.
pub const MAX_NAME: usize = 128;

/// Tries before [`Transit::try_lock_briefly`] gives up (a few microseconds).
const LOCK_SPINS: usize = 200;

const INIT_ID: &str = "init";
const WRAPPING_ID: &str = "wrapping_key";
const AUDIT_KEY_ID: &str = "audit_key";

/// The managed-key service: the sealed store and the keys it holds.
///
/// Writes are durable before they are visible: a change is prepared under
/// the lock, written (group commit, see [`crate::store::group`]) without
/// holding it, and applied in memory once on disk. Meanwhile its record is
/// busy: another writer of the same record waits, readers see the old
/// state, and writers of other records go on (and share the fsync).
pub struct Transit {
    inner: Mutex<Inner>,
    /// Signalled when a record stops being busy.
    idle: Condvar,
    store: GroupCommit,
}

/// What a write does, decided under the lock.
enum Step<T, R> {
    /// Nothing to write: answer `R`.
    Done(R),
    /// Write this record (`None` removes it), then apply `T` in memory.
    Write(Option<Zeroizing<Vec<u8>>>, T),
}

struct Inner {
    /// Records being written.
    busy: BTreeSet<(Table, String)>,
    keys: BTreeMap<String, Arc<Key>>,
    /// SHA-256 of the root token, once initialised.
    root_hash: Option<[u8; 32]>,
    /// Sealed singletons of the meta table other than `init` (the import
    /// wrapping key, the TLS CA, ...), by id.
    meta: BTreeMap<String, Zeroizing<Vec<u8>>>,
    /// Tokens other than root, by accessor.
    tokens: BTreeMap<String, tokens::TokenRecord>,
    /// ACL policies by name; `default` always (built in until rewritten).
    policies: BTreeMap<String, policies::NamedPolicy>,
}

/// How [`Transit::sealed_meta`] failed.
pub enum SealedError<E> {
    /// Making the record failed.
    Make(E),
    /// Storing it failed.
    Store(String),
}

#[derive(Debug, thiserror::Error)]
pub enum TransitError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("sealed record {0} is not readable")]
    Record(String),
    #[error("the store is already initialised with a different root token")]
    RootTokenMismatch,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct InitRecord {
    root_token_sha256: String,
}

impl Transit {
    /// Opens (or creates) the sealed store under `data_dir`.
    pub fn open(platform: &Arc<dyn Platform>, data_dir: &Path) -> Result<Self, TransitError> {
        Self::open_with_dev_root_token(platform, data_dir, None)
    }

    /// As [`Transit::open`]; with a development root token, an
    /// uninitialised store is initialised with it (like `vault server -dev
    /// -dev-root-token-id`), and an initialised one must have that root
    /// token already.
    pub fn open_with_dev_root_token(
        platform: &Arc<dyn Platform>,
        data_dir: &Path,
        dev_root_token: Option<Zeroizing<String>>,
    ) -> Result<Self, TransitError> {
        let (store, records) = Store::open(platform, data_dir)?;
        let mut keys = BTreeMap::new();
        let mut root_hash = None;
        let mut meta = BTreeMap::new();
        let mut tokens = BTreeMap::new();
        let mut policies = BTreeMap::new();
        for ((table, id), plain) in records {
            match table {
                Table::Keys => {
                    let key: Key = serde_json::from_slice(&plain)
                        .map_err(|_| TransitError::Record(format!("keys/{id}")))?;
                    keys.insert(id, Arc::new(key));
                }
                Table::Meta if id == INIT_ID => {
                    let init: InitRecord = serde_json::from_slice(&plain)
                        .map_err(|_| TransitError::Record("meta/init".into()))?;
                    let mut h = [0u8; 32];
                    hex_decode(&init.root_token_sha256, &mut h)
                        .ok_or_else(|| TransitError::Record("meta/init".into()))?;
                    root_hash = Some(h);
                }
                Table::Meta => {
                    meta.insert(id, Zeroizing::new(plain.to_vec()));
                }
                Table::Tokens => {
                    let rec: tokens::TokenRecord = serde_json::from_slice(&plain)
                        .map_err(|_| TransitError::Record(format!("tokens/{id}")))?;
                    tokens.insert(id, rec);
                }
                Table::Policies => {
                    let text = String::from_utf8(plain.to_vec())
                        .map_err(|_| TransitError::Record(format!("policies/{id}")))?;
                    let policy = policies::NamedPolicy::parse(text)
                        .map_err(|_| TransitError::Record(format!("policies/{id}")))?;
                    policies.insert(id, policy);
                }
            }
        }
        if !policies.contains_key("default") {
            let policy = policies::NamedPolicy::parse(acl::DEFAULT_POLICY.to_string())
                .map_err(|_| TransitError::Record("the built-in default policy".into()))?;
            policies.insert("default".to_string(), policy);
        }
        let transit = Self {
            idle: Condvar::new(),
            store: GroupCommit::new(store),
            inner: Mutex::new(Inner {
                busy: BTreeSet::new(),
                keys,
                root_hash,
                meta,
                tokens,
                policies,
            }),
        };
        if let Some(token) = dev_root_token {
            let hash = auth::token_hash(&token);
            let existing = transit.lock().root_hash;
            match existing {
                None => transit
                    .initialise(hash)
                    .map_err(|_| TransitError::Record("meta/init".into()))?,
                Some(h) if h == hash => {}
                Some(_) => return Err(TransitError::RootTokenMismatch),
            }
        }
        Ok(transit)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The lock if it comes free within a short spin, for the I/O threads:
    /// lookups hold it for well under a microsecond, so a busy lock is
    /// usually another lookup (handing the request to a blocking thread
    /// instead costs two thread switches); `None` if it stays held.
    fn try_lock_briefly(&self) -> Option<MutexGuard<'_, Inner>> {
        for _ in 0..LOCK_SPINS {
            match self.inner.try_lock() {
                Ok(inner) => return Some(inner),
                Err(std::sync::TryLockError::Poisoned(p)) => return Some(p.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) => std::hint::spin_loop(),
            }
        }
        None
    }

    /// One durable change to record `table/id`: `prepare` decides, under
    /// the lock, what to write; the write is committed without the lock;
    /// `apply` updates the state once the record is on disk. A failed write
    /// changes nothing.
    fn change<T, R>(
        &self,
        table: Table,
        id: &str,
        prepare: impl FnOnce(&Inner) -> Result<Step<T, R>, Fail>,
        apply: impl FnOnce(&mut Inner, T) -> R,
    ) -> Result<R, Fail> {
        let record = (table, id.to_string());
        let mut inner = self.lock();
        while inner.busy.contains(&record) {
            inner = self
                .idle
                .wait(inner)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let (value, then) = match prepare(&inner)? {
            Step::Done(answer) => return Ok(answer),
            Step::Write(value, then) => (value, then),
        };
        inner.busy.insert(record.clone());
        drop(inner);
        let written = self.store.write(vec![(table, id.to_string(), value)]);
        let mut inner = self.lock();
        inner.busy.remove(&record);
        let answer = match written {
            Ok(()) => Ok(apply(&mut inner, then)),
            Err(e) => Err(store_fail(e)),
        };
        drop(inner);
        self.idle.notify_all();
        answer
    }

    pub(crate) fn is_initialised(&self) -> bool {
        self.lock().root_hash.is_some()
    }

    /// Stores the root token's hash; fails if already initialised.
    pub(crate) fn initialise(&self, hash: [u8; 32]) -> Result<(), Fail> {
        self.change(
            Table::Meta,
            INIT_ID,
            |inner| {
                if inner.root_hash.is_some() {
                    return Err(Fail::bad("Vault is already initialized"));
                }
                let record = serde_json::to_vec(&InitRecord {
                    root_token_sha256: hex_encode(&hash),
                })
                .map_err(|_| Fail::internal("init"))?;
                Ok(Step::Write(Some(Zeroizing::new(record)), ()))
            },
            |inner, ()| inner.root_hash = Some(hash),
        )
    }

    /// A key for use; 400 "not found" as Vault answers for operations.
    pub(crate) fn get(&self, name: &str) -> Result<Arc<Key>, Fail> {
        self.lock()
            .keys
            .get(name)
            .cloned()
            .ok_or_else(|| Fail::bad("encryption key not found"))
    }

    pub(crate) fn find(&self, name: &str) -> Option<Arc<Key>> {
        self.lock().keys.get(name).cloned()
    }

    /// The import wrapping key (PKCS#8), generated and sealed on first use.
    pub(crate) fn wrapping_key(&self) -> Result<Zeroizing<Vec<u8>>, Fail> {
        use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
        self.sealed_meta(WRAPPING_ID, || {
            let private =
                aws_lc_rs::rsa::PrivateDecryptingKey::generate(aws_lc_rs::rsa::KeySize::Rsa4096)
                    .map_err(|_| Fail::internal("wrapping key generation"))?;
            let der: Pkcs8V1Der = private
                .as_der()
                .map_err(|_| Fail::internal("wrapping key generation"))?;
            Ok(Zeroizing::new(der.as_ref().to_vec()))
        })
        .map_err(sealed_fail)
    }

    /// A sealed singleton record of the meta table: the stored one, or the
    /// one `make` returns, stored (durably) before it is returned. `make`
    /// runs outside the lock (RSA-4096 takes seconds); if another request
    /// stored one meanwhile, that one is kept and ours is dropped.
    pub fn sealed_meta<E>(
        &self,
        id: &str,
        make: impl FnOnce() -> Result<Zeroizing<Vec<u8>>, E>,
    ) -> Result<Zeroizing<Vec<u8>>, SealedError<E>> {
        if let Some(record) = self.lock().meta.get(id) {
            return Ok(record.clone());
        }
        let made = make().map_err(SealedError::Make)?;
        self.change(
            Table::Meta,
            id,
            |inner| match inner.meta.get(id) {
                Some(k) => Ok(Step::Done(k.clone())),
                None => Ok(Step::Write(Some(made.clone()), made)),
            },
            |inner, made| {
                inner.meta.insert(id.to_string(), made.clone());
                made
            },
        )
        .map_err(|fail| SealedError::Store(fail.message().to_string()))
    }

    /// The audit signing key (Ed25519 PKCS#8), generated and sealed on
    /// first use: the same key continues the log after a restart.
    pub(crate) fn audit_key(&self) -> Result<Zeroizing<Vec<u8>>, Fail> {
        self.sealed_meta(AUDIT_KEY_ID, || {
            let rng = aws_lc_rs::rand::SystemRandom::new();
            let der = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|_| Fail::internal("audit key generation"))?;
            Ok(Zeroizing::new(der.as_ref().to_vec()))
        })
        .map_err(sealed_fail)
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.lock().keys.keys().cloned().collect()
    }

    /// Stores `key` as new; `Ok(false)` (and no change) if the name exists.
    pub(crate) fn create(&self, key: Key) -> Result<bool, Fail> {
        let name = key.name.clone();
        self.change(
            Table::Keys,
            &name,
            |inner| {
                if inner.keys.contains_key(&key.name) {
                    return Ok(Step::Done(false));
                }
                Ok(Step::Write(Some(serialize(&key)?), key))
            },
            |inner, key| {
                inner.keys.insert(key.name.clone(), Arc::new(key));
                true
            },
        )
    }

    /// Changes a key durably: `change` edits a copy, which replaces the key
    /// only once it is on disk. An error from `change` changes nothing.
    pub(crate) fn update(
        &self,
        name: &str,
        change: impl FnOnce(&mut Key) -> Result<(), Fail>,
    ) -> Result<Arc<Key>, Fail> {
        self.change(
            Table::Keys,
            name,
            |inner| {
                let current = inner
                    .keys
                    .get(name)
                    .ok_or_else(|| Fail::bad("encryption key not found"))?;
                let mut key = Key::clone(current);
                change(&mut key)?;
                Ok(Step::Write(Some(serialize(&key)?), Arc::new(key)))
            },
            |inner, key| {
                inner.keys.insert(name.to_string(), key.clone());
                key
            },
        )
    }

    /// Replaces (or creates) a key wholesale, for restore.
    pub(crate) fn put(&self, key: Key, force: bool) -> Result<(), Fail> {
        let name = key.name.clone();
        self.change(
            Table::Keys,
            &name,
            |inner| {
                if inner.keys.contains_key(&key.name) && !force {
                    return Err(Fail::bad(
                        "key already exists; to overwrite it, set force to true",
                    ));
                }
                Ok(Step::Write(Some(serialize(&key)?), key))
            },
            |inner, key| {
                inner.keys.insert(key.name.clone(), Arc::new(key));
            },
        )
    }

    pub(crate) fn delete(&self, name: &str) -> Result<(), Fail> {
        self.change(
            Table::Keys,
            name,
            |inner| {
                let key = inner
                    .keys
                    .get(name)
                    .ok_or_else(|| Fail::bad("could not delete key; not found"))?;
                if !key.deletion_allowed {
                    return Err(Fail::bad("deletion is not allowed for this key"));
                }
                Ok(Step::Write(None, ()))
            },
            |inner, ()| {
                inner.keys.remove(name);
            },
        )
    }
}

fn serialize(key: &Key) -> Result<Zeroizing<Vec<u8>>, Fail> {
    // Room for the whole record up front, so no reallocation leaves
    // copies of key material behind.
    let room: usize = key
        .versions
        .values()
        .map(|v| (v.secret.len() + v.hmac_key.len()) * 4 + 64)
        .sum::<usize>()
        + 1024;
    let mut buf = Zeroizing::new(Vec::with_capacity(room));
    serde_json::to_writer(&mut *buf, key).map_err(|_| Fail::internal("key serialisation"))?;
    Ok(buf)
}

fn sealed_fail(e: SealedError<Fail>) -> Fail {
    match e {
        SealedError::Make(fail) => fail,
        SealedError::Store(what) => Fail::internal_detail("key store write", what),
    }
}

fn store_fail(e: StoreError) -> Fail {
    Fail::internal_detail("key store write", e)
}

/// Lowercase hex. `hex::encode` builds its String a char at a time, which
/// showed in the profile of every request (accessors).
fn hex_encode(b: &[u8]) -> String {
    let mut out = vec![0u8; 2 * b.len()];
    // The buffer is exactly twice as long, so this cannot fail.
    let _ = hex::encode_to_slice(b, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

fn hex_decode(s: &str, out: &mut [u8]) -> Option<()> {
    if s.len() != out.len() * 2 {
        return None;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(())
}

/// An error answer: status and a message with no secret in it.
#[derive(Debug)]
pub struct Fail {
    status: StatusCode,
    message: String,
}

impl Fail {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn denied() -> Self {
        Self::new(StatusCode::FORBIDDEN, "permission denied")
    }

    /// Our fault; the client learns only what failed.
    pub fn internal(what: &str) -> Self {
        tracing::error!("{what} failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{what} failed"))
    }

    pub fn internal_detail(what: &str, detail: impl std::fmt::Display) -> Self {
        tracing::error!("{what} failed: {detail}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{what} failed"))
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        ApiError::new(self.status, self.message).into_response()
    }
}

/// Vault's response envelope around `data`, status 200.
pub fn envelope(data: serde_json::Value) -> Response {
    crate::audit::context::note_key_version(&data);
    enveloped(StatusCode::OK, &data, None)
}

/// Vault's response envelope around `data`: the answer to every `/v1`
/// call. Only `request_id`, `data` and `errors` vary, so the rest is
/// written as the constant text it is (serde escaped ten key names and
/// values per answer); `data` and `errors` go through serde_json.
fn envelope_bytes<T: serde::Serialize>(
    request_id: &RequestId,
    data: &T,
    errors: Option<&[String]>,
) -> serde_json::Result<Vec<u8>> {
    // axum::Json's buffer starts at 128 bytes and a single answer's
    // envelope is ~300: start at 512 instead of growing it twice.
    let mut body = Vec::with_capacity(512);
    body.extend_from_slice(b"{\"request_id\":\"");
    // Hex digits and dashes: nothing to escape.
    body.extend_from_slice(request_id.as_bytes());
    body.extend_from_slice(
        b"\",\"lease_id\":\"\",\"renewable\":false,\"lease_duration\":0,\"data\":",
    );
    serde_json::to_writer(&mut body, data)?;
    body.extend_from_slice(b",\"wrap_info\":null,\"warnings\":null,\"auth\":null");
    if let Some(errors) = errors {
        body.extend_from_slice(b",\"errors\":");
        serde_json::to_writer(&mut body, errors)?;
    }
    body.push(b'}');
    Ok(body)
}

/// `data` in Vault's envelope with `status` (and `errors`, for a batch
/// with failed items). The caller notes the key version it names.
pub fn enveloped<T: serde::Serialize>(
    status: StatusCode,
    data: &T,
    errors: Option<&[String]>,
) -> Response {
    // The audited request's id, so the log and the answer agree.
    match envelope_bytes(&crate::audit::request_id(), data, errors) {
        Ok(body) => (
            status,
            [(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        Err(e) => Fail::internal_detail("answer", e).into_response(),
    }
}

/// Vault's envelope, status 200, with some top-level fields set (`auth`,
/// or the names Vault repeats at the top level). Rare answers: the
/// envelope is read back into a tree to set them.
pub fn envelope_with_fields(
    data: serde_json::Value,
    fields: &[(&str, serde_json::Value)],
) -> Response {
    crate::audit::context::note_key_version(&data);
    let body = envelope_bytes(&crate::audit::request_id(), &data, None)
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes));
    match body {
        Ok(mut body) => {
            if let Some(obj) = body.as_object_mut() {
                for (k, v) in fields {
                    obj.insert((*k).to_string(), v.clone());
                }
            }
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Err(e) => Fail::internal_detail("answer", e).into_response(),
    }
}

/// Results of a batch: 200 if every item worked, else 400 with the results
/// (failed items carry `error`) and the first error in `errors`.
pub fn batch_response(results: Vec<serde_json::Value>) -> Response {
    let first_error = results
        .iter()
        .find_map(|r| r.get("error").and_then(|e| e.as_str()).map(str::to_string));
    batch_answer(&results, first_error)
}

/// [`batch_response`] for results already checked for errors.
pub fn batch_answer<T: serde::Serialize>(results: &[T], first_error: Option<String>) -> Response {
    #[derive(serde::Serialize)]
    struct Batch<'a, T> {
        batch_results: &'a [T],
    }
    let data = Batch {
        batch_results: results,
    };
    match first_error {
        None => enveloped(StatusCode::OK, &data, None),
        Some(e) => enveloped(StatusCode::BAD_REQUEST, &data, Some(&[e])),
    }
}

/// 204, for writes that return nothing.
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Reads a bounded JSON body; an empty body is `T::default()`.
pub async fn json_body<T: DeserializeOwned + Default>(mut body: Body) -> Result<T, Fail> {
    let bytes = match Limited::new(&mut body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            drain(body).await;
            return Err(Fail::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body too large (limit {MAX_BODY} bytes)"),
            ));
        }
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    // serde_json's messages can quote the input: give only the position.
    serde_json::from_slice(&bytes).map_err(|e| {
        Fail::bad(format!(
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

/// Checks a batch's size.
pub fn check_batch<T>(items: &[T]) -> Result<(), Fail> {
    if items.len() > MAX_BATCH {
        return Err(Fail::bad(format!(
            "batch_input has {} items; the limit is {MAX_BATCH}",
            items.len()
        )));
    }
    Ok(())
}

/// Checks a key name from the path.
pub fn check_name(name: &str) -> Result<(), Fail> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(Fail::bad(format!(
            "invalid key name: 1 to {MAX_NAME} characters of A-Z a-z 0-9 _ . -"
        )))
    }
}

/// Runs `f` on a blocking thread (crypto and fsyncs stay off the I/O threads).
pub async fn blocking<R: Send + 'static>(
    transit: &Arc<Transit>,
    f: impl FnOnce(&Transit) -> Result<R, Fail> + Send + 'static,
) -> Result<R, Fail> {
    let t = transit.clone();
    let ctx = crate::audit::context::current();
    tokio::task::spawn_blocking(move || crate::audit::context::in_context(ctx, || f(&t)))
        .await
        .map_err(|e| Fail::internal_detail("request", e))?
}

/// Batches of at most this many items on a non-RSA key run on the I/O
/// thread (see [`with_key`]).
pub const INLINE_ITEMS: usize = 16;

/// Runs `f` with key `name`. Cheap work (a non-RSA key, at most
/// [`INLINE_ITEMS`] items: microseconds) runs right here, since handing it
/// to a blocking thread costs more than the work itself (two thread
/// switches per request); RSA keys and larger batches go to a blocking
/// thread.
pub async fn with_key<R: Send + 'static>(
    transit: &Arc<Transit>,
    name: &str,
    items: usize,
    f: impl FnOnce(&Key) -> Result<R, Fail> + Send + 'static,
) -> Result<R, Fail> {
    let key = transit.get(name)?;
    if !key.key_type.is_rsa() && items <= INLINE_ITEMS {
        return f(&key);
    }
    tokio::task::spawn_blocking(move || f(&key))
        .await
        .map_err(|e| Fail::internal_detail("request", e))?
}

/// A number that may arrive as a JSON number, a numeric string, or null.
pub fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        U(u64),
        S(String),
    }
    match Option::<N>::deserialize(d)? {
        None => Ok(None),
        Some(N::U(n)) => Ok(Some(n)),
        Some(N::S(s)) if s.is_empty() => Ok(None),
        Some(N::S(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom("expected a non-negative integer")),
    }
}

/// A boolean that may arrive as a JSON bool, "true"/"false", or null.
pub fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        B(bool),
        S(String),
    }
    match Option::<B>::deserialize(d)? {
        None => Ok(None),
        Some(B::B(b)) => Ok(Some(b)),
        Some(B::S(s)) => match s.as_str() {
            "" => Ok(None),
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            _ => Err(serde::de::Error::custom("expected a boolean")),
        },
    }
}

/// Base64 from the client; `None`/empty is empty.
pub fn b64_field(value: Option<&str>, what: &str) -> Result<Zeroizing<Vec<u8>>, Fail> {
    use base64::Engine;
    match value {
        None | Some("") => Ok(Zeroizing::new(Vec::new())),
        // Standard base64, or URL-safe (hvac's examples use it).
        Some(s) => keys::B64
            .decode(s)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(s))
            .map(Zeroizing::new)
            .map_err(|_| Fail::bad(format!("failed to base64-decode {what}"))),
    }
}

/// The `/v1/...` routes, each behind `audit`. All but `sys/init` sit
/// behind [`auth::Guard`] too, inside the audit, so no handler can run
/// for a request its token does not allow, and a refusal is audited. The
/// two layers are stacked directly (one route level, not two: each level
/// costs every request a boxed clone of the route and a boxed future).
pub fn routes(state: AppState, audit: StateLayer<crate::audit::Audit>) -> Router<AppState> {
    let open = Router::new()
        .route(
            "/v1/sys/init",
            get(auth::init_status).put(auth::init).post(auth::init),
        )
        .route_layer(audit.clone());
    let guarded = Router::new()
        .route(
            "/v1/auth/token/create",
            post(tokens::create).put(tokens::create),
        )
        .route("/v1/auth/token/lookup-self", get(tokens::lookup_self))
        .route(
            "/v1/auth/token/lookup",
            post(tokens::lookup).put(tokens::lookup),
        )
        .route(
            "/v1/auth/token/lookup-accessor",
            post(tokens::lookup_accessor).put(tokens::lookup_accessor),
        )
        .route(
            "/v1/auth/token/revoke",
            post(tokens::revoke).put(tokens::revoke),
        )
        .route(
            "/v1/auth/token/revoke-accessor",
            post(tokens::revoke_accessor).put(tokens::revoke_accessor),
        )
        .route(
            "/v1/auth/token/revoke-self",
            post(tokens::revoke_self).put(tokens::revoke_self),
        )
        .route("/v1/sys/policy", any(policies::list))
        .route("/v1/sys/policies/acl", any(policies::list))
        .route(
            "/v1/sys/policy/{name}",
            get(policies::read)
                .put(policies::write)
                .post(policies::write)
                .delete(policies::delete),
        )
        .route(
            "/v1/sys/policies/acl/{name}",
            get(policies::read)
                .put(policies::write)
                .post(policies::write)
                .delete(policies::delete),
        )
        .route("/v1/transit/keys", any(manage::list))
        .route("/v1/transit/wrapping_key", get(import::wrapping_key))
        .route(
            "/v1/transit/keys/{name}/import",
            post(import::import).put(import::import),
        )
        .route(
            "/v1/transit/keys/{name}/import_version",
            post(import::import_version).put(import::import_version),
        )
        .route(
            "/v1/transit/keys/{name}",
            get(manage::read)
                .post(manage::create)
                .put(manage::create)
                .delete(manage::delete),
        )
        .route(
            "/v1/transit/keys/{name}/config",
            post(manage::config).put(manage::config),
        )
        .route(
            "/v1/transit/keys/{name}/rotate",
            post(manage::rotate).put(manage::rotate),
        )
        .route(
            "/v1/transit/keys/{name}/trim",
            post(manage::trim).put(manage::trim),
        )
        .route("/v1/transit/export/{kind}/{name}", get(manage::export))
        .route(
            "/v1/transit/export/{kind}/{name}/{version}",
            get(manage::export_version),
        )
        .route("/v1/transit/backup/{name}", get(manage::backup))
        .route(
            "/v1/transit/restore",
            post(manage::restore).put(manage::restore),
        )
        .route(
            "/v1/transit/restore/{name}",
            post(manage::restore_named).put(manage::restore_named),
        )
        .route(
            "/v1/transit/encrypt/{name}",
            post(crypt::encrypt).put(crypt::encrypt),
        )
        .route(
            "/v1/transit/decrypt/{name}",
            post(crypt::decrypt).put(crypt::decrypt),
        )
        .route(
            "/v1/transit/rewrap/{name}",
            post(crypt::rewrap).put(crypt::rewrap),
        )
        .route(
            "/v1/transit/datakey/{kind}/{name}",
            post(crypt::datakey).put(crypt::datakey),
        )
        .route(
            "/v1/transit/random",
            post(utility::random).put(utility::random),
        )
        .route(
            "/v1/transit/random/{a}",
            post(utility::random_a).put(utility::random_a),
        )
        .route(
            "/v1/transit/random/{a}/{b}",
            post(utility::random_ab).put(utility::random_ab),
        )
        .route("/v1/transit/hash", post(utility::hash).put(utility::hash))
        .route(
            "/v1/transit/hash/{alg}",
            post(utility::hash_alg).put(utility::hash_alg),
        )
        .route("/v1/transit/hmac/{name}", post(sign::hmac).put(sign::hmac))
        .route(
            "/v1/transit/hmac/{name}/{alg}",
            post(sign::hmac_alg).put(sign::hmac_alg),
        )
        .route("/v1/transit/sign/{name}", post(sign::sign).put(sign::sign))
        .route(
            "/v1/transit/sign/{name}/{alg}",
            post(sign::sign_alg).put(sign::sign_alg),
        )
        .route(
            "/v1/transit/verify/{name}",
            post(sign::verify).put(sign::verify),
        )
        .route(
            "/v1/transit/verify/{name}/{alg}",
            post(sign::verify_alg).put(sign::verify_alg),
        )
        .route_layer(
            tower::ServiceBuilder::new()
                .layer(audit)
                .layer(StateLayer::new(state, auth::Guard)),
        );
    open.merge(guarded)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn the_envelope_is_vaults_json() {
        let id = crate::audit::new_request_id();
        let data = json!({"ciphertext": "vault:v1:AAAA", "note": "a \"quoted\"\n\\ line"});
        let body: Value =
            serde_json::from_slice(&envelope_bytes(&id, &data, None).unwrap()).unwrap();
        assert_eq!(
            body,
            json!({
                "request_id": id.as_str(),
                "lease_id": "",
                "renewable": false,
                "lease_duration": 0,
                "data": data,
                "wrap_info": null,
                "warnings": null,
                "auth": null,
            })
        );
        // Vault's key order, as serde wrote it from a struct before.
        let text = String::from_utf8(envelope_bytes(&id, &data, None).unwrap()).unwrap();
        let at = |key: &str| text.find(&format!("\"{key}\":")).unwrap();
        let order = [
            "request_id",
            "lease_id",
            "renewable",
            "lease_duration",
            "data",
            "wrap_info",
            "warnings",
            "auth",
        ];
        assert!(order.windows(2).all(|w| at(w[0]) < at(w[1])), "{text}");

        let errors = ["item 1: bad \"input\"".to_string()];
        let body: Value =
            serde_json::from_slice(&envelope_bytes(&id, &json!({}), Some(&errors)).unwrap())
                .unwrap();
        assert_eq!(body["errors"], json!(errors));
        assert_eq!(body["auth"], Value::Null);
    }
}

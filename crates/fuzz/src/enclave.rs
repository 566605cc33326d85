//! Targets for what the enclave reads (see the crate's docs).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    KeySize, OaepPublicEncryptingKey, PrivateDecryptingKey, OAEP_SHA256_MGF1SHA256,
};
use base64::Engine as _;
use minikms_enclave::fuzzing;

/// A scratch directory for the whole process, in memory where there is
/// /dev/shm (file-backed targets write their input there on every run).
/// Named after the process: statics are never dropped, and libFuzzer
/// leaves without destructors, so each start removes the directories of
/// processes that are gone instead (the API's audit log grows to
/// hundreds of MB in a long run).
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        if let Ok(entries) = std::fs::read_dir(&base) {
            for entry in entries.filter_map(Result::ok) {
                let name = entry.file_name();
                let pid = name.to_str().and_then(|n| n.strip_prefix("minikms-fuzz-"));
                if pid.is_some_and(|p| !Path::new("/proc").join(p).exists()) {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        base.join(format!("minikms-fuzz-{}", std::process::id()))
    })
}

/// A fresh, empty subdirectory `name` of [`scratch`].
fn fresh(name: &str) -> Option<PathBuf> {
    let dir = scratch().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir)
}

/// `classify`: method and route pattern (byte 0) and `path?query`.
pub fn classify(data: &[u8]) {
    fuzzing::classify_request(data);
}

/// The in-process API, opened once: state accumulates across runs, as
/// on a real server.
fn api() -> Option<&'static fuzzing::Api> {
    static API: OnceLock<Option<fuzzing::Api>> = OnceLock::new();
    API.get_or_init(|| {
        let dir = fresh("api")?;
        fuzzing::Api::open(&dir).ok()
    })
    .as_ref()
}

/// `http_request`: `METHOD target\nbody` through the real router, as
/// root: routing, classifier, guard, JSON bodies of every route family,
/// key operations, audit.
pub fn http_request(data: &[u8]) {
    if let Some(api) = api() {
        api.request(data);
    }
}

/// `restore`: a `transit/restore` request body (a backup, base64 JSON).
pub fn restore(data: &[u8]) {
    let mut request = b"POST /v1/transit/restore\n".to_vec();
    request.extend_from_slice(data);
    http_request(&request);
}

/// `acl_policy`: `paths\0policy`: the HCL policy, then matching.
pub fn acl_policy(data: &[u8]) {
    fuzzing::acl_policy(data);
}

/// `versioned`: `vault:vN:base64` and base64 request fields.
pub fn versioned(data: &[u8]) {
    fuzzing::versioned(data);
}

/// `import_key`: key type (byte 0) and unwrapped BYOK key material.
pub fn import_key(data: &[u8]) {
    fuzzing::import_key(data);
}

/// The BYOK wrapping key: RSA-2048, not the enclave's RSA-4096, so that
/// each run costs a quarter; the code path does not depend on the size.
fn wrapping_key() -> Option<&'static (Vec<u8>, OaepPublicEncryptingKey)> {
    static KEY: OnceLock<Option<(Vec<u8>, OaepPublicEncryptingKey)>> = OnceLock::new();
    KEY.get_or_init(|| {
        let private = PrivateDecryptingKey::generate(KeySize::Rsa2048).ok()?;
        let der = private.as_der().ok()?.as_ref().to_vec();
        let public = OaepPublicEncryptingKey::new(private.public_key()).ok()?;
        Some((der, public))
    })
    .as_ref()
}

/// `byok_unwrap`: the wrapped import blob. Byte 0 even: the rest is the
/// request's `ciphertext` as sent. Odd: the rest is an ephemeral key
/// (byte 1 its length) and an AES-KWP blob, wrapped here as a client
/// would, so the fuzzer reaches the key unwrap behind RSA-OAEP.
pub fn byok_unwrap(data: &[u8]) {
    let Some((wrapping, public)) = wrapping_key() else {
        return;
    };
    let [mode, rest @ ..] = data else {
        return;
    };
    if mode % 2 == 0 {
        if let Ok(text) = std::str::from_utf8(rest) {
            fuzzing::byok_unwrap(wrapping, text);
        }
        return;
    }
    let [len, rest @ ..] = rest else {
        return;
    };
    let (ephemeral, kwp) = rest.split_at(usize::from(*len % 64).min(rest.len()));
    let mut blob = vec![0u8; public.ciphertext_size()];
    let Ok(sealed) = public.encrypt(&OAEP_SHA256_MGF1SHA256, ephemeral, &mut blob, None) else {
        return;
    };
    let mut blob = sealed.to_vec();
    blob.extend_from_slice(kwp);
    let text = base64::engine::general_purpose::STANDARD.encode(&blob);
    fuzzing::byok_unwrap(wrapping, &text);
}

/// Panics inside redb on a corrupt file are redb's (the store turns them
/// into a refusal); any other panic is ours, and a finding. A panic hook
/// sees a panic before anything can catch it, and libFuzzer's aborts: so
/// for the open, a hook that passes on only panics outside redb.
fn redb_panics_are_refusals<R>(f: impl FnOnce() -> R + std::panic::UnwindSafe) -> Option<R> {
    static HOOK: Mutex<()> = Mutex::new(());
    let _one_at_a_time = HOOK.lock().unwrap_or_else(PoisonError::into_inner);
    let outer = std::sync::Arc::new(std::panic::take_hook());
    let inner = outer.clone();
    std::panic::set_hook(Box::new(move |info| {
        let in_redb = info.location().is_some_and(|l| l.file().contains("/redb-"));
        if !in_redb {
            inner(info);
        }
    }));
    let result = std::panic::catch_unwind(f);
    let _ = std::panic::take_hook();
    if let Ok(outer) = std::sync::Arc::try_unwrap(outer) {
        std::panic::set_hook(outer);
    }
    result.ok()
}

/// A valid store file (the fresh API's: init record, CA, audit key),
/// made once: `store_open` corrupts a copy of it.
fn valid_store() -> Option<&'static [u8]> {
    static FILE: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    FILE.get_or_init(|| {
        let dir = fresh("store_base")?;
        drop(fuzzing::Api::open(&dir).ok()?);
        std::fs::read(dir.join("keys.redb")).ok()
    })
    .as_deref()
}

/// The store file for `store_open`'s input. Byte 0 even: the rest is the
/// file. Odd: the rest patches [`valid_store`] (redb pages, mostly free,
/// too large for a corpus): a u32 (LE) length to cut it to, then
/// patches of a u24 (LE) offset, a length byte and that many bytes.
fn store_file(data: &[u8]) -> Option<Vec<u8>> {
    let [mode, rest @ ..] = data else {
        return None;
    };
    if mode % 2 == 0 {
        return Some(rest.to_vec());
    }
    let mut file = valid_store()?.to_vec();
    let (cut, mut patches) = rest.split_first_chunk::<4>()?;
    file.truncate(usize::try_from(u32::from_le_bytes(*cut)).ok()?);
    while let Some((head, tail)) = patches.split_first_chunk::<4>() {
        let at = usize::from(head[0]) | usize::from(head[1]) << 8 | usize::from(head[2]) << 16;
        let bytes = &tail[..usize::from(head[3]).min(tail.len())];
        patches = &tail[bytes.len()..];
        if let Some(place) = file.get_mut(at..at + bytes.len()) {
            place.copy_from_slice(bytes);
        }
    }
    Some(file)
}

/// `store_open`: the store file (see [`store_file`]); opening reads the
/// file, the sealed index and every record.
pub fn store_open(data: &[u8]) {
    let Some(file) = store_file(data) else {
        return;
    };
    let Some(dir) = fresh("store") else {
        return;
    };
    if std::fs::write(dir.join("keys.redb"), file).is_err() {
        return;
    }
    let _ = redb_panics_are_refusals(|| fuzzing::store_open(&dir));
}

/// `state_records`: unsealed records (`table/id\tplaintext` lines) as
/// the state reads them at open.
pub fn state_records(data: &[u8]) {
    fuzzing::state_records(data);
}

/// `audit_reader`: the input is `audit.log`; the enclave reads its tail
/// at start.
pub fn audit_reader(data: &[u8]) {
    let Some(dir) = fresh("audit") else {
        return;
    };
    let path = dir.join("audit.log");
    if std::fs::write(&path, data).is_ok() {
        fuzzing::audit_tail(&path, &[0x5a; 32]);
    }
}

/// `audit_line`: one audit-log line, as both readers open it.
pub fn audit_line(data: &[u8]) {
    if let Ok(opened) = minikms_audit::open_line(data) {
        let _ = opened.signed_by(&[0x5a; 32]);
    }
}

/// `ecall`: host -> enclave frames, and the fields the enclave reads.
pub fn ecall(data: &[u8]) {
    crate::frames::each_frame::<minikms_edl::Ecall>(data, |call| fuzzing::ecall_fields(&call));
}

/// `gramine`: Gramine's attestation files as the OS serves them:
/// `attestation_type\0quote\0keys/_sgx_mrenclave`.
pub fn gramine(data: &[u8]) {
    let Some(dir) = fresh("gramine") else {
        return;
    };
    let mut parts = data.splitn(3, |&b| b == 0);
    let kind = parts.next().unwrap_or_default();
    let quote = parts.next().unwrap_or_default();
    let key = parts.next().unwrap_or_default();
    let written = std::fs::create_dir_all(dir.join("keys")).is_ok()
        && std::fs::write(dir.join("attestation_type"), kind).is_ok()
        && std::fs::write(dir.join("user_report_data"), [0u8; 64]).is_ok()
        && std::fs::write(dir.join("quote"), quote).is_ok()
        && std::fs::write(dir.join("keys").join("_sgx_mrenclave"), key).is_ok();
    if written {
        fuzzing::gramine_open(&dir);
    }
}

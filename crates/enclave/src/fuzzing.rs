//! Entry points for the fuzz targets (crate `minikms-fuzz`): thin wrappers
//! that hand untrusted bytes to the enclave's own parsers, so the fuzzer
//! reaches the code that runs, not a copy of it.
//!
//! Only built with the `fuzzing` feature, which only `minikms-fuzz` turns
//! on: it adds functions, it changes nothing the enclave does. This module
//! sits above every layer (as [`crate::boot`] does) and nothing imports it.
//! Each function takes arbitrary bytes and ignores the parser's answer:
//! an error is a correct refusal; only a panic, a hang or an abort is a
//! finding.

use std::path::Path;

use axum::body::Body;
use tower::ServiceExt as _;
use zeroize::Zeroizing;

use crate::core::{import, keys};
use crate::error::Error;
use crate::platform::fixed;
use crate::platform::gramine::Gramine;
use crate::services::audit;
use crate::services::classify::classify;
use crate::state::acl;
use crate::state::key::KeyType;
use crate::state::State;
use crate::store::opening::Found;
use crate::store::redb::RedbStore;
use crate::store::{Change, Records, Storage, StoreError, Table, Versions};

/// Route patterns the classifier is asked about (the router's own; the
/// `http_request` target reaches every one through real routing).
const PATTERNS: &[&str] = &[
    "/v1/transit/keys",
    "/v1/transit/keys/{name}",
    "/v1/transit/keys/{name}/rotate",
    "/v1/transit/encrypt/{name}",
    "/v1/transit/datakey/{kind}/{name}",
    "/v1/transit/export/{kind}/{name}/{version}",
    "/v1/sys/policies/acl/{name}",
    "/v1/auth/token/create",
    "",
];

const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "DELETE", "LIST", "PATCH"];

/// Splits `data` at the first `sep`: (before, after), or (all, empty).
fn split(data: &[u8], sep: u8) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == sep) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// The request classifier: byte 0 picks the method and the route
/// pattern, the rest is `path[?query]` as it came off the wire.
pub fn classify_request(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(target) = std::str::from_utf8(rest) else {
        return;
    };
    let method = METHODS[usize::from(pick) % METHODS.len()];
    let pattern = PATTERNS[usize::from(pick >> 3) % PATTERNS.len()];
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let _ = classify(method, path, query, pattern);
}

/// An ACL policy (HCL) and its matching: the text is parsed; if it
/// parses, every rule's path and a few paths from the input are matched.
pub fn acl_policy(data: &[u8]) {
    let (paths, text) = split(data, 0);
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let Ok(policy) = acl::parse(text) else {
        return;
    };
    let paths = String::from_utf8_lossy(paths);
    for path in paths.split('\n') {
        let _ = acl::permissions([&policy], path);
        for rule in &policy.rules {
            let _ = acl::matches(&rule.pattern, path);
            let _ = acl::priority(&rule.pattern, path);
        }
    }
}

/// Vault's `vault:vN:base64` strings and the base64 fields of requests.
pub fn versioned(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok((v, body)) = keys::parse_versioned(text, "ciphertext") {
        // What parses must be what we would write.
        let again = keys::parse_versioned(&keys::versioned(v, &body), "ciphertext");
        assert_eq!(again.ok(), Some((v, body)));
    }
    let _ = crate::core::input::b64_field(Some(text), "plaintext");
}

/// BYOK key normalisation: byte 0 picks the key type, the rest is the
/// unwrapped key material.
pub fn import_key(data: &[u8]) {
    const TYPES: &[&str] = &[
        "aes256-gcm96",
        "hmac",
        "ed25519",
        "ecdsa-p256",
        "ecdsa-p384",
        "rsa-2048",
        "rsa-3072",
        "rsa-4096",
    ];
    let Some((&pick, material)) = data.split_first() else {
        return;
    };
    if let Some(key_type) = KeyType::parse(TYPES[usize::from(pick) % TYPES.len()]) {
        let _ = import::normalise(key_type, material);
    }
}

/// BYOK unwrapping with a fixed wrapping key (PKCS#8): the request's
/// base64 `ciphertext` field, as a client sends it.
pub fn byok_unwrap(wrapping_pkcs8: &[u8], ciphertext: &str) {
    let _ = import::unwrap(wrapping_pkcs8, Some(ciphertext));
}

/// Channel frames (ECALLs) and what the enclave does with the fields it
/// reads from them: the TLS names of `set_up_server`, the hex of the
/// quoting service's answers.
pub fn ecall_fields(call: &minikms_edl::Ecall) {
    match call {
        minikms_edl::Ecall::SetUpServer { tls_names, .. } => {
            let _ = crate::server::tls::Names::parse(tls_names);
        }
        minikms_edl::Ecall::QeTargetInfo { target_info, .. } => {
            if let Ok(bytes) = hex::decode(target_info) {
                let _ = minikms_sgx_sim::TargetInfo::from_bytes(&bytes);
            }
        }
        minikms_edl::Ecall::Quote { quote, .. } => {
            let _ = hex::decode(quote);
        }
        minikms_edl::Ecall::QuoteFailed { reason, .. } => {
            let _ = minikms_edl::bounded_log_line(reason);
        }
        minikms_edl::Ecall::Shutdown {} => {}
    }
}

/// Gramine's attestation files under `root`, as the untrusted OS serves
/// them: opening the platform reads `attestation_type` and `quote`; a
/// sealing key reads `keys/_sgx_mrenclave`.
pub fn gramine_open(root: &Path) {
    use crate::platform::{Platform, SealPolicy};
    if let Ok(g) = Gramine::open(root) {
        let _ = g.sealing_key(SealPolicy::MrEnclave, &[7; 32]);
    }
}

/// The enclave's reader of its own audit log (`data_dir/audit.log`): the
/// last line's chain position, checked against `public_key`.
pub fn audit_tail(path: &Path, public_key: &[u8]) {
    let _ = audit::open_tail(path, public_key);
}

/// Opens the redb store in `data_dir` (its `keys.redb` is the input),
/// unsealing with the fixed test platform's keys.
pub fn store_open(data_dir: &Path) -> Result<(), StoreError> {
    RedbStore::open(&fixed::platform(), data_dir).map(drop)
}

/// A store that keeps nothing: [`State`] without a file under it.
struct Nowhere;

impl Storage for Nowhere {
    fn write(&mut self, _: &[Change]) -> Result<u64, StoreError> {
        Ok(0)
    }

    fn set_recovery(&mut self, _: &[u8]) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The state's reading of unsealed records (keys, tokens, policies, the
/// init record), as `State::open` takes them from the store. Each line of
/// the input is `table/id<TAB>plaintext`.
pub fn state_records(data: &[u8]) {
    let mut records = Records::new();
    for line in data.split(|&b| b == b'\n') {
        let (place, plain) = split(line, b'\t');
        let place = String::from_utf8_lossy(place);
        let Some((table, id)) = place.split_once('/') else {
            continue;
        };
        let Some(table) = Table::from_name(table) else {
            continue;
        };
        records.insert((table, id.to_string()), Zeroizing::new(plain.to_vec()));
    }
    let _ = State::open(Box::new(Nowhere), records, Versions::default(), None);
}

/// The whole `/v1` API in process: routing, the classifier, the guard,
/// bounded JSON bodies of every route family, the key operations and
/// the audit log, over a redb store in `data_dir`, authenticated as root.
pub struct Api {
    runtime: tokio::runtime::Runtime,
    app: axum::Router,
}

/// The root token [`Api`]'s requests carry.
const ROOT_TOKEN: &str = "fuzz-root";

impl Api {
    /// Opens the store and audit log in `data_dir` (made empty by the
    /// caller) with the fixed test platform.
    pub fn open(data_dir: &Path) -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::internal("the fuzzing runtime", e))?;
        let platform = fixed::platform();
        let app = runtime.block_on(async {
            let opened = match RedbStore::open_or_sealed(&platform, data_dir, false)? {
                Found::Ready(unsealed) => unsealed,
                Found::Sealed(_) => return Err(Error::Sealed("the store opened sealed".into())),
            };
            let token = Some(Zeroizing::new(ROOT_TOKEN.to_string()));
            let opened =
                crate::opened::open_store(&platform, opened, data_dir, token, Default::default())
                    .await
                    .map_err(|e| Error::internal("opening the store", e))?;
            Ok::<_, Error>(crate::http::routes::router_with(
                platform.clone(),
                &opened,
                false,
            ))
        })?;
        Ok(Self { runtime, app })
    }

    /// One request: the first line is `METHOD target`, the rest its body.
    pub fn request(&self, data: &[u8]) {
        let _ = self.answer(data);
    }

    /// As [`Api::request`], returning the answer's body (for making seeds).
    /// Requests for RSA keys are skipped: generating one takes up to a
    /// second and parses nothing.
    pub fn answer(&self, data: &[u8]) -> Option<Vec<u8>> {
        let (line, body) = split(data, b'\n');
        let line = std::str::from_utf8(line).ok()?;
        let (method, target) = line.split_once(' ').unwrap_or(("GET", line));
        if target.contains("rsa") || body.windows(4).any(|w| w == b"rsa-") {
            return None;
        }
        let request = axum::http::Request::builder()
            .method(method)
            .uri(target)
            .header("x-vault-token", ROOT_TOKEN)
            .body(Body::from(body.to_vec()))
            .ok()?;
        let app = self.app.clone();
        self.runtime.block_on(async move {
            let Ok(response) = app.oneshot(request).await;
            // The whole answer, as a client would read it.
            axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .ok()
                .map(|b| b.to_vec())
        })
    }
}

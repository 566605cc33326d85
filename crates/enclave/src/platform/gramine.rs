//! Real SGX through Gramine: the unmodified enclave binary runs under
//! `gramine-sgx`, and Gramine's `/dev/attestation` pseudo-files give us the
//! hardware's services:
//!
//! - `user_report_data` (write 64 bytes), then `quote` (read): a DCAP quote
//!   made by the platform's quoting enclave over our report;
//! - `keys/_sgx_mrenclave`, `keys/_sgx_mrsigner`: 16-byte sealing keys that
//!   EGETKEY derived under each policy;
//! - `attestation_type`: must be `dcap`.
//!
//! Our identity is what the hardware says in our own quote, not what any
//! file claims. This backend is tested against a fake directory tree that
//! holds a recorded real quote (we have no SGX machine).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use aws_lc_rs::hmac;
use minikms_sigstruct::{EnclaveConfig, Identity, Measurement};
use zeroize::Zeroizing;

use super::{BoxFuture, Evidence, Platform, PlatformError, SealPolicy};

/// Where Gramine mounts its attestation interface.
pub const DEV_ATTESTATION: &str = "/dev/attestation";

/// The ISV report body inside an SGX quote v3 starts after the 48-byte header.
const BODY: usize = 48;

pub struct Gramine {
    root: PathBuf,
    identity: Identity,
    config: EnclaveConfig,
    /// Writing report data and reading the quote must not interleave.
    quoting: Arc<Mutex<()>>,
}

impl Gramine {
    /// Whether we run under Gramine with DCAP attestation.
    pub fn detect() -> bool {
        Path::new(DEV_ATTESTATION).join("quote").exists()
    }

    /// Opens the attestation interface under `root` and learns our identity
    /// from a quote over zero report data.
    pub fn open(root: &Path) -> Result<Self, PlatformError> {
        let kind =
            std::fs::read_to_string(root.join("attestation_type")).map_err(|e| io(root, e))?;
        if kind.trim() != "dcap" {
            return Err(PlatformError::Quote(format!(
                "Gramine attestation type is {:?}; minikms needs \"dcap\"",
                kind.trim()
            )));
        }
        let quoting = Arc::new(Mutex::new(()));
        let quote = quote_blocking(root, &quoting, &[0u8; 64])?;
        let identity = identity_from_quote(&quote)?;
        let config = EnclaveConfig {
            debug: identity.debug,
            // Gramine's manifest, not ours, sets the layout; only the thread
            // count is used, and Gramine enforces its own.
            num_heap_pages: 1,
            num_stack_pages: 1,
            num_tcs: 4,
            product_id: identity.product_id,
            security_version: identity.security_version,
        };
        Ok(Self {
            root: root.to_path_buf(),
            identity,
            config,
            quoting,
        })
    }
}

fn io(path: &Path, error: std::io::Error) -> PlatformError {
    PlatformError::PlatformFile {
        path: path.display().to_string(),
        error,
    }
}

fn quote_blocking(
    root: &Path,
    lock: &Mutex<()>,
    report_data: &[u8; 64],
) -> Result<Vec<u8>, PlatformError> {
    let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
    let data_file = root.join("user_report_data");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&data_file)
        .and_then(|mut f| f.write_all(report_data))
        .map_err(|e| io(&data_file, e))?;
    let quote_file = root.join("quote");
    std::fs::read(&quote_file).map_err(|e| io(&quote_file, e))
}

/// Reads the identity fields of the ISV report body of an SGX quote v3.
fn identity_from_quote(quote: &[u8]) -> Result<Identity, PlatformError> {
    let body = quote
        .get(BODY..BODY + 384)
        .filter(|_| quote.get(0..2) == Some(&3u16.to_le_bytes()[..]))
        .ok_or_else(|| {
            PlatformError::Quote("Gramine returned something that is not an SGX quote v3".into())
        })?;
    let take32 = |at: usize| {
        let mut out = [0u8; 32];
        out.copy_from_slice(&body[at..at + 32]);
        Measurement(out)
    };
    let mut attributes = [0u8; 16];
    attributes.copy_from_slice(&body[48..64]);
    Ok(Identity {
        mrenclave: take32(64),
        mrsigner: take32(128),
        product_id: u16::from_le_bytes([body[256], body[257]]),
        security_version: u16::from_le_bytes([body[258], body[259]]),
        attributes,
        debug: attributes[0] & 0x02 != 0,
    })
}

impl Platform for Gramine {
    fn name(&self) -> &'static str {
        "sgx"
    }

    fn is_simulation(&self) -> bool {
        false
    }

    fn identity(&self) -> &Identity {
        &self.identity
    }

    fn config(&self) -> &EnclaveConfig {
        &self.config
    }

    /// Gramine's keys carry no key id, so the id is mixed in with HMAC.
    fn sealing_key(
        &self,
        policy: SealPolicy,
        key_id: &[u8; 32],
    ) -> Result<Zeroizing<[u8; 16]>, PlatformError> {
        let name = match policy {
            SealPolicy::MrEnclave => "_sgx_mrenclave",
            SealPolicy::MrSigner => "_sgx_mrsigner",
        };
        let path = self.root.join("keys").join(name);
        let base = Zeroizing::new(std::fs::read(&path).map_err(|e| io(&path, e))?);
        if base.len() != 16 {
            return Err(PlatformError::Quote(format!(
                "{} is not a 16-byte key",
                path.display()
            )));
        }
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &base), key_id);
        let mut key = Zeroizing::new([0u8; 16]);
        key.copy_from_slice(&tag.as_ref()[..16]);
        Ok(key)
    }

    fn evidence(&self, report_data: [u8; 64]) -> BoxFuture<'_, Result<Evidence, PlatformError>> {
        let root = self.root.clone();
        let lock = self.quoting.clone();
        Box::pin(async move {
            let quote =
                tokio::task::spawn_blocking(move || quote_blocking(&root, &lock, &report_data))
                    .await
                    .map_err(|e| PlatformError::Quote(e.to_string()))??;
            Ok(Evidence {
                quote,
                collateral: None,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake `/dev/attestation` holding a real quote recorded on SGX
    /// hardware (the tutorial's own, from ../shared/vectors).
    fn fake_tree() -> Option<tempfile::TempDir> {
        let quote = minikms_test_vectors::file("sgx-dcap/mithril_sgx_quote_v3.bin")?;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("attestation_type"), "dcap\n").unwrap();
        std::fs::write(dir.path().join("user_report_data"), [0u8; 64]).unwrap();
        std::fs::write(dir.path().join("quote"), quote).unwrap();
        std::fs::create_dir(dir.path().join("keys")).unwrap();
        std::fs::write(dir.path().join("keys/_sgx_mrenclave"), [1u8; 16]).unwrap();
        std::fs::write(dir.path().join("keys/_sgx_mrsigner"), [2u8; 16]).unwrap();
        Some(dir)
    }

    #[test]
    fn identity_comes_from_the_hardware_quote() {
        let Some(dir) = fake_tree() else { return };
        let g = Gramine::open(dir.path()).unwrap();
        let id = g.identity();
        assert!(
            id.mrenclave.to_hex().starts_with("af343865"),
            "{}",
            id.mrenclave
        );
        assert!(
            id.mrsigner.to_hex().starts_with("58272dd3"),
            "{}",
            id.mrsigner
        );
        assert_eq!((id.product_id, id.security_version, id.debug), (1, 1, true));
        assert_eq!(g.name(), "sgx");
    }

    #[tokio::test]
    async fn evidence_writes_report_data_then_reads_the_quote() {
        let Some(dir) = fake_tree() else { return };
        let g = Gramine::open(dir.path()).unwrap();
        let evidence = g.evidence([9u8; 64]).await.unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("user_report_data")).unwrap(),
            [9u8; 64]
        );
        assert_eq!(
            evidence.quote,
            std::fs::read(dir.path().join("quote")).unwrap()
        );
        assert!(evidence.collateral.is_none());
    }

    #[test]
    fn sealing_keys_follow_policy_and_key_id() {
        let Some(dir) = fake_tree() else { return };
        let g = Gramine::open(dir.path()).unwrap();
        let a = g.sealing_key(SealPolicy::MrSigner, &[0; 32]).unwrap();
        assert_eq!(*a, *g.sealing_key(SealPolicy::MrSigner, &[0; 32]).unwrap());
        assert_ne!(*a, *g.sealing_key(SealPolicy::MrSigner, &[1; 32]).unwrap());
        assert_ne!(*a, *g.sealing_key(SealPolicy::MrEnclave, &[0; 32]).unwrap());
    }

    #[test]
    fn refuses_other_attestation_types_and_non_quotes() {
        let Some(dir) = fake_tree() else { return };
        std::fs::write(dir.path().join("attestation_type"), "epid").unwrap();
        assert!(Gramine::open(dir.path()).is_err());
        std::fs::write(dir.path().join("attestation_type"), "dcap").unwrap();
        std::fs::write(dir.path().join("quote"), b"not a quote").unwrap();
        assert!(Gramine::open(dir.path()).is_err());
    }
}

//! A stand-in platform for tests and fuzzing: fixed identity, sealing keys
//! that are a function of the key id (and of `fuses`, another "CPU"), and
//! an empty quote. NO security; never compiled into the enclave binary.

use std::sync::Arc;

use minikms_sigstruct::{EnclaveConfig, Identity, Measurement};
use zeroize::Zeroizing;

use super::{BoxFuture, Evidence, Platform, PlatformError, SealPolicy};

pub struct Fixed(Identity, EnclaveConfig, u8);

impl Platform for Fixed {
    fn name(&self) -> &'static str {
        "test"
    }
    fn is_simulation(&self) -> bool {
        false
    }
    fn identity(&self) -> &Identity {
        &self.0
    }
    fn config(&self) -> &EnclaveConfig {
        &self.1
    }
    fn sealing_key(
        &self,
        _: SealPolicy,
        key_id: &[u8; 32],
    ) -> Result<Zeroizing<[u8; 16]>, PlatformError> {
        let mut k = [0u8; 16];
        k[..].copy_from_slice(&key_id[..16]);
        k[0] ^= self.2;
        Ok(Zeroizing::new(k))
    }
    /// An empty quote: enough for the audit log's start entry, which is all
    /// that asks for evidence without checking it.
    fn evidence(&self, _: [u8; 64]) -> BoxFuture<'_, Result<Evidence, PlatformError>> {
        Box::pin(async {
            Ok(Evidence {
                quote: Vec::new(),
                collateral: None,
            })
        })
    }
}

/// A platform whose sealing keys depend on `fuses` (another CPU).
pub fn platform_with_fuses(fuses: u8) -> Arc<dyn Platform> {
    let config = EnclaveConfig {
        debug: true,
        num_heap_pages: 1,
        num_stack_pages: 1,
        num_tcs: 1,
        product_id: 1,
        security_version: 1,
    };
    Arc::new(Fixed(
        Identity {
            mrenclave: Measurement([1; 32]),
            mrsigner: Measurement([2; 32]),
            product_id: 1,
            security_version: 1,
            attributes: [0; 16],
            debug: true,
        },
        config,
        fuses,
    ))
}

pub fn platform() -> Arc<dyn Platform> {
    platform_with_fuses(0)
}

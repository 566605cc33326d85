//! The workload's side of secure key release: a program in a TEE that
//! logs in to minikms with evidence ([`crate::login`]).
//!
//! - [`Workload`]: what the TEE gives a workload: evidence binding 64
//!   bytes of report data to its identity (the enclave's own
//!   `Platform::evidence`, seen from the client side). Programs on real
//!   hardware implement it over their TEE's interface.
//! - [`SimulatedWorkload`]: a workload enclave on the simulated platform
//!   (NO security): its identity is a signed enclave file made by
//!   `kms-host sign`, its evidence a quote from the simulated CPU and
//!   quoting enclave, with the simulated provisioning service's collateral.
//! - [`WorkloadKey`]: the workload's fresh RSA-3072 key: its public half
//!   goes into the evidence, a self-signed TLS client certificate for it
//!   proves on every connection that the token's bearer holds it, and
//!   released secrets are wrapped to it.

use std::path::Path;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeySize, PrivateDecryptingKey};
use minikms_sgx_sim::report::attributes;
use minikms_sgx_sim::{EnclaveIdentity, SimCpu, SimPcs, SimQuotingEnclave};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use zeroize::Zeroizing;

use crate::attested_tls::unix_now;
use crate::error::Error;
use crate::files::read_file;

/// Signed enclave files larger than this are not enclaves.
const MAX_ENCLAVE_FILE: u64 = 256 << 20;

/// Evidence a workload made: a quote, and its collateral where the
/// platform issues it (simulation).
#[derive(Debug, Clone)]
pub struct WorkloadEvidence {
    /// The quote (SGX DCAP quote v3 in simulation).
    pub quote: Vec<u8>,
    /// QuoteCollateralV3 JSON, if the platform issues it.
    pub collateral: Option<serde_json::Value>,
}

/// What a TEE gives a workload for its login.
pub trait Workload {
    /// Evidence binding `report_data` to this workload's identity.
    fn evidence(&self, report_data: &[u8; 64]) -> Result<WorkloadEvidence, Error>;
}

/// A workload enclave on the simulated platform. Anyone can make one for
/// any identity: it proves nothing, and a role accepts it only with
/// `allow_simulation`.
pub struct SimulatedWorkload {
    me: EnclaveIdentity,
    cpu: SimCpu,
    qe: SimQuotingEnclave,
    pcs: SimPcs,
}

impl SimulatedWorkload {
    /// The enclave signed in `signed_file` (by `kms-host sign`), running on
    /// the simulated CPU whose fuses are in `platform_file` (made on first
    /// use), or on a fresh simulated CPU of its own.
    pub fn from_signed_file(
        signed_file: &Path,
        platform_file: Option<&Path>,
    ) -> Result<Self, Error> {
        let image = read_file(signed_file, MAX_ENCLAVE_FILE)?;
        let (identity, _) = minikms_sigstruct::image::verify_image(&image).map_err(|e| {
            Error::bad_file(signed_file, format!("not a valid signed enclave: {e}"))
        })?;
        let cpu = match platform_file {
            Some(path) => SimCpu::open_or_create(path)
                .map_err(|e| Error::bad_file(path, format!("simulated platform file: {e}")))?,
            None => {
                let mut fuses = Zeroizing::new([0u8; 32]);
                crate::random::fill(fuses.as_mut())?;
                SimCpu::from_fuses(*fuses)
            }
        };
        let sim = |e: &dyn std::fmt::Display| Error::System(format!("simulated platform: {e}"));
        let qe = SimQuotingEnclave::new(&cpu).map_err(|e| sim(&e))?;
        let pcs = SimPcs::new(&cpu).map_err(|e| sim(&e))?;
        let flags = u64::from_le_bytes(identity.attributes[..8].try_into().unwrap_or_default());
        let xfrm = u64::from_le_bytes(identity.attributes[8..].try_into().unwrap_or_default());
        let me = EnclaveIdentity {
            mrenclave: identity.mrenclave.0,
            mrsigner: identity.mrsigner.0,
            isv_prod_id: identity.product_id,
            isv_svn: identity.security_version,
            // The CPU sets INIT once the enclave is initialised.
            attributes: attributes(flags | 1, xfrm),
            misc_select: 0,
        };
        Ok(Self { me, cpu, qe, pcs })
    }
}

impl Workload for SimulatedWorkload {
    fn evidence(&self, report_data: &[u8; 64]) -> Result<WorkloadEvidence, Error> {
        let sim = |e: &dyn std::fmt::Display| Error::System(format!("simulated platform: {e}"));
        let report = self
            .cpu
            .ereport(&self.me, &self.qe.target_info(), report_data)
            .map_err(|e| sim(&e))?;
        let quote = self
            .qe
            .quote(&self.cpu, &report, &self.pcs)
            .map_err(|e| sim(&e))?;
        let collateral = self.pcs.collateral_json(unix_now()).map_err(|e| sim(&e))?;
        Ok(WorkloadEvidence {
            quote,
            collateral: Some(collateral),
        })
    }
}

/// A workload's fresh key (RSA-3072), with a self-signed TLS client
/// certificate for it. Never written anywhere; zeroized when dropped.
pub struct WorkloadKey {
    pkcs8: Zeroizing<Vec<u8>>,
    spki: Vec<u8>,
    cert: CertificateDer<'static>,
}

impl WorkloadKey {
    /// A new key and certificate.
    pub fn generate() -> Result<Self, Error> {
        let failed = |what: &str| Error::System(format!("making the workload key: {what}"));
        let key = PrivateDecryptingKey::generate(KeySize::Rsa3072).map_err(|_| failed("RSA"))?;
        let pkcs8: Pkcs8V1Der = key.as_der().map_err(|_| failed("PKCS#8"))?;
        let pkcs8 = Zeroizing::new(pkcs8.as_ref().to_vec());
        let spki: PublicKeyX509Der = key.public_key().as_der().map_err(|_| failed("SPKI"))?;
        let signer = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
            &PrivatePkcs8KeyDer::from(pkcs8.as_slice()),
            &rcgen::PKCS_RSA_SHA256,
        )
        .map_err(|e| failed(&e.to_string()))?;
        let mut params = rcgen::CertificateParams::default();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "minikms workload");
        let cert = params
            .self_signed(&signer)
            .map_err(|e| failed(&e.to_string()))?;
        Ok(Self {
            pkcs8,
            spki: spki.as_ref().to_vec(),
            cert: cert.der().clone(),
        })
    }

    /// The public key, SubjectPublicKeyInfo DER.
    pub fn public_key_der(&self) -> &[u8] {
        &self.spki
    }

    /// The TLS client certificate chain and key to present.
    pub fn tls_identity(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        (
            vec![self.cert.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.pkcs8.to_vec())),
        )
    }

    /// Opens a secret released to this key
    /// ([`minikms_api::release::wrap`]).
    pub fn unwrap(&self, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        minikms_api::release::unwrap(&self.pkcs8, blob)
            .map_err(|e| Error::Protocol(format!("cannot open the released secret: {e}")))
    }
}

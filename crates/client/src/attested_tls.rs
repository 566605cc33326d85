//! Attested TLS: a rustls client configuration that accepts a server only
//! if its certificate carries attestation evidence that verifies, binds the
//! certificate's key, and meets the policy.
//!
//! Trust comes from the evidence, not from a CA or the server's name: the
//! certificate (and its issuer, the enclave's own CA) is made inside the
//! enclave, so neither the issuer nor the name in the URL is checked. What is checked, in order:
//! 1. the certificate's validity dates (now);
//! 2. the evidence (quote, collateral from the options or the claims, or
//!    signatures only with `offline`) through `minikms_verifier`;
//! 3. the policy (MRENCLAVE, MRSIGNER, product, SVN, debug, simulation, TCB);
//! 4. that the evidence binds this certificate's public key;
//! 5. (by rustls) the handshake signature, made with that key, so the peer
//!    holds the attested key.
//!
//! What was verified for each certificate is kept, so a caller can show it
//! ([`AttestedVerifier::claims_for`], in one line with [`summary`]).
//!
//! What to accept is an [`Attestation`]: a policy, optionally pinned to a
//! signed enclave file ([`Attestation::pin_enclave_file`]), and collateral.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use minikms_verifier::tls::{CertificateCheck, Refusal, Verifier};
use minikms_verifier::{
    certificate_evidence, verify_certificate_with, AmdCerts, CertificateClaims, Policy,
    VerifyError, VerifyOptions,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::ClientConfig;

use crate::error::{Error, Refused};
use crate::files::read_file;

/// Signed enclave files larger than this are not enclaves.
const MAX_ENCLAVE_FILE: u64 = 256 << 20;
/// Collateral files larger than this are not collateral.
const MAX_COLLATERAL_FILE: u64 = 4 << 20;

/// How many verified certificates are remembered for [`AttestedVerifier::claims_for`].
const REMEMBERED: usize = 64;

/// How to verify the server's evidence.
#[derive(Debug, Clone, Default)]
pub struct Attestation {
    /// What to accept.
    pub policy: Policy,
    /// QuoteCollateralV3 JSON to verify with; `None` uses the collateral the
    /// certificate carries (minikms in simulation), else see `offline`.
    pub collateral: Option<Vec<u8>>,
    /// Without collateral, check signatures only (TCB status unknown).
    pub offline: bool,
    /// SEV-SNP: the VCEK (DER) and AMD's ASK then ARK (PEM).
    pub amd: Option<(Vec<u8>, Vec<u8>)>,
}

impl Attestation {
    /// Pins MRENCLAVE and MRSIGNER to those of the signed enclave file at
    /// `path` (made by `kms-host sign`), and accepts a debug enclave if it
    /// is one: whoever signed a debug enclave and pins it expects one. A pin
    /// already set to another value is an error.
    pub fn pin_enclave_file(&mut self, path: &Path) -> Result<(), Error> {
        let image = read_file(path, MAX_ENCLAVE_FILE)?;
        let (identity, _) = minikms_sigstruct::image::verify_image(&image)
            .map_err(|e| Error::bad_file(path, format!("not a valid signed enclave: {e}")))?;
        pin(
            "MRENCLAVE",
            &mut self.policy.mrenclave,
            identity.mrenclave.0,
        )?;
        pin("MRSIGNER", &mut self.policy.mrsigner, identity.mrsigner.0)?;
        self.policy.allow_debug |= identity.debug;
        Ok(())
    }

    /// Verifies with the collateral (QuoteCollateralV3 JSON) in the file at
    /// `path`.
    pub fn read_collateral(&mut self, path: &Path) -> Result<(), Error> {
        self.collateral = Some(read_file(path, MAX_COLLATERAL_FILE)?);
        Ok(())
    }

    /// Verifies SEV-SNP reports with the VCEK (DER) at `vcek` and AMD's
    /// ASK then ARK (PEM) at `amd_chain`.
    pub fn read_amd_certs(&mut self, vcek: &Path, amd_chain: &Path) -> Result<(), Error> {
        self.amd = Some((
            read_file(vcek, MAX_COLLATERAL_FILE)?,
            read_file(amd_chain, MAX_COLLATERAL_FILE)?,
        ));
        Ok(())
    }

    /// What SEV-SNP reports are verified with, if given.
    pub fn amd_certs(&self) -> Option<AmdCerts<'_>> {
        self.amd
            .as_ref()
            .map(|(vcek, amd_chain)| AmdCerts { vcek, amd_chain })
    }

    /// The options to verify evidence with at `at` (Unix seconds).
    pub fn options(&self, at: u64) -> VerifyOptions<'_> {
        VerifyOptions {
            at,
            collateral: self.collateral.as_deref(),
            offline: self.offline,
        }
    }
}

fn pin(what: &str, slot: &mut Option<[u8; 32]>, from_file: [u8; 32]) -> Result<(), Error> {
    match slot {
        Some(given) if *given != from_file => Err(Error::Input(format!(
            "--{} {} contradicts --enclave, which says {}",
            what.to_ascii_lowercase(),
            hex::encode(given),
            hex::encode(from_file)
        ))),
        _ => {
            *slot = Some(from_file);
            Ok(())
        }
    }
}

/// The rustls certificate verifier of attested TLS.
#[derive(Debug)]
pub struct AttestedVerifier {
    attestation: Attestation,
    provider: Arc<CryptoProvider>,
    verified: Mutex<VecDeque<([u8; 32], CertificateClaims)>>,
}

impl AttestedVerifier {
    /// A verifier that accepts what `attestation` describes.
    pub fn new(attestation: Attestation) -> Arc<Self> {
        Arc::new(Self {
            attestation,
            provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
            verified: Mutex::new(VecDeque::new()),
        })
    }

    /// What this verifier accepts.
    pub fn attestation(&self) -> &Attestation {
        &self.attestation
    }

    /// A TLS 1.3 client configuration that uses this verifier.
    pub fn client_config(self: &Arc<Self>) -> Result<ClientConfig, Error> {
        self.client_config_as(None)
    }

    /// As [`AttestedVerifier::client_config`], presenting a client
    /// certificate chain and its key if given (a workload's attested key:
    /// [`crate::workload::WorkloadKey::tls_identity`]).
    pub fn client_config_as(
        self: &Arc<Self>,
        identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    ) -> Result<ClientConfig, Error> {
        // The aws-lc-rs provider supports TLS 1.3: this cannot fail.
        let builder = ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| Error::System(format!("no TLS 1.3: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(Verifier::new(self.clone(), &self.provider));
        match identity {
            None => Ok(builder.with_no_client_auth()),
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| Error::System(format!("the client certificate: {e}"))),
        }
    }

    /// What was verified for this certificate, if this verifier accepted it.
    pub fn claims_for(&self, cert: &CertificateDer<'_>) -> Option<CertificateClaims> {
        let id = cert_id(cert);
        self.verified
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|(k, _)| *k == id)
            .map(|(_, c)| c.clone())
    }

    /// Checks `cert` as the handshake would (validity at `now`, evidence,
    /// policy, key binding), without the handshake.
    pub fn check_certificate(
        &self,
        cert: &CertificateDer<'_>,
        now: u64,
    ) -> Result<CertificateClaims, Refused> {
        let evidence = certificate_evidence(cert).map_err(VerifyError::from)?;
        check_validity(evidence.not_before, evidence.not_after, now)?;
        let options = self.attestation.options(now);
        Ok(verify_certificate_with(
            cert,
            &options,
            self.attestation.amd_certs().as_ref(),
            &self.attestation.policy,
        )?)
    }
}

/// Whether `now` (Unix seconds) is within a certificate's validity
/// (`not_before` and `not_after`, Unix seconds).
pub fn check_validity(not_before: i64, not_after: i64, now: u64) -> Result<(), Refused> {
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    if now < not_before {
        return Err(Refused::NotYetValid);
    }
    if now > not_after {
        return Err(Refused::Expired);
    }
    Ok(())
}

/// One line: what a server's certificate proved (the CLI's `attested: ...`).
pub fn summary(claims: &CertificateClaims) -> String {
    let e = &claims.evidence;
    format!(
        "platform {}, MRENCLAVE {}, MRSIGNER {}, product {}, SVN {}, debug {}, TCB {}",
        e.platform,
        e.mrenclave.as_deref().unwrap_or("-"),
        e.mrsigner.as_deref().unwrap_or("-"),
        e.isv_prod_id.map_or("-".into(), |v| v.to_string()),
        e.isv_svn.map_or("-".into(), |v| v.to_string()),
        e.debug,
        e.tcb_status,
    )
}

fn cert_id(cert: &CertificateDer<'_>) -> [u8; 32] {
    let mut id = [0u8; 32];
    id.copy_from_slice(digest::digest(&digest::SHA256, cert).as_ref());
    id
}

/// Now, in Unix seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl CertificateCheck for AttestedVerifier {
    fn check(&self, end_entity: &CertificateDer<'_>, now: UnixTime) -> Result<(), Refusal> {
        let claims = self.check_certificate(end_entity, now.as_secs())?;
        let mut verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        if verified.len() == REMEMBERED {
            verified.pop_front();
        }
        verified.push_back((cert_id(end_entity), claims));
        Ok(())
    }
}

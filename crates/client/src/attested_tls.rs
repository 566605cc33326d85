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
//! ([`AttestedVerifier::claims_for`]).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use minikms_verifier::{
    certificate_evidence, verify_certificate, CertificateClaims, Policy, VerifyOptions,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme};

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
}

/// The rustls certificate verifier of attested TLS.
#[derive(Debug)]
pub struct AttestedVerifier {
    attestation: Attestation,
    provider: Arc<CryptoProvider>,
    verified: Mutex<VecDeque<([u8; 32], CertificateClaims)>>,
}

impl AttestedVerifier {
    pub fn new(attestation: Attestation) -> Arc<Self> {
        Arc::new(Self {
            attestation,
            provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
            verified: Mutex::new(VecDeque::new()),
        })
    }

    /// A TLS 1.3 client configuration that uses this verifier.
    pub fn client_config(self: &Arc<Self>) -> ClientConfig {
        ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            // The aws-lc-rs provider supports TLS 1.3.
            .unwrap_or_else(|_| unreachable!("TLS 1.3 is supported"))
            .dangerous()
            .with_custom_certificate_verifier(self.clone())
            .with_no_client_auth()
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
    ) -> Result<CertificateClaims, String> {
        let evidence = certificate_evidence(cert).map_err(|e| e.to_string())?;
        let now_signed = i64::try_from(now).unwrap_or(i64::MAX);
        if now_signed < evidence.not_before {
            return Err("server certificate is not valid yet".into());
        }
        if now_signed > evidence.not_after {
            return Err("server certificate has expired".into());
        }
        let options = VerifyOptions {
            at: now,
            collateral: self.attestation.collateral.as_deref(),
            offline: self.attestation.offline,
        };
        verify_certificate(cert, &options, &self.attestation.policy).map_err(|e| e.to_string())
    }
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

impl ServerCertVerifier for AttestedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let claims = self
            .check_certificate(end_entity, now.as_secs())
            .map_err(|message| {
                rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(
                    Arc::new(Refused(message)),
                )))
            })?;
        let mut verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        if verified.len() == REMEMBERED {
            verified.pop_front();
        }
        verified.push_back((cert_id(end_entity), claims));
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Why the server's evidence was refused, as the TLS error carries it.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

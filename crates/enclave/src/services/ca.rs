//! The enclave's TLS certificate authority: made once, at the first start
//! with a data dir, and kept sealed in the store (MRSIGNER policy, so a
//! newer build of the same signer and product keeps it; another signer
//! cannot open it). Its key never leaves the enclave.
//!
//! Every TLS leaf is issued by this CA and still carries the RA-TLS
//! evidence, whose claims also bind the CA's public key
//! (`"ca-pubkey-hash": [1, SHA-256(CA SPKI DER)]`, likewise in
//! `/attestation`). A client attests once (`minikms trust`), saves the CA,
//! and from then on any ordinary TLS client (curl, Python, hvac, the Vault
//! CLI) verifies minikms with it, hostname checks included.
//!
//! Sealed record `meta/tls_ca`: JSON `{"key_pkcs8": hex, "cert_der": hex}`;
//! the certificate is kept so that the CA a client saved stays byte-for-byte
//! what the server sends.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::platform::Platform;
use crate::state::State;

/// The store record that holds the CA.
pub const RECORD_ID: &str = "tls_ca";
/// How long the CA certificate is valid.
const VALIDITY: time::Duration = time::Duration::days(3650);

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("the sealed TLS CA record is unreadable")]
    Record,
    #[error("cannot store the TLS CA: {0}")]
    Store(#[from] Error),
    #[error("CA certificate generation failed: {0}")]
    Certificate(#[from] rcgen::Error),
}

#[derive(Serialize, Deserialize)]
struct Record {
    key_pkcs8: String,
    cert_der: String,
}

impl Drop for Record {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key_pkcs8);
    }
}

/// The CA: its key (in memory only) and its certificate.
pub struct TlsCa {
    issuer: Issuer<'static, KeyPair>,
    cert_der: Vec<u8>,
    spki_sha256: [u8; 32],
}

impl std::fmt::Debug for TlsCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsCa")
            .field("spki_sha256", &hex::encode(self.spki_sha256))
            .finish_non_exhaustive()
    }
}

impl TlsCa {
    /// The sealed CA, made and sealed first if there is none.
    pub fn load_or_create(state: &State, platform: &dyn Platform) -> Result<Self, CaError> {
        let sealed = state.sealed_meta(RECORD_ID, || {
            let record = create(platform).map_err(|e| Error::internal("TLS CA creation", e))?;
            serde_json::to_vec(&record)
                .map(Zeroizing::new)
                .map_err(|e| Error::internal("TLS CA creation", e))
        })?;
        let record: Record = serde_json::from_slice(&sealed).map_err(|_| CaError::Record)?;
        Self::from_record(&record, platform)
    }

    /// A CA for this run only, never stored: what a sealed enclave serves
    /// until it can open its store (clients attest it by its evidence).
    pub fn ephemeral(platform: &dyn Platform) -> Result<Self, CaError> {
        Self::from_record(&create(platform)?, platform)
    }

    fn from_record(record: &Record, platform: &dyn Platform) -> Result<Self, CaError> {
        let key_der = Zeroizing::new(hex::decode(&record.key_pkcs8).map_err(|_| CaError::Record)?);
        let cert_der = hex::decode(&record.cert_der).map_err(|_| CaError::Record)?;
        let key = KeyPair::try_from(key_der.as_slice()).map_err(|_| CaError::Record)?;
        let spki = rcgen::PublicKeyData::subject_public_key_info(&key);
        let spki_sha256 = minikms_api::claims::sha256(&spki);
        Ok(Self {
            issuer: Issuer::new(params(platform), key),
            cert_der,
            spki_sha256,
        })
    }

    /// Signs leaf certificates.
    pub fn issuer(&self) -> &Issuer<'static, KeyPair> {
        &self.issuer
    }

    /// The CA certificate (DER).
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// SHA-256 of the CA's SubjectPublicKeyInfo DER: what evidence binds.
    pub fn spki_sha256(&self) -> &[u8; 32] {
        &self.spki_sha256
    }
}

/// The CA's name and constraints. Rebuilt identically at every start (the
/// issuer of leaves needs them; they match the stored certificate).
fn params(platform: &dyn Platform) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "minikms enclave CA");
    name.push(
        DnType::OrganizationalUnitName,
        format!("MRSIGNER {}", platform.identity().mrsigner),
    );
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

fn create(platform: &dyn Platform) -> Result<Record, CaError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = params(platform);
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + VALIDITY;
    let cert = params.self_signed(&key)?;
    let key_der = Zeroizing::new(key.serialize_der());
    Ok(Record {
        key_pkcs8: hex::encode(key_der.as_slice()),
        cert_der: hex::encode(cert.der()),
    })
}

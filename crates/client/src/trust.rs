//! The enclave's CA, checked against the attested connection's evidence, so
//! that ordinary TLS clients (curl, Python, hvac, the Vault CLI) can verify
//! minikms without reading attestation evidence: attest once, then trust
//! the CA.
//!
//! A CA is returned only if the handshake's evidence met the policy (the
//! connection exists), that evidence binds the CA's public key
//! (`"ca-pubkey-hash"`), and the CA issued the certificate the server
//! presented, for the name the connection used.

use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::digest;
use minikms_verifier::{Claims, HeldClaims};
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, UnixTime};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::connection::{server_name, Connection, ServerUrl};
use crate::error::Error;

/// The enclave's CA certificate, checked against the evidence.
#[derive(Debug, Clone)]
pub struct TrustedCa {
    /// The CA certificate (DER).
    pub certificate: CertificateDer<'static>,
    /// SHA-256 (hex) of the CA's public key, as the evidence binds it.
    pub pubkey_sha256: String,
    /// What the evidence that binds it proved.
    pub evidence: Claims,
}

impl TrustedCa {
    /// The CA certificate as PEM.
    pub fn to_pem(&self) -> String {
        pem::encode(&pem::Pem::new("CERTIFICATE", self.certificate.to_vec()))
    }

    /// SHA-256 (hex) of the CA certificate.
    pub fn sha256(&self) -> String {
        hex::encode(digest::digest(&digest::SHA256, &self.certificate))
    }

    /// Writes the CA to `out` as PEM, atomically: a temporary file beside
    /// it, then renamed over it, so a reader never sees half a CA.
    pub fn save(&self, out: &Path) -> Result<(), Error> {
        crate::files::write_atomically(out, self.to_pem().as_bytes())
    }

    /// What `minikms trust` prints: the CA saved at `ca_file` and what its
    /// evidence proved.
    pub fn to_json(&self, ca_file: &Path) -> serde_json::Value {
        let e = &self.evidence;
        serde_json::json!({
            "ca_file": ca_file.display().to_string(),
            "ca_sha256": self.sha256(),
            "ca_pubkey_sha256": self.pubkey_sha256,
            "platform": e.platform,
            "mrenclave": e.mrenclave,
            "mrsigner": e.mrsigner,
            "isv_prod_id": e.isv_prod_id,
            "isv_svn": e.isv_svn,
            "debug": e.debug,
            "tcb_status": e.tcb_status,
        })
    }
}

/// The CA `conn`'s server sent, checked against the connection's evidence.
pub fn verified_ca(conn: &Connection) -> Result<TrustedCa, Error> {
    let (leaf, ca) = match conn.server_chain() {
        [leaf, .., ca] => (leaf, ca),
        _ => {
            return Err(Error::Protocol(
                "the server sent no CA certificate (a minikms older than its enclave CA?)".into(),
            ))
        }
    };
    let claims = conn.claims();
    let bound = claims
        .evidence
        .held_data
        .as_ref()
        .and_then(|h| match &h.claims {
            HeldClaims::Cbor { ca_pubkey_hash, .. } => ca_pubkey_hash.clone(),
            HeldClaims::NotCbor => None,
        })
        .ok_or_else(|| Error::Unbound("the server's evidence binds no CA key".into()))?;
    if spki_sha256(ca)? != bound {
        return Err(Error::Unbound(
            "the CA certificate the server sent is not the one its evidence binds".into(),
        ));
    }
    check_issued(leaf, ca, conn.url())?;
    Ok(TrustedCa {
        certificate: ca.clone(),
        pubkey_sha256: bound,
        evidence: claims.evidence.clone(),
    })
}

fn spki_sha256(cert: &CertificateDer<'_>) -> Result<String, Error> {
    let (_, parsed) = X509Certificate::from_der(cert)
        .map_err(|e| Error::Protocol(format!("the CA certificate: {e}")))?;
    Ok(hex::encode(digest::digest(
        &digest::SHA256,
        parsed.tbs_certificate.subject_pki.raw,
    )))
}

/// The leaf must chain to the CA as an ordinary client checks it: WebPKI
/// rules, and the name in the URL.
fn check_issued(
    leaf: &CertificateDer<'_>,
    ca: &CertificateDer<'_>,
    url: &ServerUrl,
) -> Result<(), Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).map_err(|e| {
        Error::Protocol(format!(
            "the CA certificate is not usable as a trust anchor: {e}"
        ))
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| Error::System(format!("cannot check the chain: {e}")))?;
    let name = server_name(url)?;
    verifier
        .verify_server_cert(leaf, &[], &name, &[], UnixTime::now())
        .map(|_| ())
        .map_err(|e| match e {
            rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName)
            | rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            ) => Error::Input(format!(
                "the enclave's certificate is not issued for {:?}: start the server with --tls-name {} (or connect by a name it has)",
                url.host, url.host
            )),
            other => Error::Unbound(format!(
                "the server's certificate does not chain to its CA: {other}"
            )),
        })
}

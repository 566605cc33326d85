//! `minikms trust --out FILE`: attest once, then save the enclave's CA so
//! that ordinary TLS clients (curl, Python, hvac, the Vault CLI) can verify
//! minikms without reading attestation evidence.
//!
//! The CA is saved only if the handshake's evidence met the policy, that
//! evidence binds the CA's public key (`"ca-pubkey-hash"`), and the CA
//! issued the certificate the server presented.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::digest;
use minikms_verifier::HeldClaims;
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::connection::{Connection, ServerUrl};

/// Checks the CA `conn`'s server sent against its evidence and writes it to
/// `out` as PEM. Returns what was verified, as JSON.
pub fn save_ca(
    conn: &Connection,
    url: &ServerUrl,
    out: &Path,
) -> Result<serde_json::Value, String> {
    let chain = conn.server_chain();
    let (leaf, ca) = match chain {
        [leaf, .., ca] => (leaf, ca),
        _ => {
            return Err(
                "the server sent no CA certificate (a minikms older than its enclave CA?)".into(),
            )
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
        .ok_or("the server's evidence binds no CA key")?;
    if spki_sha256(ca)? != bound {
        return Err("the CA certificate the server sent is not the one its evidence binds".into());
    }
    check_issued(leaf, ca, url)?;

    let pem = pem::encode(&pem::Pem::new("CERTIFICATE", ca.to_vec()));
    write_atomically(out, pem.as_bytes())?;
    let e = &claims.evidence;
    Ok(serde_json::json!({
        "ca_file": out.display().to_string(),
        "ca_sha256": hex::encode(digest::digest(&digest::SHA256, ca)),
        "ca_pubkey_sha256": bound,
        "platform": e.platform,
        "mrenclave": e.mrenclave,
        "mrsigner": e.mrsigner,
        "isv_prod_id": e.isv_prod_id,
        "isv_svn": e.isv_svn,
        "debug": e.debug,
        "tcb_status": e.tcb_status,
    }))
}

fn spki_sha256(cert: &CertificateDer<'_>) -> Result<String, String> {
    let (_, parsed) =
        X509Certificate::from_der(cert).map_err(|e| format!("the CA certificate: {e}"))?;
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
) -> Result<(), String> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(ca.clone())
        .map_err(|e| format!("the CA certificate is not usable as a trust anchor: {e}"))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| format!("cannot check the chain: {e}"))?;
    let name = ServerName::try_from(url.host.clone())
        .map_err(|_| format!("bad server host {:?}", url.host))?;
    verifier
        .verify_server_cert(leaf, &[], &name, &[], UnixTime::now())
        .map(|_| ())
        .map_err(|e| match e {
            rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName)
            | rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            ) => format!(
                "the enclave's certificate is not issued for {:?}: start the server with --tls-name {} (or connect by a name it has)",
                url.host, url.host
            ),
            other => format!("the server's certificate does not chain to its CA: {other}"),
        })
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over
/// `path`: a reader never sees half a CA.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| format!("{} is not a file name", path.display()))?;
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    let fail = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let mut file = std::fs::File::create(&tmp).map_err(fail)?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

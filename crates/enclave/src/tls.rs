//! The enclave's TLS identity: a fresh ECDSA P-256 key made inside the
//! enclave at every start, and a self-signed certificate for it. Neither is
//! ever written anywhere; the key lives only in this process's memory.

use std::net::IpAddr;
use std::sync::Arc;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, KeyPair, SanType, PKCS_ECDSA_P256_SHA256,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use zeroize::Zeroizing;

use crate::platform::Platform;

/// How long a server certificate is valid. The enclave makes a new one at
/// every start.
const VALIDITY: time::Duration = time::Duration::days(30);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("certificate generation failed: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("TLS configuration failed: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A TLS 1.3-only server config with a key made here, now.
pub fn server_config(platform: &dyn Platform, bind: IpAddr) -> Result<Arc<ServerConfig>, TlsError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(vec!["localhost".to_string()])?;
    params.subject_alt_names.push(SanType::IpAddress(bind));
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "minikms enclave");
    name.push(
        DnType::OrganizationalUnitName,
        format!("MRENCLAVE {}", platform.identity().mrenclave),
    );
    params.distinguished_name = name;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + VALIDITY;
    let cert = params.self_signed(&key)?;

    // The DER copy of the private key is wiped as soon as aws-lc has it.
    let key_der = Zeroizing::new(key.serialize_der());
    let signing_key = rustls::crypto::aws_lc_rs::sign::any_supported_type(&PrivateKeyDer::Pkcs8(
        PrivatePkcs8KeyDer::from(key_der.as_slice()),
    ))?;
    let certified = CertifiedKey::new(vec![CertificateDer::from(cert.der().to_vec())], signing_key);

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(FixedCert(Arc::new(certified))));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves one certificate to every client.
#[derive(Debug)]
struct FixedCert(Arc<CertifiedKey>);

impl ResolvesServerCert for FixedCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

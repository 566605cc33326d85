//! Test-only TLS client settings that skip certificate validation (the
//! enclave's certificate is self-signed until attested TLS lands). The
//! handshake signature is still checked, so the peer must hold the key of
//! the certificate it shows. Never use outside tests.

use std::sync::Arc;

use minikms_verifier::tls::{AnyCertificate, Verifier};
use rustls::crypto::CryptoProvider;
use rustls::ClientConfig;

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A client config that accepts any certificate, for the given versions.
pub fn client_config(versions: &[&'static rustls::SupportedProtocolVersion]) -> ClientConfig {
    let provider = provider();
    ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .expect("protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Verifier::new(AnyCertificate, &provider))
        .with_no_client_auth()
}

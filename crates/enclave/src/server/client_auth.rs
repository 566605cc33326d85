//! Optional TLS client certificates: how a workload that logged in with
//! evidence proves, on each connection, that it holds the key its token is
//! bound to. Any certificate is accepted (self-signed is the norm: trust
//! comes from the attested login, not from a CA); rustls still checks the
//! handshake signature, made with the certificate's key, so the client
//! holds that key. Clients without a certificate are served as before.

use std::sync::Arc;

use minikms_verifier::tls::{AnyCertificate, Verifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Asks for a client certificate, and accepts any whose key signs the
/// handshake.
pub fn any_client_key(provider: &CryptoProvider) -> Arc<Verifier<AnyCertificate>> {
    Verifier::new(AnyCertificate, provider)
}

/// SHA-256 of the SubjectPublicKeyInfo (DER) of the client certificate a
/// finished handshake accepted, if the client sent one.
pub fn client_key(certs: Option<&[CertificateDer<'_>]>) -> Option<[u8; 32]> {
    let der = certs?.first()?;
    let (_, cert) = X509Certificate::from_der(der.as_ref()).ok()?;
    Some(minikms_api::claims::sha256(cert.public_key().raw))
}

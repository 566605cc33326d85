//! Optional TLS client certificates: how a workload that logged in with
//! evidence proves, on each connection, that it holds the key its token is
//! bound to. Any certificate is accepted (self-signed is the norm: trust
//! comes from the attested login, not from a CA); rustls still checks the
//! handshake signature, made with the certificate's key, so the client
//! holds that key. Clients without a certificate are served as before.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use x509_parser::prelude::{FromDer, X509Certificate};

/// Accepts any client certificate whose key signs the handshake.
#[derive(Debug)]
pub struct AnyClientKey(Arc<CryptoProvider>);

impl AnyClientKey {
    pub fn new(provider: Arc<CryptoProvider>) -> Arc<Self> {
        Arc::new(Self(provider))
    }
}

impl ClientCertVerifier for AnyClientKey {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// SHA-256 of the SubjectPublicKeyInfo (DER) of the client certificate a
/// finished handshake accepted, if the client sent one.
pub fn client_key(certs: Option<&[CertificateDer<'_>]>) -> Option<[u8; 32]> {
    let der = certs?.first()?;
    let (_, cert) = X509Certificate::from_der(der.as_ref()).ok()?;
    Some(minikms_api::claims::sha256(cert.public_key().raw))
}

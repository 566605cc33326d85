//! rustls certificate verifiers whose trust decision is the caller's (the
//! evidence in the certificate, or none at all) while the handshake
//! signature is checked as rustls checks it: [`Verifier`] wraps a
//! [`CertificateCheck`] and is the one place that implements rustls'
//! signature methods, for servers (attested TLS, join, the test kit) and
//! for clients (the enclave's optional client certificates) alike.
//!
//! The handshake signature is made with the certificate's key, so a peer
//! that passes holds the key of the certificate it shows.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{
    verify_tls12_signature, verify_tls13_signature, CryptoProvider, WebPkiSupportedAlgorithms,
};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// Why a certificate was refused; kept whole inside the rustls error, so a
/// caller can downcast it back.
pub type Refusal = Box<dyn StdError + Send + Sync>;

/// Whether to accept a peer's end-entity certificate at `now`. Neither its
/// issuer nor the server's name is checked unless the check does it.
pub trait CertificateCheck: fmt::Debug + Send + Sync {
    fn check(&self, end_entity: &CertificateDer<'_>, now: UnixTime) -> Result<(), Refusal>;
}

impl<C: CertificateCheck + ?Sized> CertificateCheck for Arc<C> {
    fn check(&self, end_entity: &CertificateDer<'_>, now: UnixTime) -> Result<(), Refusal> {
        (**self).check(end_entity, now)
    }
}

/// Accepts any certificate: trust comes from elsewhere (an attested login
/// that bound the key, or a test). The handshake signature still counts.
#[derive(Debug, Clone, Copy)]
pub struct AnyCertificate;

impl CertificateCheck for AnyCertificate {
    fn check(&self, _: &CertificateDer<'_>, _: UnixTime) -> Result<(), Refusal> {
        Ok(())
    }
}

/// A rustls verifier: `C` decides on the certificate, the provider's
/// algorithms check the handshake signature. As a client verifier it asks
/// for a certificate without requiring one, and names no CA.
#[derive(Debug)]
pub struct Verifier<C> {
    check: C,
    algorithms: WebPkiSupportedAlgorithms,
}

impl<C: CertificateCheck> Verifier<C> {
    pub fn new(check: C, provider: &CryptoProvider) -> Arc<Self> {
        Arc::new(Self {
            check,
            algorithms: provider.signature_verification_algorithms,
        })
    }

    fn accept(&self, end_entity: &CertificateDer<'_>, now: UnixTime) -> Result<(), rustls::Error> {
        self.check.check(end_entity, now).map_err(|refusal| {
            rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(
                Arc::from(refusal),
            )))
        })
    }

    fn tls12(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }
}

impl<C: CertificateCheck> ServerCertVerifier for Verifier<C> {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.accept(end_entity, now)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl<C: CertificateCheck> ClientCertVerifier for Verifier<C> {
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
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.accept(end_entity, now)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

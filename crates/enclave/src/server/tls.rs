//! The enclave's TLS identity: a fresh ECDSA P-256 key made inside the
//! enclave at every start, and a certificate for it, issued by the
//! enclave's CA ([`crate::services::ca`]) for the configured names, that carries
//! attestation evidence (attested TLS). The leaf key is never written
//! anywhere; it lives only in this process's memory. The chain sent is
//! `[leaf, CA]`.
//!
//! The evidence is the interoperable RA-TLS extension (TCG DICE / CCC):
//! non-critical, OID 2.23.133.5.4.9, value CBOR tag 60000
//! `[bstr quote, bstr claims]`, claims the CBOR map
//! `{"pubkey-hash": [1, SHA-256(SPKI DER)], "ca-pubkey-hash": [1,
//! SHA-256(CA SPKI DER)]}`, and the quote's
//! report_data = SHA-256(claims) || 32 zero bytes. Gramine, the Intel SGX
//! SDK and rats-tls write and read the same format. A client certificate
//! is asked for but optional ([`super::client_auth`]). Where the platform
//! issues its own collateral (simulation), the claims also carry it as
//! `"collateral": bstr(QuoteCollateralV3 JSON)`, so a client can verify the
//! certificate on its own during the handshake.

use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rcgen::{
    CertificateParams, CustomExtension, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    KeyPair, KeyUsagePurpose, PublicKeyData, SanType, PKCS_ECDSA_P256_SHA256,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tokio::sync::watch;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::platform::Platform;
use crate::services::ca::TlsCa;
use crate::services::evidence;
use crate::store::freshness::Freshness;
use minikms_api::claims::RA_TLS_OID;

/// How long before its end a certificate may have been issued: clocks of
/// clients and enclave differ a little.
const BACKDATE: time::Duration = time::Duration::minutes(5);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("attestation for the certificate failed: {0}")]
    Evidence(#[from] crate::platform::PlatformError),
    #[error("certificate generation failed: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("TLS configuration failed: {0}")]
    Rustls(#[from] rustls::Error),
}

/// One certificate and the TLS setup that serves it.
#[derive(Clone)]
pub struct Served {
    pub config: Arc<ServerConfig>,
    /// SHA-256 of the certificate's SubjectPublicKeyInfo (DER): what
    /// attestation evidence binds.
    pub pubkey_hash: [u8; 32],
}

/// The certificate being served, renewed (new key, new quote) at half its
/// lifetime. A connection keeps the certificate it was accepted with, so
/// renewal never drops one.
pub struct TlsState {
    current: RwLock<Served>,
    platform: Arc<dyn Platform>,
    /// The CA, and the freshness claimed in each certificate's evidence
    /// (as it stands at issue); replaced once when a sealed enclave opens
    /// its store.
    issuing: RwLock<(Arc<TlsCa>, Arc<Freshness>)>,
    names: Names,
    lifetime: Duration,
}

/// The names leaf certificates are issued for (subject alternative names).
#[derive(Debug, Clone)]
pub struct Names(Vec<SanType>);

impl Names {
    /// Checks each name (an IP address or a DNS name); at least one, at most
    /// [`minikms_edl::MAX_TLS_NAMES`].
    pub fn parse(names: &[String]) -> Result<Self, Error> {
        if names.is_empty() || names.len() > minikms_edl::MAX_TLS_NAMES {
            return Err(Error::invalid(format!(
                "1 to {} TLS names are needed, got {}",
                minikms_edl::MAX_TLS_NAMES,
                names.len()
            )));
        }
        let mut sans = Vec::new();
        for name in names {
            minikms_edl::check_tls_name(name).map_err(|e| Error::invalid(e.to_string()))?;
            sans.push(match name.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(
                    name.clone()
                        .try_into()
                        .map_err(|_| Error::invalid(format!("{name:?} is not a DNS name")))?,
                ),
            });
        }
        Ok(Self(sans))
    }
}

impl TlsState {
    pub async fn new(
        platform: Arc<dyn Platform>,
        ca: Arc<TlsCa>,
        freshness: Arc<Freshness>,
        names: Names,
        lifetime: Duration,
    ) -> Result<Arc<Self>, TlsError> {
        let first = server_config(platform.as_ref(), &ca, &freshness, &names, lifetime).await?;
        Ok(Arc::new(Self {
            current: RwLock::new(first),
            platform,
            issuing: RwLock::new((ca, freshness)),
            names,
            lifetime,
        }))
    }

    /// Issues from `ca` with `freshness` from now on, starting with a
    /// certificate for the next connection.
    pub async fn replace_ca(
        &self,
        ca: Arc<TlsCa>,
        freshness: Arc<Freshness>,
    ) -> Result<(), TlsError> {
        let next = self.issue(&ca, &freshness).await?;
        *self.issuing.write().unwrap_or_else(|e| e.into_inner()) = (ca, freshness);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = next;
        Ok(())
    }

    /// What new connections get now.
    pub fn current(&self) -> Served {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A new key and certificate from `ca`, claiming `freshness`.
    async fn issue(&self, ca: &TlsCa, freshness: &Freshness) -> Result<Served, TlsError> {
        server_config(
            self.platform.as_ref(),
            ca,
            freshness,
            &self.names,
            self.lifetime,
        )
        .await
    }

    /// Renews at half the lifetime until `stop`; a failed renewal is logged
    /// and retried, while the current certificate stays valid.
    pub fn spawn_renewal(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        tokio::spawn(async move {
            let mut wait = self.lifetime / 2;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                let (ca, freshness) = self
                    .issuing
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                let next = self.issue(&ca, &freshness).await;
                match next {
                    Ok(next) => {
                        *self.current.write().unwrap_or_else(|e| e.into_inner()) = next;
                        tracing::info!("renewed the TLS certificate (new key, new evidence)");
                        wait = self.lifetime / 2;
                    }
                    Err(e) => {
                        tracing::warn!("TLS certificate renewal failed: {e}; retrying");
                        wait = (self.lifetime / 8).max(Duration::from_secs(1));
                    }
                }
            }
        });
    }
}

/// A TLS 1.3-only server config with a key made here, now, and a
/// certificate from the CA carrying evidence for it, valid for `lifetime`.
async fn server_config(
    platform: &dyn Platform,
    ca: &TlsCa,
    freshness: &Freshness,
    names: &Names,
    lifetime: Duration,
) -> Result<Served, TlsError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let pubkey_hash = minikms_api::claims::sha256(&key.subject_public_key_info());
    let mut extension = CustomExtension::from_oid_content(
        RA_TLS_OID,
        evidence::ra_tls(platform, &pubkey_hash, ca.spki_sha256(), freshness).await?,
    );
    extension.set_criticality(false);

    let mut params = CertificateParams::default();
    params.subject_alt_names = names.0.clone();
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "minikms enclave");
    name.push(
        DnType::OrganizationalUnitName,
        format!("MRENCLAVE {}", platform.identity().mrenclave),
    );
    params.distinguished_name = name;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now + time::Duration::try_from(lifetime).unwrap_or(time::Duration::DAY);
    params.custom_extensions.push(extension);
    let cert = params.signed_by(&key, ca.issuer())?;
    // Made to be served next: new connections get it.
    let expiry = &crate::metrics::get().tls_certificate_expiry;
    expiry.set(params.not_after.unix_timestamp());

    // The DER copy of the private key is wiped as soon as aws-lc has it.
    let key_der = Zeroizing::new(key.serialize_der());
    let signing_key = rustls::crypto::aws_lc_rs::sign::any_supported_type(&PrivateKeyDer::Pkcs8(
        PrivatePkcs8KeyDer::from(key_der.as_slice()),
    ))?;
    let chain = vec![
        CertificateDer::from(cert.der().to_vec()),
        CertificateDer::from(ca.cert_der().to_vec()),
    ];
    let certified = CertifiedKey::new(chain, signing_key);

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(super::client_auth::any_client_key(&provider))
        .with_cert_resolver(Arc::new(FixedCert(Arc::new(certified))));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Served {
        config: Arc::new(config),
        pubkey_hash,
    })
}

/// Serves one certificate to every client.
#[derive(Debug)]
struct FixedCert(Arc<CertifiedKey>);

impl ResolvesServerCert for FixedCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

//! The joiner's side: asks a running peer for the root key ([`super`]
//! says how), over a TLS connection whose certificate's evidence the
//! verifier crate checked under the join policy.

use std::sync::{Arc, Mutex, PoisonError};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    KeySize, OaepPrivateDecryptingKey, PrivateDecryptingKey, OAEP_SHA256_MGF1SHA256,
};
use base64::Engine;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::{binding, policy, same_mode};
use crate::platform::Platform;
use crate::store::root::RootKey;

/// Answers larger than this are not join answers.
const MAX_ANSWER: usize = 256 * 1024;

/// Asks the peer at `url` (`https://HOST:PORT`) for the root key.
pub async fn ask(platform: &Arc<dyn Platform>, url: &str) -> Result<RootKey, String> {
    let authority = url
        .strip_prefix("https://")
        .map(|a| a.trim_end_matches('/'))
        .filter(|a| !a.is_empty() && !a.contains('/'))
        .ok_or_else(|| format!("--join {url}: give the peer as https://HOST:PORT"))?;
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(PeerVerifier {
        platform: platform.clone(),
        provider: provider.clone(),
        refusal: Mutex::new(None),
    });
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| format!("cannot reach the peer {url}: {e}"))?;
    let name = ServerName::try_from(host).map_err(|_| format!("--join {url}: bad host"))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| {
            let refusal = verifier
                .refusal
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match refusal.as_deref() {
                Some(why) => format!("the peer {url} failed attestation: {why}"),
                None => format!("TLS with the peer {url}: {e}"),
            }
        })?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| format!("HTTP with the peer {url}: {e}"))?;
    tokio::spawn(conn);

    let challenge = post(&mut send, authority, "/v1/sys/join/challenge", &json!({})).await?;
    let mut nonce = [0u8; 32];
    challenge["nonce"]
        .as_str()
        .and_then(|n| hex::decode_to_slice(n, &mut nonce).ok())
        .ok_or("the peer's challenge has no nonce")?;
    let key = PrivateDecryptingKey::generate(KeySize::Rsa2048)
        .map_err(|_| "cannot make the join key".to_string())?;
    let public = key
        .public_key()
        .as_der()
        .map_err(|_| "cannot encode the join key".to_string())?;
    let evidence = platform
        .evidence(binding(&nonce, public.as_ref()))
        .await
        .map_err(|e| format!("cannot make evidence for the join: {e}"))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let request = json!({
        "nonce": hex::encode(nonce),
        "public_key": b64.encode(public.as_ref()),
        "quote": b64.encode(&evidence.quote),
        "collateral": evidence.collateral,
    });
    let answer = post(&mut send, authority, "/v1/sys/join", &request).await?;
    let wrapped = answer["wrapped_root_key"]
        .as_str()
        .and_then(|w| b64.decode(w).ok())
        .ok_or("the peer's answer has no wrapped_root_key")?;
    let oaep = OaepPrivateDecryptingKey::new(key).map_err(|_| "join key".to_string())?;
    let mut plain = Zeroizing::new(vec![0u8; oaep.min_output_size()]);
    let root = oaep
        .decrypt(&OAEP_SHA256_MGF1SHA256, &wrapped, &mut plain, None)
        .map_err(|_| "the peer's wrapped root key does not open".to_string())?;
    RootKey::from_bytes(root).ok_or_else(|| "the peer's root key is not 32 bytes".into())
}

/// POSTs JSON and returns the answer's JSON, or the peer's error.
async fn post(
    send: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    authority: &str,
    path: &str,
    body: &Value,
) -> Result<Value, String> {
    let request = hyper::Request::post(path)
        .header("host", authority)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| e.to_string())?;
    let response = send
        .send_request(request)
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    let status = response.status();
    let bytes = Limited::new(response.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| format!("{path}: {e}"))?
        .to_bytes();
    let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if !status.is_success() {
        let why = json["errors"][0].as_str().unwrap_or("no reason given");
        return Err(format!("the peer answered {path} with {status}: {why}"));
    }
    Ok(json.get("data").cloned().unwrap_or(json))
}

/// Accepts the peer only if its certificate's evidence verifies under the
/// join policy and binds the certificate's key (the verifier crate).
struct PeerVerifier {
    platform: Arc<dyn Platform>,
    provider: Arc<CryptoProvider>,
    /// Why the peer was refused, for the error (rustls keeps only a type).
    refusal: Mutex<Option<String>>,
}

impl std::fmt::Debug for PeerVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerVerifier")
    }
}

impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let options = minikms_verifier::VerifyOptions {
            at: now.as_secs(),
            collateral: None,
            offline: false,
        };
        let refuse = |why: String| {
            let error = rustls::Error::InvalidCertificate(CertificateError::Other(
                rustls::OtherError(Arc::new(std::io::Error::other(why.clone()))),
            ));
            *self.refusal.lock().unwrap_or_else(PoisonError::into_inner) = Some(why);
            error
        };
        let claims = minikms_verifier::verify_certificate(
            end_entity,
            &options,
            &policy(self.platform.as_ref(), false),
        )
        .map_err(|e| refuse(e.to_string()))?;
        same_mode(self.platform.as_ref(), &claims.evidence).map_err(refuse)?;
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

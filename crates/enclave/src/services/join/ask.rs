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
use minikms_verifier::tls::{CertificateCheck, Refusal, Verifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::{policy, same_mode, JoinError};
use crate::platform::Platform;
use crate::store::root::RootKey;

/// Answers larger than this are not join answers.
const MAX_ANSWER: usize = 256 * 1024;

/// Asks the peer at `url` (`https://HOST:PORT`) for the root key.
pub async fn ask(platform: &Arc<dyn Platform>, url: &str) -> Result<RootKey, JoinError> {
    let bad_url = || JoinError::Url(url.to_string());
    let authority = url
        .strip_prefix("https://")
        .map(|a| a.trim_end_matches('/'))
        .filter(|a| !a.is_empty() && !a.contains('/'))
        .ok_or_else(bad_url)?;
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let peer = Arc::new(PeerCheck {
        platform: platform.clone(),
        refusal: Mutex::new(None),
    });
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|_| JoinError::Local("TLS 1.3 configuration"))?
        .dangerous()
        .with_custom_certificate_verifier(Verifier::new(peer.clone(), &provider))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|error| JoinError::Unreachable {
            url: url.to_string(),
            error,
        })?;
    let name = ServerName::try_from(host).map_err(|_| bad_url())?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|error| {
            let refusal = peer.refusal.lock().unwrap_or_else(PoisonError::into_inner);
            match refusal.clone() {
                Some(why) => JoinError::Attestation {
                    url: url.to_string(),
                    why,
                },
                None => JoinError::Tls {
                    url: url.to_string(),
                    error,
                },
            }
        })?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| JoinError::Http(format!("{url}: {e}")))?;
    tokio::spawn(conn);

    let challenge = post(&mut send, authority, "/v1/sys/join/challenge", &json!({})).await?;
    let mut nonce = [0u8; 32];
    challenge["nonce"]
        .as_str()
        .and_then(|n| hex::decode_to_slice(n, &mut nonce).ok())
        .ok_or(JoinError::BadAnswer("challenge has no nonce"))?;
    let key = PrivateDecryptingKey::generate(KeySize::Rsa2048)
        .map_err(|_| JoinError::Local("making the join key"))?;
    let public = key
        .public_key()
        .as_der()
        .map_err(|_| JoinError::Local("encoding the join key"))?;
    let evidence = platform
        .evidence(minikms_api::release::report_data(&nonce, public.as_ref()))
        .await?;
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
        .ok_or(JoinError::BadAnswer("answer has no wrapped_root_key"))?;
    let oaep =
        OaepPrivateDecryptingKey::new(key).map_err(|_| JoinError::Local("opening the join key"))?;
    let mut plain = Zeroizing::new(vec![0u8; oaep.min_output_size()]);
    let root = oaep
        .decrypt(&OAEP_SHA256_MGF1SHA256, &wrapped, &mut plain, None)
        .map_err(|_| JoinError::BadAnswer("wrapped root key does not open"))?;
    RootKey::from_bytes(root).ok_or(JoinError::BadAnswer("root key is not 32 bytes"))
}

/// POSTs JSON and returns the answer's JSON, or the peer's error.
async fn post(
    send: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    authority: &str,
    path: &'static str,
    body: &Value,
) -> Result<Value, JoinError> {
    let request = hyper::Request::post(path)
        .header("host", authority)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| JoinError::Http(format!("{path}: {e}")))?;
    let response = send
        .send_request(request)
        .await
        .map_err(|e| JoinError::Http(format!("{path}: {e}")))?;
    let status = response.status();
    let bytes = Limited::new(response.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| JoinError::Http(format!("{path}: {e}")))?
        .to_bytes();
    let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if !status.is_success() {
        let why = json["errors"][0].as_str().unwrap_or("no reason given");
        return Err(JoinError::Answered {
            path,
            status: status.as_u16(),
            why: why.to_string(),
        });
    }
    Ok(json.get("data").cloned().unwrap_or(json))
}

/// Accepts the peer only if its certificate's evidence verifies under the
/// join policy and binds the certificate's key (the verifier crate).
struct PeerCheck {
    platform: Arc<dyn Platform>,
    /// Why the peer was refused, for the error (rustls keeps only a type).
    refusal: Mutex<Option<String>>,
}

impl std::fmt::Debug for PeerCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerCheck")
    }
}

impl CertificateCheck for PeerCheck {
    fn check(&self, end_entity: &CertificateDer<'_>, now: UnixTime) -> Result<(), Refusal> {
        let options = minikms_verifier::VerifyOptions {
            at: now.as_secs(),
            collateral: None,
            offline: false,
        };
        let policy = policy(self.platform.as_ref(), false);
        let checked = minikms_verifier::verify_certificate(end_entity, &options, &policy)
            .map_err(|e| explain(&e))
            .and_then(|claims| {
                same_mode(self.platform.as_ref(), &claims.evidence).map_err(|e| e.to_string())
            });
        if let Err(why) = checked {
            *self.refusal.lock().unwrap_or_else(PoisonError::into_inner) = Some(why.clone());
            return Err(why.into());
        }
        Ok(())
    }
}

/// The verifier's reason, with what to do when the peer's enclave has
/// another signer: each data dir signs the development build with a key of
/// its own, so replicas started without one signed file cannot join.
fn explain(e: &minikms_verifier::VerifyError) -> String {
    match e {
        minikms_verifier::VerifyError::Policy(
            minikms_verifier::PolicyError::MrSignerMismatch { .. },
        ) => format!(
            "the peer runs an enclave signed by another key ({e}): start every replica \
             with the same signed enclave file (kms-host run … SIGNED_FILE; docs/replicas.md)"
        ),
        _ => e.to_string(),
    }
}

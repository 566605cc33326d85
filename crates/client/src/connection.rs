//! One attested HTTPS connection to a minikms server (HTTP/1.1, keep-alive).

use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use minikms_verifier::CertificateClaims;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;

use crate::attested_tls::AttestedVerifier;
use crate::error::{Error, Refused};

/// Vault's token header.
const X_VAULT_TOKEN: HeaderName = HeaderName::from_static("x-vault-token");

/// Largest response body read.
const MAX_RESPONSE: usize = 16 << 20;

/// A server address from `https://HOST:PORT[/]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    /// Host name or IP address (without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl ServerUrl {
    /// Parses `https://HOST[:PORT][/]` (port 9001 when absent).
    pub fn parse(url: &str) -> Result<Self, Error> {
        let bad = || {
            Error::Input(format!(
                "bad server URL {url:?}: expected https://HOST:PORT"
            ))
        };
        let rest = url.strip_prefix("https://").ok_or_else(|| {
            Error::Input(format!(
                "bad server URL {url:?}: minikms speaks only HTTPS (https://HOST:PORT)"
            ))
        })?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() || rest.contains('/') || rest.contains('@') {
            return Err(bad());
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(bad)?;
            (host, after.strip_prefix(':'))
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            }
        };
        let port = match port {
            None => 9001,
            Some(p) => p.parse().map_err(|_| bad())?,
        };
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            host: host.to_string(),
            port,
        })
    }
}

/// A response: status and body.
#[derive(Debug)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The body, whole.
    pub body: Bytes,
}

impl Response {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value, Error> {
        serde_json::from_slice(&self.body).map_err(|source| Error::NotJson {
            status: self.status,
            source,
        })
    }

    /// A 2xx answer's JSON (`{}` for 204 No Content); any other status is
    /// [`Error::Server`] with the server's `errors`. A body that is not JSON
    /// is an error whatever the status.
    pub fn ok_json(&self) -> Result<serde_json::Value, Error> {
        if self.status == 204 {
            return Ok(serde_json::json!({}));
        }
        let json = self.json()?;
        if self.is_success() {
            return Ok(json);
        }
        Err(Error::Server {
            status: self.status,
            message: errors_of(&json),
        })
    }

    /// This answer as [`Error::Server`], with the server's `errors` if its
    /// body has any (for a status already known not to be 2xx).
    pub fn error(&self) -> Error {
        Error::Server {
            status: self.status,
            message: self.json().map(|j| errors_of(&j)).unwrap_or_default(),
        }
    }
}

/// The `errors` of an error answer, joined with "; ".
fn errors_of(json: &serde_json::Value) -> String {
    json.get("errors")
        .and_then(|e| e.as_array())
        .map(|e| {
            e.iter()
                .filter_map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

/// An open, attested connection.
pub struct Connection {
    url: ServerUrl,
    sender: SendRequest<Full<Bytes>>,
    host_header: String,
    claims: CertificateClaims,
    spki_sha256: String,
    chain: Vec<CertificateDer<'static>>,
}

impl Connection {
    /// Connects, handshakes (the verifier checks the evidence), and starts
    /// HTTP/1.1. Errors are one line a user can act on.
    pub async fn open(url: &ServerUrl, verifier: &Arc<AttestedVerifier>) -> Result<Self, Error> {
        Self::open_as(url, verifier, None).await
    }

    /// As [`Connection::open`], presenting a TLS client certificate chain
    /// and its key if given.
    pub async fn open_as(
        url: &ServerUrl,
        verifier: &Arc<AttestedVerifier>,
        identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    ) -> Result<Self, Error> {
        let tcp = TcpStream::connect((url.host.as_str(), url.port))
            .await
            .map_err(|source| Error::Connect {
                host: url.host.clone(),
                port: url.port,
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        let name = server_name(url)?;
        let connector =
            tokio_rustls::TlsConnector::from(Arc::new(verifier.client_config_as(identity)?));
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(handshake_error)?;
        let chain: Vec<CertificateDer<'static>> = tls
            .get_ref()
            .1
            .peer_certificates()
            .unwrap_or_default()
            .iter()
            .map(|c| c.clone().into_owned())
            .collect();
        let cert = chain
            .first()
            .ok_or_else(|| Error::Protocol("the server sent no certificate".into()))?;
        let claims = verifier
            .claims_for(cert)
            .ok_or_else(|| Error::System("the server's certificate was not verified".into()))?;
        let spki_sha256 = claims.spki_sha256.clone();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| http("HTTP handshake failed".into(), e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let host_header = if url.host.contains(':') {
            format!("[{}]:{}", url.host, url.port)
        } else {
            format!("{}:{}", url.host, url.port)
        };
        Ok(Self {
            url: url.clone(),
            sender,
            host_header,
            claims,
            spki_sha256,
            chain,
        })
    }

    /// What the server's certificate proved.
    pub fn claims(&self) -> &CertificateClaims {
        &self.claims
    }

    /// The server this connection is to.
    pub fn url(&self) -> &ServerUrl {
        &self.url
    }

    /// The certificates the server sent, its own first.
    pub fn server_chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// SHA-256 (hex) of the public key this connection's server holds.
    pub fn server_key_sha256(&self) -> &str {
        &self.spki_sha256
    }

    /// Sends one request; `token` goes in `X-Vault-Token`.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> Result<Response, Error> {
        let body = match body {
            Some(value) => Some(Bytes::from(
                serde_json::to_vec(value).map_err(|e| Error::System(e.to_string()))?,
            )),
            None => None,
        };
        self.send(method, path, token, body).await
    }

    /// As [`Connection::request`], with a body already serialised as JSON.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Bytes>,
    ) -> Result<Response, Error> {
        let prepared = self.prepare(method, path, token, body)?;
        self.send_prepared(&prepared).await
    }

    /// A request checked once, to send many times with
    /// [`Connection::send_prepared`] on any connection to this server.
    pub fn prepare(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Bytes>,
    ) -> Result<Prepared, Error> {
        let bad =
            |e: &dyn std::fmt::Display| Error::Input(format!("bad request {method} {path}: {e}"));
        let mut headers = HeaderMap::new();
        headers.insert(
            header::HOST,
            HeaderValue::from_str(&self.host_header).map_err(|e| bad(&e))?,
        );
        if let Some(token) = token {
            let mut value = HeaderValue::from_str(token).map_err(|e| bad(&e))?;
            value.set_sensitive(true);
            headers.insert(X_VAULT_TOKEN, value);
        }
        if body.is_some() {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        Ok(Prepared {
            method: Method::from_bytes(method.as_bytes()).map_err(|e| bad(&e))?,
            uri: Uri::try_from(path).map_err(|e| bad(&e))?,
            headers,
            body: body.unwrap_or_default(),
        })
    }

    /// Sends a prepared request: only its body and headers are cloned
    /// (reference counts), nothing is parsed again.
    pub async fn send_prepared(&mut self, prepared: &Prepared) -> Result<Response, Error> {
        let mut request = Request::new(Full::new(prepared.body.clone()));
        *request.method_mut() = prepared.method.clone();
        *request.uri_mut() = prepared.uri.clone();
        *request.headers_mut() = prepared.headers.clone();
        let (method, path) = (&prepared.method, &prepared.uri);
        self.sender
            .ready()
            .await
            .map_err(|e| http("connection lost".into(), e))?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| http(format!("{method} {path} failed"), e))?;
        let status = response.status().as_u16();
        let body = http_body_util::Limited::new(response.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map_err(|e| Error::Http {
                context: format!("reading the answer to {method} {path}"),
                source: e,
            })?
            .to_bytes();
        Ok(Response { status, body })
    }
}

/// A request made ready to send: method, URI and headers parsed once.
#[derive(Debug, Clone)]
pub struct Prepared {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

/// The server's name for TLS (never checked: trust comes from the evidence).
pub(crate) fn server_name(url: &ServerUrl) -> Result<ServerName<'static>, Error> {
    ServerName::try_from(url.host.clone())
        .map_err(|_| Error::Input(format!("bad server host {:?}", url.host)))
}

fn http(context: String, e: hyper::Error) -> Error {
    Error::Http {
        context,
        source: Box::new(e),
    }
}

/// Why the verifier refused the server, else the TLS error.
fn handshake_error(e: std::io::Error) -> Error {
    let refused = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .and_then(|tls| match tls {
            rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) => {
                other.0.downcast_ref::<Refused>().cloned()
            }
            _ => None,
        });
    match refused {
        Some(refused) => Error::Refused(refused),
        None => Error::Tls(e),
    }
}

#[cfg(test)]
mod tests {
    use super::ServerUrl;

    #[test]
    fn server_urls() {
        let ok = |s: &str, host: &str, port: u16| {
            assert_eq!(
                ServerUrl::parse(s).unwrap(),
                ServerUrl {
                    host: host.into(),
                    port
                }
            );
        };
        ok("https://127.0.0.1:9001", "127.0.0.1", 9001);
        ok("https://localhost/", "localhost", 9001);
        ok("https://[::1]:8443/", "::1", 8443);
        for bad in [
            "http://x:1",
            "https://",
            "https://x:port",
            "https://x:1/path",
            "x:1",
        ] {
            assert!(ServerUrl::parse(bad).is_err(), "{bad}");
        }
    }
}

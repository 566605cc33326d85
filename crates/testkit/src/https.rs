//! A minimal HTTPS client over rustls and hyper, for tests.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

pub struct Response {
    pub status: u16,
    pub content_type: String,
    /// The answer's `Retry-After`, if any.
    pub retry_after: Option<String>,
    pub body: serde_json::Value,
    pub raw: Bytes,
}

/// A TLS connection with the given client config.
pub async fn connect(
    addr: SocketAddr,
    config: rustls::ClientConfig,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").expect("server name");
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
}

/// A TLS 1.3 connection from the local address `from` (loopback takes
/// every 127.x address, so one host plays many clients), for tests of
/// what the server bounds per address.
pub async fn connect_tls13_from(from: IpAddr, addr: SocketAddr) -> TlsStream<TcpStream> {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::new(from, 0)).expect("bind");
    let tcp = socket.connect(addr).await.expect("connect");
    let config = crate::danger::client_config(&[&rustls::version::TLS13]);
    let name = ServerName::try_from("localhost").expect("server name");
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS 1.3 handshake")
}

/// `n` bodiless `POST path`s from `from`, over keep-alive connections (a
/// fresh one whenever the server closes one; at most `2n` tries): a
/// flood. How many were answered 2xx.
pub async fn flood(from: IpAddr, addr: SocketAddr, path: &str, n: usize) -> usize {
    let (mut answers, mut answered, mut tries) = (0, 0, 0);
    while answers < n && tries < 2 * n {
        let tls = connect_tls13_from(from, addr).await;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .expect("HTTP handshake");
        tokio::spawn(conn);
        while answers < n && tries < 2 * n {
            tries += 1;
            let req = hyper::Request::post(path)
                .header("host", "localhost")
                .body(Empty::<Bytes>::new())
                .expect("request");
            if sender.ready().await.is_err() {
                break;
            }
            let Ok(resp) = sender.send_request(req).await else {
                break;
            };
            answers += 1;
            answered += usize::from(resp.status().is_success());
            if resp.into_body().collect().await.is_err() {
                break;
            }
        }
    }
    answered
}

/// A TLS 1.3 connection (any certificate accepted; see [`crate::danger`]).
pub async fn connect_tls13(addr: SocketAddr) -> TlsStream<TcpStream> {
    connect(
        addr,
        crate::danger::client_config(&[&rustls::version::TLS13]),
    )
    .await
    .expect("TLS 1.3 handshake")
}

/// The server certificate a connection saw.
pub fn peer_certificate(tls: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    tls.get_ref()
        .1
        .peer_certificates()
        .expect("peer certificates")[0]
        .clone()
        .into_owned()
}

/// The certificates a connection's server sent, its own first.
pub fn peer_chain(tls: &TlsStream<TcpStream>) -> Vec<CertificateDer<'static>> {
    tls.get_ref()
        .1
        .peer_certificates()
        .expect("peer certificates")
        .iter()
        .map(|c| c.clone().into_owned())
        .collect()
}

pub async fn request_on(tls: TlsStream<TcpStream>, method: &str, path: &str) -> Response {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("HTTP handshake");
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .body(Empty::<Bytes>::new())
        .expect("request");
    let resp = sender.send_request(req).await.expect("response");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let raw = resp.into_body().collect().await.expect("body").to_bytes();
    let body = serde_json::from_slice(&raw).unwrap_or(serde_json::Value::Null);
    Response {
        status,
        content_type,
        retry_after,
        body,
        raw,
    }
}

pub async fn request(addr: SocketAddr, method: &str, path: &str) -> Response {
    request_on(connect_tls13(addr).await, method, path).await
}

pub async fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path).await
}

/// A request with headers and a raw body, over `tls`.
pub async fn send_on(
    tls: TlsStream<TcpStream>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Response {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("HTTP handshake");
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let req = req
        .body(http_body_util::Full::new(Bytes::from(body)))
        .expect("request");
    let resp = sender.send_request(req).await.expect("response");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let raw = resp.into_body().collect().await.expect("body").to_bytes();
    let body = serde_json::from_slice(&raw).unwrap_or(serde_json::Value::Null);
    Response {
        status,
        content_type,
        retry_after,
        body,
        raw,
    }
}

/// `METHOD path` with `headers` and a JSON body (none if `body` is `None`),
/// over a fresh TLS 1.3 connection.
pub async fn send_json(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&serde_json::Value>,
) -> Response {
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    let bytes = match body {
        Some(v) => {
            all.push(("content-type", "application/json"));
            serde_json::to_vec(v).expect("JSON")
        }
        None => Vec::new(),
    };
    send_on(connect_tls13(addr).await, method, path, &all, bytes).await
}

/// As [`send_json`] with a raw body.
pub async fn send_raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Response {
    send_on(connect_tls13(addr).await, method, path, headers, body).await
}

/// A TLS 1.3 server on a fresh local port that serves `cert` and relays
/// every connection, bytes as they are, to `upstream`: an impostor in
/// front of the real server.
pub async fn man_in_the_middle(
    upstream: SocketAddr,
    cert: CertificateDer<'static>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("the impostor's certificate");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut downstream) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut up = connect_tls13(upstream).await;
                let _ = tokio::io::copy_bidirectional(&mut downstream, &mut up).await;
            });
        }
    });
    addr
}

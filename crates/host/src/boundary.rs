//! The host end of the boundary channel: the conversation with a running
//! enclave process (hello, set_up_server, serving, shutdown), and the
//! quoting service relayed on the way. Every message from the enclave is
//! untrusted: anything unexpected ends the exchange with an error.

use std::future::Future;
use std::time::Duration;

use minikms_edl::{
    read_message, write_message, ChannelError, Ecall, Ocall, ServerFailure, PROTOCOL_VERSION,
};
use minikms_sigstruct::Identity;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tracing::{info, warn};

use crate::quoting::{QuoteError, Quoting};
use crate::{log, HostError};

/// The enclave re-measures itself before it says hello.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a stopping enclave may take to drain before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// The whole conversation: start-up, serving, and a clean stop when
/// `shutdown` (a signal) comes, at any point: a signal during start-up
/// ends the host too, whatever the enclave is doing.
pub async fn converse<R, W>(
    mut from_enclave: R,
    to_enclave: W,
    expected: &Identity,
    setup: Ecall,
    shutdown: impl Future<Output = &'static str>,
    quoting: &dyn Quoting,
) -> Result<(), HostError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let rx = &mut from_enclave;
    let relay = Relay {
        tx: tokio::sync::Mutex::new(to_enclave),
        quoting,
    };
    let relay = &relay;
    tokio::pin!(shutdown);
    tokio::select! {
        started = start(rx, relay, expected, &setup) => started?,
        signal = &mut shutdown => {
            return Err(HostError::Launch(format!(
                "received {signal} while the enclave was starting; stopped"
            )))
        }
    }

    // 3. Serve until a signal, or until the enclave stops by itself. One
    // read future lives across the signal: dropping it mid-frame would
    // lose bytes of the channel.
    let stopped = next(rx, relay);
    tokio::pin!(stopped);
    tokio::select! {
        message = &mut stopped => return expect_stopped(message?),
        signal = &mut shutdown => {
            info!("received {signal}; stopping the enclave");
            relay.send(&Ecall::Shutdown {}).await?;
        }
    }
    match tokio::time::timeout(STOP_TIMEOUT, stopped).await {
        Ok(message) => expect_stopped(message?),
        Err(_) => Err(HostError::Launch(format!(
            "the enclave did not stop within {STOP_TIMEOUT:?}"
        ))),
    }
}

/// Steps 1 and 2: the enclave's hello, then set_up_server, answered by
/// server_up or server_failed.
async fn start<R, W>(
    rx: &mut R,
    relay: &Relay<'_, W>,
    expected: &Identity,
    setup: &Ecall,
) -> Result<(), HostError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    // 1. Hello: the enclave checked itself; it must agree with our check.
    let hello = tokio::time::timeout(START_TIMEOUT, next(rx, relay))
        .await
        .map_err(|_| HostError::Launch("the enclave did not start in time".into()))?;
    match hello? {
        Ocall::Hello { version, identity } => {
            if version != PROTOCOL_VERSION {
                return Err(HostError::Launch(format!(
                    "the enclave speaks channel version {version}; this host speaks {PROTOCOL_VERSION}"
                )));
            }
            if identity.mrenclave != expected.mrenclave.to_hex()
                || identity.mrsigner != expected.mrsigner.to_hex()
            {
                return Err(HostError::Launch(format!(
                    "the enclave reports MRENCLAVE {} MRSIGNER {}, not what was verified",
                    log::one_line(&identity.mrenclave),
                    log::one_line(&identity.mrsigner)
                )));
            }
        }
        Ocall::Refused { reason } => {
            return Err(HostError::Launch(format!(
                "the enclave refused to start: {}",
                log::one_line(&reason)
            )))
        }
        other => return Err(unexpected("hello", &other)),
    }

    // 2. set_up_server, answered by server_up or server_failed.
    let Ecall::SetUpServer { bind, port, .. } = setup else {
        return Err(HostError::Launch(
            "internal: the first call must be set_up_server".into(),
        ));
    };
    let asked = format!("{}", std::net::SocketAddr::new(*bind, *port));
    relay.send(setup).await?;
    match next(rx, relay).await? {
        Ocall::ServerUp { addr } => {
            let mut out = std::io::stdout();
            use std::io::Write;
            let _ = writeln!(out, "listening on https://{addr}").and_then(|_| out.flush());
            crate::ship::listening();
        }
        Ocall::ServerFailed { kind, message } => {
            let why = match kind {
                ServerFailure::AddressInUse => {
                    "address already in use (pick another --port, or --port 0 for any free port)"
                }
                ServerFailure::PermissionDenied => {
                    "permission denied (ports below 1024 need privileges)"
                }
                ServerFailure::AddressNotAvailable => "address not available on this machine",
                // The enclave says what failed (opening its store, say).
                ServerFailure::Other => {
                    return Err(HostError::Launch(format!(
                        "the enclave could not start: {}",
                        log::one_line(&message)
                    )))
                }
            };
            return Err(HostError::Launch(format!(
                "cannot listen on {asked}: {why}"
            )));
        }
        other => return Err(unexpected("server_up", &other)),
    }
    Ok(())
}

fn expect_stopped(message: Ocall) -> Result<(), HostError> {
    match message {
        Ocall::Stopped {} => {
            info!("the enclave stopped");
            Ok(())
        }
        other => Err(unexpected("stopped", &other)),
    }
}

/// What the host writes to the enclave, and the quoting service it runs
/// for it (as aesmd and the quoting enclave do on a real machine).
struct Relay<'q, W> {
    tx: tokio::sync::Mutex<W>,
    quoting: &'q dyn Quoting,
}

impl<W: AsyncWrite + Unpin> Relay<'_, W> {
    async fn send(&self, call: &Ecall) -> Result<(), HostError> {
        let mut tx = self.tx.lock().await;
        write_message(&mut *tx, call).await.map_err(channel_error)?;
        tx.flush().await.map_err(|e| channel_error(e.into()))
    }

    /// Answers a quote request. Failures go back to the enclave (its
    /// attestation fails), not to our exit status.
    async fn serve(&self, request: Ocall) -> Result<(), HostError> {
        let answer = match request {
            Ocall::InitQuote { id } => match self.quoting.target_info() {
                Ok(ti) => Ecall::QeTargetInfo {
                    id,
                    target_info: hex::encode(ti),
                },
                Err(reason) => Ecall::QuoteFailed {
                    id,
                    reason: reason.to_string(),
                },
            },
            Ocall::GetQuote { id, report } => {
                let quoted = hex::decode(&report)
                    .map_err(|_| QuoteError::NotHex)
                    .and_then(|report| self.quoting.quote(&report));
                match quoted {
                    Ok((quote, collateral)) => Ecall::Quote {
                        id,
                        quote: hex::encode(quote),
                        collateral,
                    },
                    Err(reason) => {
                        warn!("quote request {id} failed: {reason}");
                        Ecall::QuoteFailed {
                            id,
                            reason: reason.to_string(),
                        }
                    }
                }
            }
            other => return Err(unexpected("a quote request", &other)),
        };
        self.send(&answer).await
    }
}

/// The next message that is not a log line or a quote request (those are
/// handled on the way).
async fn next<R, W>(rx: &mut R, relay: &Relay<'_, W>) -> Result<Ocall, HostError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    loop {
        match read_message::<Ocall, _>(rx).await.map_err(channel_error)? {
            Some(Ocall::Log { level, line }) => log::enclave_line(level, &line),
            Some(request @ (Ocall::InitQuote { .. } | Ocall::GetQuote { .. })) => {
                relay.serve(request).await?
            }
            Some(message) => return Ok(message),
            None => {
                return Err(HostError::Launch(
                    "the enclave exited unexpectedly (channel closed)".into(),
                ))
            }
        }
    }
}

fn channel_error(e: ChannelError) -> HostError {
    HostError::Launch(format!("enclave channel: {e}"))
}

fn unexpected(wanted: &str, got: &Ocall) -> HostError {
    let name = match got {
        Ocall::Hello { .. } => "hello",
        Ocall::Refused { .. } => "refused",
        Ocall::Log { .. } => "log",
        Ocall::ServerUp { .. } => "server_up",
        Ocall::ServerFailed { .. } => "server_failed",
        Ocall::Stopped {} => "stopped",
        Ocall::InitQuote { .. } => "init_quote",
        Ocall::GetQuote { .. } => "get_quote",
    };
    HostError::Launch(format!("enclave channel: expected {wanted}, got {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quoting::{self, Quoted};
    use minikms_sigstruct::Measurement;
    use tokio::io::{duplex, AsyncReadExt};

    fn identity() -> Identity {
        Identity {
            mrenclave: Measurement([1; 32]),
            mrsigner: Measurement([2; 32]),
            product_id: 1,
            security_version: 1,
            attributes: [0; 16],
            debug: true,
        }
    }

    fn hello(version: u16, mrenclave: Measurement) -> Ocall {
        Ocall::Hello {
            version,
            identity: minikms_edl::Identity {
                mrenclave: mrenclave.to_hex(),
                mrsigner: identity().mrsigner.to_hex(),
                product_id: 1,
                security_version: 1,
                debug: true,
                platform: "simulation".into(),
            },
        }
    }

    fn test_setup() -> Ecall {
        Ecall::SetUpServer {
            bind: [127, 0, 0, 1].into(),
            port: 0,
            keep_server_up: true,
            data_dir: "/nonexistent".into(),
            sim_platform_file: "/nonexistent".into(),
            dev_root_token: None,
            cert_lifetime_secs: 60,
            tls_names: vec!["localhost".into()],
            join: None,
            storage: None,
            tsm_report_dir: None,
            max_connections: None,
            max_connections_per_address: None,
            unauthenticated_metrics_access: false,
            max_request_size: None,
            audit_max_bytes: None,
            audit_max_age_secs: None,
        }
    }

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(payload);
        f
    }

    async fn encode(messages: &[Ocall]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in messages {
            write_message(&mut out, m).await.unwrap();
        }
        out
    }

    /// Runs the host side against a fake enclave that sends `script`.
    async fn against(script: Vec<u8>) -> Result<(), HostError> {
        let (mut enclave_out, host_in) = duplex(1 << 20);
        let (host_out, mut enclave_in) = duplex(1 << 20);
        enclave_out.write_all(&script).await.unwrap();
        drop(enclave_out); // then end of file
        let setup = test_setup();
        let never = std::future::pending::<&'static str>();
        let result = converse(
            host_in,
            host_out,
            &identity(),
            setup,
            never,
            &quoting::Unavailable,
        )
        .await;
        // Drain what the host sent so its writes never block.
        let mut sent = Vec::new();
        enclave_in.read_to_end(&mut sent).await.unwrap();
        result
    }

    fn error_of(result: Result<(), HostError>) -> String {
        result.expect_err("should fail").to_string()
    }

    /// An enclave that hangs while starting (before, a corrupt store made
    /// it hang in set_up_server) cannot keep the host from a signal.
    #[tokio::test]
    async fn a_signal_ends_the_host_while_the_enclave_is_starting() {
        for script in [
            Vec::new(),
            encode(&[hello(PROTOCOL_VERSION, identity().mrenclave)]).await,
        ] {
            // The fake enclave says `script`, then nothing, and never closes.
            let (mut enclave_out, host_in) = duplex(1 << 16);
            let (host_out, _enclave_in) = duplex(1 << 16);
            enclave_out.write_all(&script).await.unwrap();
            let signal = async {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                "SIGTERM"
            };
            let result = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                converse(
                    host_in,
                    host_out,
                    &identity(),
                    test_setup(),
                    signal,
                    &quoting::Unavailable,
                ),
            )
            .await
            .expect("the host must not wait for the enclave");
            assert_eq!(
                error_of(result),
                "received SIGTERM while the enclave was starting; stopped"
            );
        }
    }

    #[tokio::test]
    async fn a_well_behaved_enclave_is_served_and_stopped() {
        let (mut enclave_out, host_in) = duplex(1 << 16);
        let (host_out, mut enclave_in) = duplex(1 << 16);
        let log = Ocall::Log {
            level: minikms_edl::Level::Info,
            line: "hi".into(),
        };
        let fake_enclave = tokio::spawn(async move {
            let w = &mut enclave_out;
            write_message(w, &hello(PROTOCOL_VERSION, identity().mrenclave))
                .await
                .unwrap();
            write_message(w, &log).await.unwrap();
            let setup = read_message::<Ecall, _>(&mut enclave_in).await.unwrap();
            assert!(matches!(
                setup,
                Some(Ecall::SetUpServer {
                    port: 0,
                    keep_server_up: true,
                    ..
                })
            ));
            let up = Ocall::ServerUp {
                addr: "127.0.0.1:4433".parse().unwrap(),
            };
            write_message(w, &up).await.unwrap();
            write_message(w, &log).await.unwrap();
            let stop = read_message::<Ecall, _>(&mut enclave_in).await.unwrap();
            assert_eq!(stop, Some(Ecall::Shutdown {}));
            write_message(w, &Ocall::Stopped {}).await.unwrap();
        });
        let setup = test_setup();
        let signal = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            "SIGTERM"
        };
        converse(host_in, host_out, &identity(), setup, signal, &FakeQe)
            .await
            .unwrap();
        fake_enclave.await.unwrap();
    }

    /// A quoting service that quotes by reversing the report.
    struct FakeQe;

    impl Quoting for FakeQe {
        fn target_info(&self) -> Result<Vec<u8>, QuoteError> {
            Ok(vec![7; 512])
        }

        fn quote(&self, report: &[u8]) -> Result<Quoted, QuoteError> {
            if report.len() != 432 {
                return Err(QuoteError::BadReport(minikms_sgx_sim::ParseError::Length {
                    what: "report",
                    expected: 432,
                    actual: report.len(),
                }));
            }
            Ok((
                report.iter().rev().copied().collect(),
                Some(serde_json::json!({"c": 1})),
            ))
        }
    }

    #[tokio::test]
    async fn quote_requests_are_answered_while_serving() {
        let (mut enclave_out, host_in) = duplex(1 << 16);
        let (host_out, mut enclave_in) = duplex(1 << 16);
        let fake_enclave = tokio::spawn(async move {
            let w = &mut enclave_out;
            write_message(w, &hello(PROTOCOL_VERSION, identity().mrenclave))
                .await
                .unwrap();
            let _setup = read_message::<Ecall, _>(&mut enclave_in).await.unwrap();
            let up = Ocall::ServerUp {
                addr: "127.0.0.1:4433".parse().unwrap(),
            };
            write_message(w, &up).await.unwrap();
            let mut answers = Vec::new();
            for request in [
                Ocall::InitQuote { id: 1 },
                Ocall::GetQuote {
                    id: 2,
                    report: hex::encode([1u8; 432]),
                },
                Ocall::GetQuote {
                    id: 3,
                    report: "zz".into(),
                },
                Ocall::GetQuote {
                    id: 4,
                    report: hex::encode([1u8; 10]),
                },
            ] {
                write_message(w, &request).await.unwrap();
                answers.push(
                    read_message::<Ecall, _>(&mut enclave_in)
                        .await
                        .unwrap()
                        .unwrap(),
                );
            }
            write_message(w, &Ocall::Stopped {}).await.unwrap();
            answers
        });
        let never = std::future::pending::<&'static str>();
        converse(host_in, host_out, &identity(), test_setup(), never, &FakeQe)
            .await
            .unwrap();
        let answers = fake_enclave.await.unwrap();
        assert_eq!(
            answers[0],
            Ecall::QeTargetInfo {
                id: 1,
                target_info: hex::encode([7u8; 512])
            }
        );
        assert_eq!(
            answers[1],
            Ecall::Quote {
                id: 2,
                quote: hex::encode([1u8; 432]),
                collateral: Some(serde_json::json!({"c": 1}))
            }
        );
        assert!(
            matches!(&answers[2], Ecall::QuoteFailed { id: 3, reason } if reason.contains("not hex"))
        );
        assert!(
            matches!(&answers[3], Ecall::QuoteFailed { id: 4, reason } if reason.contains("bad report: report: expected exactly 432 bytes"))
        );
    }

    #[tokio::test]
    async fn a_misbehaving_enclave_ends_the_exchange_with_an_error() {
        let good_hello = encode(&[hello(PROTOCOL_VERSION, identity().mrenclave)]).await;
        let up = encode(&[Ocall::ServerUp {
            addr: "127.0.0.1:1".parse().unwrap(),
        }])
        .await;
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "the enclave exited unexpectedly"),
            (
                vec![0xff, 0xff, 0xff, 0xff],
                "channel frame of 4294967295 bytes is outside",
            ),
            (vec![0, 0, 0, 9, b'{'], "closed in the middle of a frame"),
            (
                frame(b"{\"type\":\"launch_missiles\"}"),
                "malformed channel message",
            ),
            (
                encode(&[hello(PROTOCOL_VERSION + 1, identity().mrenclave)]).await,
                "speaks channel version",
            ),
            (
                encode(&[hello(PROTOCOL_VERSION, Measurement([9; 32]))]).await,
                "not what was verified",
            ),
            (
                encode(&[Ocall::Refused {
                    reason: "bad\u{1b}[2Jmeasurement".into(),
                }])
                .await,
                "the enclave refused to start: bad [2Jmeasurement",
            ),
            (up.clone(), "expected hello, got server_up"),
            (
                [good_hello.clone(), good_hello.clone()].concat(),
                "expected server_up, got hello",
            ),
            (
                [good_hello.clone(), up.clone(), up.clone()].concat(),
                "expected stopped, got server_up",
            ),
            (
                [good_hello.clone(), up].concat(),
                "the enclave exited unexpectedly",
            ),
        ];
        for (script, want) in cases {
            let err = error_of(against(script).await);
            assert!(err.contains(want), "{err:?} should contain {want:?}");
        }
    }
}

//! `minikms`: the minikms client CLI, a thin layer over the library: it
//! turns the command line into library calls and prints what they return.
//! Results are JSON on stdout; what was attested is one line on stderr
//! (`attested: ...`); an error is one line on stderr and exit status 1
//! (usage errors are clap's, status 2).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use minikms_client::attested_tls::summary;
use minikms_client::bench::{Bench, Report};
use minikms_client::cli::{AuditCommand, AuditVerifyArgs, BenchArgs, Cli, Command, VerifyArgs};
use minikms_client::client::{api_method, Client};
use minikms_client::connection::ServerUrl;
use minikms_client::error::Error;
use minikms_client::files::write_secret;
use minikms_client::freshness::Checked;
use minikms_client::import::read_key;
use minikms_client::login::Session;
use minikms_client::offline::{self, AuditLog, Verified};
use minikms_client::recovery::{self, Making};
use minikms_client::workload::SimulatedWorkload;
use minikms_verifier::CertificateClaims;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Bench(args) => return bench(&cli, args),
        Command::Verify(args) => verify(&cli, args),
        Command::Audit(AuditCommand::Verify(args)) => audit_verify(&cli, args),
        Command::Login(_) | Command::Release(_) => {
            runtime(false).and_then(|rt| rt.block_on(workload_command(&cli)))
        }
        _ => runtime(false).and_then(|rt| rt.block_on(server_command(&cli))),
    };
    match result.and_then(|json| pretty(&json)) {
        Ok(text) => print(&text),
        Err(e) => fail(&e),
    }
}

/// A command that talks to a server, over one attested connection.
async fn server_command(cli: &Cli) -> Result<serde_json::Value, Error> {
    let url = cli.server_url()?;
    let attestation = cli.attestation.load_for_server()?;
    let mut client = Client::open(&url, attestation)
        .await?
        .with_token(cli.token());
    eprintln!("attested: {}", summary(client.claims()));
    check_freshness(cli, client.claims())?;
    match &cli.command {
        Command::Status => client.status().await,
        Command::GenerateAesKey => client.generate_aes_key().await,
        Command::GenerateRsaKeyPair => client.generate_rsa_key_pair().await,
        Command::Attest(args) => {
            let nonce = args.nonce.as_ref().map(|n| n.0.as_slice());
            let claims = client.attest(nonce).await?;
            serde_json::to_value(claims).map_err(|e| Error::System(e.to_string()))
        }
        Command::Api(args) => {
            let method = api_method(&args.method)?;
            let body = args.body()?;
            client.api(&method, &args.path, body.as_ref()).await
        }
        Command::Import(args) => {
            let key = read_key(&args.file, args.key_type.as_deref())?;
            let imported = client.import(&args.name, &key, args.options()).await?;
            Ok(imported.to_json())
        }
        Command::Init(args) | Command::RecoveryShares(args) => {
            let making = match &cli.command {
                Command::Init(_) => Making::Init,
                _ => Making::ForInitialised,
            };
            recovery::make_shares(
                &mut client,
                making,
                args.shares,
                args.threshold,
                &args.recipient,
                &args.out,
            )
            .await
        }
        Command::Unseal(args) => recovery::unseal(&mut client, &args.share, &args.identity).await,
        Command::Trust(args) => {
            let ca = client.trust_ca()?;
            ca.save(&args.out)?;
            Ok(ca.to_json(&args.out))
        }
        Command::Verify(_) | Command::Audit(_) | Command::Bench(_) => Err(Error::Input(
            "this command does not talk to a server".into(),
        )),
        Command::Login(_) | Command::Release(_) => Err(Error::Input(
            "a workload command has its own connection".into(),
        )),
    }
}

/// `minikms login` and `minikms release`: a simulated workload enclave
/// logs in over a connection that presents its fresh key.
async fn workload_command(cli: &Cli) -> Result<serde_json::Value, Error> {
    let url = cli.server_url()?;
    let attestation = cli.attestation.load_for_server()?;
    let args = match &cli.command {
        Command::Login(args) => args,
        Command::Release(args) => &args.login,
        _ => return Err(Error::Input("not a workload command".into())),
    };
    let workload = SimulatedWorkload::from_signed_file(
        &args.simulate_enclave,
        args.sim_platform_file.as_deref(),
    )?;
    let mut session = Session::login(&url, attestation, &args.role, &workload).await?;
    eprintln!("attested: {}", summary(session.client().claims()));
    check_freshness(cli, session.client().claims())?;
    let Command::Release(release) = &cli.command else {
        return Ok(session.answer().clone());
    };
    let released = session.release_key(&release.name).await?;
    write_secret(&release.out, &released.material)?;
    Ok(serde_json::json!({
        "name": release.name,
        "version": released.version,
        "bytes": released.material.len(),
        "out": release.out,
    }))
}

/// `minikms verify`: offline.
fn verify(cli: &Cli, args: &VerifyArgs) -> Result<serde_json::Value, Error> {
    let input = offline::read_evidence(&args.file)?;
    let attestation = cli.attestation.load()?;
    let verified = offline::verify(&input, args.at, &attestation)?;
    if let Verified::Certificate {
        claims,
        within_validity: false,
    } = &verified
    {
        eprintln!(
            "note: the certificate is valid only from {} to {}; a TLS client would refuse it now",
            claims.not_before, claims.not_after
        );
    }
    verified.to_json()
}

/// `minikms audit verify`: offline.
fn audit_verify(cli: &Cli, args: &AuditVerifyArgs) -> Result<serde_json::Value, Error> {
    let logs = args
        .files
        .iter()
        .map(|f| AuditLog::read(f))
        .collect::<Result<Vec<_>, _>>()?;
    let attestation = cli.attestation.load()?;
    let grouped = offline::group_logs(&logs);
    if let [files] = grouped.as_slice() {
        let summary = offline::verify_chain(files, &attestation)?;
        return serde_json::to_value(&summary)
            .map_err(|e| Error::System(format!("cannot print the summary: {e}")));
    }
    offline::verify_logs(&grouped, &attestation)
}

/// `minikms bench`, on a multi-thread runtime: the report on stdout (text,
/// or JSON with `--json`); exit status 1 if any request failed.
fn bench(cli: &Cli, args: &BenchArgs) -> ExitCode {
    let report = runtime(true).and_then(|rt| rt.block_on(run_bench(cli, args)));
    match report {
        Ok(report) => {
            let text = if args.json {
                report.to_json().to_string()
            } else {
                report.to_text()
            };
            match print(&text) {
                ExitCode::SUCCESS if report.errors == 0 => ExitCode::SUCCESS,
                _ => ExitCode::FAILURE,
            }
        }
        Err(e) => fail(&e),
    }
}

async fn run_bench(cli: &Cli, args: &BenchArgs) -> Result<Report, Error> {
    let config = args.to_config();
    config.validate()?;
    let url = cli.server_url()?;
    let attestation = cli.attestation.load_for_server()?;
    let replicas = args
        .replicas
        .iter()
        .map(|r| ServerUrl::parse(r))
        .collect::<Result<Vec<_>, _>>()?;
    let bench = Bench::connect(&url, attestation, cli.token(), config)
        .await?
        .with_replicas(replicas);
    eprintln!("attested: {}", summary(bench.claims()));
    check_freshness(cli, bench.claims())?;
    let report = bench.run().await?;
    if let Some(e) = &report.first_error {
        eprintln!("first error: {e}");
    }
    Ok(report)
}

/// Refuses a server whose state is older than this client saw before
/// (unless `--accept-rollback`), and remembers what it claims now.
fn check_freshness(cli: &Cli, claims: &CertificateClaims) -> Result<(), Error> {
    let Some(memory) = cli.attestation.freshness_memory() else {
        eprintln!(
            "note: no HOME, XDG_STATE_HOME or --freshness-file: \
             a rollback of the server's state cannot be seen"
        );
        return Ok(());
    };
    // Each replica of a store is remembered apart (crate::freshness says why).
    let url = cli.server_url()?;
    let address = format!("{}:{}", url.host, url.port);
    if let Checked::AcceptedRollback { before } =
        memory.check(&address, claims, cli.attestation.accept_rollback)?
    {
        eprintln!(
            "note: accepted the server's older state (--accept-rollback); it had been at key \
             store generation {} and audit log entry {}",
            before.store_generation, before.audit_seq
        );
    }
    Ok(())
}

fn runtime(multi_thread: bool) -> Result<tokio::runtime::Runtime, Error> {
    let mut builder = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder
        .enable_all()
        .build()
        .map_err(|e| Error::System(format!("cannot start the runtime: {e}")))
}

fn pretty(json: &serde_json::Value) -> Result<String, Error> {
    serde_json::to_string_pretty(json)
        .map_err(|e| Error::System(format!("cannot print the answer: {e}")))
}

/// Prints `text` and a newline on stdout. A closed stdout (e.g. `| head`)
/// is a failure, not a panic.
fn print(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

/// Errors are one line on stderr.
fn fail(e: &Error) -> ExitCode {
    eprintln!(
        "{}",
        e.to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    );
    ExitCode::FAILURE
}

//! `minikms`: the minikms client CLI. See the library for the commands.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use minikms_client::cli::{AuditCommand, Cli, Command};
use minikms_client::{audit_cmd, bench, commands, verify_cmd};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Bench(args) => return bench::main(&cli, args),
        Command::Verify(args) => verify_cmd::run(args, &cli.attestation),
        Command::Audit(AuditCommand::Verify(args)) => audit_cmd::run(args, &cli.attestation),
        _ => match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(commands::run(&cli)),
            Err(e) => Err(format!("cannot start the runtime: {e}")),
        },
    };
    match result {
        Ok(json) => print_json(&json),
        Err(message) => {
            eprintln!("{}", one_line(&message));
            ExitCode::FAILURE
        }
    }
}

fn print_json(json: &serde_json::Value) -> ExitCode {
    let text = match serde_json::to_string_pretty(json) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("cannot print the answer: {e}");
            return ExitCode::FAILURE;
        }
    };
    // A closed stdout (e.g. `| head`) is not worth a panic.
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

/// Errors are one line on stderr.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

//! `minikms`: the minikms client CLI. See the library for the commands.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use minikms_client::cli::{AuditCommand, Cli, Command};
use minikms_client::{audit_cmd, verify_cmd};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Verify(args) => match verify_cmd::run(&args) {
            Ok(claims) => match serde_json::to_string_pretty(&claims) {
                Ok(json) => {
                    // A closed stdout (e.g. `| head`) is not worth a panic.
                    let mut out = std::io::stdout().lock();
                    match writeln!(out, "{json}").and_then(|()| out.flush()) {
                        Ok(()) => ExitCode::SUCCESS,
                        Err(_) => ExitCode::FAILURE,
                    }
                }
                Err(e) => {
                    eprintln!("cannot print the claims: {e}");
                    ExitCode::FAILURE
                }
            },
            Err(message) => {
                eprintln!("{}", one_line(&message));
                ExitCode::FAILURE
            }
        },
        Command::Audit(AuditCommand::Verify(args)) => audit_cmd::run(&args),
    }
}

/// Errors are one line on stderr.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

//! The `kms-host` command line. Other tools rely on these names and flags.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::{keys, launch, log, sign, HostError};

/// The `run` command's flags; they live with the command, in [`launch`].
pub use crate::launch::RunArgs;

#[derive(Parser)]
#[command(
    name = "kms-host",
    version,
    about = "The untrusted host of the minikms enclave"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Verify and launch a signed enclave and serve HTTPS from inside it.
    Run(RunArgs),
    /// Measure and sign an enclave binary.
    Sign {
        /// Signing key: RSA-3072, e = 3, PEM (PKCS#8 or PKCS#1).
        #[arg(long)]
        key: PathBuf,
        /// Enclave config (TOML; see enclave.toml).
        #[arg(long)]
        config: PathBuf,
        /// The unsigned enclave binary.
        #[arg(long)]
        enclave: PathBuf,
        /// Where to write the signed enclave.
        #[arg(long)]
        out: PathBuf,
    },
    /// Make a new enclave signing key (RSA-3072, public exponent 3).
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    log::init();
    let result = match cli.command {
        Command::Run(args) => launch::run(args),
        Command::Sign {
            key,
            config,
            enclave,
            out,
        } => (|| {
            let key = keys::load(&key)?;
            let config = sign::read_config(&config)?;
            let id = sign::sign_file(&key, &config, &enclave, &out)?;
            println!("signed enclave written to {}", out.display());
            println!("MRENCLAVE {}", id.mrenclave);
            println!("MRSIGNER  {}", id.mrsigner);
            Ok(())
        })(),
        Command::Keygen { out } => keys::generate(&out).map(|key| {
            println!("signing key written to {}", out.display());
            println!("MRSIGNER  {}", key.mrsigner());
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e);
            ExitCode::FAILURE
        }
    }
}

fn report(e: &HostError) {
    eprintln!("kms-host: error: {e}");
}

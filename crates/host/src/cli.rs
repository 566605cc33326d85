//! The `kms-host` command line. Other tools rely on these names and flags.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::{keys, launch, log, sign, HostError};

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

#[derive(clap::Args)]
pub struct RunArgs {
    /// Run on the simulated platform (no TEE hardware needed, NO security).
    #[arg(long)]
    pub simulation: bool,
    /// TCP port to serve HTTPS on; 0 picks a free one.
    #[arg(long, default_value_t = 9001)]
    pub port: u16,
    /// Address to bind. The default serves this machine only; use 0.0.0.0
    /// (or ::) to serve the network.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Where the host keeps its files [default: $XDG_DATA_HOME/minikms or
    /// ~/.local/share/minikms].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Serve a single connection, then stop (the tutorial's
    /// keep_server_up = false). Without it the server stays up until
    /// SIGINT or SIGTERM.
    #[arg(long)]
    pub once: bool,
    /// Lifetime of the enclave's TLS certificates, in seconds; each is
    /// renewed (new key, new attestation evidence) at half its lifetime.
    #[arg(long, default_value_t = 86400, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(2..=397 * 24 * 3600))]
    pub tls_cert_lifetime: u64,
    /// A name (DNS name or IP address) for the enclave's TLS certificates,
    /// for clients that check hostnames against the enclave's CA; repeat
    /// for more [default: localhost and the bind address, or 127.0.0.1
    /// when binding to all addresses].
    #[arg(long = "tls-name", value_name = "NAME", value_parser = parse_tls_name)]
    pub tls_names: Vec<String>,
    /// Development only: initialise a new key store with this root token
    /// (like `vault server -dev -dev-root-token-id`). The host sees it, so
    /// never use it for keys that matter.
    #[arg(long, value_name = "ID")]
    pub dev_root_token: Option<String>,
    /// Enclave config used when signing the development build
    /// [default: the enclave.toml built into kms-host].
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// A signed enclave file. Without it (simulation only), the
    /// minikms-enclave binary next to kms-host is signed with a development
    /// key kept in the data dir.
    pub signed_enclave: Option<PathBuf>,
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

fn parse_tls_name(s: &str) -> Result<String, String> {
    minikms_edl::check_tls_name(s).map(|()| s.to_string())
}

fn report(e: &HostError) {
    eprintln!("kms-host: error: {e}");
}

//! The `kms-host` command line. Other tools rely on these names and flags.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::{self, Problem};
use crate::log::LogFormat;
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
    Run(Box<RunArgs>),
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
    /// Check a `run --server-config` file: print the effective settings
    /// (the file's, with MINIKMS_… environment overrides) and every error
    /// with its line.
    CheckConfig {
        /// The server config (TOML; keys are `kms-host run`'s long flags).
        file: PathBuf,
    },
}

pub fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let command = match (cli.command, matches.subcommand_matches("run")) {
        (Command::Run(args), Some(given)) => match with_settings(*args, given) {
            Ok(args) => Command::Run(Box::new(args)),
            Err(problems) => {
                log::init(LogFormat::Text);
                for p in &problems {
                    log::error_line(&p.to_string());
                }
                return ExitCode::from(2);
            }
        },
        (command, _) => command,
    };
    log::init(match &command {
        Command::Run(args) => args.log_format,
        _ => LogFormat::Text,
    });
    let result = match command {
        Command::CheckConfig { file } => return check_config(&file),
        Command::Run(args) => launch::run(*args),
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
    log::error_line(&e.to_string());
}

/// `run` as clap knows it, for reading settings off its flags.
fn run_command() -> clap::Command {
    Cli::command()
        .find_subcommand("run")
        .cloned()
        .unwrap_or_else(|| clap::Command::new("run"))
}

/// The server config named by `--server-config` (or MINIKMS_SERVER_CONFIG).
fn config_file(args: &RunArgs) -> Option<PathBuf> {
    args.server_config.clone().or_else(|| {
        std::env::var_os(format!("{}SERVER_CONFIG", config::ENV_PREFIX))
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

/// The file's and the environment's settings and their problems.
fn gather(
    cmd: &clap::Command,
    file: Option<&std::path::Path>,
) -> (Vec<config::Setting>, Vec<config::Setting>, Vec<Problem>) {
    let (from_file, mut problems) = match file {
        Some(f) => config::read_file(cmd, f),
        None => Default::default(),
    };
    let (from_env, env_problems) = config::read_env(cmd);
    problems.extend(env_problems);
    (from_file, from_env, problems)
}

/// `run`'s arguments with the server config's and the environment's
/// settings under the command line's flags: the settings become flags in
/// front of the command line's, and clap parses them all once more, so
/// every flag's own checks (and its conflicts) apply to them too.
fn with_settings(args: RunArgs, given: &ArgMatches) -> Result<RunArgs, Vec<Problem>> {
    let cmd = run_command();
    let file = config_file(&args);
    let (from_file, from_env, problems) = gather(&cmd, file.as_deref());
    if !problems.is_empty() {
        return Err(problems);
    }
    let settings = config::layer(&cmd, from_file, from_env, Some(given));
    if settings.is_empty() {
        return Ok(args);
    }
    reparse(&cmd, &settings, std::env::args_os().skip(2)).map_err(|p| vec![p])
}

fn reparse(
    cmd: &clap::Command,
    settings: &[config::Setting],
    command_line: impl Iterator<Item = OsString>,
) -> Result<RunArgs, Problem> {
    let mut argv: Vec<OsString> = vec!["run".into()];
    argv.extend(config::as_flags(cmd, settings));
    argv.extend(command_line);
    let together = |e: clap::Error| Problem {
        origin: None,
        message: format!(
            "the server config, the MINIKMS_ environment and the flags together: {}",
            e.to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ")
        ),
    };
    let matches = cmd.clone().try_get_matches_from(argv).map_err(together)?;
    RunArgs::from_arg_matches(&matches).map_err(together)
}

/// `kms-host check-config FILE`: the effective settings on stdout, every
/// problem on stderr; fails if there is one.
fn check_config(file: &std::path::Path) -> ExitCode {
    let cmd = run_command();
    let (from_file, from_env, mut problems) = gather(&cmd, Some(file));
    let settings = config::layer(&cmd, from_file, from_env, None);
    if problems.is_empty() {
        if let Err(p) = reparse(&cmd, &settings, std::iter::empty()) {
            problems.push(p);
        }
    }
    for line in config::listing(&cmd, &settings) {
        println!("{line}");
    }
    if problems.is_empty() {
        return ExitCode::SUCCESS;
    }
    for p in &problems {
        log::error_line(&p.to_string());
    }
    ExitCode::FAILURE
}

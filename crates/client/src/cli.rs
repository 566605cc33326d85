//! Command-line types: `minikms [OPTIONS] COMMAND`. The attestation flags
//! are global, so they may come before or after the command. Each type
//! converts itself to what the library takes ([`AttestationArgs::load`],
//! [`BenchArgs::to_config`], ...); `main.rs` runs the command and prints.
//! Nothing in the library depends on this module.

use std::path::PathBuf;

use clap::builder::PossibleValue;
use clap::{Args, Parser, Subcommand, ValueEnum};
use minikms_verifier::snp::TcbVersion;
use minikms_verifier::{Policy, TcbStatus};

use crate::attested_tls::Attestation;
use crate::bench::{Config, Op};
use crate::client::MAX_NONCE;
use crate::connection::ServerUrl;
use crate::error::Error;
use crate::freshness::FreshnessMemory;
use crate::import::ImportOptions;

/// The minikms client. Every command that talks to a server verifies the
/// server's enclave in the TLS handshake first (attested TLS) and refuses
/// the server if the evidence does not meet the policy flags.
#[derive(Debug, Parser)]
#[command(name = "minikms", version, about = "The minikms client")]
pub struct Cli {
    /// The server, https://HOST:PORT.
    #[arg(long, global = true, value_name = "URL", env = "MINIKMS_SERVER")]
    pub server: Option<String>,
    /// The token for /v1 routes (also read from MINIKMS_TOKEN or VAULT_TOKEN).
    #[arg(
        long,
        global = true,
        value_name = "TOKEN",
        env = "MINIKMS_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// What evidence to accept.
    #[command(flatten)]
    pub attestation: AttestationArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Verify attestation evidence or an RA-TLS certificate offline and
    /// print its claims as JSON.
    Verify(VerifyArgs),
    /// The server's status, after verifying its enclave.
    Status,
    /// Fresh evidence for a nonce, verified, bound to this connection's
    /// server key; prints the claims as JSON.
    Attest(AttestArgs),
    /// A fresh AES-256 key from the enclave (base64), not stored.
    GenerateAesKey,
    /// A fresh RSA-2048 key pair from the enclave (PEM), not stored.
    GenerateRsaKeyPair,
    /// Attest the server, then save its enclave CA (PEM) for ordinary TLS
    /// clients: `curl --cacert FILE`, `hvac.Client(verify=FILE)`,
    /// `VAULT_CACERT=FILE`.
    Trust(TrustArgs),
    /// Bring your own key: wrap a key file for the attested enclave's
    /// wrapping key and import it as a managed key (Vault transit import).
    Import(ImportArgs),
    /// Initialise the server with recovery shares, each encrypted to one
    /// recipient's RSA key and written to DIR/share-I.enc; prints the root
    /// token.
    Init(InitArgs),
    /// Make recovery shares for an initialised server that has none (a
    /// store from before recovery shares, or initialised without them);
    /// needs the root token, a threshold of at least 2, and a different
    /// recipient for each share.
    RecoveryShares(InitArgs),
    /// Give the server one recovery share (decrypted here with your
    /// private key), after verifying its enclave; prints its seal status.
    Unseal(UnsealArgs),
    /// Log in as a workload in a TEE (here: a simulated workload enclave)
    /// with its evidence; prints the login answer (Vault's `auth` block).
    /// The token is bound to a key that lives only in this process.
    Login(LoginArgs),
    /// Log in as a workload (as `login`), ask for the latest version of
    /// key NAME released to it, unwrap it here and write the raw key bytes
    /// to FILE.
    Release(ReleaseArgs),
    /// Any /v1 call (Vault's Transit API), e.g.
    /// `minikms api POST transit/encrypt/app --data '{"plaintext":"aGk="}'`.
    Api(ApiArgs),
    /// A load generator over attested HTTPS: ops/s and latency percentiles.
    Bench(BenchArgs),
    /// Audit log commands.
    #[command(subcommand)]
    Audit(AuditCommand),
}

impl Cli {
    /// The server to talk to.
    pub fn server_url(&self) -> Result<ServerUrl, Error> {
        let url = self.server.as_deref().ok_or_else(|| {
            Error::Input(
                "no server: pass --server https://HOST:PORT (or set MINIKMS_SERVER)".into(),
            )
        })?;
        ServerUrl::parse(url)
    }

    /// The token: `--token`, else MINIKMS_TOKEN, else VAULT_TOKEN; an empty
    /// one is none.
    pub fn token(&self) -> Option<String> {
        self.token
            .clone()
            .or_else(|| std::env::var("VAULT_TOKEN").ok())
            .filter(|t| !t.is_empty())
    }
}

/// `minikms init|recovery-shares --shares N --threshold K --recipient A.pem ... --out DIR`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// How many shares to make (1 to 255).
    #[arg(long, value_name = "N")]
    pub shares: u8,
    /// How many shares unseal (at least 2 when N > 1).
    #[arg(long, value_name = "K")]
    pub threshold: u8,
    /// One RSA key (PEM public key, or the PKCS#8 private key whose public
    /// half is sent) per share; share I is encrypted to the I-th.
    #[arg(long, value_name = "KEY.pem", required = true)]
    pub recipient: Vec<PathBuf>,
    /// Where to write share-1.enc ... share-N.enc.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// `minikms login --role R --simulate-enclave SIGNED_FILE`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The role to log in under (`auth/attest/role/NAME`).
    #[arg(long, value_name = "ROLE")]
    pub role: String,
    /// Be the workload enclave signed in this file (made by `kms-host
    /// sign`) on the simulated platform: its evidence proves nothing.
    #[arg(long, value_name = "SIGNED_FILE")]
    pub simulate_enclave: PathBuf,
    /// The simulated CPU's fuse file (e.g. the server's
    /// `sim-platform-fuses`) [default: a fresh simulated CPU].
    #[arg(long, value_name = "FILE")]
    pub sim_platform_file: Option<PathBuf>,
}

/// `minikms release NAME --role R --simulate-enclave SIGNED_FILE --out FILE`.
#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The managed key.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Where to write the key's raw bytes (made mode 0600; 32 bytes for
    /// aes256-gcm96).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// How to log in.
    #[command(flatten)]
    pub login: LoginArgs,
}

/// `minikms unseal --share FILE --identity KEY.pem`.
#[derive(Debug, Args)]
pub struct UnsealArgs {
    /// A share file written by `minikms init`.
    #[arg(long, value_name = "FILE")]
    pub share: PathBuf,
    /// The private key (PKCS#8 PEM) the share was encrypted to.
    #[arg(long, value_name = "KEY.pem")]
    pub identity: PathBuf,
}

/// `minikms audit ...`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify an audit log offline (signatures, hash chain, evidence for
    /// its key) and print a summary as JSON. The attestation flags
    /// (`--allow-simulation`, `--mrsigner`, `--collateral`, `--offline`, ...)
    /// say what evidence to accept.
    Verify(AuditVerifyArgs),
}

/// `minikms audit verify FILE... [attestation flags]`.
#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    /// The audit log (`audit.log` in the enclave's data dir), with the
    /// rotated files before it (`audit.log.SEQ`) in any order: a file that
    /// continues another is checked after it, and the oldest given may be
    /// any rotated file. Files of several logs (one per replica): each log
    /// is checked and the entries of all are printed merged by time.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
}

/// `minikms verify FILE [--at SECS]`, and for an SEV-SNP report
/// `--vcek VCEK.der --amd-chain ASK_ARK.pem`. The kind of evidence is
/// detected from the file.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Evidence: a raw or hex DCAP quote, an Open Enclave remote report,
    /// the enclave's /attestation JSON, an RA-TLS certificate (PEM or DER),
    /// an SEV-SNP report (raw or hex) or a Nitro attestation document (raw
    /// COSE_Sign1 or base64).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Verification time in Unix seconds (default: now; for a Nitro
    /// document, the document's own timestamp).
    #[arg(long, value_name = "UNIX_TIME")]
    pub at: Option<u64>,
}

/// `minikms attest [--nonce HEX]`.
#[derive(Debug, Args)]
pub struct AttestArgs {
    /// Nonce, up to 64 bytes in hex (default: 32 random bytes).
    #[arg(long, value_name = "HEX", value_parser = parse_nonce)]
    pub nonce: Option<Nonce>,
}

/// `minikms import NAME --file KEY [--type TYPE] [--new-version]`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The managed key's name.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The key: PEM or DER (PKCS#8, PKCS#1, SEC1) for RSA, ECDSA P-256/P-384
    /// and Ed25519; raw bytes for aes256-gcm96 (32 bytes) and hmac.
    #[arg(long, value_name = "KEY_FILE")]
    pub file: PathBuf,
    /// The key type (default: what the file holds; raw files are
    /// aes256-gcm96).
    #[arg(long = "type", value_name = "TYPE")]
    pub key_type: Option<String>,
    /// Add the key as a new version of an existing imported key
    /// (`import_version`) instead of creating it.
    #[arg(long)]
    pub new_version: bool,
    /// Allow the key to be exported later.
    #[arg(long)]
    pub exportable: bool,
    /// Allow the server to rotate the key (new versions it generates).
    #[arg(long)]
    pub allow_rotation: bool,
}

impl ImportArgs {
    /// The import options these flags ask for.
    pub fn options(&self) -> ImportOptions {
        ImportOptions {
            new_version: self.new_version,
            exportable: self.exportable,
            allow_rotation: self.allow_rotation,
        }
    }
}

/// `minikms trust --out FILE`.
#[derive(Debug, Args)]
pub struct TrustArgs {
    /// Where to write the CA certificate (PEM).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// `minikms api METHOD PATH [--data JSON]`.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// GET, POST, PUT, DELETE or LIST.
    #[arg(value_name = "METHOD")]
    pub method: String,
    /// The path under /v1/, e.g. transit/keys/app.
    #[arg(value_name = "PATH")]
    pub path: String,
    /// JSON request body.
    #[arg(long, value_name = "JSON")]
    pub data: Option<String>,
}

impl ApiArgs {
    /// The `--data` body, parsed.
    pub fn body(&self) -> Result<Option<serde_json::Value>, Error> {
        self.data
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| Error::Input(format!("--data is not JSON: {e}")))
    }
}

/// `minikms bench --op OP [--concurrency N] [--duration SECS] ...`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The operation to measure.
    #[arg(long, value_enum)]
    pub op: Op,
    /// Workers, each with its own connection.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub concurrency: usize,
    /// Length of the timed window, in seconds.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub duration: f64,
    /// Plaintext or signing input size, in bytes (encrypt, decrypt, sign,
    /// verify).
    #[arg(long, default_value_t = 64, value_name = "BYTES")]
    pub payload: usize,
    /// Items per request as `batch_input` (encrypt, decrypt, sign, verify);
    /// without it, one item per request without a batch.
    #[arg(long, value_name = "N")]
    pub batch: Option<usize>,
    /// Key type for encrypt, decrypt, datakey (default aes256-gcm96),
    /// sign, verify (default ecdsa-p256) and create-key (default
    /// aes256-gcm96).
    #[arg(long, value_name = "TYPE")]
    pub key_type: Option<String>,
    /// Open (and attest) a new TLS connection for every request.
    #[arg(long)]
    pub new_connections: bool,
    /// Another replica of the same service (repeat for more): the workers
    /// spread round-robin over --server and these, each attested as
    /// --server is.
    #[arg(long = "replica", value_name = "https://HOST:PORT")]
    pub replicas: Vec<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

impl BenchArgs {
    /// The run these flags describe (`--json` is the CLI's).
    pub fn to_config(&self) -> Config {
        Config {
            op: self.op,
            concurrency: self.concurrency,
            duration: self.duration,
            payload: self.payload,
            batch: self.batch,
            key_type: self.key_type.clone(),
            new_connections: self.new_connections,
        }
    }
}

/// `--op` takes the ops by name, with their help.
impl ValueEnum for Op {
    fn value_variants<'a>() -> &'a [Self] {
        &Op::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()).help(self.help()))
    }
}

/// How to verify evidence and what to accept: shared by every command.
#[derive(Debug, Clone, Default, Args)]
pub struct AttestationArgs {
    /// DCAP collateral (QuoteCollateralV3 JSON) for full verification; by
    /// default the collateral the evidence carries, if any.
    #[arg(long, global = true, value_name = "FILE")]
    pub collateral: Option<PathBuf>,
    /// Without collateral, check signatures and the PCK chain only (TCB
    /// status unknown).
    #[arg(long, global = true)]
    pub offline: bool,
    /// SEV-SNP: the VCEK (DER) that signed the report, in a file or in a
    /// server's certificate (not fetched).
    #[arg(long, global = true, value_name = "VCEK.der", requires = "amd_chain")]
    pub vcek: Option<PathBuf>,
    /// SEV-SNP: AMD's ASK then ARK (PEM); the ARK must be one of the
    /// built-in ARKs (Milan, Genoa, Turin).
    #[arg(long, global = true, value_name = "ASK_ARK.pem", requires = "vcek")]
    pub amd_chain: Option<PathBuf>,
    /// Pin MRENCLAVE and MRSIGNER (and accept debug if it is a debug
    /// enclave) from a signed enclave file made by `kms-host sign`.
    #[arg(long, global = true, value_name = "SIGNED_FILE")]
    pub enclave: Option<PathBuf>,
    /// Talk to a server whose enclave identity is not pinned (no
    /// `--enclave`, `--mrenclave` or `--mrsigner`): any enclave that meets
    /// the other flags is accepted. For looking around only.
    #[arg(long, global = true)]
    pub any_enclave: bool,
    /// Go on when the server's state is older than seen before (its key
    /// store generation or audit log head went backwards): for a
    /// deliberate restore. The older state is remembered from then on.
    #[arg(long, global = true)]
    pub accept_rollback: bool,
    /// Where to remember how fresh each server's state was [default:
    /// $XDG_STATE_HOME/minikms/freshness.json, or
    /// ~/.local/state/minikms/freshness.json].
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "MINIKMS_FRESHNESS_FILE"
    )]
    pub freshness_file: Option<PathBuf>,
    /// The policy.
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// The attestation policy flags, shared by every command that checks an
/// enclave.
#[derive(Debug, Clone, Default, Args)]
pub struct PolicyArgs {
    /// Expected MRENCLAVE (64 hex digits).
    #[arg(long, global = true, value_name = "HEX", value_parser = parse_hash::<32>)]
    pub mrenclave: Option<[u8; 32]>,
    /// Expected MRSIGNER (64 hex digits).
    #[arg(long, global = true, value_name = "HEX", value_parser = parse_hash::<32>)]
    pub mrsigner: Option<[u8; 32]>,
    /// Expected ISV product id.
    #[arg(long, global = true, value_name = "N")]
    pub product_id: Option<u16>,
    /// Minimum ISV security version.
    #[arg(long, global = true, value_name = "N")]
    pub min_svn: Option<u16>,
    /// Expected launch measurement (96 hex digits): SEV-SNP MEASUREMENT,
    /// TDX MRTD or Nitro PCR0.
    #[arg(long, global = true, value_name = "HEX", value_parser = parse_hash::<48>)]
    pub measurement: Option<[u8; 48]>,
    /// Minimum SEV-SNP reported TCB, e.g.
    /// `bootloader=3,tee=0,snp=8,microcode=115` (Turin: also `fmc=N`).
    #[arg(long, global = true, value_name = "TCB")]
    pub min_snp_tcb: Option<TcbVersion>,
    /// Accept an SEV-SNP guest whose policy allows a migration agent.
    #[arg(long, global = true)]
    pub allow_migration_agent: bool,
    /// Accept debug enclaves (debuggable TDs, SEV-SNP debug guests, Nitro
    /// debug mode).
    #[arg(long, global = true)]
    pub allow_debug: bool,
    /// Accept simulated evidence (which proves nothing).
    #[arg(long, global = true)]
    pub allow_simulation: bool,
    /// TCB statuses to accept besides UpToDate, comma-separated.
    #[arg(long, global = true, value_name = "STATUS,...", value_delimiter = ',', value_parser = parse_tcb_status)]
    pub accept_tcb: Vec<TcbStatus>,
}

impl AttestationArgs {
    /// The attestation these flags describe, `--enclave` pins and
    /// `--collateral` read.
    pub fn load(&self) -> Result<Attestation, Error> {
        let mut attestation = Attestation {
            policy: self.policy.to_policy(),
            offline: self.offline,
            ..Attestation::default()
        };
        if let Some(path) = &self.enclave {
            attestation.pin_enclave_file(path)?;
        }
        if let Some(path) = &self.collateral {
            attestation.read_collateral(path)?;
        }
        if let (Some(vcek), Some(chain)) = (&self.vcek, &self.amd_chain) {
            attestation.read_amd_certs(vcek, chain)?;
        }
        Ok(attestation)
    }
}

impl AttestationArgs {
    /// [`Self::load`] for a command that talks to a server: refuses unless
    /// an enclave identity is pinned or `--any-enclave` says to go on
    /// without one (otherwise any enclave built by anyone would pass).
    pub fn load_for_server(&self) -> Result<Attestation, Error> {
        let pinned = self.enclave.is_some()
            || self.policy.mrenclave.is_some()
            || self.policy.mrsigner.is_some()
            || self.policy.measurement.is_some();
        if !pinned && !self.any_enclave {
            return Err(Error::Input(
                "no enclave identity pinned: pass --enclave SIGNED_FILE (made by kms-host sign), \
                 --mrenclave HEX or --mrsigner HEX, or --measurement HEX for a confidential VM \
                 (or --any-enclave to accept any enclave that meets the other flags)"
                    .into(),
            ));
        }
        self.load()
    }
}

impl AttestationArgs {
    /// The freshness memory these flags name, if any file can be named.
    pub fn freshness_memory(&self) -> Option<FreshnessMemory> {
        self.freshness_file
            .clone()
            .or_else(FreshnessMemory::default_path)
            .map(FreshnessMemory::at)
    }
}

impl PolicyArgs {
    /// The policy these flags describe.
    pub fn to_policy(&self) -> Policy {
        Policy {
            mrenclave: self.mrenclave,
            mrsigner: self.mrsigner,
            product_id: self.product_id,
            min_svn: self.min_svn,
            measurement: self.measurement,
            min_snp_tcb: self.min_snp_tcb,
            allow_migration_agent: self.allow_migration_agent,
            allow_debug: self.allow_debug,
            allow_simulation: self.allow_simulation,
            accept_tcb: self.accept_tcb.clone(),
        }
    }
}

/// `N` bytes in hex, `0x` allowed.
fn parse_hash<const N: usize>(s: &str) -> Result<[u8; N], Error> {
    let s = s.trim();
    let s = s.strip_prefix("0x").unwrap_or(s);
    let bytes = hex::decode(s).map_err(|e| Error::Input(format!("not hex: {e}")))?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| {
        Error::Input(format!(
            "expected {N} bytes ({} hex digits), got {}",
            2 * N,
            bytes.len()
        ))
    })
}

fn parse_tcb_status(s: &str) -> Result<TcbStatus, Error> {
    match s.parse::<TcbStatus>().map_err(Error::Input)? {
        TcbStatus::Unknown | TcbStatus::Revoked => {
            Err(Error::Input(format!("{s} cannot be accepted")))
        }
        status => Ok(status),
    }
}

/// A nonce given on the command line (clap reads a bare `Vec` as a list).
#[derive(Debug, Clone)]
pub struct Nonce(pub Vec<u8>);

fn parse_nonce(s: &str) -> Result<Nonce, Error> {
    let bytes = hex::decode(s.trim()).map_err(|e| Error::Input(format!("not hex: {e}")))?;
    if bytes.len() > MAX_NONCE {
        return Err(Error::Input(format!(
            "{} bytes; at most {MAX_NONCE}",
            bytes.len()
        )));
    }
    Ok(Nonce(bytes))
}

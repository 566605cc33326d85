//! The commands that talk to a server. Each opens one attested connection
//! (the handshake refuses a server whose evidence does not meet the policy),
//! then makes its request. Results are JSON on stdout; what was attested is
//! one line on stderr.

use minikms_verifier::{verify_evidence, Binding, CertificateClaims, HeldClaims, VerifyOptions};

use crate::attested_tls::{unix_now, Attestation, AttestedVerifier};
use crate::cli::{ApiArgs, AttestArgs, AttestationArgs, Cli, Command};
use crate::connection::{Connection, ServerUrl};
use crate::files::read_file;

/// Runs a server command; the JSON to print, or one line saying what failed.
pub async fn run(cli: &Cli) -> Result<serde_json::Value, String> {
    let attestation = attestation(&cli.attestation)?;
    let url = cli
        .server
        .as_deref()
        .ok_or("no server: pass --server https://HOST:PORT (or set MINIKMS_SERVER)")?;
    let url = ServerUrl::parse(url)?;
    let verifier = AttestedVerifier::new(attestation.clone());
    let mut conn = Connection::open(&url, &verifier).await?;
    eprintln!("attested: {}", summary(conn.claims()));
    match &cli.command {
        Command::Verify(_) | Command::Audit(_) => Err("this command runs offline".into()),
        Command::Status => answer(conn.request("GET", "/", None, None).await?),
        Command::GenerateAesKey => {
            answer(conn.request("GET", "/generate-aes-key", None, None).await?)
        }
        Command::GenerateRsaKeyPair => answer(
            conn.request("GET", "/generate-rsa-key-pair", None, None)
                .await?,
        ),
        Command::Attest(args) => attest(&mut conn, args, &attestation).await,
        Command::Api(args) => api(&mut conn, args, token(cli).as_deref()).await,
        Command::Import(args) => crate::import::run(&mut conn, args, token(cli).as_deref()).await,
        Command::Trust(args) => crate::trust::save_ca(&conn, &url, &args.out),
        Command::Bench(_) => Err("bench runs on its own runtime".into()),
    }
}

/// The attestation settings the flags describe, `--enclave` pins included.
pub fn attestation(args: &AttestationArgs) -> Result<Attestation, String> {
    let mut policy = args.policy.to_policy();
    if let Some(path) = &args.enclave {
        let image = read_file(path, 256 << 20)?;
        let (identity, _) = minikms_sigstruct::image::verify_image(&image)
            .map_err(|e| format!("{}: not a valid signed enclave: {e}", path.display()))?;
        pin("MRENCLAVE", &mut policy.mrenclave, identity.mrenclave.0)?;
        pin("MRSIGNER", &mut policy.mrsigner, identity.mrsigner.0)?;
        // Whoever signed a debug enclave and pins it expects a debug enclave.
        policy.allow_debug |= identity.debug;
    }
    let collateral = match &args.collateral {
        Some(path) => Some(read_file(path, 4 << 20)?),
        None => None,
    };
    Ok(Attestation {
        policy,
        collateral,
        offline: args.offline,
    })
}

fn pin(what: &str, slot: &mut Option<[u8; 32]>, from_file: [u8; 32]) -> Result<(), String> {
    match slot {
        Some(given) if *given != from_file => Err(format!(
            "--{} {} contradicts --enclave, which says {}",
            what.to_ascii_lowercase(),
            hex::encode(given),
            hex::encode(from_file)
        )),
        _ => {
            *slot = Some(from_file);
            Ok(())
        }
    }
}

/// One line: what the server proved.
pub fn summary(c: &CertificateClaims) -> String {
    let e = &c.evidence;
    format!(
        "platform {}, MRENCLAVE {}, MRSIGNER {}, product {}, SVN {}, debug {}, TCB {}",
        e.platform,
        e.mrenclave.as_deref().unwrap_or("-"),
        e.mrsigner.as_deref().unwrap_or("-"),
        e.isv_prod_id.map_or("-".into(), |v| v.to_string()),
        e.isv_svn.map_or("-".into(), |v| v.to_string()),
        e.debug,
        e.tcb_status,
    )
}

fn token(cli: &Cli) -> Option<String> {
    cli.token
        .clone()
        .or_else(|| std::env::var("VAULT_TOKEN").ok())
        .filter(|t| !t.is_empty())
}

/// A 2xx JSON answer, or its error message.
pub fn answer(response: crate::connection::Response) -> Result<serde_json::Value, String> {
    if response.status == 204 {
        return Ok(serde_json::json!({}));
    }
    let json = response.json()?;
    if (200..300).contains(&response.status) {
        return Ok(json);
    }
    let errors = json
        .get("errors")
        .and_then(|e| e.as_array())
        .map(|e| {
            e.iter()
                .filter_map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    Err(format!("server answered {}: {errors}", response.status))
}

pub(crate) async fn attest(
    conn: &mut Connection,
    args: &AttestArgs,
    attestation: &Attestation,
) -> Result<serde_json::Value, String> {
    let nonce = match &args.nonce {
        Some(n) => n.0.clone(),
        None => {
            let mut n = vec![0u8; 32];
            aws_lc_rs::rand::fill(&mut n).map_err(|_| "no randomness for a nonce")?;
            n
        }
    };
    let nonce_hex = hex::encode(&nonce);
    let path = format!("/attestation?nonce={nonce_hex}");
    let response = conn.request("GET", &path, None, None).await?;
    if response.status != 200 {
        answer(response)?;
        return Err("the server sent no evidence".into());
    }
    let options = VerifyOptions {
        at: unix_now(),
        collateral: attestation.collateral.as_deref(),
        offline: attestation.offline,
    };
    let claims = verify_evidence(&response.body, &options, &attestation.policy)
        .map_err(|e| e.to_string())?;
    check_fresh_and_bound(&claims, &nonce_hex, conn.server_key_sha256())?;
    serde_json::to_value(&claims).map_err(|e| e.to_string())
}

/// The evidence must commit to our nonce and to the key of the server we
/// are talking to (not one relayed from elsewhere).
fn check_fresh_and_bound(
    claims: &minikms_verifier::Claims,
    nonce_hex: &str,
    server_key_sha256: &str,
) -> Result<(), String> {
    let held = claims
        .held_data
        .as_ref()
        .filter(|h| h.binding == Binding::Valid)
        .ok_or("the evidence does not commit to its claims")?;
    let HeldClaims::Cbor {
        pubkey_hash, nonce, ..
    } = &held.claims
    else {
        return Err("the evidence's claims are not a CBOR map".into());
    };
    if nonce.as_deref() != Some(nonce_hex) {
        return Err("the evidence is not for our nonce (replayed?)".into());
    }
    if pubkey_hash.as_deref() != Some(server_key_sha256) {
        return Err("the evidence binds another TLS key than this connection's (relayed?)".into());
    }
    Ok(())
}

async fn api(
    conn: &mut Connection,
    args: &ApiArgs,
    token: Option<&str>,
) -> Result<serde_json::Value, String> {
    let method = args.method.to_ascii_uppercase();
    if !["GET", "POST", "PUT", "DELETE", "LIST"].contains(&method.as_str()) {
        return Err(format!(
            "unknown method {:?}: GET, POST, PUT, DELETE or LIST",
            args.method
        ));
    }
    let path = format!(
        "/v1/{}",
        args.path.trim_start_matches('/').trim_start_matches("v1/")
    );
    let body = match &args.data {
        Some(text) => Some(
            serde_json::from_str::<serde_json::Value>(text)
                .map_err(|e| format!("--data is not JSON: {e}"))?,
        ),
        None => None,
    };
    answer(conn.request(&method, &path, token, body.as_ref()).await?)
}

/// Opens an attested connection to `url` (for commands built on this one).
pub async fn open(url: &str, attestation: Attestation) -> Result<Connection, String> {
    let url = ServerUrl::parse(url)?;
    Connection::open(&url, &AttestedVerifier::new(attestation)).await
}

//! `minikms verify`.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use minikms_verifier::{verify_evidence, Claims, VerifyOptions};

use crate::cli::VerifyArgs;

/// Files larger than this are not evidence or collateral.
const MAX_FILE_LEN: u64 = 4 << 20;

/// Run `verify`: the claims, or one line naming the first failed check.
pub fn run(args: &VerifyArgs) -> Result<Claims, String> {
    let evidence = read_file(&args.file)?;
    let collateral = args.collateral.as_deref().map(read_file).transpose()?;
    let at = match args.at {
        Some(at) => at,
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| format!("system clock before 1970: {e}"))?
            .as_secs(),
    };
    let options = VerifyOptions {
        at,
        collateral: collateral.as_deref(),
        offline: args.offline,
    };
    verify_evidence(&evidence, &options, &args.policy.to_policy()).map_err(|e| e.to_string())
}

fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    let file = File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_FILE_LEN {
        return Err(format!(
            "{} is larger than {MAX_FILE_LEN} bytes",
            path.display()
        ));
    }
    Ok(bytes)
}

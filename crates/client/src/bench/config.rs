//! What to measure: a [`Config`] and its [`Op`], checked before anything
//! connects.

use crate::error::Error;

/// Longest run accepted, in seconds.
pub const MAX_DURATION: f64 = 3600.0;
/// Most workers accepted (the server accepts 1024 connections).
pub const MAX_CONCURRENCY: usize = 1000;

/// A benchmark run.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The operation to measure.
    pub op: Op,
    /// Workers, each with its own connection.
    pub concurrency: usize,
    /// Length of the timed window, in seconds.
    pub duration: f64,
    /// Plaintext or signing input size, in bytes (encrypt, decrypt, sign,
    /// verify).
    pub payload: usize,
    /// Items per request as `batch_input` (encrypt, decrypt, sign, verify);
    /// `None`: one item per request without a batch.
    pub batch: Option<usize>,
    /// Key type for the ops that use a key (`None`: [`Config::key_type`]'s
    /// default).
    pub key_type: Option<String>,
    /// Open (and attest) a new TLS connection for every request.
    pub new_connections: bool,
}

impl Config {
    /// A run of `op` with the CLI's defaults: one worker, 10 s, 64-byte
    /// payloads, no batch, keep-alive.
    pub fn new(op: Op) -> Self {
        Self {
            op,
            concurrency: 1,
            duration: 10.0,
            payload: 64,
            batch: None,
            key_type: None,
            new_connections: false,
        }
    }

    /// Refuses a run that cannot be measured.
    pub fn validate(&self) -> Result<(), Error> {
        let refuse = |message: String| Err(Error::Input(message));
        if !(self.duration > 0.0 && self.duration <= MAX_DURATION) {
            return refuse(format!("--duration must be in (0, {MAX_DURATION}] seconds"));
        }
        if self.concurrency == 0 || self.concurrency > MAX_CONCURRENCY {
            return refuse(format!("--concurrency must be 1 to {MAX_CONCURRENCY}"));
        }
        if self.batch.is_some() && !self.op.takes_batch() {
            return refuse("--batch applies to encrypt, decrypt, sign and verify".into());
        }
        if self.batch.is_some_and(|b| b == 0) {
            return refuse("--batch must be at least 1".into());
        }
        Ok(())
    }

    /// Refuses to run an op that needs a token without one.
    pub fn check_token(&self, token: Option<&str>) -> Result<(), Error> {
        if self.op.needs_token() && token.is_none() {
            return Err(Error::Input(format!(
                "--op {} needs --token (or MINIKMS_TOKEN / VAULT_TOKEN)",
                self.op.name()
            )));
        }
        Ok(())
    }

    /// The key type measured with: `key_type`, else aes256-gcm96 for
    /// encrypt, decrypt, datakey and create-key, ecdsa-p256 for sign and
    /// verify; `None` for ops without a key.
    pub fn key_type(&self) -> Option<String> {
        let default = match self.op {
            Op::Encrypt | Op::Decrypt | Op::Datakey | Op::CreateKey => "aes256-gcm96",
            Op::Sign | Op::Verify => "ecdsa-p256",
            _ => return None,
        };
        Some(self.key_type.clone().unwrap_or_else(|| default.into()))
    }

    /// Items each request carries.
    pub fn items_per_request(&self) -> u64 {
        self.batch.unwrap_or(1) as u64
    }
}

/// What a benchmark can measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `GET /`: the cheapest route, the server's own ceiling.
    Health,
    /// `GET /generate-aes-key`.
    GenerateAesKey,
    /// `GET /generate-rsa-key-pair`.
    GenerateRsaKeyPair,
    /// `POST /v1/transit/encrypt/KEY`.
    Encrypt,
    /// `POST /v1/transit/decrypt/KEY`.
    Decrypt,
    /// `POST /v1/transit/sign/KEY`.
    Sign,
    /// `POST /v1/transit/verify/KEY`.
    Verify,
    /// `POST /v1/transit/datakey/plaintext/KEY`.
    Datakey,
    /// `POST /v1/transit/keys/NEW`: a durable write per request.
    CreateKey,
    /// `GET /attestation?nonce=FRESH`, the evidence verified here.
    Attest,
    /// `POST /v1/secret/data/PATH`: a new KV version per request (durable).
    KvPut,
    /// `GET /v1/secret/data/PATH`.
    KvGet,
}

impl Op {
    /// Every op, in the order the CLI lists them.
    pub const ALL: [Op; 12] = [
        Op::Health,
        Op::GenerateAesKey,
        Op::GenerateRsaKeyPair,
        Op::Encrypt,
        Op::Decrypt,
        Op::Sign,
        Op::Verify,
        Op::Datakey,
        Op::CreateKey,
        Op::Attest,
        Op::KvPut,
        Op::KvGet,
    ];

    /// The op's name, as `--op` takes it and reports print it.
    pub fn name(self) -> &'static str {
        match self {
            Op::Health => "health",
            Op::GenerateAesKey => "generate-aes-key",
            Op::GenerateRsaKeyPair => "generate-rsa-key-pair",
            Op::Encrypt => "encrypt",
            Op::Decrypt => "decrypt",
            Op::Sign => "sign",
            Op::Verify => "verify",
            Op::Datakey => "datakey",
            Op::CreateKey => "create-key",
            Op::Attest => "attest",
            Op::KvPut => "kv-put",
            Op::KvGet => "kv-get",
        }
    }

    /// What the op sends, in one line.
    pub fn help(self) -> &'static str {
        match self {
            Op::Health => "`GET /`: the cheapest route, the server's own ceiling",
            Op::GenerateAesKey => "`GET /generate-aes-key`",
            Op::GenerateRsaKeyPair => "`GET /generate-rsa-key-pair`",
            Op::Encrypt => "`POST /v1/transit/encrypt/KEY`",
            Op::Decrypt => "`POST /v1/transit/decrypt/KEY`",
            Op::Sign => "`POST /v1/transit/sign/KEY`",
            Op::Verify => "`POST /v1/transit/verify/KEY`",
            Op::Datakey => "`POST /v1/transit/datakey/plaintext/KEY`",
            Op::CreateKey => "`POST /v1/transit/keys/NEW`: a durable write per request",
            Op::Attest => "`GET /attestation?nonce=FRESH`, the evidence verified here",
            Op::KvPut => "`POST /v1/secret/data/PATH`: a new KV version per request (durable)",
            Op::KvGet => "`GET /v1/secret/data/PATH` (KV v2)",
        }
    }

    /// Whether the op calls `/v1` routes, which need a token.
    pub fn needs_token(self) -> bool {
        !matches!(
            self,
            Op::Health | Op::GenerateAesKey | Op::GenerateRsaKeyPair | Op::Attest
        )
    }

    /// Whether the op takes `batch_input`.
    pub fn takes_batch(self) -> bool {
        matches!(self, Op::Encrypt | Op::Decrypt | Op::Sign | Op::Verify)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_checked() {
        assert!(Config::new(Op::Health).validate().is_ok());
        let bad = |f: fn(&mut Config)| {
            let mut c = Config::new(Op::Health);
            f(&mut c);
            c.validate().unwrap_err().to_string()
        };
        assert_eq!(
            bad(|c| c.duration = 0.0),
            "--duration must be in (0, 3600] seconds"
        );
        assert_eq!(
            bad(|c| c.concurrency = 1001),
            "--concurrency must be 1 to 1000"
        );
        assert_eq!(
            bad(|c| c.batch = Some(2)),
            "--batch applies to encrypt, decrypt, sign and verify"
        );
        let encrypt = Config::new(Op::Encrypt);
        assert_eq!(encrypt.key_type().as_deref(), Some("aes256-gcm96"));
        assert!(encrypt.check_token(None).is_err());
        assert!(Config::new(Op::Attest).check_token(None).is_ok());
        assert_eq!(Config::new(Op::Health).key_type(), None);
    }
}

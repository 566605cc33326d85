//! The key service's operations, as plain functions: typed inputs (what a
//! request asks, already parsed), typed outputs (what it answers, e.g. an
//! encryption with its key version), [`crate::error::Error`] for what went
//! wrong. No HTTP, no JSON text, no status codes here: `crate::http` maps
//! requests to these and their results to Vault's answers.
//!
//! - [`keys`]: what each key type does (generate, encrypt, sign, export).
//! - [`describe`]: a key as Vault's key read answers it.
//! - [`input`]: how Vault clients send fields (lenient numbers, booleans,
//!   base64, TTLs), and the limits on them.
//! - [`batch`]: `batch_input`: its bound, and answers item by item.
//! - [`manage`]: create, read, list, delete, config, rotate, trim, export,
//!   backup, restore.
//! - [`mount_config`]: the transit mount's settings (`config/keys`,
//!   `cache-config`).
//! - [`crypt`]: encrypt, decrypt, rewrap, datakey.
//! - [`sign`]: sign, verify (signatures and HMACs), hmac.
//! - [`transit`]: each Transit key operation as one type, and the one
//!   runner that looks its key up and runs it.
//! - [`utility`]: random, hash.
//! - [`import`]: bring your own key (the wrapping key, import).
//! - [`tokens`]: token create, lookup, revoke.
//! - [`policies`]: ACL policies by name.
//! - [`attest_roles`]: the roles of the attested login.
//! - [`release`]: secrets wrapped to an attested workload's key, and keys
//!   released only that way.
//! - [`init`]: `sys/init`, the root token.
//! - [`kv`]: Vault's KV v2 engine at `secret/` (versioned secrets).

pub mod attest_roles;
pub mod batch;
pub mod crypt;
pub mod derive;
pub mod describe;
pub mod import;
pub mod init;
pub mod input;
pub mod keys;
pub mod kv;
pub mod manage;
pub mod mount_config;
pub mod policies;
pub mod release;
pub mod rotation;
pub mod sigalg;
pub mod sign;
pub mod tokens;
pub mod transit;
pub mod utility;

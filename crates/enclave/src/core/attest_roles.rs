//! Roles of the attested login (`auth/attest/role/NAME`): which workloads
//! may log in, and the token they get. A role names the measurements it
//! accepts (any listed MRENCLAVE, any listed MRSIGNER, any listed TDX
//! MRTD: at least one list is not empty, and a workload must match every
//! non-empty list), optionally a product id and a minimum security
//! version, whether debug enclaves and simulated evidence are accepted,
//! and the policies and TTL of the token. Stored sealed
//! ([`crate::state::roles`]). A writer other than root may grant only
//! policies it holds itself, as token create ([`super::tokens::grantable`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

use super::input::{lenient_bool, parse_ttl};
use super::policies::policy_name;
use super::tokens::{grantable, MAX_TTL};
use crate::error::Error;
use crate::state::tokens::Identity;
use crate::state::State;

/// The TTL of a role that names none.
pub const DEFAULT_TTL: u64 = 3600;
const MAX_LIST: usize = 64;

/// A role, as stored and as `GET` answers it (TTL in seconds).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Role {
    pub mrsigner: Vec<String>,
    pub mrenclave: Vec<String>,
    /// TDX MRTDs (96 hex digits each).
    #[serde(default)]
    pub mrtd: Vec<String>,
    pub product_id: Option<u16>,
    pub min_svn: Option<u16>,
    pub allow_debug: bool,
    pub allow_simulation: bool,
    pub policies: Vec<String>,
    pub ttl: u64,
}

/// `POST auth/attest/role/NAME`'s body. Unknown fields are refused: a
/// misspelt measurement list must not widen a role silently.
#[derive(Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WriteRequest {
    #[serde(default)]
    mrsigner: Vec<String>,
    #[serde(default)]
    mrenclave: Vec<String>,
    #[serde(default)]
    mrtd: Vec<String>,
    product_id: Option<Value>,
    min_svn: Option<Value>,
    #[serde(default, deserialize_with = "lenient_bool")]
    allow_debug: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    allow_simulation: Option<bool>,
    #[serde(default)]
    policies: Vec<String>,
    ttl: Option<Value>,
}

/// Role names: as policy names (lower-cased, 1 to 128 of `[a-z0-9_.-]`).
pub fn role_name(name: &str) -> Result<String, Error> {
    policy_name(name)
        .map_err(|_| Error::invalid("invalid role name: 1 to 128 characters of a-z 0-9 _ . -"))
}

fn hex_list(what: &str, list: Vec<String>, bytes: usize) -> Result<Vec<String>, Error> {
    if list.len() > MAX_LIST {
        return Err(Error::invalid(format!("{what}: at most {MAX_LIST} values")));
    }
    list.into_iter()
        .map(|h| {
            let h = h.trim().to_ascii_lowercase();
            match hex::decode(&h) {
                Ok(b) if b.len() == bytes => Ok(h),
                _ => Err(Error::invalid(format!(
                    "{what}: each value is {} hex digits, got {h:?}",
                    bytes * 2
                ))),
            }
        })
        .collect()
}

fn small_number(what: &str, v: Option<Value>) -> Result<Option<u16>, Error> {
    let bad = || Error::invalid(format!("{what}: an integer from 0 to 65535"));
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .map(Some)
            .ok_or_else(bad),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

impl WriteRequest {
    /// The role this asks for, or why it is refused.
    pub fn into_role(self) -> Result<Role, Error> {
        let mrsigner = hex_list("mrsigner", self.mrsigner, 32)?;
        let mrenclave = hex_list("mrenclave", self.mrenclave, 32)?;
        let mrtd = hex_list("mrtd", self.mrtd, 48)?;
        if mrsigner.is_empty() && mrenclave.is_empty() && mrtd.is_empty() {
            return Err(Error::invalid(
                "a role names the measurements it accepts: mrsigner, mrenclave (or mrtd) must not all be empty",
            ));
        }
        if self.policies.len() > MAX_LIST {
            return Err(Error::invalid(format!("policies: at most {MAX_LIST}")));
        }
        let mut policies = self
            .policies
            .iter()
            .map(|p| policy_name(p))
            .collect::<Result<Vec<_>, _>>()?;
        if policies.iter().any(|p| p == "root") {
            return Err(Error::invalid("a role cannot grant the root policy"));
        }
        policies.sort();
        policies.dedup();
        let ttl = match &self.ttl {
            None | Some(Value::Null) => DEFAULT_TTL,
            // As a token's: an empty ttl has always meant the longest.
            Some(Value::String(s)) if s.is_empty() => MAX_TTL,
            Some(v) => parse_ttl(v)?,
        };
        if ttl == 0 || ttl > MAX_TTL {
            return Err(Error::invalid(format!(
                "ttl must be 1s to {}h",
                MAX_TTL / 3600
            )));
        }
        Ok(Role {
            mrsigner,
            mrenclave,
            mrtd,
            product_id: small_number("product_id", self.product_id)?,
            min_svn: small_number("min_svn", self.min_svn)?,
            allow_debug: self.allow_debug.unwrap_or(false),
            allow_simulation: self.allow_simulation.unwrap_or(false),
            policies,
            ttl,
        })
    }
}

/// Stores role `name` (a name from [`role_name`]) for `writer`, who may
/// grant only policies it holds itself (as token create: root any): a
/// role's logins would otherwise hold more than its writer.
pub fn write(state: &State, writer: &Identity, name: &str, req: WriteRequest) -> Result<(), Error> {
    let role = req.into_role()?;
    grantable(
        writer,
        &role.policies,
        "a role may grant only policies its writer holds",
    )?;
    let record = serde_json::to_vec(&role).map_err(|_| Error::failed("role serialisation"))?;
    state.put_role(name, Zeroizing::new(record))
}

/// Role `name`, or 404.
pub fn read(state: &State, name: &str) -> Result<Role, Error> {
    let name = role_name(name)?;
    let record = state
        .role(&name)
        .ok_or_else(|| Error::not_found(format!("no role named {name:?}")))?;
    serde_json::from_slice(&record).map_err(|e| Error::internal("reading a role", e))
}

pub fn list(state: &State) -> Vec<String> {
    state.role_names()
}

pub fn delete(state: &State, name: &str) -> Result<(), Error> {
    state.delete_role(&role_name(name)?)
}

impl Role {
    /// What the verifier checks for this role (the measurement lists are
    /// matched after, by [`Role::admits`]).
    pub fn policy(&self) -> minikms_verifier::Policy {
        minikms_verifier::Policy {
            product_id: self.product_id,
            min_svn: self.min_svn,
            allow_debug: self.allow_debug,
            allow_simulation: self.allow_simulation,
            ..Default::default()
        }
    }

    /// Whether verified `claims` match every measurement list this role
    /// names; the login's refusal, with the reason, if not.
    pub fn admits(&self, claims: &minikms_verifier::Claims) -> Result<(), Error> {
        let check = |what: &str, list: &[String], got: Option<&str>| {
            if list.is_empty() {
                return Ok(());
            }
            let why = match got {
                Some(g) if list.iter().any(|l| l.eq_ignore_ascii_case(g)) => return Ok(()),
                Some(g) => format!("{what} {g} is not one the role accepts"),
                None => format!("the evidence has no {what} (the role names some)"),
            };
            Err(Error::Forbidden(format!("login refused: {why}")))
        };
        check("MRSIGNER", &self.mrsigner, claims.mrsigner.as_deref())?;
        check("MRENCLAVE", &self.mrenclave, claims.mrenclave.as_deref())?;
        check(
            "MRTD",
            &self.mrtd,
            claims.td.as_ref().map(|t| t.mr_td.as_str()),
        )
    }
}

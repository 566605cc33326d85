//! The policy checks common to DCAP quotes and SEV-SNP reports, apart
//! from both flows ([`crate::verify`], [`crate::snp`]) so that neither
//! depends on the other.

use crate::claims::Claims;
use crate::error::PolicyError;
use crate::policy::{Policy, TcbStatus};

/// The policy checks common to DCAP quotes and SEV-SNP reports.
pub(crate) fn apply_policy(claims: &Claims, policy: &Policy) -> Result<(), PolicyError> {
    let none = || format!("none ({} quote)", claims.tee.to_ascii_uppercase());
    if let Some(expected) = policy.mrenclave {
        let expected = hex::encode(expected);
        if claims.mrenclave.as_deref() != Some(expected.as_str()) {
            let got = claims.mrenclave.clone().unwrap_or_else(none);
            return Err(PolicyError::MrEnclaveMismatch { expected, got });
        }
    }
    if let Some(expected) = policy.mrsigner {
        let expected = hex::encode(expected);
        if claims.mrsigner.as_deref() != Some(expected.as_str()) {
            let got = claims.mrsigner.clone().unwrap_or_else(none);
            return Err(PolicyError::MrSignerMismatch { expected, got });
        }
    }
    if let Some(expected) = policy.product_id {
        if claims.isv_prod_id != Some(expected) {
            let got = claims.isv_prod_id.map_or_else(none, |v| v.to_string());
            return Err(PolicyError::ProductIdMismatch { expected, got });
        }
    }
    if let Some(minimum) = policy.min_svn {
        if claims.isv_svn.is_none_or(|svn| svn < minimum) {
            let got = claims.isv_svn.map_or_else(none, |v| v.to_string());
            return Err(PolicyError::SvnTooLow { minimum, got });
        }
    }
    if let Some(expected) = policy.measurement {
        let expected = hex::encode(expected);
        let got = match (&claims.snp, &claims.td) {
            (Some(snp), _) => Some(&snp.measurement),
            (None, Some(td)) => Some(&td.mr_td),
            (None, None) => None,
        };
        if got != Some(&expected) {
            let got = got.cloned().unwrap_or_else(none);
            return Err(PolicyError::MeasurementMismatch { expected, got });
        }
    }
    if claims.debug && !policy.allow_debug {
        return Err(PolicyError::DebugRefused);
    }
    let status = claims.tcb_status;
    if status != TcbStatus::UpToDate
        && status != TcbStatus::Unknown
        && (status == TcbStatus::Revoked || !policy.accept_tcb.contains(&status))
    {
        return Err(PolicyError::TcbNotAccepted(status.to_string()));
    }
    Ok(())
}

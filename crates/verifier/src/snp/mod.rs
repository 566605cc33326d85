//! AMD SEV-SNP attestation reports, verified offline with a VCEK and the
//! AMD chain (ASK then ARK) the caller supplies: the ARK must be one of the
//! built-in ARKs (Milan, Genoa, Turin), the ASK signed by it and the VCEK by
//! the ASK (RSA-PSS SHA-384), the report by the VCEK (ECDSA P-384), and
//! the VCEK issued for the report's chip and reported TCB. No network: no
//! AMD CRL is checked and no VCEK is fetched.

pub mod report;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, UnparsedPublicKey};
use x509_parser::asn1_rs::{Any, FromDer as _};
use x509_parser::prelude::X509Certificate;

use crate::chain;
use crate::claims::{Claims, SnpMeasurements};
use crate::error::{EvidenceError, PolicyError, VerifyError};
use crate::pki;
use crate::policy::{Policy, TcbStatus};
use crate::policy_check::apply_policy;

pub use report::{looks_like_report, parse_report, Product, RawReport, TcbVersion};
use report::{POLICY_DEBUG, POLICY_MIGRATE_MA, POLICY_SMT, SIGNED_LEN};

/// The built-in AMD Root Keys, with the SHA-256 of each certificate (DER)
/// as a check that the PEM is the one AMD publishes.
const ARKS: [(Product, &str, &str); 3] = [
    (
        Product::Milan,
        include_str!("../../certs/amd_ark_milan.pem"),
        "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd",
    ),
    (
        Product::Genoa,
        include_str!("../../certs/amd_ark_genoa.pem"),
        "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1",
    ),
    (
        Product::Turin,
        include_str!("../../certs/amd_ark_turin.pem"),
        "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a",
    ),
];

/// The VCEK extensions (AMD's "Versioned Chip Endorsement Key" spec).
const EXT_PRODUCT_NAME: &str = "1.3.6.1.4.1.3704.1.2";
const EXT_BL_SPL: &str = "1.3.6.1.4.1.3704.1.3.1";
const EXT_TEE_SPL: &str = "1.3.6.1.4.1.3704.1.3.2";
const EXT_SNP_SPL: &str = "1.3.6.1.4.1.3704.1.3.3";
const EXT_UCODE_SPL: &str = "1.3.6.1.4.1.3704.1.3.8";
const EXT_FMC_SPL: &str = "1.3.6.1.4.1.3704.1.3.9";
const EXT_HW_ID: &str = "1.3.6.1.4.1.3704.1.4";

/// What an SEV-SNP report is verified with besides the built-in ARKs: the
/// VCEK (DER) that signed it and AMD's chain (PEM, ASK then ARK).
#[derive(Debug, Clone, Copy)]
pub struct AmdCerts<'a> {
    /// The VCEK, DER.
    pub vcek: &'a [u8],
    /// The ASK then the ARK, PEM.
    pub amd_chain: &'a [u8],
}

/// The built-in ARK whose certificate is `der`, if any.
fn built_in_ark(der: &[u8]) -> Result<Option<Product>, EvidenceError> {
    for (product, pem_text, sha256) in ARKS {
        let ark = pem::parse(pem_text)
            .map(pem::Pem::into_contents)
            .map_err(|e| EvidenceError::Malformed(format!("built-in ARK {product:?}: {e}")))?;
        if hex::encode(digest::digest(&digest::SHA256, &ark)) != sha256 {
            return Err(EvidenceError::Malformed(format!(
                "built-in ARK {product:?} does not match its fingerprint"
            )));
        }
        if ark == der {
            return Ok(Some(product));
        }
    }
    Ok(None)
}

/// Verify an SEV-SNP report (raw, 1184 bytes) with its VCEK (DER) and the
/// AMD chain (PEM, ASK then ARK) at `at` (Unix seconds), against `policy`.
/// Returns the claims, or the first failed check.
pub fn verify_report(
    report_bytes: &[u8],
    vcek_der: &[u8],
    amd_chain_pem: &[u8],
    at: u64,
    policy: &Policy,
) -> Result<Claims, VerifyError> {
    let report = parse_report(report_bytes)?;
    let chain_err = |e: String| EvidenceError::CertChain(e);
    let certs =
        chain::parse_pem_chain(amd_chain_pem).map_err(|e| chain_err(format!("AMD chain: {e}")))?;
    let [ask_der, ark_der] = certs.as_slice() else {
        return Err(chain_err(format!(
            "the AMD chain must hold the ASK then the ARK, not {} certificates",
            certs.len()
        ))
        .into());
    };
    let ark = pki::parse_cert(ark_der).map_err(|e| chain_err(e.to_string()))?;
    let product = built_in_ark(ark_der)?.ok_or_else(|| {
        EvidenceError::UnknownRoot(format!("{} (not a built-in AMD ARK)", ark.subject()))
    })?;
    let ask = pki::parse_cert(ask_der).map_err(|e| chain_err(e.to_string()))?;
    let vcek = pki::parse_cert(vcek_der).map_err(|e| chain_err(format!("VCEK: {e}")))?;
    if !pki::is_p384(&vcek) {
        return Err(chain_err("the VCEK key is not P-384".into()).into());
    }
    let path = [vcek, ask];
    pki::verify_path(&path, &ark, at).map_err(|e| chain_err(e.to_string()))?;
    let [vcek, _] = &path;

    UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, pki::public_key(vcek))
        .verify(&report_bytes[..SIGNED_LEN], &report.signature_fixed())
        .map_err(|_| EvidenceError::ReportSignature)?;

    let reported_tcb = TcbVersion::decode(report.reported_tcb, product);
    check_vcek_matches(vcek, report, product, &reported_tcb)?;

    let claims = claims_of(report, product, reported_tcb);
    apply_policy(&claims, policy)?;
    if let Some(minimum) = &policy.min_snp_tcb {
        if !reported_tcb.meets(minimum) {
            return Err(PolicyError::TcbTooLow {
                minimum: minimum.to_string(),
                got: reported_tcb.to_string(),
            }
            .into());
        }
    }
    if report.policy.get() & POLICY_MIGRATE_MA != 0 && !policy.allow_migration_agent {
        return Err(PolicyError::MigrationAgentRefused.into());
    }
    Ok(claims)
}

/// The VCEK must be for this product, this chip (unless the report masks
/// its chip id) and exactly the reported TCB (AMD issues one VCEK per chip
/// and TCB).
fn check_vcek_matches(
    vcek: &X509Certificate<'_>,
    report: &RawReport,
    product: Product,
    reported: &TcbVersion,
) -> Result<(), EvidenceError> {
    let mismatch = |what: String| EvidenceError::VcekMismatch(what);
    let ext = |oid: &str| {
        vcek.extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == oid)
            .map(|e| e.value)
    };
    if let Some(name) = ext(EXT_PRODUCT_NAME) {
        let name = Any::from_der(name)
            .ok()
            .and_then(|(_, any)| any.as_ia5string().ok().map(|s| s.string()))
            .unwrap_or_default();
        if !name.starts_with(&format!("{product:?}")) {
            return Err(mismatch(format!(
                "the VCEK is for product {name:?}, the ARK for {product:?}"
            )));
        }
    }
    let spl = |oid: &str| -> Result<u8, EvidenceError> {
        let value = ext(oid).ok_or_else(|| mismatch(format!("the VCEK has no extension {oid}")))?;
        Any::from_der(value)
            .ok()
            .and_then(|(rest, any)| {
                if rest.is_empty() {
                    any.as_u8().ok()
                } else {
                    None
                }
            })
            .ok_or_else(|| mismatch(format!("the VCEK's extension {oid} is not a small integer")))
    };
    let vcek_tcb = TcbVersion {
        fmc: match product {
            Product::Turin => Some(spl(EXT_FMC_SPL)?),
            Product::Milan | Product::Genoa => None,
        },
        bootloader: spl(EXT_BL_SPL)?,
        tee: spl(EXT_TEE_SPL)?,
        snp: spl(EXT_SNP_SPL)?,
        microcode: spl(EXT_UCODE_SPL)?,
    };
    if vcek_tcb != *reported {
        return Err(mismatch(format!(
            "the VCEK is for TCB {vcek_tcb}, the report's reported TCB is {reported}"
        )));
    }
    let chip_id = &report.chip_id;
    if chip_id.iter().any(|&b| b != 0) {
        let raw = ext(EXT_HW_ID).ok_or_else(|| mismatch("the VCEK has no hwID".into()))?;
        // hwID is an OCTET STRING in current VCEKs, the bare bytes in older.
        let hw_id = match Any::from_der(raw) {
            Ok((rest, any)) if rest.is_empty() && any.as_octetstring().is_ok() => any.data,
            _ => raw,
        };
        let (head, tail) = chip_id.split_at(hw_id.len().min(chip_id.len()));
        if hw_id.is_empty() || head != hw_id || tail.iter().any(|&b| b != 0) {
            return Err(mismatch(
                "the VCEK's hwID is not the report's chip id".into(),
            ));
        }
    }
    Ok(())
}

fn claims_of(report: &RawReport, product: Product, reported_tcb: TcbVersion) -> Claims {
    let policy = report.policy.get();
    Claims {
        platform: "sev-snp",
        tee: "sev-snp",
        quote_version: u16::try_from(report.version.get()).unwrap_or(u16::MAX),
        mrenclave: None,
        mrsigner: None,
        isv_prod_id: None,
        isv_svn: None,
        debug: policy & POLICY_DEBUG != 0,
        report_data: hex::encode(report.report_data),
        tcb_status: TcbStatus::Unknown,
        advisory_ids: Vec::new(),
        simulation: false,
        td: None,
        snp: Some(SnpMeasurements {
            product,
            measurement: hex::encode(report.measurement),
            host_data: hex::encode(report.host_data),
            chip_id: hex::encode(report.chip_id),
            vmpl: report.vmpl.get(),
            guest_svn: report.guest_svn.get(),
            policy: format!("{policy:#018x}"),
            smt_allowed: policy & POLICY_SMT != 0,
            migration_agent_allowed: policy & POLICY_MIGRATE_MA != 0,
            family_id: hex::encode(report.family_id),
            image_id: hex::encode(report.image_id),
            id_key_digest: hex::encode(report.id_key_digest),
            author_key_digest: hex::encode(report.author_key_digest),
            report_id: hex::encode(report.report_id),
            reported_tcb,
            committed_tcb: TcbVersion::decode(report.committed_tcb, product),
            current_tcb: TcbVersion::decode(report.current_tcb, product),
            launch_tcb: TcbVersion::decode(report.launch_tcb, product),
        }),
        binding: None,
        held_data: None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_arks_match_their_fingerprints() {
        for (product, pem_text, _) in ARKS {
            let der = pem::parse(pem_text).unwrap().into_contents();
            assert_eq!(built_in_ark(&der).unwrap(), Some(product));
            let cert = pki::parse_cert(&der).unwrap();
            assert!(cert
                .subject()
                .to_string()
                .ends_with(&format!("ARK-{product:?}")));
            // Self-signed: a sanity check of the RSA-PSS path.
            pki::check_signed_by(&cert, &cert).unwrap();
        }
    }
}

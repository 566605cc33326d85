//! The verification flow: evidence in, claims or the first failed check out.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, UnparsedPublicKey};
use dcap_qvl::quote::Report;
use dcap_qvl::verify::QuoteVerifier;
use dcap_qvl::QuoteCollateralV3;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use crate::chain;
use crate::claims::{Claims, TdMeasurements};
use crate::error::{CallerError, CollateralError, EvidenceError, PolicyError, VerifyError};
use crate::evidence::{parse_evidence, Evidence};
use crate::held_data;
use crate::policy::{Policy, TcbStatus};
use crate::policy_check::apply_policy;
use crate::quote::{parse_quote, ParsedQuote};
use crate::roots::{select_root, Root};

/// How to verify (as opposed to what to accept, which is [`Policy`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyOptions<'a> {
    /// Verification time, Unix seconds (certificates, CRLs and collateral
    /// must be valid then). The CLI defaults it to now.
    pub at: u64,
    /// QuoteCollateralV3 JSON. When `None`, collateral carried in the
    /// evidence (the `/attestation` JSON's `CollateralJson`) is used.
    pub collateral: Option<&'a [u8]>,
    /// Without collateral, check signatures and the PCK chain only and
    /// report the TCB status as unknown. Ignored when collateral is present.
    pub offline: bool,
}

/// Verify evidence in any accepted form (see [`parse_evidence`]) against
/// `policy`. Sync, I/O-free; returns the claims or the first failed check.
pub fn verify_evidence(
    evidence: &[u8],
    options: &VerifyOptions<'_>,
    policy: &Policy,
) -> Result<Claims, VerifyError> {
    let evidence = parse_evidence(evidence)?;
    verify_parsed(&evidence, options, policy)
}

/// Verify a raw quote and, optionally, the held data its report data must
/// commit to (e.g. RA-TLS claims). Sync and I/O-free.
pub fn verify_quote(
    quote: &[u8],
    held_data: Option<&[u8]>,
    options: &VerifyOptions<'_>,
    policy: &Policy,
) -> Result<Claims, VerifyError> {
    let evidence = Evidence {
        quote: quote.to_vec(),
        held_data: held_data.map(<[u8]>::to_vec),
        ..Evidence::default()
    };
    verify_parsed(&evidence, options, policy)
}

/// Verify already-split evidence.
pub fn verify_parsed(
    evidence: &Evidence,
    options: &VerifyOptions<'_>,
    policy: &Policy,
) -> Result<Claims, VerifyError> {
    let quote = parse_quote(&evidence.quote)?;
    let chain = chain::parse_pem_chain(quote.pck_chain_pem())
        .map_err(|e| EvidenceError::PckChain(e.to_string()))?;
    let (root, root_der) = select_root(&chain)?;
    if root == Root::Simulation && !policy.allow_simulation {
        return Err(PolicyError::SimulationRefused.into());
    }
    let collateral = options.collateral.or(evidence.collateral.as_deref());
    if collateral.is_none() && !options.offline {
        return Err(CallerError::NoCollateral.into());
    }

    check_signatures(&quote, &chain, &root_der, options.at)?;

    let (tcb_status, advisory_ids) = match collateral {
        Some(collateral) => check_collateral(&quote, root, &root_der, collateral, options.at)?,
        None => (TcbStatus::Unknown, Vec::new()),
    };

    let mut claims = claims_of(&quote, root, tcb_status, advisory_ids);
    check_claimed_identity(evidence, &claims)?;
    apply_policy(&claims, policy)?;
    if let Some(held) = &evidence.held_data {
        let data = held_data::check(held, &report_data(&quote.quote.report));
        claims.binding = Some(data.binding);
        claims.held_data = Some(data);
    }
    Ok(claims)
}

/// The checks that need no collateral: the PCK chain up to the root, the QE
/// report signed by the PCK leaf, the QE report committing to the
/// attestation key, and the quote signed by the attestation key.
fn check_signatures(
    quote: &ParsedQuote,
    chain: &[Vec<u8>],
    root_der: &[u8],
    at: u64,
) -> Result<(), EvidenceError> {
    chain::verify_chain(chain, root_der, at).map_err(|e| EvidenceError::PckChain(e.to_string()))?;
    let leaf_der = chain
        .first()
        .ok_or_else(|| EvidenceError::PckChain("empty chain".into()))?;
    let leaf = chain::parse_cert(leaf_der).map_err(|e| EvidenceError::PckChain(e.to_string()))?;
    let auth = &quote.auth;

    UnparsedPublicKey::new(
        &signature::ECDSA_P256_SHA256_FIXED,
        chain::public_key(&leaf),
    )
    .verify(&auth.qe_report, &auth.qe_report_signature)
    .map_err(|_| EvidenceError::QeReportSignature)?;

    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(&auth.ecdsa_attestation_key);
    ctx.update(&auth.qe_auth_data.data);
    let expected = ctx.finish();
    // EnclaveReport layout: report_data is the last 64 of its 384 bytes.
    let qe_report_data = &auth.qe_report[320..];
    if qe_report_data[..32] != *expected.as_ref() || qe_report_data[32..].iter().any(|&b| b != 0) {
        return Err(EvidenceError::QeReportData);
    }

    let mut key = [0x04u8; 65];
    key[1..].copy_from_slice(&auth.ecdsa_attestation_key);
    UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &key[..])
        .verify(quote.signed_region(), &auth.ecdsa_signature)
        .map_err(|_| EvidenceError::QuoteSignature)?;
    Ok(())
}

/// Full DCAP verification with collateral (dcap-qvl), after our own checks
/// of the collateral's validity window and issuer chains.
fn check_collateral(
    quote: &ParsedQuote,
    root: Root,
    root_der: &[u8],
    collateral: &[u8],
    at: u64,
) -> Result<(TcbStatus, Vec<String>), VerifyError> {
    let collateral: QuoteCollateralV3 = serde_json::from_slice(collateral)
        .map_err(|e| CollateralError::Malformed(e.to_string()))?;
    let (not_before, not_after) = collateral_window(&collateral)?;
    if at < not_before {
        return Err(CollateralError::NotYetValid(rfc3339(not_before)).into());
    }
    if at > not_after {
        return Err(CollateralError::Expired(rfc3339(not_after)).into());
    }
    let chains = [
        (
            "PCK CRL issuer chain",
            Some(&collateral.pck_crl_issuer_chain),
        ),
        (
            "TCB info issuer chain",
            Some(&collateral.tcb_info_issuer_chain),
        ),
        (
            "QE identity issuer chain",
            Some(&collateral.qe_identity_issuer_chain),
        ),
        (
            "PCK certificate chain",
            collateral.pck_certificate_chain.as_ref(),
        ),
    ];
    for (what, pem) in chains {
        let Some(pem) = pem else { continue };
        chain::parse_pem_chain(pem.as_bytes())
            .and_then(|certs| chain::verify_chain(&certs, root_der, at))
            .map_err(|e| CollateralError::Rejected(format!("{what}: {e}")))?;
    }

    let verifier = match root {
        Root::Intel => QuoteVerifier::new_prod(),
        Root::Simulation => QuoteVerifier::new(root_der.to_vec()),
    };
    // Debug is a policy decision, made in `apply_policy` with a clear message.
    let report = verifier
        .allow_debug(true)
        .verify(&quote.raw, &collateral, at)
        .map_err(|e| {
            let msg = format!("{e:#}");
            if msg.contains("Revoked") || msg.contains("revoked") {
                VerifyError::from(EvidenceError::Revoked(msg))
            } else {
                CollateralError::Rejected(msg).into()
            }
        })?;
    let status = report
        .status
        .parse::<TcbStatus>()
        .map_err(CollateralError::Rejected)?;
    Ok((status, report.advisory_ids))
}

/// The window in which the collateral is valid: from the latest issue date
/// to the earliest next-update date of the TCB info, the QE identity and the
/// two CRLs (inclusive), in Unix seconds.
pub fn collateral_window(collateral: &QuoteCollateralV3) -> Result<(u64, u64), CollateralError> {
    let mut not_before = 0u64;
    let mut not_after = u64::MAX;
    for (what, json) in [
        ("TCB info", &collateral.tcb_info),
        ("QE identity", &collateral.qe_identity),
    ] {
        let v: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| CollateralError::Malformed(format!("{what}: {e}")))?;
        let date = |field: &str| {
            v.get(field)
                .and_then(serde_json::Value::as_str)
                .and_then(parse_rfc3339)
                .ok_or_else(|| CollateralError::Malformed(format!("{what}: bad {field}")))
        };
        not_before = not_before.max(date("issueDate")?);
        not_after = not_after.min(date("nextUpdate")?);
    }
    for (what, der) in [
        ("root CA CRL", &collateral.root_ca_crl),
        ("PCK CRL", &collateral.pck_crl),
    ] {
        let (rest, crl) = CertificateRevocationList::from_der(der)
            .map_err(|e| CollateralError::Malformed(format!("{what}: {e}")))?;
        if !rest.is_empty() {
            return Err(CollateralError::Malformed(format!("{what}: trailing data")));
        }
        let secs = |t: i64| u64::try_from(t).unwrap_or(0);
        not_before = not_before.max(secs(crl.last_update().timestamp()));
        if let Some(next) = crl.next_update() {
            not_after = not_after.min(secs(next.timestamp()));
        }
    }
    Ok((not_before, not_after))
}

/// The collateral window of QuoteCollateralV3 JSON (see [`collateral_window`]).
pub fn collateral_window_json(collateral: &[u8]) -> Result<(u64, u64), CollateralError> {
    let collateral: QuoteCollateralV3 = serde_json::from_slice(collateral)
        .map_err(|e| CollateralError::Malformed(e.to_string()))?;
    collateral_window(&collateral)
}

fn parse_rfc3339(s: &str) -> Option<u64> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp()).ok()
}

/// Unix seconds as RFC 3339 (UTC).
pub fn rfc3339(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{secs} (Unix seconds)"))
}

fn report_data(report: &Report) -> [u8; 64] {
    match report {
        Report::SgxEnclave(r) => r.report_data,
        Report::TD10(r) => r.report_data,
        Report::TD15(r) => r.base.report_data,
        Report::TD15Ex(r) => r.base.base.report_data,
    }
}

fn claims_of(
    quote: &ParsedQuote,
    root: Root,
    tcb_status: TcbStatus,
    advisory_ids: Vec<String>,
) -> Claims {
    let simulation = root == Root::Simulation;
    let report = &quote.quote.report;
    let (tee, mut claims) = match report.as_sgx() {
        Some(r) => (
            "sgx",
            Claims {
                platform: "sgx",
                tee: "sgx",
                quote_version: quote.quote.header.version,
                mrenclave: Some(hex::encode(r.mr_enclave)),
                mrsigner: Some(hex::encode(r.mr_signer)),
                isv_prod_id: Some(r.isv_prod_id),
                isv_svn: Some(r.isv_svn),
                debug: r.attributes[0] & 0x02 != 0,
                report_data: hex::encode(r.report_data),
                tcb_status,
                advisory_ids,
                simulation,
                td: None,
                snp: None,
                binding: None,
                held_data: None,
            },
        ),
        None => {
            let td = report.as_td10();
            (
                "tdx",
                Claims {
                    platform: "tdx",
                    tee: "tdx",
                    quote_version: quote.quote.header.version,
                    mrenclave: None,
                    mrsigner: None,
                    isv_prod_id: None,
                    isv_svn: None,
                    // TUD byte: bit 0 DEBUG, bits 4..6 profiling/tracing.
                    debug: td.is_some_and(|t| t.td_attributes[0] & 0x71 != 0),
                    report_data: hex::encode(report_data(report)),
                    tcb_status,
                    advisory_ids,
                    simulation,
                    td: td.map(|t| TdMeasurements {
                        mr_td: hex::encode(t.mr_td),
                        rtmrs: [
                            hex::encode(t.rt_mr0),
                            hex::encode(t.rt_mr1),
                            hex::encode(t.rt_mr2),
                            hex::encode(t.rt_mr3),
                        ],
                        mr_config_id: hex::encode(t.mr_config_id),
                        mr_owner: hex::encode(t.mr_owner),
                        mr_owner_config: hex::encode(t.mr_owner_config),
                        mr_seam: hex::encode(t.mr_seam),
                        mr_signer_seam: hex::encode(t.mr_signer_seam),
                        td_attributes: hex::encode(t.td_attributes),
                        xfam: hex::encode(t.xfam),
                        tee_tcb_svn: hex::encode(t.tee_tcb_svn),
                    }),
                    snp: None,
                    binding: None,
                    held_data: None,
                },
            )
        }
    };
    claims.platform = if simulation { "simulation" } else { tee };
    claims
}

fn normalize_hex(s: &str) -> String {
    let s = s.trim();
    s.strip_prefix("0x").unwrap_or(s).to_ascii_lowercase()
}

/// The `/attestation` JSON's own identity fields must agree with the quote.
fn check_claimed_identity(evidence: &Evidence, claims: &Claims) -> Result<(), EvidenceError> {
    let pairs = [
        ("MRENCLAVE", &evidence.claimed_mrenclave, &claims.mrenclave),
        ("MRSIGNER", &evidence.claimed_mrsigner, &claims.mrsigner),
    ];
    for (field, claimed, actual) in pairs {
        if let Some(claimed) = claimed {
            let actual = actual.clone().unwrap_or_else(|| "none".into());
            if normalize_hex(claimed) != actual {
                return Err(EvidenceError::ClaimMismatch {
                    field,
                    claimed: claimed.clone(),
                    actual,
                });
            }
        }
    }
    if let Some(platform) = &evidence.claimed_platform {
        let platform_ok = match platform.as_str() {
            "simulation" => claims.simulation,
            "sgx" | "tdx" => !claims.simulation && platform == claims.tee,
            _ => false,
        };
        if !platform_ok {
            return Err(EvidenceError::ClaimMismatch {
                field: "platform",
                claimed: platform.clone(),
                actual: claims.platform.into(),
            });
        }
    }
    Ok(())
}

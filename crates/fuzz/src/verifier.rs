//! Targets for what clients, auditors and the host read (see the
//! crate's docs).

use minikms_verifier::audit::{verify_log, LogOptions};
use minikms_verifier::{chain, held_data, quote as quotes, Policy, VerifyOptions};

/// A fixed verification time (2026-06-01), so that runs repeat.
const AT: u64 = 1_780_272_000;

fn policy() -> Policy {
    Policy {
        allow_debug: true,
        allow_simulation: true,
        ..Policy::default()
    }
}

fn offline() -> VerifyOptions<'static> {
    VerifyOptions {
        at: AT,
        collateral: None,
        offline: true,
    }
}

/// `quote`: a raw quote: parsed, then verified without collateral.
pub fn quote(data: &[u8]) {
    if quotes::parse_quote(data).is_ok() {
        let _ = minikms_verifier::verify_quote(data, None, &offline(), &policy());
    }
}

/// `evidence`: any accepted evidence form (raw or hex quote, Open
/// Enclave report, `/attestation` JSON with its collateral), verified.
pub fn evidence(data: &[u8]) {
    let options = VerifyOptions {
        offline: false,
        ..offline()
    };
    let _ = minikms_verifier::verify_evidence(data, &options, &policy());
}

/// `ratls_cert`: an RA-TLS certificate (DER): its evidence extension,
/// then the whole check.
pub fn ratls_cert(data: &[u8]) {
    if minikms_verifier::certificate_evidence(data).is_ok() {
        let _ = minikms_verifier::verify_certificate(data, &offline(), &policy());
    }
}

/// `snp_report`: an SEV-SNP report (raw or hex), detected, then verified
/// against an empty VCEK and chain (the report is parsed before them).
pub fn snp_report(data: &[u8]) {
    if let minikms_verifier::Detected::SnpReport(report) = minikms_verifier::detect(data) {
        let _ = minikms_verifier::verify_report(&report, b"", b"", AT, &policy());
    }
    let _ = minikms_verifier::snp::parse_report(data);
}

/// `nitro_document`: a Nitro attestation document (raw, base64 or hex),
/// detected, then verified (COSE, payload, chain, signature) at its own
/// time.
pub fn nitro_document(data: &[u8]) {
    if let minikms_verifier::Detected::NitroDocument(doc) = minikms_verifier::detect(data) {
        let _ = minikms_verifier::verify_document(&doc, None, &policy());
    }
    let _ = minikms_verifier::verify_document(data, Some(AT), &policy());
}

/// `pem_chain`: a PEM certificate chain, each certificate, the chain
/// up to the simulation root.
pub fn pem_chain(data: &[u8]) {
    let Ok(certs) = chain::parse_pem_chain(data) else {
        return;
    };
    for der in &certs {
        if let Ok(cert) = chain::parse_cert(der) {
            let _ = chain::name(&cert);
            let _ = chain::check_validity(&cert, AT);
        }
    }
    if let Ok(root) = minikms_verifier::roots::simulation_root_der() {
        let _ = chain::verify_chain(&certs, &root, AT);
    }
}

/// `held_claims`: the CBOR claims (held data) a quote commits to.
pub fn held_claims(data: &[u8]) {
    let _ = held_data::decode_claims(data);
    let _ = held_data::check(data, &[0; 64]);
}

/// `collateral`: QuoteCollateralV3 JSON.
pub fn collateral(data: &[u8]) {
    let _ = minikms_verifier::collateral_window_json(data);
}

/// `audit_verify`: a whole audit log, verified offline as `minikms audit
/// verify` does.
pub fn audit_verify(data: &[u8]) {
    let options = LogOptions {
        collateral: None,
        offline: true,
    };
    let _ = verify_log(data, &options, &policy());
}

/// `ocall`: enclave -> host frames as the host reads them, and the
/// report a `get_quote` carries, as the quoting enclave reads it.
pub fn ocall(data: &[u8]) {
    crate::frames::each_frame::<minikms_edl::Ocall>(data, |call| {
        if let minikms_edl::Ocall::GetQuote { report, .. } = call {
            if let Ok(bytes) = hex::decode(report) {
                let _ = minikms_sgx_sim::Report::from_bytes(&bytes);
            }
        }
    });
}

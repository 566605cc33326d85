//! End to end against a standard DCAP verifier: dcap-qvl, given the
//! simulation root, must accept simulated quotes exactly as it accepts
//! Intel's, and refuse anything altered, stale or rooted elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dcap_qvl::verify::{QuoteVerifier, VerifiedReport};
use dcap_qvl::QuoteCollateralV3;
use minikms_sgx_sim::report::{attributes, FLAG_INIT, FLAG_MODE64BIT};
use minikms_sgx_sim::{EnclaveIdentity, QeError, SimCpu, SimPcs, SimQuotingEnclave};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn sample_enclave() -> EnclaveIdentity {
    EnclaveIdentity {
        mrenclave: [0x5a; 32],
        mrsigner: [0xc3; 32],
        isv_prod_id: 42,
        isv_svn: 7,
        attributes: attributes(FLAG_INIT | FLAG_MODE64BIT, 3),
        misc_select: 0,
    }
}

fn report_data() -> [u8; 64] {
    let mut d = [0u8; 64];
    for (i, b) in d.iter_mut().enumerate() {
        *b = i as u8 ^ 0xa5;
    }
    d
}

struct Platform {
    cpu: SimCpu,
    pcs: SimPcs,
    qe: SimQuotingEnclave,
}

fn platform(fuses: [u8; 32]) -> Platform {
    let cpu = SimCpu::from_fuses(fuses);
    let pcs = SimPcs::new(&cpu).unwrap();
    let qe = SimQuotingEnclave::new(&cpu).unwrap();
    Platform { cpu, pcs, qe }
}

fn quote(p: &Platform, me: &EnclaveIdentity) -> Vec<u8> {
    let report = p
        .cpu
        .ereport(me, &p.qe.target_info(), &report_data())
        .unwrap();
    p.qe.quote(&p.cpu, &report, &p.pcs).unwrap()
}

fn collateral(p: &Platform, at: u64) -> QuoteCollateralV3 {
    serde_json::from_value(p.pcs.collateral_json(at).unwrap()).unwrap()
}

fn verify(p: &Platform, quote: &[u8], at: u64) -> anyhow_free::Result<VerifiedReport> {
    QuoteVerifier::new(p.pcs.root_ca_der().to_vec())
        .verify(quote, &collateral(p, now()), at)
        .map_err(|e| format!("{e:#}"))
}

mod anyhow_free {
    pub type Result<T> = std::result::Result<T, String>;
}

#[test]
fn dcap_qvl_accepts_a_simulated_quote_under_the_simulation_root() {
    let p = platform([1; 32]);
    let me = sample_enclave();
    let q = quote(&p, &me);
    let verified = verify(&p, &q, now()).unwrap();
    assert_eq!(verified.status, "UpToDate");
    assert!(verified.advisory_ids.is_empty());
    let report = verified.report.as_sgx().expect("an SGX report");
    assert_eq!(report.mr_enclave, me.mrenclave);
    assert_eq!(report.mr_signer, me.mrsigner);
    assert_eq!(report.report_data, report_data());
    assert_eq!(report.isv_prod_id, me.isv_prod_id);
    assert_eq!(report.isv_svn, me.isv_svn);
    assert_eq!(report.attributes, me.attributes);
}

#[test]
fn the_published_root_file_is_what_the_pcs_uses() {
    let p = platform([1; 32]);
    let der = pem::parse(minikms_sgx_sim::SIM_ROOT_CA_PEM)
        .unwrap()
        .into_contents();
    assert_eq!(p.pcs.root_ca_der(), &der[..]);
    let chain = p.pcs.pck_chain_pem();
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 3);
    assert!(chain.ends_with(minikms_sgx_sim::SIM_ROOT_CA_PEM));
}

#[test]
fn keys_are_stable_for_a_platform_and_differ_between_platforms() {
    let a = platform([1; 32]);
    let b = platform([1; 32]);
    let c = platform([2; 32]);
    let ka = a.qe.attestation_public_key().unwrap();
    assert_eq!(ka, b.qe.attestation_public_key().unwrap());
    assert_ne!(ka, c.qe.attestation_public_key().unwrap());
    // Another platform's quote verifies too (same root, same collateral shape).
    let q = quote(&c, &sample_enclave());
    assert_eq!(verify(&c, &q, now()).unwrap().status, "UpToDate");
    // And the collateral of one platform serves another (shared CAs).
    let verified = QuoteVerifier::new(a.pcs.root_ca_der().to_vec())
        .verify(&q, &collateral(&a, now()), now())
        .unwrap();
    assert_eq!(verified.status, "UpToDate");
}

#[test]
fn altered_quotes_are_refused() {
    let p = platform([1; 32]);
    let q = quote(&p, &sample_enclave());
    assert!(verify(&p, &q, now()).is_ok());
    // Header, ISV report body (MRENCLAVE, REPORTDATA), ISV signature,
    // attestation key, QE report, QE report signature, QE auth data.
    let sig = 48 + 384 + 4;
    for (what, offset) in [
        ("header user data", 40),
        ("body mrenclave", 48 + 64),
        ("body report data", 48 + 320 + 5),
        ("isv signature", sig + 10),
        ("attestation key", sig + 64 + 3),
        ("qe report mrenclave", sig + 128 + 64),
        ("qe report data", sig + 128 + 320),
        ("qe report signature", sig + 128 + 384 + 1),
        ("qe auth data", sig + 128 + 384 + 64 + 2 + 4),
    ] {
        let mut bad = q.clone();
        bad[offset] ^= 0x01;
        let err = verify(&p, &bad, now()).expect_err(what);
        eprintln!("{what}: {err}");
    }
    let mut short = q.clone();
    short.truncate(q.len() - 1);
    assert!(verify(&p, &short, now()).is_err());
}

#[test]
fn a_report_made_on_another_cpu_or_for_another_target_is_not_quoted() {
    let p = platform([1; 32]);
    let other = SimCpu::from_fuses([9; 32]);
    let report = other
        .ereport(&sample_enclave(), &p.qe.target_info(), &report_data())
        .unwrap();
    assert!(matches!(
        p.qe.quote(&p.cpu, &report, &p.pcs),
        Err(QeError::BadReport(_))
    ));
    let not_for_qe = p
        .cpu
        .ereport(
            &sample_enclave(),
            &sample_enclave().target_info(),
            &report_data(),
        )
        .unwrap();
    assert!(matches!(
        p.qe.quote(&p.cpu, &not_for_qe, &p.pcs),
        Err(QeError::BadReport(_))
    ));
    let mut altered = p
        .cpu
        .ereport(&sample_enclave(), &p.qe.target_info(), &report_data())
        .unwrap();
    altered.body.isv_svn += 1;
    assert!(matches!(
        p.qe.quote(&p.cpu, &altered, &p.pcs),
        Err(QeError::BadReport(_))
    ));
}

#[test]
fn stale_collateral_is_refused() {
    let p = platform([1; 32]);
    let q = quote(&p, &sample_enclave());
    let issued = now();
    let c = collateral(&p, issued);
    let verifier = QuoteVerifier::new(p.pcs.root_ca_der().to_vec());
    let day = 24 * 3600;
    assert!(verifier.verify(&q, &c, issued + 29 * day).is_ok());
    let err = verifier
        .verify(&q, &c, issued + 30 * day + 1)
        .expect_err("after nextUpdate");
    eprintln!("stale: {err:#}");
    // Collateral issued in the future is refused too.
    let future = collateral(&p, issued + day);
    assert!(verifier.verify(&q, &future, issued).is_err());
}

#[test]
fn intels_root_does_not_accept_simulated_quotes() {
    let p = platform([1; 32]);
    let q = quote(&p, &sample_enclave());
    let err = QuoteVerifier::new_prod()
        .verify(&q, &collateral(&p, now()), now())
        .expect_err("Intel's root must refuse simulation");
    eprintln!("intel root: {err:#}");
}

#[test]
fn debug_enclaves_are_flagged_as_on_hardware() {
    let p = platform([1; 32]);
    let debug = EnclaveIdentity {
        attributes: attributes(FLAG_INIT | FLAG_MODE64BIT | 2, 3),
        ..sample_enclave()
    };
    let q = quote(&p, &debug);
    // dcap-qvl refuses debug enclaves unless told otherwise, as for real quotes.
    assert!(verify(&p, &q, now()).is_err());
    let verified = QuoteVerifier::new(p.pcs.root_ca_der().to_vec())
        .allow_debug(true)
        .verify(&q, &collateral(&p, now()), now())
        .unwrap();
    assert_eq!(verified.status, "UpToDate");
}

#[test]
fn dcap_qvl_reads_the_platform_from_the_pck_certificate() {
    let p = platform([1; 32]);
    let ext =
        dcap_qvl::intel::parse_pck_extension_from_pem(p.pcs.pck_chain_pem().as_bytes()).unwrap();
    assert_eq!(ext.fmspc, minikms_sgx_sim::pcs::SIM_FMSPC);
    assert_eq!(ext.cpu_svn, minikms_sgx_sim::SIM_CPU_SVN);
    assert_eq!(ext.pce_svn, minikms_sgx_sim::pcs::SIM_PCE_SVN);
    assert_eq!(ext.pce_id, minikms_sgx_sim::pcs::SIM_PCE_ID.to_vec());
    assert_eq!(ext.sgx_type, 0);
    assert_eq!(ext.ppid.len(), 16);
    assert_eq!(ext.dynamic_platform, Some(false));
}

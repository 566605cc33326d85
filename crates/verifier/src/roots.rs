//! The two roots of trust and how a quote's chain picks one.
//!
//! - The Intel SGX Root CA. Full verification uses the copy dcap-qvl bundles
//!   (`QuoteVerifier::new_prod()`); offline checks use the root certificate
//!   the chain carries, accepted only if its SHA-256 equals the published
//!   fingerprint of that same certificate.
//! - The minikms simulation root: one published key pair, compiled in.
//!   Evidence under it proves nothing and is accepted only when the policy
//!   says `allow_simulation`.

use aws_lc_rs::digest;

use crate::chain;
use crate::error::EvidenceError;

/// SHA-256 of the Intel SGX Root CA certificate (DER), CN=Intel SGX Root CA,
/// 2018-05-21..2049-12-31: the certificate dcap-qvl bundles as
/// `TrustedRootCA.der`.
pub const INTEL_SGX_ROOT_CA_SHA256: [u8; 32] = [
    0x44, 0xa0, 0x19, 0x6b, 0x2b, 0x99, 0xf8, 0x89, 0xb8, 0xe1, 0x49, 0xe9, 0x5b, 0x80, 0x7a, 0x35,
    0x0e, 0x74, 0x24, 0x96, 0x43, 0x99, 0xe8, 0x85, 0xa7, 0xcb, 0xb8, 0xcc, 0xfa, 0xb6, 0x74, 0xd3,
];

/// The published simulation root CA (PEM). Anyone holds its key.
pub const SIMULATION_ROOT_CA_PEM: &str = include_str!("../../shared/sgx-sim/sim-root-ca.pem");

/// Which root a quote's certification chain leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// The Intel SGX Root CA: real hardware.
    Intel,
    /// The minikms simulation root: no security.
    Simulation,
}

/// DER of the simulation root.
pub fn simulation_root_der() -> Result<Vec<u8>, EvidenceError> {
    pem::parse(SIMULATION_ROOT_CA_PEM)
        .map(pem::Pem::into_contents)
        .map_err(|e| EvidenceError::Malformed(format!("built-in simulation root: {e}")))
}

fn is_intel_root(der: &[u8]) -> bool {
    digest::digest(&digest::SHA256, der).as_ref() == INTEL_SGX_ROOT_CA_SHA256
}

/// Pick the root from the top of a chain (leaf first): the top certificate
/// is either a root itself or issued by one. Returns the root and its DER.
pub fn select_root(chain: &[Vec<u8>]) -> Result<(Root, Vec<u8>), EvidenceError> {
    let top = chain
        .last()
        .ok_or_else(|| EvidenceError::PckChain("empty chain".into()))?;
    if is_intel_root(top) {
        return Ok((Root::Intel, top.clone()));
    }
    let sim = simulation_root_der()?;
    if *top == sim {
        return Ok((Root::Simulation, sim));
    }
    let top_cert = chain::parse_cert(top).map_err(|e| EvidenceError::PckChain(e.to_string()))?;
    let sim_cert = chain::parse_cert(&sim).map_err(|e| EvidenceError::Malformed(e.to_string()))?;
    if top_cert.issuer() == sim_cert.subject() {
        return Ok((Root::Simulation, sim));
    }
    // An Intel chain must carry the root itself (Intel's always do): the
    // offline checks have no other copy of it.
    Err(EvidenceError::UnknownRoot(top_cert.issuer().to_string()))
}

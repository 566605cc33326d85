//! Errors, grouped by who is at fault. Every `Display` is one line naming the
//! first check that failed.

use thiserror::Error;

/// Why evidence was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerifyError {
    /// The evidence itself is malformed or fails a cryptographic check (the
    /// attester's fault, or an attacker's).
    #[error("{0}")]
    Evidence(#[from] EvidenceError),
    /// The collateral (TCB info, QE identity, CRLs) is malformed, out of date
    /// or does not verify (the collateral source's fault).
    #[error("{0}")]
    Collateral(#[from] CollateralError),
    /// The evidence is genuine but the policy refuses it.
    #[error("{0}")]
    Policy(#[from] PolicyError),
    /// The caller asked for something that cannot be done.
    #[error("{0}")]
    Caller(#[from] CallerError),
}

/// The evidence is malformed or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EvidenceError {
    /// Not any of the accepted input forms (raw or hex quote, Open Enclave
    /// remote report, `/attestation` JSON).
    #[error("malformed evidence: {0}")]
    Malformed(String),
    /// A well-formed quote of a kind this verifier does not handle.
    #[error("unsupported quote: {0}")]
    Unsupported(String),
    /// The certification chain leads to neither the Intel SGX Root CA nor the
    /// simulation root.
    #[error("certification chain does not lead to a known root (top issuer: {0})")]
    UnknownRoot(String),
    /// The PCK certificate chain is malformed or does not verify.
    #[error("PCK certificate chain does not verify: {0}")]
    PckChain(String),
    /// The QE report is not signed by the PCK leaf key.
    #[error("QE report signature does not verify")]
    QeReportSignature,
    /// The QE report data does not commit to the attestation key and QE
    /// authentication data.
    #[error("QE report data does not match SHA-256(attestation key || QE authentication data)")]
    QeReportData,
    /// The quote header and body are not signed by the attestation key.
    #[error("quote signature does not verify")]
    QuoteSignature,
    /// The platform's TCB or certificate is revoked.
    #[error("revoked: {0}")]
    Revoked(String),
    /// A certificate without any RA-TLS extension.
    #[error("certificate has no attestation evidence")]
    NoCertificateEvidence,
    /// The certificate's evidence is about another key (e.g. an extension
    /// copied from another certificate).
    #[error("the certificate's evidence does not bind its public key (evidence copied from another certificate?)")]
    KeyNotBound,
    /// The quote does not commit to the claims next to it.
    #[error("the quote's report data does not commit to the RA-TLS claims")]
    ClaimsNotBound,
    /// A certificate chain other than a DCAP PCK chain (AMD's VCEK → ASK →
    /// ARK, a Nitro document's cabundle) is malformed or does not verify.
    #[error("certificate chain does not verify: {0}")]
    CertChain(String),
    /// A Nitro document's COSE signature does not verify with its leaf
    /// certificate's key.
    #[error("Nitro attestation document signature does not verify")]
    DocumentSignature,
    /// An SEV-SNP report's signature does not verify with the VCEK.
    #[error("SEV-SNP report signature does not verify with the VCEK")]
    ReportSignature,
    /// The VCEK was issued for another chip or another TCB than the
    /// report's.
    #[error("the VCEK is not for this report: {0}")]
    VcekMismatch(String),
    /// The `/attestation` JSON claims an identity the quote does not carry.
    #[error("evidence JSON claims {field} {claimed}, but the quote says {actual}")]
    ClaimMismatch {
        /// Which field (MRENCLAVE, MRSIGNER, platform).
        field: &'static str,
        /// What the JSON claimed.
        claimed: String,
        /// What the verified quote says.
        actual: String,
    },
}

/// The collateral is malformed, out of date or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CollateralError {
    /// Not QuoteCollateralV3 JSON.
    #[error("malformed collateral: {0}")]
    Malformed(String),
    /// Some part of the collateral expired before the verification time.
    #[error("collateral expired at {0}")]
    Expired(String),
    /// Some part of the collateral is issued after the verification time.
    #[error("collateral not valid until {0}")]
    NotYetValid(String),
    /// A collateral signature, chain or CRL check failed, or the collateral
    /// does not match the quote (FMSPC, TCB levels, QE identity).
    #[error("collateral check failed: {0}")]
    Rejected(String),
}

/// The evidence verifies, but the policy refuses it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    /// Evidence under the simulation root without `allow_simulation`.
    #[error("simulation evidence refused (pass --allow-simulation to accept it)")]
    SimulationRefused,
    /// The enclave measurement differs from the expected one.
    #[error("MRENCLAVE mismatch: expected {expected}, got {got}")]
    MrEnclaveMismatch {
        /// Expected (hex).
        expected: String,
        /// Found in the quote (hex, or why there is none).
        got: String,
    },
    /// The enclave signer differs from the expected one.
    #[error("MRSIGNER mismatch: expected {expected}, got {got}")]
    MrSignerMismatch {
        /// Expected (hex).
        expected: String,
        /// Found in the quote (hex, or why there is none).
        got: String,
    },
    /// The ISV product id differs from the expected one.
    #[error("product id mismatch: expected {expected}, got {got}")]
    ProductIdMismatch {
        /// Expected.
        expected: u16,
        /// Found in the quote, if the quote has one.
        got: String,
    },
    /// The ISV security version is below the minimum.
    #[error("security version too low: minimum {minimum}, got {got}")]
    SvnTooLow {
        /// Minimum accepted.
        minimum: u16,
        /// Found in the quote, if the quote has one.
        got: String,
    },
    /// The launch measurement (SEV-SNP MEASUREMENT, TDX MRTD, Nitro PCR0)
    /// differs from the expected one.
    #[error("measurement mismatch: expected {expected}, got {got}")]
    MeasurementMismatch {
        /// Expected (hex).
        expected: String,
        /// Found in the evidence (hex, or why there is none).
        got: String,
    },
    /// An SEV-SNP reported TCB below the minimum, in some component.
    #[error("SEV-SNP reported TCB {got} is below the minimum {minimum}")]
    TcbTooLow {
        /// The minimum accepted.
        minimum: String,
        /// The report's.
        got: String,
    },
    /// An SEV-SNP guest whose policy allows a migration agent (which can
    /// read its memory) without `allow_migration_agent`.
    #[error(
        "SEV-SNP guest policy allows a migration agent (pass --allow-migration-agent to accept it)"
    )]
    MigrationAgentRefused,
    /// A debug enclave (or debuggable TD) without `allow_debug`.
    #[error("debug enclave refused (pass --allow-debug to accept it)")]
    DebugRefused,
    /// A TCB status the policy does not accept.
    #[error("TCB status {0} not accepted (pass --accept-tcb {0} to accept it)")]
    TcbNotAccepted(String),
}

/// The caller asked for something impossible.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CallerError {
    /// No collateral and no request for offline verification.
    #[error(
        "no collateral: full DCAP verification needs collateral (--collateral FILE); \
         pass --offline to check signatures only (TCB status unknown)"
    )]
    NoCollateral,
    /// An SEV-SNP report without the VCEK and AMD chain to verify it with.
    #[error(
        "an SEV-SNP report: pass --vcek VCEK.der and --amd-chain ASK_ARK.pem (nothing is fetched)"
    )]
    NoAmdCerts,
}

impl VerifyError {
    /// A short name for who is at fault: "evidence", "collateral", "policy", "caller".
    pub fn fault(&self) -> &'static str {
        match self {
            VerifyError::Evidence(_) => "evidence",
            VerifyError::Collateral(_) => "collateral",
            VerifyError::Policy(_) => "policy",
            VerifyError::Caller(_) => "caller",
        }
    }
}

/// Why a certificate, or a chain of them, was refused ([`crate::chain`],
/// [`crate::pki`]); carried as text by the error of the evidence or
/// collateral it came with.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CertError {
    /// Not PEM certificate blocks only, or too many.
    #[error("{0}")]
    Pem(String),
    /// Not a DER certificate, or one with trailing data.
    #[error("{0}")]
    Malformed(String),
    /// Signed with an algorithm not accepted here; names the certificate.
    #[error("{0}")]
    Algorithm(String),
    #[error("{cert} is not issued by {issuer}")]
    NotIssuedBy { cert: String, issuer: String },
    #[error("signature on {0} does not verify")]
    BadSignature(String),
    #[error("{0} is not a CA certificate")]
    NotCa(String),
    #[error("{cert} is not valid until {from}")]
    NotYetValid { cert: String, from: String },
    #[error("{cert} expired at {at}")]
    Expired { cert: String, at: String },
    #[error("no certificate below the root")]
    NoPath,
}

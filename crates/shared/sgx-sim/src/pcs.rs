//! The simulated provisioning certification service: the PCK certificate
//! chain and the collateral a DCAP verifier needs, in Intel's formats.
//!
//! ```text
//! minikms simulation root CA            (fixed, published key: sim-root-ca.*)
//! ├── minikms simulation PCK Platform CA  key: HKDF(root key, "PCK_PLATFORM_CA")
//! │   └── minikms simulation PCK Certificate   key: HKDF(fuses, "PCK_KEY"), one per platform,
//! │                                            with Intel's SGX extension (1.2.840.113741.1.13.1)
//! └── minikms simulation TCB Signing       key: HKDF(root key, "TCB_SIGNING")
//! ```
//!
//! Like Intel's, the Platform CA and TCB signing keys are the same for every
//! simulated platform (derived from the published root key); the PCK key,
//! PPID and QE ID belong to one platform (derived from its fuses), so they
//! are stable across restarts of that platform. Certificates are valid from
//! the root's notBefore ([`SIM_EPOCH`]) to its notAfter. Their bytes differ
//! between runs (ECDSA signatures are randomised), their keys do not.
//!
//! Collateral ([`SimPcs::collateral`]) is issued at `now`: TCB info v3 for
//! [`SIM_FMSPC`] with one level, the platform's TCB, `UpToDate`; QE identity
//! v2 for the simulated QE; both signed (raw `r || s`) by the TCB signing
//! key; CRLs (empty) from the root and the Platform CA. Everything has
//! `issueDate`/`thisUpdate` = now and `nextUpdate` = now + 30 days.

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CustomExtension,
    DistinguishedName, DnType, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, SerialNumber,
};
use time::OffsetDateTime;

use crate::cpu::{SimCpu, SIM_CPU_SVN};
use crate::kdf::{self, DerivedP256};
use crate::qe_identity::{
    SIM_QE_ATTRIBUTES, SIM_QE_ISV_PROD_ID, SIM_QE_ISV_SVN, SIM_QE_MISC_SELECT, SIM_QE_MRSIGNER,
};

/// The published simulation root CA certificate (PEM).
pub const SIM_ROOT_CA_PEM: &str = include_str!("../sim-root-ca.pem");
/// Its private key (PKCS#8 PEM). Published on purpose: simulation has no
/// security, anyone can sign as the simulation root.
pub const SIM_ROOT_CA_KEY_PEM: &str = include_str!("../sim-root-ca.key.pem");

/// The root's notBefore (2026-11-26T23:50:30Z), used as notBefore of every
/// certificate below it and as the TCB date.
pub const SIM_EPOCH: i64 = 1_795_737_030;
/// The root's notAfter (2049-11-25T23:50:30Z), notAfter of every
/// certificate below it.
const SIM_NOT_AFTER: i64 = 2_521_497_030;
/// How long collateral is valid: 30 days.
pub const COLLATERAL_VALIDITY_SECS: u64 = 30 * 24 * 3600;

/// FMSPC of every simulated platform ("SIM" in the middle).
pub const SIM_FMSPC: [u8; 6] = [0x00, 0x53, 0x49, 0x4d, 0x00, 0x00];
/// PCE-ID of every simulated platform.
pub const SIM_PCE_ID: [u8; 2] = [0x00, 0x00];
/// PCESVN of every simulated platform.
pub const SIM_PCE_SVN: u16 = 13;
/// TCB evaluation data number of the simulated collateral.
pub const SIM_TCB_EVALUATION_DATA_NUMBER: u32 = 1;

const SIM_ORG: &str = "minikms simulation (NO SECURITY - published key)";
const SGX_EXTENSION_OID: &[u64] = &[1, 2, 840, 113_741, 1, 13, 1];

/// Why the provisioning service failed. All of these are bugs or a broken
/// crypto library: its inputs are its own.
#[derive(Debug, thiserror::Error)]
pub enum PcsError {
    /// Certificate or CRL generation failed.
    #[error("certificate generation failed: {0}")]
    Certificate(#[from] rcgen::Error),
    /// A signature or key derivation failed.
    #[error("cryptographic failure in the simulated provisioning service")]
    Crypto,
    /// A time out of range.
    #[error("time out of range")]
    Time,
    /// The published root certificate is not PEM.
    #[error("the simulation root certificate is not valid PEM")]
    RootPem,
}

impl From<aws_lc_rs::error::Unspecified> for PcsError {
    fn from(_: aws_lc_rs::error::Unspecified) -> Self {
        PcsError::Crypto
    }
}

/// Collateral in dcap-qvl's `QuoteCollateralV3` shape (see
/// [`Collateral::to_json`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collateral {
    /// PEM: Platform CA, root.
    pub pck_crl_issuer_chain: String,
    /// DER of the root CA's CRL.
    pub root_ca_crl: Vec<u8>,
    /// DER of the Platform CA's CRL.
    pub pck_crl: Vec<u8>,
    /// PEM: TCB signing certificate, root.
    pub tcb_info_issuer_chain: String,
    /// The TCB info JSON object, exactly as signed.
    pub tcb_info: String,
    /// ECDSA P-256 signature over `tcb_info`, raw `r || s`.
    pub tcb_info_signature: Vec<u8>,
    /// PEM: TCB signing certificate, root.
    pub qe_identity_issuer_chain: String,
    /// The QE identity JSON object, exactly as signed.
    pub qe_identity: String,
    /// ECDSA P-256 signature over `qe_identity`, raw `r || s`.
    pub qe_identity_signature: Vec<u8>,
}

impl Collateral {
    /// The JSON form dcap-qvl deserializes into `QuoteCollateralV3`: byte
    /// fields as lowercase hex strings, chains as PEM, TCB info and QE
    /// identity as JSON strings.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "pck_crl_issuer_chain": self.pck_crl_issuer_chain,
            "root_ca_crl": hex::encode(&self.root_ca_crl),
            "pck_crl": hex::encode(&self.pck_crl),
            "tcb_info_issuer_chain": self.tcb_info_issuer_chain,
            "tcb_info": self.tcb_info,
            "tcb_info_signature": hex::encode(&self.tcb_info_signature),
            "qe_identity_issuer_chain": self.qe_identity_issuer_chain,
            "qe_identity": self.qe_identity,
            "qe_identity_signature": hex::encode(&self.qe_identity_signature),
        })
    }
}

/// The provisioning service of one simulated platform. No `Debug`: it holds
/// the platform's PCK private key (which on hardware the PCE holds).
pub struct SimPcs {
    root: Issuer<'static, KeyPair>,
    platform_ca: Issuer<'static, KeyPair>,
    tcb_signing: DerivedP256,
    pck: DerivedP256,
    root_pem: String,
    platform_ca_pem: String,
    tcb_signing_pem: String,
    pck_pem: String,
    root_der: Vec<u8>,
    qe_id: [u8; 16],
}

fn dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, SIM_ORG);
    dn
}

fn at(unix: i64) -> Result<OffsetDateTime, PcsError> {
    OffsetDateTime::from_unix_timestamp(unix).map_err(|_| PcsError::Time)
}

fn rfc3339(unix: i64) -> Result<String, PcsError> {
    at(unix)?
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|_| PcsError::Time)
}

/// Serial number: 16 bytes of SHA-256 over the label and public key, top
/// bit clear (positive).
fn serial(label: &str, key: &DerivedP256) -> Result<SerialNumber, PcsError> {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(label.as_bytes());
    ctx.update(&key.public_xy()?);
    let digest = ctx.finish();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(digest.as_ref().get(..16).ok_or(PcsError::Crypto)?);
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    Ok(SerialNumber::from(bytes.to_vec()))
}

fn params(
    common_name: &str,
    ca: bool,
    serial_number: SerialNumber,
) -> Result<CertificateParams, PcsError> {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(common_name);
    p.not_before = at(SIM_EPOCH)?;
    p.not_after = at(SIM_NOT_AFTER)?;
    p.serial_number = Some(serial_number);
    p.use_authority_key_identifier_extension = true;
    if ca {
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
        ];
    } else {
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
        ];
    }
    Ok(p)
}

/// The platform's values in the PCK certificate's SGX extension.
struct PlatformTcb {
    ppid: [u8; 16],
    platform_instance_id: [u8; 16],
}

/// Intel's SGX extension (PCK Certificate and CRL Profile, Platform CA
/// form): SEQUENCE of (OID, value) pairs — PPID, TCB (16 component SVNs,
/// PCESVN, CPUSVN), PCE-ID, FMSPC, SGX Type (0 = Standard), Platform
/// Instance ID, Configuration (dynamic platform, cached keys, SMT: all
/// false).
fn sgx_extension(tcb: &PlatformTcb) -> Vec<u8> {
    use yasna::models::ObjectIdentifier;
    let oid = |tail: &[u64]| {
        let mut v = SGX_EXTENSION_OID.to_vec();
        v.extend_from_slice(tail);
        ObjectIdentifier::from_slice(&v)
    };
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_sequence(|w| {
                w.next().write_oid(&oid(&[1]));
                w.next().write_bytes(&tcb.ppid);
            });
            w.next().write_sequence(|w| {
                w.next().write_oid(&oid(&[2]));
                w.next().write_sequence(|w| {
                    for (i, svn) in (1u64..).zip(SIM_CPU_SVN.iter()) {
                        w.next().write_sequence(|w| {
                            w.next().write_oid(&oid(&[2, i]));
                            w.next().write_u8(*svn);
                        });
                    }
                    w.next().write_sequence(|w| {
                        w.next().write_oid(&oid(&[2, 17]));
                        w.next().write_u16(SIM_PCE_SVN);
                    });
                    w.next().write_sequence(|w| {
                        w.next().write_oid(&oid(&[2, 18]));
                        w.next().write_bytes(&SIM_CPU_SVN);
                    });
                });
            });
            w.next().write_sequence(|w| {
                w.next().write_oid(&oid(&[3]));
                w.next().write_bytes(&SIM_PCE_ID);
            });
            w.next().write_sequence(|w| {
                w.next().write_oid(&oid(&[4]));
                w.next().write_bytes(&SIM_FMSPC);
            });
            w.next().write_sequence(|w| {
                w.next().write_oid(&oid(&[5]));
                w.next().write_enum(0);
            });
            w.next().write_sequence(|w| {
                w.next().write_oid(&oid(&[6]));
                w.next().write_bytes(&tcb.platform_instance_id);
            });
            w.next().write_sequence(|w| {
                w.next().write_oid(&oid(&[7]));
                w.next().write_sequence(|w| {
                    for i in 1..=3u64 {
                        w.next().write_sequence(|w| {
                            w.next().write_oid(&oid(&[7, i]));
                            w.next().write_bool(false);
                        });
                    }
                });
            });
        });
    })
}

impl SimPcs {
    /// The provisioning service for the platform of `cpu`.
    pub fn new(cpu: &SimCpu) -> Result<Self, PcsError> {
        let root_key = KeyPair::from_pem(SIM_ROOT_CA_KEY_PEM)?;
        let root_pkcs8 = zeroize::Zeroizing::new(root_key.serialize_der());
        let root = Issuer::from_ca_cert_pem(SIM_ROOT_CA_PEM, root_key)?;
        let root_der = pem::parse(SIM_ROOT_CA_PEM)
            .map_err(|_| PcsError::RootPem)?
            .into_contents();

        let ca_key = DerivedP256::derive(&root_pkcs8, b"PCK_PLATFORM_CA")?;
        let ca_params = params(
            "minikms simulation PCK Platform CA",
            true,
            serial("PCK_PLATFORM_CA", &ca_key)?,
        )?;
        let ca_rcgen = ca_key.rcgen_key()?;
        let platform_ca_pem = ca_params.signed_by(&ca_rcgen, &root)?.pem();
        let platform_ca = Issuer::new(ca_params, ca_rcgen);

        let tcb_signing = DerivedP256::derive(&root_pkcs8, b"TCB_SIGNING")?;
        let tcb_params = params(
            "minikms simulation TCB Signing",
            false,
            serial("TCB_SIGNING", &tcb_signing)?,
        )?;
        let tcb_signing_pem = tcb_params
            .signed_by(&tcb_signing.rcgen_key()?, &root)?
            .pem();

        let fuses = cpu.fuses();
        let pck = DerivedP256::derive(fuses, b"PCK_KEY")?;
        let tcb = PlatformTcb {
            ppid: *kdf::derive::<16>(fuses, &[b"PPID"])?,
            platform_instance_id: *kdf::derive::<16>(fuses, &[b"PLATFORM_INSTANCE_ID"])?,
        };
        let mut pck_params = params(
            "minikms simulation PCK Certificate",
            false,
            serial("PCK", &pck)?,
        )?;
        pck_params
            .custom_extensions
            .push(CustomExtension::from_oid_content(
                SGX_EXTENSION_OID,
                sgx_extension(&tcb),
            ));
        let pck_pem = pck_params.signed_by(&pck.rcgen_key()?, &platform_ca)?.pem();
        let qe_id = *kdf::derive::<16>(fuses, &[b"QE_ID"])?;

        Ok(Self {
            root,
            platform_ca,
            tcb_signing,
            pck,
            root_pem: SIM_ROOT_CA_PEM.to_owned(),
            platform_ca_pem,
            tcb_signing_pem,
            pck_pem,
            root_der,
            qe_id,
        })
    }

    /// The DER of the simulation root CA: the trust anchor a verifier must
    /// be given (and only when it allows simulation).
    pub fn root_ca_der(&self) -> &[u8] {
        &self.root_der
    }

    /// The PCK certificate chain as a quote carries it: PEM of the PCK
    /// certificate, the Platform CA, the root.
    pub fn pck_chain_pem(&self) -> String {
        format!("{}{}{}", self.pck_pem, self.platform_ca_pem, self.root_pem)
    }

    /// This platform's QE ID (the first 16 bytes of a quote's user data).
    pub fn qe_id(&self) -> [u8; 16] {
        self.qe_id
    }

    /// Signs `message` with the PCK key (raw `r || s`): the PCE's half of
    /// certifying a QE report, once `qe::pce_sign` has checked the report.
    pub(crate) fn pck_sign(&self, message: &[u8]) -> Result<[u8; 64], PcsError> {
        self.pck.sign_raw(message).map_err(|_| PcsError::Crypto)
    }

    /// Collateral issued at `now_unix` (seconds), valid for 30 days.
    pub fn collateral(&self, now_unix: u64) -> Result<Collateral, PcsError> {
        let now = i64::try_from(now_unix).map_err(|_| PcsError::Time)?;
        let next = now
            .checked_add(COLLATERAL_VALIDITY_SECS as i64)
            .ok_or(PcsError::Time)?;
        let issue_date = rfc3339(now)?;
        let next_update = rfc3339(next)?;
        let tcb_date = rfc3339(SIM_EPOCH)?;

        let crl = |issuer: &Issuer<'static, KeyPair>| -> Result<Vec<u8>, PcsError> {
            let params = CertificateRevocationListParams {
                this_update: at(now)?,
                next_update: at(next)?,
                crl_number: SerialNumber::from(1u64),
                issuing_distribution_point: None,
                revoked_certs: Vec::new(),
                key_identifier_method: KeyIdMethod::Sha256,
            };
            Ok(params.signed_by(issuer)?.der().to_vec())
        };

        let components: Vec<serde_json::Value> = SIM_CPU_SVN
            .iter()
            .map(|svn| serde_json::json!({ "svn": svn }))
            .collect();
        let tcb_info = serde_json::json!({
            "id": "SGX",
            "version": 3,
            "issueDate": issue_date,
            "nextUpdate": next_update,
            "fmspc": hex::encode_upper(SIM_FMSPC),
            "pceId": hex::encode_upper(SIM_PCE_ID),
            "tcbType": 0,
            "tcbEvaluationDataNumber": SIM_TCB_EVALUATION_DATA_NUMBER,
            "tcbLevels": [{
                "tcb": { "sgxtcbcomponents": components, "pcesvn": SIM_PCE_SVN },
                "tcbDate": tcb_date,
                "tcbStatus": "UpToDate",
            }],
        })
        .to_string();
        let qe_identity = serde_json::json!({
            "id": "QE",
            "version": 2,
            "issueDate": issue_date,
            "nextUpdate": next_update,
            "tcbEvaluationDataNumber": SIM_TCB_EVALUATION_DATA_NUMBER,
            "miscselect": hex::encode_upper(SIM_QE_MISC_SELECT.to_le_bytes()),
            "miscselectMask": "FFFFFFFF",
            "attributes": hex::encode_upper(SIM_QE_ATTRIBUTES),
            "attributesMask": "FBFFFFFFFFFFFFFF0000000000000000",
            "mrsigner": hex::encode_upper(SIM_QE_MRSIGNER),
            "isvprodid": SIM_QE_ISV_PROD_ID,
            "tcbLevels": [{
                "tcb": { "isvsvn": SIM_QE_ISV_SVN },
                "tcbDate": tcb_date,
                "tcbStatus": "UpToDate",
            }],
        })
        .to_string();

        let signing_chain = format!("{}{}", self.tcb_signing_pem, self.root_pem);
        Ok(Collateral {
            pck_crl_issuer_chain: format!("{}{}", self.platform_ca_pem, self.root_pem),
            root_ca_crl: crl(&self.root)?,
            pck_crl: crl(&self.platform_ca)?,
            tcb_info_issuer_chain: signing_chain.clone(),
            tcb_info_signature: self.tcb_signing.sign_raw(tcb_info.as_bytes())?.to_vec(),
            tcb_info,
            qe_identity_issuer_chain: signing_chain,
            qe_identity_signature: self.tcb_signing.sign_raw(qe_identity.as_bytes())?.to_vec(),
            qe_identity,
        })
    }

    /// [`SimPcs::collateral`] in dcap-qvl's `QuoteCollateralV3` JSON form.
    pub fn collateral_json(&self, now_unix: u64) -> Result<serde_json::Value, PcsError> {
        Ok(self.collateral(now_unix)?.to_json())
    }
}

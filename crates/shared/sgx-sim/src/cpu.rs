//! The software CPU: EREPORT, report verification (what an enclave does
//! with EGETKEY(REPORT_KEY)) and EGETKEY(SEAL_KEY).
//!
//! Its one secret, the "fuses", is 32 random bytes in a platform file
//! (mode 0600, created on first use). Keys are HKDF-SHA256 of the fuses
//! (see the `kdf` module):
//!
//! - REPORT key: info = `"REPORT_KEY"` || target MRENCLAVE || target
//!   ATTRIBUTES || target MISCSELECT (LE) || target CONFIGSVN (LE) || target
//!   CONFIGID; 16 bytes. As in SGX, the key belongs to the *target*: only the
//!   enclave a report is targeted at can check its MAC. The report's KEYID is
//!   random and informational (it stands for SGX's per-boot report key id;
//!   the simulated CPU never reboots).
//! - SEAL key: info = `"SEAL_KEY"` || policy (1 = MRENCLAVE, 2 = MRSIGNER) ||
//!   MRENCLAVE (policy MRENCLAVE) or 32 zero bytes || MRSIGNER (policy
//!   MRSIGNER) or 32 zero bytes || ISVPRODID || requested ISVSVN || requested
//!   CPUSVN || ATTRIBUTES masked with [`SEAL_ATTRIBUTES_MASK`] || MISCSELECT
//!   || KEYID; 16 bytes. ISVPRODID is always bound, as in SGX; the mask keeps
//!   INIT, DEBUG and PROVISION_KEY (a debug build never gets a production
//!   build's key) and ignores XFRM.
//!
//! The MAC is AES-128-CMAC over the 384-byte REPORT_BODY, as in SGX.

use std::path::Path;

use aws_lc_rs::cmac;
use zeroize::Zeroizing;

use crate::kdf;
use crate::report::{
    attribute_flags, Report, ReportBody, TargetInfo, FLAG_DEBUG, FLAG_INIT, FLAG_PROVISION_KEY,
};

/// The simulated CPU's security version (fixed: the software never gets a
/// microcode update). TCB type 0: component `i` of the platform TCB is byte
/// `i` of CPUSVN.
pub const SIM_CPU_SVN: [u8; 16] = [3, 3, 2, 2, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// ATTRIBUTES.FLAGS bits bound into sealing keys.
pub const SEAL_ATTRIBUTES_MASK: u64 = FLAG_INIT | FLAG_DEBUG | FLAG_PROVISION_KEY;

/// Who an enclave is: what SGX knows from its SIGSTRUCT and SECS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnclaveIdentity {
    /// Measurement of the enclave's code and configuration.
    pub mrenclave: [u8; 32],
    /// SHA-256 of the signer's RSA modulus.
    pub mrsigner: [u8; 32],
    /// ISVPRODID.
    pub isv_prod_id: u16,
    /// ISVSVN: the enclave's security version.
    pub isv_svn: u16,
    /// ATTRIBUTES: FLAGS u64 LE, XFRM u64 LE; DEBUG is FLAGS bit 1.
    pub attributes: [u8; 16],
    /// MISCSELECT.
    pub misc_select: u32,
}

impl EnclaveIdentity {
    /// True if ATTRIBUTES.DEBUG is set.
    pub fn is_debug(&self) -> bool {
        attribute_flags(&self.attributes) & FLAG_DEBUG != 0
    }

    /// The TARGETINFO another enclave uses to make a report for this one.
    pub fn target_info(&self) -> TargetInfo {
        TargetInfo {
            mr_enclave: self.mrenclave,
            attributes: self.attributes,
            config_svn: 0,
            misc_select: self.misc_select,
            config_id: [0; 64],
        }
    }
}

/// KEYREQUEST.KEYPOLICY for a sealing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPolicy {
    /// Bound to MRENCLAVE: only this exact build can unseal.
    MrEnclave,
    /// Bound to MRSIGNER and ISVPRODID: any build of this product by this
    /// signer, at this ISVSVN or later, can unseal.
    MrSigner,
}

/// The EGETKEY request for a sealing key (KEYREQUEST).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealKeyRequest {
    /// Which identity the key is bound to.
    pub policy: KeyPolicy,
    /// ISVSVN to derive for; at most the enclave's own.
    pub isv_svn: u16,
    /// CPUSVN to derive for; at most the CPU's ([`SIM_CPU_SVN`]), component
    /// by component.
    pub cpu_svn: [u8; 16],
    /// Caller-chosen key id (e.g. stored next to the sealed blob).
    pub key_id: [u8; 32],
}

/// Why the simulated CPU refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum CpuError {
    /// The platform file could not be read or created (platform's fault).
    #[error("simulated platform file {path}: {source}")]
    PlatformFile {
        /// The file.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The platform file exists but is not exactly 32 bytes.
    #[error("simulated platform file {path}: not a 32-byte fuse file")]
    BadPlatformFile {
        /// The file.
        path: String,
    },
    /// EGETKEY: requested ISVSVN above the enclave's (caller's fault).
    #[error("requested ISVSVN {requested} is above the enclave's {current}")]
    IsvSvnTooHigh {
        /// Requested.
        requested: u16,
        /// The enclave's.
        current: u16,
    },
    /// EGETKEY: requested CPUSVN above the CPU's (caller's fault).
    #[error("requested CPUSVN is above the CPU's")]
    CpuSvnTooHigh,
    /// The report's MAC does not verify under this CPU's report key for the
    /// target (forged, altered, made on another CPU or for another target).
    #[error("report MAC does not verify")]
    BadReportMac,
    /// A cryptographic primitive failed (a bug or a broken library).
    #[error("cryptographic failure in the simulated CPU")]
    Crypto,
}

impl From<aws_lc_rs::error::Unspecified> for CpuError {
    fn from(_: aws_lc_rs::error::Unspecified) -> Self {
        CpuError::Crypto
    }
}

/// The software CPU. No `Debug`: it holds the platform's root secret.
pub struct SimCpu {
    fuses: Zeroizing<[u8; 32]>,
}

impl SimCpu {
    /// Opens the platform file, creating it (mode 0600, 32 random bytes) on
    /// first use. An existing file must be exactly 32 bytes.
    pub fn open_or_create(path: &Path) -> Result<Self, CpuError> {
        use std::io::{Read, Write};
        use std::os::unix::fs::OpenOptionsExt;
        let io_err = |source| CpuError::PlatformFile {
            path: path.display().to_string(),
            source,
        };
        let mut fuses = Zeroizing::new([0u8; 32]);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(mut file) => {
                aws_lc_rs::rand::fill(fuses.as_mut())?;
                file.write_all(fuses.as_ref()).map_err(io_err)?;
                file.sync_all().map_err(io_err)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let file = std::fs::File::open(path).map_err(io_err)?;
                // Read at most 33 bytes: enough to tell "too long".
                let mut content = Zeroizing::new(Vec::with_capacity(33));
                file.take(33).read_to_end(&mut content).map_err(io_err)?;
                if content.len() != 32 {
                    return Err(CpuError::BadPlatformFile {
                        path: path.display().to_string(),
                    });
                }
                fuses.copy_from_slice(&content);
            }
            Err(e) => return Err(io_err(e)),
        }
        Ok(Self { fuses })
    }

    /// A CPU with the given fuses (tests, or a platform secret held
    /// elsewhere).
    pub fn from_fuses(fuses: [u8; 32]) -> Self {
        Self {
            fuses: Zeroizing::new(fuses),
        }
    }

    /// The root secret, for the provisioning service and quoting enclave of
    /// this platform.
    pub(crate) fn fuses(&self) -> &[u8; 32] {
        &self.fuses
    }

    fn report_key(&self, target: &TargetInfo) -> Result<cmac::Key, CpuError> {
        let key = kdf::derive::<16>(
            self.fuses.as_ref(),
            &[
                b"REPORT_KEY",
                &target.mr_enclave,
                &target.attributes,
                &target.misc_select.to_le_bytes(),
                &target.config_svn.to_le_bytes(),
                &target.config_id,
            ],
        )?;
        Ok(cmac::Key::new(cmac::AES_128, key.as_ref())?)
    }

    /// EREPORT: a report about `me`, binding `report_data`, MAC'd with the
    /// report key of `target`.
    pub fn ereport(
        &self,
        me: &EnclaveIdentity,
        target: &TargetInfo,
        report_data: &[u8; 64],
    ) -> Result<Report, CpuError> {
        let body = ReportBody {
            cpu_svn: SIM_CPU_SVN,
            misc_select: me.misc_select,
            isv_ext_prod_id: [0; 16],
            attributes: me.attributes,
            mr_enclave: me.mrenclave,
            mr_signer: me.mrsigner,
            config_id: [0; 64],
            isv_prod_id: me.isv_prod_id,
            isv_svn: me.isv_svn,
            config_svn: 0,
            isv_family_id: [0; 16],
            report_data: *report_data,
        };
        let mut key_id = [0u8; 32];
        aws_lc_rs::rand::fill(&mut key_id)?;
        let tag = cmac::sign(&self.report_key(target)?, &body.to_bytes())?;
        let mut mac = [0u8; 16];
        if tag.as_ref().len() != mac.len() {
            return Err(CpuError::Crypto);
        }
        mac.copy_from_slice(tag.as_ref());
        Ok(Report { body, key_id, mac })
    }

    /// What the enclave `me_as_target` does with EGETKEY(REPORT_KEY): checks
    /// (in constant time) that `report` was made on this CPU for it.
    pub fn verify_report(
        &self,
        me_as_target: &TargetInfo,
        report: &Report,
    ) -> Result<ReportBody, CpuError> {
        cmac::verify(
            &self.report_key(me_as_target)?,
            &report.body.to_bytes(),
            &report.mac,
        )
        .map_err(|_| CpuError::BadReportMac)?;
        Ok(report.body)
    }

    /// EGETKEY(SEAL_KEY) for the enclave `me`. Refuses an ISVSVN above the
    /// enclave's or a CPUSVN above the CPU's, as SGX does.
    pub fn egetkey_seal(
        &self,
        me: &EnclaveIdentity,
        request: &SealKeyRequest,
    ) -> Result<Zeroizing<[u8; 16]>, CpuError> {
        if request.isv_svn > me.isv_svn {
            return Err(CpuError::IsvSvnTooHigh {
                requested: request.isv_svn,
                current: me.isv_svn,
            });
        }
        if request
            .cpu_svn
            .iter()
            .zip(SIM_CPU_SVN.iter())
            .any(|(want, have)| want > have)
        {
            return Err(CpuError::CpuSvnTooHigh);
        }
        let (policy, mrenclave, mrsigner) = match request.policy {
            KeyPolicy::MrEnclave => (1u8, me.mrenclave, [0u8; 32]),
            KeyPolicy::MrSigner => (2u8, [0u8; 32], me.mrsigner),
        };
        let flags = attribute_flags(&me.attributes) & SEAL_ATTRIBUTES_MASK;
        Ok(kdf::derive::<16>(
            self.fuses.as_ref(),
            &[
                b"SEAL_KEY",
                &[policy],
                &mrenclave,
                &mrsigner,
                &me.isv_prod_id.to_le_bytes(),
                &request.isv_svn.to_le_bytes(),
                &request.cpu_svn,
                &flags.to_le_bytes(),
                &me.misc_select.to_le_bytes(),
                &request.key_id,
            ],
        )?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::report::{attributes, FLAG_MODE64BIT};

    fn sample() -> EnclaveIdentity {
        EnclaveIdentity {
            mrenclave: [0x11; 32],
            mrsigner: [0x22; 32],
            isv_prod_id: 7,
            isv_svn: 3,
            attributes: attributes(FLAG_INIT | FLAG_MODE64BIT, 3),
            misc_select: 0,
        }
    }

    fn request(policy: KeyPolicy) -> SealKeyRequest {
        SealKeyRequest {
            policy,
            isv_svn: 3,
            cpu_svn: SIM_CPU_SVN,
            key_id: [9; 32],
        }
    }

    #[test]
    fn platform_file_is_created_0600_and_keys_survive_reopening() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("platform");
        let a = SimCpu::open_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = SimCpu::open_or_create(&path).unwrap();
        for policy in [KeyPolicy::MrEnclave, KeyPolicy::MrSigner] {
            let ka = a.egetkey_seal(&sample(), &request(policy)).unwrap();
            let kb = b.egetkey_seal(&sample(), &request(policy)).unwrap();
            assert_eq!(*ka, *kb);
        }
        // Another platform file, another CPU, other keys.
        let c = SimCpu::open_or_create(&dir.path().join("other")).unwrap();
        let kc = c
            .egetkey_seal(&sample(), &request(KeyPolicy::MrEnclave))
            .unwrap();
        let ka = a
            .egetkey_seal(&sample(), &request(KeyPolicy::MrEnclave))
            .unwrap();
        assert_ne!(*ka, *kc);
    }

    #[test]
    fn platform_file_of_wrong_length_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0usize, 31, 33, 64] {
            let path = dir.path().join(format!("p{len}"));
            std::fs::write(&path, vec![1u8; len]).unwrap();
            assert!(matches!(
                SimCpu::open_or_create(&path),
                Err(CpuError::BadPlatformFile { .. })
            ));
        }
    }

    #[test]
    fn sealing_keys_follow_policy() {
        let cpu = SimCpu::from_fuses([5; 32]);
        let me = sample();
        let other_signer = EnclaveIdentity {
            mrsigner: [0x33; 32],
            ..me
        };
        let other_build = EnclaveIdentity {
            mrenclave: [0x44; 32],
            ..me
        };
        let key = |id: &EnclaveIdentity, p| *cpu.egetkey_seal(id, &request(p)).unwrap();
        // Different MRSIGNER: different MRSIGNER-policy keys. As in SGX, an
        // MRENCLAVE-policy key binds MRENCLAVE only (MRENCLAVE does not
        // depend on the signer), so the same build signed by another key
        // derives the same MRENCLAVE-policy key.
        assert_ne!(
            key(&me, KeyPolicy::MrSigner),
            key(&other_signer, KeyPolicy::MrSigner)
        );
        assert_eq!(
            key(&me, KeyPolicy::MrEnclave),
            key(&other_signer, KeyPolicy::MrEnclave)
        );
        // MRENCLAVE policy follows MRENCLAVE; MRSIGNER policy does not.
        assert_ne!(
            key(&me, KeyPolicy::MrEnclave),
            key(&other_build, KeyPolicy::MrEnclave)
        );
        assert_eq!(
            key(&me, KeyPolicy::MrSigner),
            key(&other_build, KeyPolicy::MrSigner)
        );
        // The policies give different keys, and so do key ids.
        assert_ne!(
            key(&me, KeyPolicy::MrSigner),
            key(&me, KeyPolicy::MrEnclave)
        );
        let mut r = request(KeyPolicy::MrSigner);
        r.key_id = [10; 32];
        assert_ne!(
            *cpu.egetkey_seal(&me, &r).unwrap(),
            key(&me, KeyPolicy::MrSigner)
        );
        // Debug and production builds never share a key.
        let debug = EnclaveIdentity {
            attributes: attributes(FLAG_INIT | FLAG_DEBUG | FLAG_MODE64BIT, 3),
            ..me
        };
        assert_ne!(
            key(&me, KeyPolicy::MrSigner),
            key(&debug, KeyPolicy::MrSigner)
        );
        // A newer enclave can still derive an older version's key.
        let newer = EnclaveIdentity { isv_svn: 4, ..me };
        assert_eq!(
            key(&me, KeyPolicy::MrSigner),
            key(&newer, KeyPolicy::MrSigner)
        );
    }

    #[test]
    fn svns_above_current_are_refused() {
        let cpu = SimCpu::from_fuses([5; 32]);
        let mut r = request(KeyPolicy::MrSigner);
        r.isv_svn = 4;
        assert!(matches!(
            cpu.egetkey_seal(&sample(), &r),
            Err(CpuError::IsvSvnTooHigh {
                requested: 4,
                current: 3
            })
        ));
        let mut r = request(KeyPolicy::MrEnclave);
        r.cpu_svn[0] += 1;
        assert!(matches!(
            cpu.egetkey_seal(&sample(), &r),
            Err(CpuError::CpuSvnTooHigh)
        ));
        // Lower SVNs are fine and give other keys.
        let mut r = request(KeyPolicy::MrEnclave);
        r.isv_svn = 2;
        r.cpu_svn[0] -= 1;
        let low = cpu.egetkey_seal(&sample(), &r).unwrap();
        let cur = cpu
            .egetkey_seal(&sample(), &request(KeyPolicy::MrEnclave))
            .unwrap();
        assert_ne!(*low, *cur);
    }

    #[test]
    fn reports_verify_only_for_their_target_on_their_cpu() {
        let cpu = SimCpu::from_fuses([5; 32]);
        let target = EnclaveIdentity {
            mrenclave: [0x77; 32],
            ..sample()
        }
        .target_info();
        let report = cpu.ereport(&sample(), &target, &[0xab; 64]).unwrap();
        let body = cpu.verify_report(&target, &report).unwrap();
        assert_eq!(body.report_data, [0xab; 64]);
        assert_eq!(body.mr_enclave, sample().mrenclave);
        assert_eq!(body.cpu_svn, SIM_CPU_SVN);
        // Round trip through bytes keeps it valid.
        let again = Report::from_bytes(&report.to_bytes()).unwrap();
        assert!(cpu.verify_report(&target, &again).is_ok());
        // Another target, another CPU, a changed body: refused.
        assert!(matches!(
            cpu.verify_report(&sample().target_info(), &report),
            Err(CpuError::BadReportMac)
        ));
        let other = SimCpu::from_fuses([6; 32]);
        assert!(matches!(
            other.verify_report(&target, &report),
            Err(CpuError::BadReportMac)
        ));
        let mut changed = report;
        changed.body.report_data[0] ^= 1;
        assert!(matches!(
            cpu.verify_report(&target, &changed),
            Err(CpuError::BadReportMac)
        ));
    }
}

//! The SEV-SNP ATTESTATION_REPORT (AMD SEV-SNP ABI specification, table
//! "ATTESTATION_REPORT structure"): 1184 bytes of fixed layout, read with
//! zerocopy so that every offset is a field of one `repr(C)` struct.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use crate::error::EvidenceError;

/// A report is exactly this long.
pub const REPORT_LEN: usize = 0x4A0;
/// The signature covers bytes [0, 0x2A0).
pub const SIGNED_LEN: usize = 0x2A0;
/// Report versions whose signed layout this reader knows (v2: SNP ABI
/// 1.51+, v3 adds the CPUID bytes, v5 the mitigation vectors; all keep the
/// offsets below).
pub const VERSIONS: [u32; 3] = [2, 3, 5];
/// SIGNATURE_ALGO 1: ECDSA P-384 with SHA-384.
const ECDSA_P384_SHA384: u32 = 1;

/// The raw report. Reserved bytes are kept as fields so that the offsets
/// match the specification.
#[derive(FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RawReport {
    pub version: U32,
    pub guest_svn: U32,
    pub policy: U64,
    pub family_id: [u8; 16],
    pub image_id: [u8; 16],
    pub vmpl: U32,
    pub signature_algo: U32,
    pub current_tcb: [u8; 8],
    pub platform_info: U64,
    /// Bit 0 AUTHOR_KEY_EN, bit 1 MASK_CHIP_KEY, bits 4:2 SIGNING_KEY.
    pub key_info: U32,
    _reserved0: [u8; 4],
    pub report_data: [u8; 64],
    pub measurement: [u8; 48],
    pub host_data: [u8; 32],
    pub id_key_digest: [u8; 48],
    pub author_key_digest: [u8; 48],
    pub report_id: [u8; 32],
    pub report_id_ma: [u8; 32],
    pub reported_tcb: [u8; 8],
    _reserved1: [u8; 24],
    pub chip_id: [u8; 64],
    pub committed_tcb: [u8; 8],
    pub current_version: [u8; 4],
    pub committed_version: [u8; 4],
    pub launch_tcb: [u8; 8],
    _reserved2: [u8; 0x2A0 - 0x1F8],
    /// R, 72 bytes little-endian (the top 24 bytes zero).
    pub signature_r: [u8; 72],
    /// S, 72 bytes little-endian (the top 24 bytes zero).
    pub signature_s: [u8; 72],
    _signature_reserved: [u8; 0x200 - 144],
}

const _: () = assert!(std::mem::size_of::<RawReport>() == REPORT_LEN);

/// Guest policy bits.
pub const POLICY_SMT: u64 = 1 << 16;
/// Guest policy: a migration agent may be associated with the guest.
pub const POLICY_MIGRATE_MA: u64 = 1 << 18;
/// Guest policy: the guest may be debugged (the host can read its memory).
pub const POLICY_DEBUG: u64 = 1 << 19;

/// Whether `bytes` have the shape of a report this reader handles.
pub fn looks_like_report(bytes: &[u8]) -> bool {
    RawReport::ref_from_bytes(bytes).is_ok_and(|r| {
        VERSIONS.contains(&r.version.get()) && r.signature_algo.get() == ECDSA_P384_SHA384
    })
}

/// Parse a report: exact length, known version, ECDSA P-384 signature
/// signed by the VCEK, and the signature's unused bytes zero (so that the
/// only bytes outside the signed region are R and S themselves).
pub fn parse_report(bytes: &[u8]) -> Result<&RawReport, EvidenceError> {
    let report = RawReport::ref_from_bytes(bytes).map_err(|_| {
        EvidenceError::Malformed(format!(
            "an SEV-SNP report is {REPORT_LEN} bytes, not {}",
            bytes.len()
        ))
    })?;
    let version = report.version.get();
    if !VERSIONS.contains(&version) {
        return Err(EvidenceError::Unsupported(format!(
            "SEV-SNP report version {version} (2, 3 or 5 expected)"
        )));
    }
    let algo = report.signature_algo.get();
    if algo != ECDSA_P384_SHA384 {
        return Err(EvidenceError::Unsupported(format!(
            "SEV-SNP signature algorithm {algo} (only 1, ECDSA P-384)"
        )));
    }
    let signing_key = (report.key_info.get() >> 2) & 0b111;
    if signing_key != 0 {
        return Err(EvidenceError::Unsupported(format!(
            "SEV-SNP signing key {signing_key} (only 0, the VCEK)"
        )));
    }
    let unused = report.signature_r[48..]
        .iter()
        .chain(&report.signature_s[48..])
        .chain(&report._signature_reserved);
    if unused.into_iter().any(|&b| b != 0) {
        return Err(EvidenceError::Malformed(
            "SEV-SNP signature has non-zero bytes beyond R and S".into(),
        ));
    }
    Ok(report)
}

impl RawReport {
    /// The signature as big-endian R ‖ S (48 + 48 bytes), as aws-lc-rs's
    /// fixed-width ECDSA verification takes it.
    pub fn signature_fixed(&self) -> [u8; 96] {
        let mut sig = [0u8; 96];
        for (dst, src) in sig[..48]
            .iter_mut()
            .zip(self.signature_r[..48].iter().rev())
        {
            *dst = *src;
        }
        for (dst, src) in sig[48..]
            .iter_mut()
            .zip(self.signature_s[..48].iter().rev())
        {
            *dst = *src;
        }
        sig
    }
}

/// The AMD product generations whose ARK is built in. The TCB_VERSION
/// layout differs from Turin on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Product {
    /// EPYC 7003.
    Milan,
    /// EPYC 9004.
    Genoa,
    /// EPYC 9005.
    Turin,
}

/// A TCB_VERSION decoded: the security patch level of each firmware part.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TcbVersion {
    /// FMC (Turin and later only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fmc: Option<u8>,
    /// The PSP boot loader.
    pub bootloader: u8,
    /// The PSP OS (TEE).
    pub tee: u8,
    /// The SNP firmware.
    pub snp: u8,
    /// The CPU microcode.
    pub microcode: u8,
}

impl TcbVersion {
    /// Decode the 8 raw bytes for `product`.
    pub fn decode(raw: [u8; 8], product: Product) -> Self {
        match product {
            Product::Milan | Product::Genoa => TcbVersion {
                fmc: None,
                bootloader: raw[0],
                tee: raw[1],
                snp: raw[6],
                microcode: raw[7],
            },
            Product::Turin => TcbVersion {
                fmc: Some(raw[0]),
                bootloader: raw[1],
                tee: raw[2],
                snp: raw[3],
                microcode: raw[7],
            },
        }
    }

    /// Every component at least `minimum`'s (an FMC minimum needs an FMC).
    pub fn meets(&self, minimum: &TcbVersion) -> bool {
        let fmc_ok = match (minimum.fmc, self.fmc) {
            (None, _) => true,
            (Some(min), Some(v)) => v >= min,
            (Some(_), None) => false,
        };
        fmc_ok
            && self.bootloader >= minimum.bootloader
            && self.tee >= minimum.tee
            && self.snp >= minimum.snp
            && self.microcode >= minimum.microcode
    }
}

impl fmt::Display for TcbVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(fmc) = self.fmc {
            write!(f, "fmc={fmc},")?;
        }
        write!(
            f,
            "bootloader={},tee={},snp={},microcode={}",
            self.bootloader, self.tee, self.snp, self.microcode
        )
    }
}

/// `bootloader=3,tee=0,snp=8,microcode=115[,fmc=N]`: every component but
/// `fmc` required, each once.
impl FromStr for TcbVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts: [Option<u8>; 5] = [None; 5];
        const NAMES: [&str; 5] = ["bootloader", "tee", "snp", "microcode", "fmc"];
        for item in s.split(',') {
            let (name, value) = item
                .split_once('=')
                .ok_or_else(|| format!("{item:?} is not NAME=VALUE"))?;
            let i = NAMES
                .iter()
                .position(|n| *n == name.trim())
                .ok_or_else(|| format!("unknown TCB component {name:?} (one of {NAMES:?})"))?;
            let value = value
                .trim()
                .parse::<u8>()
                .map_err(|e| format!("{name}: {e}"))?;
            if parts[i].replace(value).is_some() {
                return Err(format!("{name} given twice"));
            }
        }
        let need = |i: usize| parts[i].ok_or_else(|| format!("{} missing", NAMES[i]));
        Ok(TcbVersion {
            bootloader: need(0)?,
            tee: need(1)?,
            snp: need(2)?,
            microcode: need(3)?,
            fmc: parts[4],
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tcb_layouts() {
        let raw = [3, 0, 0, 0, 0, 0, 8, 0x73];
        let milan = TcbVersion::decode(raw, Product::Milan);
        assert_eq!(milan.to_string(), "bootloader=3,tee=0,snp=8,microcode=115");
        assert_eq!(
            milan,
            "microcode=115,snp=8,tee=0,bootloader=3".parse().unwrap()
        );
        let turin = TcbVersion::decode([1, 2, 3, 4, 0, 0, 0, 5], Product::Turin);
        assert_eq!(
            turin.to_string(),
            "fmc=1,bootloader=2,tee=3,snp=4,microcode=5"
        );
    }

    #[test]
    fn tcb_minimum() {
        let v: TcbVersion = "bootloader=3,tee=0,snp=8,microcode=115".parse().unwrap();
        assert!(v.meets(&v));
        assert!(v.meets(&"bootloader=2,tee=0,snp=8,microcode=100".parse().unwrap()));
        assert!(!v.meets(&"bootloader=3,tee=0,snp=9,microcode=100".parse().unwrap()));
        assert!(!v.meets(
            &"bootloader=0,tee=0,snp=0,microcode=0,fmc=0"
                .parse()
                .unwrap()
        ));
        for bad in [
            "",
            "bootloader=3",
            "bootloader=3,tee=0,snp=8,microcode=256",
            "x=1",
            "bootloader=3,bootloader=3,tee=0,snp=8,microcode=1",
        ] {
            assert!(bad.parse::<TcbVersion>().is_err(), "{bad}");
        }
    }

    #[test]
    fn wrong_lengths_and_versions() {
        assert!(parse_report(&[0u8; REPORT_LEN - 1]).is_err());
        let mut r = vec![0u8; REPORT_LEN];
        assert!(matches!(
            parse_report(&r),
            Err(EvidenceError::Unsupported(_))
        ));
        r[0] = 2;
        r[0x34] = 1;
        assert!(parse_report(&r).is_ok());
        assert!(looks_like_report(&r));
        r[0x2A0 + 60] = 1; // beyond R's 48 bytes
        assert!(parse_report(&r).is_err());
    }
}

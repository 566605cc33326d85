//! SGX REPORT_BODY, REPORT and TARGETINFO in Intel's exact binary layout
//! (Intel SDM vol. 3D, 38.15-38.16; `sgx_report_body_t`, `sgx_report_t`,
//! `sgx_target_info_t`). All integers little-endian.
//!
//! Parsers take exactly the structure's length, refuse anything else and
//! refuse non-zero reserved bytes, so `to_bytes(from_bytes(b)) == b` for every
//! accepted `b`: one byte string, one meaning.

/// Length of a REPORT_BODY.
pub const REPORT_BODY_LEN: usize = 384;
/// Length of a REPORT: body, KEYID (32), MAC (16).
pub const REPORT_LEN: usize = 432;
/// Length of a TARGETINFO.
pub const TARGET_INFO_LEN: usize = 512;

/// ATTRIBUTES.FLAGS bit 0: the enclave was initialised (EINIT).
pub const FLAG_INIT: u64 = 1 << 0;
/// ATTRIBUTES.FLAGS bit 1: debug enclave (its memory is readable by the host).
pub const FLAG_DEBUG: u64 = 1 << 1;
/// ATTRIBUTES.FLAGS bit 2: 64-bit enclave.
pub const FLAG_MODE64BIT: u64 = 1 << 2;
/// ATTRIBUTES.FLAGS bit 4: may get the provisioning key (the QE does).
pub const FLAG_PROVISION_KEY: u64 = 1 << 4;

/// Builds the 16-byte ATTRIBUTES field: FLAGS (u64 LE) then XFRM (u64 LE).
pub fn attributes(flags: u64, xfrm: u64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&flags.to_le_bytes());
    out[8..].copy_from_slice(&xfrm.to_le_bytes());
    out
}

/// The FLAGS half of an ATTRIBUTES field.
pub fn attribute_flags(attributes: &[u8; 16]) -> u64 {
    let mut flags = [0u8; 8];
    flags.copy_from_slice(&attributes[..8]);
    u64::from_le_bytes(flags)
}

/// Why bytes were not a well-formed structure. The bytes came from someone
/// else (the host, the network): the fault is theirs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The input is not exactly the structure's length.
    #[error("{what}: expected exactly {expected} bytes, got {actual}")]
    Length {
        /// The structure being parsed.
        what: &'static str,
        /// Its fixed length.
        expected: usize,
        /// The input's length.
        actual: usize,
    },
    /// A reserved field holds a non-zero byte.
    #[error("{what}: reserved byte at offset {offset} is not zero")]
    ReservedNotZero {
        /// The structure being parsed.
        what: &'static str,
        /// Offset of the first non-zero reserved byte.
        offset: usize,
    },
}

/// A bounded reader over one fixed-length structure.
struct Reader<'a> {
    what: &'static str,
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(what: &'static str, buf: &'a [u8], expected: usize) -> Result<Self, ParseError> {
        if buf.len() != expected {
            return Err(ParseError::Length {
                what,
                expected,
                actual: buf.len(),
            });
        }
        Ok(Self { what, buf, pos: 0 })
    }

    fn slice(&mut self, n: usize) -> Result<&'a [u8], ParseError> {
        let end = self.pos.checked_add(n);
        match end.and_then(|end| self.buf.get(self.pos..end)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(ParseError::Length {
                what: self.what,
                expected: self.pos.saturating_add(n),
                actual: self.buf.len(),
            }),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ParseError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.slice(N)?);
        Ok(out)
    }

    fn u16(&mut self) -> Result<u16, ParseError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, ParseError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn reserved(&mut self, n: usize) -> Result<(), ParseError> {
        let start = self.pos;
        let bytes = self.slice(n)?;
        match bytes.iter().position(|&b| b != 0) {
            Some(i) => Err(ParseError::ReservedNotZero {
                what: self.what,
                offset: start + i,
            }),
            None => Ok(()),
        }
    }
}

/// SGX REPORT_BODY (384 bytes): who the enclave is and the 64 bytes it bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBody {
    /// CPUSVN at offset 0.
    pub cpu_svn: [u8; 16],
    /// MISCSELECT at 16.
    pub misc_select: u32,
    /// ISVEXTPRODID at 32 (after 12 reserved bytes).
    pub isv_ext_prod_id: [u8; 16],
    /// ATTRIBUTES at 48: FLAGS u64 LE, XFRM u64 LE.
    pub attributes: [u8; 16],
    /// MRENCLAVE at 64.
    pub mr_enclave: [u8; 32],
    /// MRSIGNER at 128 (after 32 reserved bytes).
    pub mr_signer: [u8; 32],
    /// CONFIGID at 192 (after 32 reserved bytes).
    pub config_id: [u8; 64],
    /// ISVPRODID at 256.
    pub isv_prod_id: u16,
    /// ISVSVN at 258.
    pub isv_svn: u16,
    /// CONFIGSVN at 260.
    pub config_svn: u16,
    /// ISVFAMILYID at 304 (after 42 reserved bytes).
    pub isv_family_id: [u8; 16],
    /// REPORTDATA at 320.
    pub report_data: [u8; 64],
}

impl ReportBody {
    /// The exact 384-byte encoding.
    pub fn to_bytes(&self) -> [u8; REPORT_BODY_LEN] {
        let mut out = [0u8; REPORT_BODY_LEN];
        out[0..16].copy_from_slice(&self.cpu_svn);
        out[16..20].copy_from_slice(&self.misc_select.to_le_bytes());
        // 20..32 reserved
        out[32..48].copy_from_slice(&self.isv_ext_prod_id);
        out[48..64].copy_from_slice(&self.attributes);
        out[64..96].copy_from_slice(&self.mr_enclave);
        // 96..128 reserved
        out[128..160].copy_from_slice(&self.mr_signer);
        // 160..192 reserved
        out[192..256].copy_from_slice(&self.config_id);
        out[256..258].copy_from_slice(&self.isv_prod_id.to_le_bytes());
        out[258..260].copy_from_slice(&self.isv_svn.to_le_bytes());
        out[260..262].copy_from_slice(&self.config_svn.to_le_bytes());
        // 262..304 reserved
        out[304..320].copy_from_slice(&self.isv_family_id);
        out[320..384].copy_from_slice(&self.report_data);
        out
    }

    /// Parses exactly 384 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ParseError> {
        let mut r = Reader::new("REPORT_BODY", bytes, REPORT_BODY_LEN)?;
        let cpu_svn = r.array()?;
        let misc_select = r.u32()?;
        r.reserved(12)?;
        let isv_ext_prod_id = r.array()?;
        let attributes = r.array()?;
        let mr_enclave = r.array()?;
        r.reserved(32)?;
        let mr_signer = r.array()?;
        r.reserved(32)?;
        let config_id = r.array()?;
        let isv_prod_id = r.u16()?;
        let isv_svn = r.u16()?;
        let config_svn = r.u16()?;
        r.reserved(42)?;
        let isv_family_id = r.array()?;
        let report_data = r.array()?;
        Ok(Self {
            cpu_svn,
            misc_select,
            isv_ext_prod_id,
            attributes,
            mr_enclave,
            mr_signer,
            config_id,
            isv_prod_id,
            isv_svn,
            config_svn,
            isv_family_id,
            report_data,
        })
    }

    /// True if ATTRIBUTES.DEBUG is set.
    pub fn is_debug(&self) -> bool {
        attribute_flags(&self.attributes) & FLAG_DEBUG != 0
    }
}

/// SGX REPORT (432 bytes): body, KEYID, and the AES-128-CMAC of the body
/// under the target enclave's report key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// The MAC'd body.
    pub body: ReportBody,
    /// KEYID at 384.
    pub key_id: [u8; 32],
    /// MAC at 416: AES-128-CMAC over the 384-byte body.
    pub mac: [u8; 16],
}

impl Report {
    /// The exact 432-byte encoding.
    pub fn to_bytes(&self) -> [u8; REPORT_LEN] {
        let mut out = [0u8; REPORT_LEN];
        out[..REPORT_BODY_LEN].copy_from_slice(&self.body.to_bytes());
        out[384..416].copy_from_slice(&self.key_id);
        out[416..432].copy_from_slice(&self.mac);
        out
    }

    /// Parses exactly 432 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ParseError> {
        let mut r = Reader::new("REPORT", bytes, REPORT_LEN)?;
        let body = ReportBody::from_bytes(r.slice(REPORT_BODY_LEN)?)?;
        let key_id = r.array()?;
        let mac = r.array()?;
        Ok(Self { body, key_id, mac })
    }
}

/// SGX TARGETINFO (512 bytes): the enclave a report is meant for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetInfo {
    /// MRENCLAVE at 0.
    pub mr_enclave: [u8; 32],
    /// ATTRIBUTES at 32.
    pub attributes: [u8; 16],
    /// CONFIGSVN at 50 (after 2 reserved bytes).
    pub config_svn: u16,
    /// MISCSELECT at 52.
    pub misc_select: u32,
    /// CONFIGID at 64 (after 8 reserved bytes); 384 reserved bytes follow.
    pub config_id: [u8; 64],
}

impl TargetInfo {
    /// The exact 512-byte encoding.
    pub fn to_bytes(&self) -> [u8; TARGET_INFO_LEN] {
        let mut out = [0u8; TARGET_INFO_LEN];
        out[0..32].copy_from_slice(&self.mr_enclave);
        out[32..48].copy_from_slice(&self.attributes);
        // 48..50 reserved
        out[50..52].copy_from_slice(&self.config_svn.to_le_bytes());
        out[52..56].copy_from_slice(&self.misc_select.to_le_bytes());
        // 56..64 reserved
        out[64..128].copy_from_slice(&self.config_id);
        // 128..512 reserved
        out
    }

    /// Parses exactly 512 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ParseError> {
        let mut r = Reader::new("TARGETINFO", bytes, TARGET_INFO_LEN)?;
        let mr_enclave = r.array()?;
        let attributes = r.array()?;
        r.reserved(2)?;
        let config_svn = r.u16()?;
        let misc_select = r.u32()?;
        r.reserved(8)?;
        let config_id = r.array()?;
        r.reserved(384)?;
        Ok(Self {
            mr_enclave,
            attributes,
            config_svn,
            misc_select,
            config_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arr<const N: usize>(v: &[u8]) -> [u8; N] {
        let mut out = [0u8; N];
        for (o, i) in out.iter_mut().zip(v.iter().cycle()) {
            *o = *i;
        }
        out
    }

    prop_compose! {
        fn any_body()(b in proptest::collection::vec(any::<u8>(), 1..64),
                      misc in any::<u32>(), p in any::<u16>(), s in any::<u16>(), c in any::<u16>())
                      -> ReportBody {
            ReportBody {
                cpu_svn: arr(&b), misc_select: misc, isv_ext_prod_id: arr(&b[1..]),
                attributes: arr(&b), mr_enclave: arr(&b), mr_signer: arr(&b[b.len() / 2..]),
                config_id: arr(&b), isv_prod_id: p, isv_svn: s, config_svn: c,
                isv_family_id: arr(&b), report_data: arr(&b),
            }
        }
    }

    proptest! {
        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
            let _ = ReportBody::from_bytes(&bytes);
            let _ = Report::from_bytes(&bytes);
            let _ = TargetInfo::from_bytes(&bytes);
        }

        #[test]
        fn exact_length_random_bytes_never_panic(
            body in proptest::collection::vec(any::<u8>(), REPORT_BODY_LEN),
            report in proptest::collection::vec(any::<u8>(), REPORT_LEN),
            ti in proptest::collection::vec(any::<u8>(), TARGET_INFO_LEN),
        ) {
            // Accepted inputs must round-trip byte for byte.
            if let Ok(b) = ReportBody::from_bytes(&body) { prop_assert_eq!(&b.to_bytes()[..], &body[..]); }
            if let Ok(r) = Report::from_bytes(&report) { prop_assert_eq!(&r.to_bytes()[..], &report[..]); }
            if let Ok(t) = TargetInfo::from_bytes(&ti) { prop_assert_eq!(&t.to_bytes()[..], &ti[..]); }
        }

        #[test]
        fn report_round_trips(body in any_body(), key_id in any::<[u8; 32]>(), mac in any::<[u8; 16]>()) {
            let report = Report { body, key_id, mac };
            let bytes = report.to_bytes();
            prop_assert_eq!(Report::from_bytes(&bytes), Ok(report));
            prop_assert_eq!(ReportBody::from_bytes(&body.to_bytes()), Ok(body));
        }

        #[test]
        fn target_info_round_trips(m in any::<[u8; 32]>(), a in any::<[u8; 16]>(), c in any::<u16>(), s in any::<u32>(), id in proptest::collection::vec(any::<u8>(), 64)) {
            let ti = TargetInfo { mr_enclave: m, attributes: a, config_svn: c, misc_select: s, config_id: arr(&id) };
            prop_assert_eq!(TargetInfo::from_bytes(&ti.to_bytes()), Ok(ti));
        }
    }

    #[test]
    fn offsets_match_intel_layout() {
        let body = ReportBody {
            cpu_svn: [1; 16],
            misc_select: 0x0403_0201,
            isv_ext_prod_id: [2; 16],
            attributes: attributes(FLAG_INIT | FLAG_DEBUG, 3),
            mr_enclave: [4; 32],
            mr_signer: [5; 32],
            config_id: [6; 64],
            isv_prod_id: 0x0807,
            isv_svn: 0x0a09,
            config_svn: 0x0c0b,
            isv_family_id: [7; 16],
            report_data: [8; 64],
        };
        let b = body.to_bytes();
        assert_eq!(&b[16..20], &[1, 2, 3, 4]);
        assert_eq!(b[48], 3);
        assert_eq!(b[56], 3);
        assert_eq!(b[64], 4);
        assert_eq!(b[128], 5);
        assert_eq!(b[192], 6);
        assert_eq!(&b[256..262], &[7, 8, 9, 10, 11, 12]);
        assert_eq!(b[304], 7);
        assert_eq!(b[320], 8);
        assert!(body.is_debug());
        let mut bad = b;
        bad[100] = 1;
        assert_eq!(
            ReportBody::from_bytes(&bad),
            Err(ParseError::ReservedNotZero {
                what: "REPORT_BODY",
                offset: 100
            })
        );
        assert!(ReportBody::from_bytes(&b[..383]).is_err());
    }
}

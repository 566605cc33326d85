//! Confidential VMs (Intel TDX, AMD SEV-SNP) through the Linux configfs-tsm
//! report interface (kernel 6.7 and later), one report entry
//! `/sys/kernel/config/tsm/report/NAME/`:
//!
//! - `provider` (read): `tdx_guest` or `sev_guest`;
//! - `inblob` (write, 64 bytes): our report data;
//! - `outblob` (read): the TDX quote or SNP report over it; `auxblob`
//!   (read, SNP): the certificate table, if the host supplies one;
//! - `generation` (read): incremented by the kernel at every write. As the
//!   kernel documents, a reader checks that exactly its own write happened
//!   between writing `inblob` and reading `outblob`; anything else means
//!   another writer interleaved, and the report is refused.
//!
//! Identity is the enclave binary's own, from its self-check: in a CVM the
//! hardware measures the VM image that runs that check (MRTD/RTMRs, or the
//! SNP launch measurement), and the evidence carries those measurements.
//!
//! Selected explicitly: `kms-host run --platform tsm [--tsm-report-dir
//! DIR]`, never by detection.
//!
//! Sealing: a CVM has no EGETKEY, so [`Platform::sealing_key`] refuses
//! ([`PlatformError::NoSealingKey`]). The key store then keeps no sealed
//! root key (`store::root`): it starts sealed at every start, and its root
//! key comes from recovery shares (`minikms unseal`). SNP's derived key
//! (`/dev/sev-guest` MSG_KEY_REQ) would open it by itself, but needs an
//! ioctl, which this unsafe-free crate does not issue, and we could not
//! test it here. Tested against a fake configfs tree holding the recorded
//! TDX quote and SNP report from ../shared/vectors (here), and with the
//! real server on a fake tree of named pipes (testkit `tests/suite/tsm.rs`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use minikms_sigstruct::{EnclaveConfig, Identity};
use zeroize::Zeroizing;

use super::{BoxFuture, Evidence, Platform, PlatformError, SealPolicy};

/// The file operations the report interface needs: the configfs directory
/// itself ([`Dir`]), or in tests a fake kernel.
pub trait ReportFiles: Send + Sync + 'static {
    /// Reads an attribute whole.
    fn read(&self, name: &str) -> std::io::Result<Vec<u8>>;
    /// Writes an attribute in one write (configfs attributes take one).
    fn write(&self, name: &str, data: &[u8]) -> std::io::Result<()>;
    /// Where the attributes live, for messages.
    fn path(&self, name: &str) -> PathBuf;
}

/// A report entry directory.
pub struct Dir(pub PathBuf);

impl ReportFiles for Dir {
    fn read(&self, name: &str) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.path(name))
    }

    fn write(&self, name: &str, data: &[u8]) -> std::io::Result<()> {
        std::fs::OpenOptions::new()
            .write(true)
            .open(self.path(name))?
            .write_all(data)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

/// Which TEE the kernel's provider is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// `tdx_guest`: outblob is a TDX quote (v4 or v5).
    Tdx,
    /// `sev_guest`: outblob is an SNP ATTESTATION_REPORT.
    SevSnp,
}

impl Provider {
    /// Where our report data sits in the outblob.
    fn report_data_at(self, outblob: &[u8]) -> Option<usize> {
        match self {
            // Header (48 bytes), then TD report 1.0 with report_data at 520;
            // v5 puts a 6-byte body descriptor before the report.
            Provider::Tdx => match outblob.get(..2)? {
                [4, 0] => Some(48 + 520),
                [5, 0] => Some(48 + 6 + 520),
                _ => None,
            },
            Provider::SevSnp => Some(0x50),
        }
    }
}

/// One report: the outblob, and the auxblob if the provider gave one.
#[derive(Debug)]
pub struct Report {
    pub outblob: Vec<u8>,
    /// SNP's certificate table (the VCEK, if the host supplies it). Not yet
    /// carried in evidence: verifiers take the VCEK as a file.
    #[cfg_attr(not(test), allow(dead_code))]
    pub auxblob: Option<Vec<u8>>,
}

/// The report interface of one configfs-tsm entry.
pub struct TsmReports<F: ReportFiles = Dir> {
    files: F,
    provider: Provider,
    /// Our own writes and reads must not interleave either.
    lock: Mutex<()>,
}

impl<F: ReportFiles> TsmReports<F> {
    /// Opens an entry and learns its provider.
    pub fn open(files: F) -> Result<Self, PlatformError> {
        let provider = files
            .read("provider")
            .map_err(|e| io(&files, "provider", e))?;
        let provider = match String::from_utf8_lossy(&provider).trim() {
            "tdx_guest" => Provider::Tdx,
            "sev_guest" => Provider::SevSnp,
            other => {
                return Err(PlatformError::Quote(format!(
                    "configfs-tsm provider {other:?} (tdx_guest or sev_guest expected)"
                )))
            }
        };
        Ok(Self {
            files,
            provider,
            lock: Mutex::new(()),
        })
    }

    /// The provider.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    fn generation(&self) -> Result<u64, PlatformError> {
        let text = self
            .files
            .read("generation")
            .map_err(|e| io(&self.files, "generation", e))?;
        String::from_utf8_lossy(&text)
            .trim()
            .parse()
            .map_err(|e| PlatformError::Quote(format!("configfs-tsm generation: {e}")))
    }

    /// A report over `report_data`, refused if another writer changed the
    /// entry meanwhile or if the outblob is not over our data.
    pub fn report(&self, report_data: &[u8; 64]) -> Result<Report, PlatformError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let before = self.generation()?;
        self.files
            .write("inblob", report_data)
            .map_err(|e| io(&self.files, "inblob", e))?;
        let outblob = self
            .files
            .read("outblob")
            .map_err(|e| io(&self.files, "outblob", e))?;
        let auxblob = match self.files.read("auxblob") {
            Ok(aux) if !aux.is_empty() => Some(aux),
            Ok(_) => None,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(&self.files, "auxblob", e)),
        };
        let after = self.generation()?;
        if after != before.wrapping_add(1) {
            return Err(PlatformError::Quote(format!(
                "the configfs-tsm entry changed while we used it (generation {before} before our \
                 write, {after} after reading): another writer interleaved"
            )));
        }
        let ours = self
            .provider
            .report_data_at(&outblob)
            .and_then(|at| outblob.get(at..at + 64));
        if ours != Some(&report_data[..]) {
            return Err(PlatformError::Quote(
                "the configfs-tsm outblob is not over our report data".into(),
            ));
        }
        Ok(Report { outblob, auxblob })
    }
}

fn io(files: &impl ReportFiles, name: &str, error: std::io::Error) -> PlatformError {
    PlatformError::PlatformFile {
        path: files.path(name).display().to_string(),
        error,
    }
}

/// A confidential VM as the enclave's platform.
pub struct Tsm<F: ReportFiles = Dir> {
    reports: Arc<TsmReports<F>>,
    identity: Identity,
    config: EnclaveConfig,
}

impl<F: ReportFiles> Tsm<F> {
    /// The platform over an opened report entry, with the identity and
    /// configuration of our own verified binary.
    pub fn new(reports: TsmReports<F>, identity: Identity, config: EnclaveConfig) -> Self {
        Self {
            reports: Arc::new(reports),
            identity,
            config,
        }
    }
}

impl Tsm<Dir> {
    /// Opens (creating it if needed: configfs fills a new entry) the report
    /// entry `name` under `root`, the report directory the host names
    /// (`/sys/kernel/config/tsm/report` in a real guest).
    pub fn open(
        root: &Path,
        name: &str,
        identity: Identity,
        config: EnclaveConfig,
    ) -> Result<Self, PlatformError> {
        let dir = root.join(name);
        if !dir.is_dir() {
            std::fs::create_dir(&dir).map_err(|error| PlatformError::PlatformFile {
                path: dir.display().to_string(),
                error,
            })?;
        }
        Ok(Self::new(TsmReports::open(Dir(dir))?, identity, config))
    }
}

impl<F: ReportFiles> Platform for Tsm<F> {
    fn name(&self) -> &'static str {
        match self.reports.provider() {
            Provider::Tdx => "tdx",
            Provider::SevSnp => "sev-snp",
        }
    }

    fn is_simulation(&self) -> bool {
        false
    }

    fn identity(&self) -> &Identity {
        &self.identity
    }

    fn config(&self) -> &EnclaveConfig {
        &self.config
    }

    fn sealing_key(
        &self,
        _policy: SealPolicy,
        _key_id: &[u8; 32],
    ) -> Result<Zeroizing<[u8; 16]>, PlatformError> {
        Err(PlatformError::NoSealingKey(
            "a confidential VM has no EGETKEY; the root key must come from recovery shares \
             or an attested join",
        ))
    }

    fn evidence(&self, report_data: [u8; 64]) -> BoxFuture<'_, Result<Evidence, PlatformError>> {
        let reports = self.reports.clone();
        Box::pin(async move {
            let report = tokio::task::spawn_blocking(move || reports.report(&report_data))
                .await
                .map_err(|e| PlatformError::Quote(e.to_string()))??;
            Ok(Evidence {
                quote: report.outblob,
                collateral: None,
            })
        })
    }
}

#[cfg(test)]
#[path = "tsm_tests.rs"]
mod tests;

//! The configfs-tsm backend against a fake kernel: a directory tree holding
//! the recorded TDX quote (or SNP report) from ../shared/vectors, whose
//! `generation` goes up at each write as the kernel's does.

use std::sync::atomic::{AtomicBool, Ordering};

use minikms_sigstruct::Measurement;
use minikms_test_vectors::dir as vectors;

use super::*;

/// A fake configfs entry: a directory, plus the kernel's generation counter
/// and, when `racer` is set, another writer that writes between our write
/// and our read.
struct FakeKernel {
    dir: Dir,
    racer: AtomicBool,
}

impl FakeKernel {
    fn bump(&self) -> std::io::Result<()> {
        let text = std::fs::read_to_string(self.dir.path("generation"))?;
        let next = text.trim().parse::<u64>().unwrap() + 1;
        std::fs::write(self.dir.path("generation"), format!("{next}\n"))
    }
}

impl ReportFiles for FakeKernel {
    fn read(&self, name: &str) -> std::io::Result<Vec<u8>> {
        if name == "outblob" && self.racer.load(Ordering::SeqCst) {
            self.bump()?;
        }
        self.dir.read(name)
    }

    fn write(&self, name: &str, data: &[u8]) -> std::io::Result<()> {
        self.dir.write(name, data)?;
        self.bump()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path(name)
    }
}

/// A fake entry for `provider` whose outblob is `outblob`.
fn fake_entry(provider: &str, outblob: &[u8]) -> (tempfile::TempDir, FakeKernel) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("provider"), format!("{provider}\n")).unwrap();
    std::fs::write(dir.path().join("generation"), "0\n").unwrap();
    std::fs::write(dir.path().join("inblob"), b"").unwrap();
    std::fs::write(dir.path().join("outblob"), outblob).unwrap();
    let kernel = FakeKernel {
        dir: Dir(dir.path().to_path_buf()),
        racer: AtomicBool::new(false),
    };
    (dir, kernel)
}

fn identity() -> (Identity, EnclaveConfig) {
    let config = EnclaveConfig {
        debug: false,
        num_heap_pages: 1,
        num_stack_pages: 1,
        num_tcs: 1,
        product_id: 1,
        security_version: 1,
    };
    let id = Identity {
        mrenclave: Measurement([1; 32]),
        mrsigner: Measurement([2; 32]),
        product_id: 1,
        security_version: 1,
        attributes: [0; 16],
        debug: false,
    };
    (id, config)
}

fn report_data_of(outblob: &[u8], at: usize) -> [u8; 64] {
    outblob[at..at + 64].try_into().unwrap()
}

/// The recorded TDX v4 quote comes out of the fake tree unchanged, and
/// still verifies with its collateral.
#[tokio::test]
async fn tdx_quote_through_the_fake_tree_verifies() {
    let Some(v) = vectors() else { return };
    let quote = std::fs::read(v.join("tdx-dcap/dcapqvl_tdx_quote_v4.bin")).unwrap();
    let collateral =
        std::fs::read(v.join("tdx-dcap/dcapqvl_tdx_quote_v4_collateral.json")).unwrap();
    let (dir, kernel) = fake_entry("tdx_guest", &quote);
    let (id, config) = identity();
    let tsm = Tsm::new(TsmReports::open(kernel).unwrap(), id, config);
    assert_eq!(tsm.name(), "tdx");

    let ours = report_data_of(&quote, 568);
    let evidence = tsm.evidence(ours).await.unwrap();
    assert_eq!(evidence.quote, quote);
    assert!(evidence.collateral.is_none());
    assert_eq!(std::fs::read(dir.path().join("inblob")).unwrap(), ours);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("generation")).unwrap(),
        "1\n"
    );

    let (at, _) = minikms_verifier::collateral_window_json(&collateral).unwrap();
    let options = minikms_verifier::VerifyOptions {
        at,
        collateral: Some(&collateral),
        offline: false,
    };
    let claims =
        minikms_verifier::verify_quote(&evidence.quote, None, &options, &Default::default())
            .unwrap();
    assert_eq!(claims.platform, "tdx");
    assert_eq!(claims.report_data, hex::encode(ours));
}

/// Another writer between our `inblob` write and our `outblob` read moves
/// the generation by more than our one write: refused.
#[tokio::test]
async fn a_report_another_writer_interleaved_with_is_refused() {
    let Some(v) = vectors() else { return };
    let quote = std::fs::read(v.join("tdx-dcap/dcapqvl_tdx_quote_v4.bin")).unwrap();
    let (_dir, kernel) = fake_entry("tdx_guest", &quote);
    kernel.racer.store(true, Ordering::SeqCst);
    let (id, config) = identity();
    let tsm = Tsm::new(TsmReports::open(kernel).unwrap(), id, config);
    let err = tsm
        .evidence(report_data_of(&quote, 568))
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("another writer interleaved"),
        "{err}"
    );
}

/// An outblob over other report data (a stale or foreign report) is refused.
#[tokio::test]
async fn an_outblob_over_other_report_data_is_refused() {
    let Some(v) = vectors() else { return };
    let quote = std::fs::read(v.join("tdx-dcap/dcapqvl_tdx_quote_v4.bin")).unwrap();
    let (_dir, kernel) = fake_entry("tdx_guest", &quote);
    let (id, config) = identity();
    let tsm = Tsm::new(TsmReports::open(kernel).unwrap(), id, config);
    let err = tsm.evidence([7; 64]).await.err().unwrap();
    assert!(
        err.to_string().contains("not over our report data"),
        "{err}"
    );
}

/// SEV-SNP: the report and the auxblob, report data at 0x50.
#[test]
fn snp_report_and_auxblob() {
    let Some(v) = vectors() else { return };
    let report = std::fs::read(v.join("sev-snp/gosevguest_attestation_milan_v2.bin")).unwrap();
    let (dir, kernel) = fake_entry("sev_guest", &report);
    std::fs::write(dir.path().join("auxblob"), b"certificate table").unwrap();
    let reports = TsmReports::open(kernel).unwrap();
    assert_eq!(reports.provider(), Provider::SevSnp);
    let out = reports.report(&report_data_of(&report, 0x50)).unwrap();
    assert_eq!(out.outblob, report);
    assert_eq!(out.auxblob.as_deref(), Some(&b"certificate table"[..]));
    let (id, config) = identity();
    assert_eq!(Tsm::new(reports, id, config).name(), "sev-snp");
}

#[test]
fn unknown_providers_and_sealing_are_refused() {
    let (_dir, kernel) = fake_entry("arm_cca_guest", b"");
    assert!(TsmReports::open(kernel).is_err());
    let (_dir, kernel) = fake_entry("tdx_guest", b"");
    let (id, config) = identity();
    let tsm = Tsm::new(TsmReports::open(kernel).unwrap(), id, config);
    let err = tsm
        .sealing_key(SealPolicy::MrSigner, &[0; 32])
        .err()
        .unwrap();
    assert!(err.to_string().contains("no EGETKEY"), "{err}");
}

//! MRENCLAVE, built the way SGX builds it: a SHA-256 over the log of
//! ECREATE, EADD and EEXTEND operations that lay out the enclave.
//!
//! The simulated layout, page by page:
//! 1. the enclave properties (the canonical config), read-only, measured;
//! 2. the enclave binary, read/execute, measured;
//! 3. the heap (`NumHeapPages`), read/write, added but not extended (it
//!    starts zeroed, as SGX loaders add it);
//! 4. for each TCS: its stack (`NumStackPages`) then the TCS page itself.
//!
//! So the binary and every config setting change MRENCLAVE, and nothing
//! else (in particular not the host) does.

use aws_lc_rs::digest;

use crate::{EnclaveConfig, Measurement};

const PAGE: u64 = 4096;
const CHUNK: usize = 256;
const SSA_FRAME_SIZE: u32 = 1;

const SECINFO_R: u64 = 1;
const SECINFO_W: u64 = 2;
const SECINFO_X: u64 = 4;
const PT_TCS: u64 = 1 << 8;
const PT_REG: u64 = 2 << 8;

/// Computes MRENCLAVE for `binary` laid out with `config`.
pub fn mrenclave(binary: &[u8], config: &EnclaveConfig) -> Measurement {
    let binary_pages = (binary.len() as u64).div_ceil(PAGE);
    let per_tcs = config.num_stack_pages + 1;
    let total_pages = 1 + binary_pages + config.num_heap_pages + config.num_tcs * per_tcs;
    let size = (total_pages * PAGE).next_power_of_two();

    let mut m = Measurer {
        ctx: digest::Context::new(&digest::SHA256),
        offset: 0,
    };
    m.ecreate(size);
    m.add_measured(&config.to_properties(), SECINFO_R | PT_REG);
    m.add_measured(binary, SECINFO_R | SECINFO_X | PT_REG);
    m.add_unmeasured(config.num_heap_pages, SECINFO_R | SECINFO_W | PT_REG);
    for _ in 0..config.num_tcs {
        m.add_unmeasured(config.num_stack_pages, SECINFO_R | SECINFO_W | PT_REG);
        m.add_measured(&[0u8; PAGE as usize], PT_TCS);
    }
    let digest = m.ctx.finish();
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    Measurement(out)
}

struct Measurer {
    ctx: digest::Context,
    /// Offset of the next page inside the enclave.
    offset: u64,
}

impl Measurer {
    fn ecreate(&mut self, size: u64) {
        let mut block = [0u8; 64];
        block[0..8].copy_from_slice(b"ECREATE\0");
        block[8..12].copy_from_slice(&SSA_FRAME_SIZE.to_le_bytes());
        block[12..20].copy_from_slice(&size.to_le_bytes());
        self.ctx.update(&block);
    }

    fn eadd(&mut self, secinfo_flags: u64) {
        let mut block = [0u8; 64];
        block[0..8].copy_from_slice(b"EADD\0\0\0\0");
        block[8..16].copy_from_slice(&self.offset.to_le_bytes());
        block[16..24].copy_from_slice(&secinfo_flags.to_le_bytes());
        self.ctx.update(&block);
    }

    fn eextend(&mut self, offset: u64, chunk: &[u8; CHUNK]) {
        let mut block = [0u8; 64];
        block[0..8].copy_from_slice(b"EEXTEND\0");
        block[8..16].copy_from_slice(&offset.to_le_bytes());
        self.ctx.update(&block);
        self.ctx.update(chunk);
    }

    /// Adds `data` as whole pages (zero padded) and extends every chunk.
    fn add_measured(&mut self, data: &[u8], flags: u64) {
        let pages = (data.len() as u64).div_ceil(PAGE).max(1);
        for page in 0..pages {
            self.eadd(flags);
            for c in 0..(PAGE as usize / CHUNK) {
                let start = (page * PAGE) as usize + c * CHUNK;
                let mut chunk = [0u8; CHUNK];
                if let Some(src) = data.get(start..) {
                    let n = src.len().min(CHUNK);
                    chunk[..n].copy_from_slice(&src[..n]);
                }
                self.eextend(self.offset + (c * CHUNK) as u64, &chunk);
            }
            self.offset += PAGE;
        }
    }

    fn add_unmeasured(&mut self, pages: u64, flags: u64) {
        for _ in 0..pages {
            self.eadd(flags);
            self.offset += PAGE;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> EnclaveConfig {
        EnclaveConfig::from_toml(include_str!("../../../../enclave.toml")).unwrap()
    }

    #[test]
    fn every_input_changes_the_measurement() {
        let base = mrenclave(b"\x7fELF binary", &config());
        assert_eq!(base, mrenclave(b"\x7fELF binary", &config()));
        assert_ne!(base, mrenclave(b"\x7fELF binarY", &config()));
        // Every config field reaches the measured properties page.
        let tweaks: [fn(&mut EnclaveConfig); 6] = [
            |c| c.debug = !c.debug,
            |c| c.num_heap_pages += 1,
            |c| c.num_stack_pages += 1,
            |c| c.num_tcs += 1,
            |c| c.product_id += 1,
            |c| c.security_version += 1,
        ];
        for tweak in tweaks {
            let mut c = config();
            tweak(&mut c);
            assert_ne!(base, mrenclave(b"\x7fELF binary", &c));
        }
    }
}

//! The simulated quoting enclave's identity: what the QE signs its reports
//! with (`qe`) and what the provisioning service publishes as QE identity
//! (`pcs`). Its own module so that both can use it without using each other.

use crate::report::{FLAG_INIT, FLAG_MODE64BIT, FLAG_PROVISION_KEY};

/// MRENCLAVE of the simulated QE: SHA-256("minikms simulation quoting
/// enclave: MRENCLAVE").
pub const SIM_QE_MRENCLAVE: [u8; 32] = [
    0xab, 0x71, 0xf2, 0x70, 0x55, 0xa5, 0x3e, 0x65, 0x9d, 0x60, 0x1d, 0x22, 0x85, 0xb3, 0x07, 0x61,
    0x3c, 0x59, 0xc3, 0x20, 0xc8, 0x6b, 0x8d, 0xf3, 0x00, 0xcf, 0x2d, 0xfc, 0x28, 0xc6, 0xbb, 0x65,
];
/// MRSIGNER of the simulated QE: SHA-256("minikms simulation quoting
/// enclave: MRSIGNER").
pub const SIM_QE_MRSIGNER: [u8; 32] = [
    0x5e, 0x62, 0xdf, 0x89, 0x07, 0x8e, 0xdf, 0x17, 0xcd, 0x87, 0x31, 0x3f, 0xf7, 0xbe, 0xef, 0x93,
    0xb2, 0x54, 0x41, 0x09, 0x86, 0xce, 0x5a, 0x64, 0x68, 0xb8, 0x49, 0x17, 0x45, 0xa8, 0xbb, 0x17,
];
/// ISVPRODID of the simulated QE (Intel's QE also has 1).
pub const SIM_QE_ISV_PROD_ID: u16 = 1;
/// ISVSVN of the simulated QE.
pub const SIM_QE_ISV_SVN: u16 = 2;
/// ATTRIBUTES of the simulated QE: INIT | MODE64BIT | PROVISION_KEY, XFRM 3;
/// not DEBUG.
pub const SIM_QE_ATTRIBUTES: [u8; 16] = [
    (FLAG_INIT | FLAG_MODE64BIT | FLAG_PROVISION_KEY) as u8,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    3,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
];
/// MISCSELECT of the simulated QE.
pub const SIM_QE_MISC_SELECT: u32 = 0;

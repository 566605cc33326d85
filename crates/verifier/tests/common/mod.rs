//! Shared test helpers: the vectors folder, read in place.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub use minikms_test_vectors::{dir as vectors, read};

/// A time inside the collateral's window (its start, like dcap-qvl's
/// `now_from_collateral`).
pub fn at_of(collateral: &[u8]) -> u64 {
    let (from, to) = minikms_verifier::collateral_window_json(collateral).unwrap();
    assert!(from <= to);
    from
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

//! Random bytes from aws-lc's generator, the one source of them here.

use crate::error::Error;

/// Fills `buf` with random bytes.
pub fn fill(buf: &mut [u8]) -> Result<(), Error> {
    aws_lc_rs::rand::fill(buf).map_err(|_| Error::System("no randomness".into()))
}

/// `n` random bytes.
pub fn bytes(n: usize) -> Result<Vec<u8>, Error> {
    let mut b = vec![0u8; n];
    fill(&mut b)?;
    Ok(b)
}

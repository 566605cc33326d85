//! Reading the user's files, bounded, with errors that name the file.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::Error;

/// Reads `path`, refusing files longer than `limit` bytes.
pub fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>, Error> {
    let unreadable = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > limit {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(bytes)
}

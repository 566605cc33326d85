//! The root key of a shared store, as one replica keeps it: sealed under
//! its own CPU ([`crate::store::root`]) in its data dir, file `root.sealed`:
//! the security version it was sealed at (u16, little-endian), then the
//! sealed root key. Written whole (a temporary file renamed over it, both
//! synced), so a crash leaves the old file or the new one. The replica's
//! high-water mark ([`super::high_water`]) is a file of the same form.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::store::StoreError;

pub const FILE_NAME: &str = "root.sealed";

/// The file's content.
pub struct LocalRoot {
    pub svn: u16,
    pub sealed: Vec<u8>,
}

fn io(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Database(format!("cannot {what} {}: {e}", path.display()))
}

/// The sealed file `name` kept in `data_dir` ([`FILE_NAME`]: the root
/// key), if any.
pub fn read(data_dir: &Path, name: &str) -> Result<Option<LocalRoot>, StoreError> {
    let path = data_dir.join(name);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("read", &path, e)),
    };
    let Some((svn, sealed)) = bytes.split_first_chunk::<2>() else {
        return Err(StoreError::Tampered(format!(
            "{} is cut short",
            path.display()
        )));
    };
    Ok(Some(LocalRoot {
        svn: u16::from_le_bytes(*svn),
        sealed: sealed.to_vec(),
    }))
}

/// Keeps `sealed` (sealed at `svn`) in `data_dir` as file `name`, durably.
pub fn write(data_dir: &Path, name: &str, svn: u16, sealed: &[u8]) -> Result<(), StoreError> {
    fs::create_dir_all(data_dir).map_err(|e| io("create", data_dir, e))?;
    let path = data_dir.join(name);
    let tmp = data_dir.join(format!("{name}.tmp"));
    let mut file = File::options()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io("create", &tmp, e))?;
    file.write_all(&svn.to_le_bytes())
        .and_then(|()| file.write_all(sealed))
        .and_then(|()| file.sync_all())
        .map_err(|e| io("write", &tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| io("replace", &path, e))?;
    File::open(data_dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("sync", data_dir, e))
}

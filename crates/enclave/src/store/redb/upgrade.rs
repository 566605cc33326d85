//! A `keys.redb` written by builds before redb 5 is in redb's file format
//! 2, which redb 3 and later no longer read. At its first open it is
//! copied, table by table and byte for byte, into a new file of format 3
//! beside it, which then replaces it: the sealed records, their versions
//! and the sealed index are the same bytes, so nothing is re-sealed.
//!
//! Crash-safe: the old file is never written by us; the new one is
//! committed (fsync), closed and synced before one `rename` puts it in
//! place, and the directory is synced after. Killed before the rename,
//! the old file is still there and the next start copies it again (over
//! the unfinished copy); after it, the new file is complete.

use std::path::{Path, PathBuf};

use redb::{ReadableTableMetadata as _, TableHandle as _};
use redb2::{ReadableTable as _, ReadableTableMetadata as _, TableHandle as _};

use crate::store::header::{HEADER, ROOT};
use crate::store::{StoreError, Table};

/// The unfinished copy, beside the store file.
pub fn copy_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".upgrading");
    PathBuf::from(name)
}

fn corrupt(path: &Path, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        path: path.display().to_string(),
        detail: detail.to_string(),
    }
}

fn io(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Database(format!("{what} {}: {e}", path.display()))
}

/// Replaces the format-2 file at `path` by a copy in format 3; returns
/// how many records (rows of every table) it copied.
pub fn from_format_2(path: &Path) -> Result<usize, StoreError> {
    check_page_orders(path)?;
    let copy = copy_path(path);
    match std::fs::remove_file(&copy) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(io("cannot remove the unfinished copy", &copy, e))
        }
        _ => {}
    }
    let rows = {
        let old = redb2::Database::open(path).map_err(|e| match e {
            redb2::DatabaseError::Storage(redb2::StorageError::Corrupted(d)) => corrupt(path, d),
            // An older build still serving from it.
            redb2::DatabaseError::DatabaseAlreadyOpen => {
                StoreError::InUse(path.display().to_string())
            }
            e => StoreError::Database(e.to_string()),
        })?;
        let new = redb::Database::create(&copy).map_err(|e| StoreError::Database(e.to_string()))?;
        copy_tables(path, &old, &new)?
        // Both close here: the copy is committed and cleanly shut down.
    };
    std::fs::File::open(&copy)
        .and_then(|f| f.sync_all())
        .map_err(|e| io("cannot sync", &copy, e))?;
    std::fs::rename(&copy, path).map_err(|e| io("cannot move the copy to", path, e))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io("cannot sync", dir, e))?;
    }
    Ok(rows)
}

fn copy_tables(
    path: &Path,
    old: &redb2::Database,
    new: &redb::Database,
) -> Result<usize, StoreError> {
    let err = |e: &dyn std::fmt::Display| corrupt(path, e);
    let from = old.begin_read().map_err(|e| err(&e))?;
    // Only the tables this build knows how to read are copied: anything
    // else is refused rather than dropped.
    let known: Vec<&str> = Table::ALL
        .iter()
        .map(|t| t.name())
        .chain([HEADER.name(), ROOT.name()])
        .collect();
    for table in from.list_tables().map_err(|e| err(&e))? {
        if !known.contains(&table.name()) {
            return Err(StoreError::Database(format!(
                "{} has a table `{}` this build does not know: not upgraded (use the build that wrote it)",
                path.display(),
                table.name()
            )));
        }
    }
    if from
        .list_multimap_tables()
        .map_err(|e| err(&e))?
        .next()
        .is_some()
    {
        return Err(StoreError::Database(format!(
            "{} has tables this build does not know: not upgraded",
            path.display()
        )));
    }
    let to = new
        .begin_write()
        .map_err(|e| StoreError::Database(e.to_string()))?;
    let mut rows = 0;
    {
        let db = |e: redb::TableError| StoreError::Database(e.to_string());
        let put = |e: redb::StorageError| StoreError::Database(e.to_string());
        let bytes_tables = Table::ALL
            .iter()
            .map(|t| {
                (
                    t.name(),
                    redb::TableDefinition::<&str, &[u8]>::new(t.name()),
                )
            })
            .chain([(ROOT.name(), ROOT)]);
        for (name, new_def) in bytes_tables {
            let old_def = redb2::TableDefinition::<&str, &[u8]>::new(name);
            let mut out = to.open_table(new_def).map_err(db)?;
            let Some(t) = open_old(&from, old_def).map_err(|e| err(&e))? else {
                continue;
            };
            for item in t.iter().map_err(|e| err(&e))? {
                let (k, v) = item.map_err(|e| err(&e))?;
                out.insert(k.value(), v.value()).map_err(put)?;
                rows += 1;
            }
            if out.len().map_err(put)? != t.len().map_err(|e| err(&e))? {
                return Err(corrupt(
                    path,
                    format!("table {name}: rows lost in the copy"),
                ));
            }
        }
        let old_def = redb2::TableDefinition::<&str, u64>::new(HEADER.name());
        let mut out = to.open_table(HEADER).map_err(db)?;
        if let Some(t) = open_old(&from, old_def).map_err(|e| err(&e))? {
            for item in t.iter().map_err(|e| err(&e))? {
                let (k, v) = item.map_err(|e| err(&e))?;
                out.insert(k.value(), v.value()).map_err(put)?;
                rows += 1;
            }
        }
    }
    to.commit()
        .map_err(|e| StoreError::Database(e.to_string()))?;
    Ok(rows)
}

/// The table, or `None` if the old file never had it.
fn open_old<K: redb2::Key + 'static, V: redb2::Value + 'static>(
    tx: &redb2::ReadTransaction,
    def: redb2::TableDefinition<K, V>,
) -> Result<Option<redb2::ReadOnlyTable<K, V>>, redb2::TableError> {
    match tx.open_table(def) {
        Ok(t) => Ok(Some(t)),
        Err(redb2::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// redb 2 sizes a read by a page number's order (its top 5 bits) without
/// checking it: an order above 20 (the largest redb writes) in the
/// header's page numbers makes it allocate terabytes and abort the
/// process (cberner/redb#1331, the byte at 0x27). Those page numbers are
/// read before anything else: checked here, such a file is refused.
fn check_page_orders(path: &Path) -> Result<(), StoreError> {
    use std::io::Read as _;
    const MAX_ORDER: u64 = 20;
    // The region tracker; then in each commit slot (at 64 and 192) the
    // user, system and freed trees' roots (at 8, 40 and 72).
    const PAGE_NUMBERS: [usize; 7] = [32, 72, 104, 136, 200, 232, 264];
    let mut header = [0u8; 320];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .map_err(|e| corrupt(path, format!("cannot read its header: {e}")))?;
    for at in PAGE_NUMBERS {
        let mut word = [0u8; 8];
        word.copy_from_slice(&header[at..at + 8]);
        let order = u64::from_le_bytes(word) >> 59;
        if order > MAX_ORDER {
            return Err(corrupt(
                path,
                format!("the page number at {at:#x} has order {order}, above {MAX_ORDER}"),
            ));
        }
    }
    Ok(())
}

//! The unsealed part of `keys.redb`: what must be read before any record
//! can be opened. The host may read and edit all of it; an edit can only
//! make the store fail to open (or start sealed), never open it wrongly.
//!
//! - Table `header` (`&str -> u64`): `format` (absent: 1; 2 since the root
//!   key), `seal_svn` (the ISVSVN the CPU sealing key was derived at: of
//!   the records in format 1, of the root key in format 2) and
//!   `seal_check` (the first 8 bytes of the record key's check value,
//!   [`super::seal`]).
//! - Table `root` (`&str -> &[u8]`, format 2): `sealed_root` (the root key
//!   sealed under this CPU, [`super::root`]) and `recovery` (a copy of
//!   the public facts about the recovery shares, sealed in the init
//!   record, [`crate::store::recovery`]; no share in it).

use redb::{ReadableTable, TableDefinition, WriteTransaction};

use super::StoreError;

pub const HEADER: TableDefinition<&str, u64> = TableDefinition::new("header");
pub const ROOT: TableDefinition<&str, &[u8]> = TableDefinition::new("root");
const FORMAT: &str = "format";
const SEAL_SVN: &str = "seal_svn";
const SEAL_CHECK: &str = "seal_check";
const SEALED_ROOT: &str = "sealed_root";
const RECOVERY: &str = "recovery";

/// The format this build writes.
pub const CURRENT_FORMAT: u64 = 2;

fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(e.to_string())
}

/// The header as read at open.
#[derive(Debug, Default)]
pub struct Header {
    pub format: u64,
    pub seal_svn: Option<u64>,
    pub seal_check: Option<u64>,
    pub sealed_root: Option<Vec<u8>>,
    pub recovery: Option<Vec<u8>>,
}

impl Header {
    /// Reads the header, creating its tables if missing.
    pub fn read(tx: &WriteTransaction) -> Result<Self, StoreError> {
        let header = tx.open_table(HEADER).map_err(db_err)?;
        let get = |k: &str| -> Result<Option<u64>, StoreError> {
            Ok(header.get(k).map_err(db_err)?.map(|v| v.value()))
        };
        let root = tx.open_table(ROOT).map_err(db_err)?;
        let get_bytes = |k: &str| -> Result<Option<Vec<u8>>, StoreError> {
            Ok(root.get(k).map_err(db_err)?.map(|v| v.value().to_vec()))
        };
        Ok(Self {
            format: get(FORMAT)?.unwrap_or(1),
            seal_svn: get(SEAL_SVN)?,
            seal_check: get(SEAL_CHECK)?,
            sealed_root: get_bytes(SEALED_ROOT)?,
            recovery: get_bytes(RECOVERY)?,
        })
    }
}

/// Records the root key sealed at `svn` and the record key's check value
/// (format 2 from now on).
pub fn write_root(
    tx: &WriteTransaction,
    svn: u16,
    check: u64,
    sealed_root: &[u8],
) -> Result<(), StoreError> {
    let mut header = tx.open_table(HEADER).map_err(db_err)?;
    header.insert(FORMAT, CURRENT_FORMAT).map_err(db_err)?;
    header.insert(SEAL_SVN, u64::from(svn)).map_err(db_err)?;
    header.insert(SEAL_CHECK, check).map_err(db_err)?;
    tx.open_table(ROOT)
        .map_err(db_err)?
        .insert(SEALED_ROOT, sealed_root)
        .map_err(db_err)?;
    Ok(())
}

/// Replaces the public recovery facts.
pub fn write_recovery(tx: &WriteTransaction, recovery: &[u8]) -> Result<(), StoreError> {
    tx.open_table(ROOT)
        .map_err(db_err)?
        .insert(RECOVERY, recovery)
        .map_err(db_err)?;
    Ok(())
}

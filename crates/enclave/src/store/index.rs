//! The sealed index of a store ([`super::ledger`] says what it holds): its records'
//! ids, buckets and JSON form.

use std::collections::BTreeMap;

use aws_lc_rs::digest;

use crate::store::freshness::AuditHead;
use crate::store::{StoreError, Table};

pub const INDEX_ID: &str = "index";
/// Bucket records are `index.00` to `index.ff` in `meta`.
pub const BUCKET_PREFIX: &str = "index.";
pub const BUCKETS: usize = 256;

/// The index root's plaintext.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Root {
    pub buckets: Vec<u64>,
    /// The audit log's head when this was written ([`Freshness`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditHead>,
}

/// The bucket of a record: the first byte of SHA-256(table || 0 || id).
/// Not secret (the ids are the database's plaintext keys); it only spreads
/// records evenly.
pub fn bucket_of(table: Table, id: &str) -> usize {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(table.name().as_bytes());
    ctx.update(&[0]);
    ctx.update(id.as_bytes());
    usize::from(ctx.finish().as_ref()[0])
}

pub fn bucket_id(bucket: usize) -> String {
    format!("{BUCKET_PREFIX}{bucket:02x}")
}

pub fn is_index_id(table: Table, id: &str) -> bool {
    table == Table::Meta && (id == INDEX_ID || id.starts_with(BUCKET_PREFIX))
}

/// A record's place: its table and id.
pub type RecordKey = (Table, String);

/// An index list's entries (the one-level index, or one bucket).
pub fn index_entries(plain: &[u8]) -> Result<Vec<(RecordKey, u64)>, StoreError> {
    let entries: Vec<IndexEntry> = serde_json::from_slice(plain)
        .map_err(|_| StoreError::Tampered("unreadable index".into()))?;
    entries
        .into_iter()
        .map(|e| {
            let table = Table::from_name(&e.table)
                .ok_or_else(|| StoreError::Tampered("unknown table in the index".into()))?;
            Ok(((table, e.id), e.version))
        })
        .collect()
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct IndexEntry {
    pub table: String,
    pub id: String,
    pub version: u64,
}

/// The index as JSON (`[{"table":T,"id":ID,"version":N},...]`, what
/// serde_json writes for a `Vec<IndexEntry>`), written straight from the
/// map: a bucket is rewritten with every transaction that touches it, and
/// grows with the store, so this is a hot path. Ids that need no escaping
/// (key names always) are copied as they are; any other goes through
/// serde_json. One allocation for the whole list, none per entry.
pub fn index_json(index: &BTreeMap<(Table, String), u64>) -> Result<Vec<u8>, StoreError> {
    /// `{"table":"policies","id":"","version":18446744073709551615},`
    const MOST_PER_ENTRY: usize = 64;
    let ids: usize = index.keys().map(|(_, id)| id.len()).sum();
    let mut out = Vec::with_capacity(2 + ids + index.len() * MOST_PER_ENTRY);
    out.push(b'[');
    for (i, ((table, id), version)) in index.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"table\":\"");
        out.extend_from_slice(table.name().as_bytes());
        out.extend_from_slice(b"\",\"id\":");
        if id.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
            serde_json::to_writer(&mut out, id).map_err(|e| StoreError::Database(e.to_string()))?;
        } else {
            out.push(b'"');
            out.extend_from_slice(id.as_bytes());
            out.push(b'"');
        }
        out.extend_from_slice(b",\"version\":");
        push_decimal(&mut out, *version);
        out.push(b'}');
    }
    out.push(b']');
    Ok(out)
}

/// Appends `n` in decimal, without the allocation of `to_string`.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

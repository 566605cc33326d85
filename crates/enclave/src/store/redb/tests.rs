#![allow(clippy::unwrap_used, clippy::panic)]
use super::*;
use crate::platform::fixed::{platform, platform_with_fuses};
use crate::store::index::{bucket_id, bucket_of, index_json, IndexEntry, BUCKETS};
use crate::store::root::RootKey;
use std::collections::BTreeMap;
use std::path::Path;

/// Writes `changes` as the state would: each expects its record's
/// current version.
fn put(store: &mut RedbStore, changes: &[(Table, &str, Option<&[u8]>)]) -> Result<u64, StoreError> {
    let versions = store.ledger.versions();
    let changes: Vec<Change> = changes
        .iter()
        .map(|(table, id, value)| Change {
            table: *table,
            id: id.to_string(),
            value: value.map(|v| zeroize::Zeroizing::new(v.to_vec())),
            expected: versions.expected(*table, id),
        })
        .collect();
    store.write(&changes)
}

fn open(dir: &Path) -> Result<(RedbStore, Records), StoreError> {
    RedbStore::open(&platform(), dir)
}

fn tampered(dir: &Path) -> String {
    match open(dir) {
        Err(StoreError::Tampered(why)) => why,
        Err(e) => panic!("expected tampering, got {e}"),
        Ok(_) => panic!("expected tampering, the store opened"),
    }
}

/// Reads (`None` value) or edits the raw `meta` table.
fn raw_meta(dir: &Path, id: &str, value: Option<Option<&[u8]>>) -> Option<Vec<u8>> {
    let db = Database::open(dir.join(FILE_NAME)).unwrap();
    let tx = db.begin_write().unwrap();
    let old = {
        let mut t = tx.open_table(META).unwrap();
        let old = t.get(id).unwrap().map(|v| v.value().to_vec());
        match value {
            None => {}
            Some(Some(v)) => {
                t.insert(id, v).unwrap();
            }
            Some(None) => {
                t.remove(id).unwrap();
            }
        }
        old
    };
    tx.commit().unwrap();
    old
}

fn key(n: usize) -> String {
    format!("key-{n}")
}

#[test]
fn a_store_sealed_under_another_key_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = open(dir.path()).unwrap();
    put(&mut store, &[(Table::Keys, "a", Some(b"1"))]).unwrap();
    drop(store);
    match RedbStore::open(&platform_with_fuses(1), dir.path()) {
        Err(e @ StoreError::ForeignKey(_)) => {
            assert!(e.to_string().contains("another signer"), "{e}")
        }
        Err(e) => panic!("expected another signer's store, got {e}"),
        Ok(_) => panic!("a store sealed under another key opened"),
    }
    open(dir.path()).unwrap();
}

#[test]
fn records_spread_over_buckets_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, records) = open(dir.path()).unwrap();
    assert!(records.is_empty());
    for n in 0..300 {
        let v = format!("value {n}");
        put(&mut store, &[(Table::Keys, &key(n), Some(v.as_bytes()))]).unwrap();
    }
    put(&mut store, &[(Table::Keys, &key(7), None)]).unwrap();
    let used = store
        .ledger
        .bucket_versions()
        .iter()
        .filter(|v| **v != 0)
        .count();
    // 300 records in 256 buckets: about 176 used if they spread evenly.
    assert!(used > 150, "{used} buckets used");
    drop(store);
    let (_, records) = open(dir.path()).unwrap();
    assert_eq!(records.len(), 299);
    assert_eq!(
        records[&(Table::Keys, key(42))].as_slice(),
        b"value 42".as_slice()
    );
    assert!(!records.contains_key(&(Table::Keys, key(7))));
}

#[test]
fn a_replayed_removed_or_added_bucket_is_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = open(dir.path()).unwrap();
    put(&mut store, &[(Table::Keys, "a", Some(b"1"))]).unwrap();
    let bucket = bucket_id(bucket_of(Table::Keys, "a"));
    drop(store);
    let old = raw_meta(dir.path(), &bucket, None).unwrap();
    let (mut store, _) = open(dir.path()).unwrap();
    put(&mut store, &[(Table::Keys, "a", Some(b"2"))]).unwrap();
    drop(store);

    // The bucket as it was before the second write (with the record
    // put back too, it would pass only with the old root as well: a
    // whole-store rollback, which no sealed data can detect).
    let current = raw_meta(dir.path(), &bucket, Some(Some(&old))).unwrap();
    assert!(tampered(dir.path()).contains("replayed"), "bucket replay");
    raw_meta(dir.path(), &bucket, Some(None));
    assert!(tampered(dir.path()).contains("missing"), "bucket removed");
    raw_meta(dir.path(), &bucket, Some(Some(&current)));
    open(dir.path()).unwrap();

    // A bucket the root does not list.
    let empty = (0..BUCKETS)
        .map(bucket_id)
        .find(|id| raw_meta(dir.path(), id, None).is_none())
        .unwrap();
    raw_meta(dir.path(), &empty, Some(Some(&current)));
    assert!(tampered(dir.path()).contains("added"), "bucket added");
    raw_meta(dir.path(), &empty, Some(None));
    open(dir.path()).unwrap();

    // Index ids are not for callers.
    let (mut store, _) = open(dir.path()).unwrap();
    assert!(put(&mut store, &[(Table::Meta, "index.00", Some(b"x"))]).is_err());
}

#[test]
fn a_one_level_index_opens_and_is_converted_by_the_next_write() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = open(dir.path()).unwrap();
    for n in 0..20 {
        put(&mut store, &[(Table::Keys, &key(n), Some(b"k".as_slice()))]).unwrap();
    }
    // Rewrite it as a build before the buckets left it: the list of
    // every record under `meta/index`, no bucket records.
    let all = store.ledger.entries();
    let root = store
        .ledger
        .sealer()
        .seal(
            Table::Meta,
            INDEX_ID,
            store.ledger.generation(),
            &index_json(&all).unwrap(),
        )
        .unwrap();
    drop(store);
    for b in 0..BUCKETS {
        raw_meta(dir.path(), &bucket_id(b), Some(None));
    }
    raw_meta(dir.path(), INDEX_ID, Some(Some(&root)));

    let (mut store, records) = open(dir.path()).unwrap();
    assert_eq!(records.len(), 20);
    assert!(store.ledger.is_legacy());
    put(&mut store, &[(Table::Keys, &key(99), Some(b"new"))]).unwrap();
    drop(store);
    let buckets = (0..BUCKETS)
        .filter(|b| raw_meta(dir.path(), &bucket_id(*b), None).is_some())
        .count();
    assert!(buckets >= 15, "{buckets} bucket records after conversion");
    let (store, records) = open(dir.path()).unwrap();
    assert!(!store.ledger.is_legacy());
    assert_eq!(records.len(), 21);
}

#[test]
fn index_json_is_what_serde_json_writes() {
    let mut index = BTreeMap::new();
    assert_eq!(index_json(&index).unwrap(), b"[]");
    index.insert((Table::Keys, "app-1.x_Y".to_string()), 7);
    index.insert((Table::Meta, "init".to_string()), 1);
    index.insert((Table::Meta, "odd \"id\"\\\n é".to_string()), u64::MAX);
    // Every number of digits the versions are written with.
    for (i, version) in [0, 9, 10, 99, 100, 1_234_567_890, 10_000_000_000_000_000_000]
        .into_iter()
        .enumerate()
    {
        index.insert((Table::Policies, format!("p{i}")), version);
        index.insert((Table::Tokens, format!("t{i}")), version + 1);
    }
    let entries: Vec<IndexEntry> = index
        .iter()
        .map(|((t, id), v)| IndexEntry {
            table: t.name().to_string(),
            id: id.clone(),
            version: *v,
        })
        .collect();
    assert_eq!(
        index_json(&index).unwrap(),
        serde_json::to_vec(&entries).unwrap()
    );
}

#[test]
fn another_machine_opens_sealed_and_the_root_key_unseals_it() {
    let dir = tempfile::tempdir().unwrap();
    let Found::Ready(first) = RedbStore::open_or_sealed(&platform(), dir.path(), false).unwrap()
    else {
        panic!("a new store opened sealed");
    };
    let mut store = first.store;
    store
        .write(&[Change {
            table: Table::Keys,
            id: "a".into(),
            value: Some(zeroize::Zeroizing::new(b"1".to_vec())),
            expected: 0,
        }])
        .unwrap();
    drop(store);
    let other = platform_with_fuses(1);
    let Found::Sealed(sealed) = RedbStore::open_or_sealed(&other, dir.path(), false).unwrap()
    else {
        panic!("another machine opened the store by itself");
    };
    let wrong = RootKey::generate(other.as_ref()).unwrap();
    assert!(!sealed.is_root(&wrong).unwrap());
    let Err(e @ StoreError::WrongRootKey(_)) = sealed.unseal(wrong) else {
        panic!("a wrong root key opened the store");
    };
    assert!(e.to_string().contains("another store"), "{e}");
    let Found::Sealed(sealed) = RedbStore::open_or_sealed(&other, dir.path(), false).unwrap()
    else {
        panic!("a refused root key unsealed the store");
    };
    let opened = sealed.unseal(first.root.clone()).unwrap();
    assert_eq!(
        opened.records[&(Table::Keys, "a".to_string())].as_slice(),
        b"1"
    );
    assert_eq!(opened.root.expose(), first.root.expose());
    drop(opened);
    // Re-sealed under the new machine: it opens by itself there now.
    let (_, records) = RedbStore::open(&other, dir.path()).unwrap();
    assert_eq!(records.len(), 1);
}

#[test]
fn a_format_1_store_is_migrated_at_first_open() {
    let dir = tempfile::tempdir().unwrap();
    let p = platform();
    {
        // A store as builds before the root key wrote it.
        let db = Database::create(dir.path().join(FILE_NAME)).unwrap();
        let svn = p.identity().security_version;
        let legacy = Sealer::legacy(&p, svn).unwrap();
        let check = legacy.check_word();
        let mut store = RedbStore::new(db, legacy, &p);
        let tx = store.db.begin_write().unwrap();
        for table in Table::ALL {
            tx.open_table(def(table)).unwrap();
        }
        let mut h = tx.open_table(header::HEADER).unwrap();
        h.insert("seal_svn", u64::from(svn)).unwrap();
        h.insert("seal_check", check).unwrap();
        drop(h);
        tx.commit().unwrap();
        put(
            &mut store,
            &[
                (Table::Keys, "a", Some(b"1")),
                (Table::Tokens, "t", Some(b"2")),
            ],
        )
        .unwrap();
    }
    assert!(raw_meta(dir.path(), "index", None)
        .unwrap()
        .starts_with(b"MKS1"));
    let (_, records) = open(dir.path()).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[&(Table::Keys, "a".to_string())].as_slice(), b"1");
    assert!(raw_meta(dir.path(), "index", None)
        .unwrap()
        .starts_with(b"MKS2"));
    let (_, again) = open(dir.path()).unwrap();
    assert_eq!(again.len(), 2);
}

/// Rewrites the store in `dir` as builds before redb 5 wrote it: the same
/// tables and bytes, in redb's file format 2.
fn as_format_2(dir: &Path) {
    let path = dir.join(FILE_NAME);
    let old = dir.join("format-2.redb");
    {
        let new = Database::open(&path).unwrap();
        let from = new.begin_read().unwrap();
        let to = redb2::Database::create(&old).unwrap();
        let tx = to.begin_write().unwrap();
        for name in ["meta", "keys", "tokens", "policies", "root"] {
            let t = from
                .open_table(TableDefinition::<&str, &[u8]>::new(name))
                .unwrap();
            let mut out = tx
                .open_table(redb2::TableDefinition::<&str, &[u8]>::new(name))
                .unwrap();
            for item in t.iter().unwrap() {
                let (k, v) = item.unwrap();
                out.insert(k.value(), v.value()).unwrap();
            }
        }
        let t = from.open_table(header::HEADER).unwrap();
        let mut out = tx
            .open_table(redb2::TableDefinition::<&str, u64>::new("header"))
            .unwrap();
        for item in t.iter().unwrap() {
            let (k, v) = item.unwrap();
            out.insert(k.value(), v.value()).unwrap();
        }
        drop(out);
        tx.commit().unwrap();
    }
    std::fs::rename(old, &path).unwrap();
}

#[test]
fn a_file_of_redb_format_2_is_upgraded_with_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = open(dir.path()).unwrap();
    for n in 0..40 {
        put(&mut store, &[(Table::Keys, &key(n), Some(b"k".as_slice()))]).unwrap();
    }
    put(&mut store, &[(Table::Tokens, "t", Some(b"token"))]).unwrap();
    drop(store);
    as_format_2(dir.path());
    let path = dir.path().join(FILE_NAME);
    assert!(matches!(
        Database::open(&path),
        Err(redb::DatabaseError::UpgradeRequired(2))
    ));
    // A copy left by a start killed midway is made again.
    std::fs::write(upgrade::copy_path(&path), b"half a copy").unwrap();
    let (_, records) = open(dir.path()).unwrap();
    assert_eq!(records.len(), 41);
    assert_eq!(
        records[&(Table::Tokens, "t".to_string())].as_slice(),
        b"token"
    );
    assert!(!upgrade::copy_path(&path).exists());
    Database::open(&path).unwrap();
    let (_, again) = open(dir.path()).unwrap();
    assert_eq!(again.len(), 41);
}

#[test]
fn a_format_2_file_with_a_page_of_impossible_size_is_corrupt_not_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()).unwrap());
    as_format_2(dir.path());
    let path = dir.path().join(FILE_NAME);
    let mut bytes = std::fs::read(&path).unwrap();
    // cberner/redb#1331: redb 2 would allocate 8 TiB for this page.
    bytes[0x27] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    match RedbStore::open_or_sealed(&platform(), dir.path(), false) {
        Err(e @ StoreError::Corrupt { .. }) => {
            assert!(e.to_string().contains("has order"), "{e}")
        }
        Err(e) => panic!("expected a corrupt file, got {e}"),
        Ok(_) => panic!("a corrupt file opened"),
    }
}

/// An edit of the sealed root key's bytes (none: only read them).
type Edit<'a> = Option<&'a dyn Fn(&mut Vec<u8>)>;

#[test]
fn a_damaged_root_key_is_told_from_another_machines() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()).unwrap());
    let sealed_root = |edit: Edit| {
        let db = Database::open(dir.path().join(FILE_NAME)).unwrap();
        let tx = db.begin_write().unwrap();
        let old = {
            let mut t = tx.open_table(header::ROOT).unwrap();
            let mut v = t.get("sealed_root").unwrap().unwrap().value().to_vec();
            if let Some(edit) = edit {
                edit(&mut v);
                t.insert("sealed_root", v.as_slice()).unwrap();
            }
            v
        };
        tx.commit().unwrap();
        old
    };
    let original = sealed_root(None);
    assert!(original.starts_with(b"MKR2"));
    let damaged = |p: &Arc<dyn Platform>| match RedbStore::open_or_sealed(p, dir.path(), false) {
        Ok(Found::Sealed(sealed)) => sealed.damaged(),
        Ok(Found::Ready(_)) => panic!("opened"),
        Err(e) => panic!("{e}"),
    };
    // Another machine: not damaged.
    assert_eq!(damaged(&platform_with_fuses(1)), None);
    for (what, at) in [("nonce", 20), ("ciphertext", 40), ("tag", 70)] {
        sealed_root(Some(&|v: &mut Vec<u8>| v[at] ^= 1));
        let why = damaged(&platform()).unwrap_or_else(|| panic!("{what}: not damaged"));
        assert!(why.contains("keys.redb is damaged"), "{what}: {why}");
        sealed_root(Some(&|v: &mut Vec<u8>| v[at] ^= 1));
    }
    sealed_root(Some(&|v: &mut Vec<u8>| v.truncate(50)));
    assert!(damaged(&platform()).unwrap().contains("length"));
    sealed_root(Some(&|v: &mut Vec<u8>| *v = original.clone()));
    open(dir.path()).unwrap();
}

#[test]
fn a_root_key_sealed_before_its_check_value_is_sealed_again() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _) = open(dir.path()).unwrap();
    let p = platform();
    let db = Database::open(dir.path().join(FILE_NAME)).unwrap();
    // As builds before the check value sealed it: "MKR1" || nonce ||
    // ciphertext || tag, which the same key opens.
    let tx = db.begin_write().unwrap();
    {
        let mut t = tx.open_table(header::ROOT).unwrap();
        let v = t.get("sealed_root").unwrap().unwrap().value().to_vec();
        let old = [b"MKR1".as_slice(), &v[12..]].concat();
        t.insert("sealed_root", old.as_slice()).unwrap();
    }
    tx.commit().unwrap();
    drop(db);
    let (_, _) = RedbStore::open(&p, dir.path()).unwrap();
    let db = Database::open(dir.path().join(FILE_NAME)).unwrap();
    let tx = db.begin_read().unwrap();
    let t = tx.open_table(header::ROOT).unwrap();
    assert!(t
        .get("sealed_root")
        .unwrap()
        .unwrap()
        .value()
        .starts_with(b"MKR2"));
}

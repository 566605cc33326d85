//! The database thread's side of a shared store: the connection
//! (re-made after the database restarts), the index, and what other
//! replicas wrote that the state has not taken in yet.

use std::sync::Arc;

use postgres::{Client, Config, NoTls, Transaction};

use crate::store::freshness::Freshness;
use crate::store::ledger::{Ledger, Rows, Staged};
use crate::store::seal::Sealer;
use crate::store::{Change, Delivered, Records, StoreError, Table, Versions};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS minikms_header (
    name text PRIMARY KEY,
    value bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS minikms_records (
    tbl text NOT NULL,
    id text NOT NULL,
    version bigint NOT NULL,
    sealed bytea NOT NULL,
    PRIMARY KEY (tbl, id)
);
CREATE INDEX IF NOT EXISTS minikms_records_version ON minikms_records (version);
";

/// Taken while creating the tables and initialising, so that replicas
/// starting at once on an empty database agree on one root key.
const SETUP_LOCK: i64 = 0x6d696e696b6d73;

const FORMAT: u64 = 2;

/// The header as [`Session::prepare`] found (or made) it.
pub struct Header {
    pub check: u64,
    pub recovery: Option<Vec<u8>>,
    /// This call initialised the database (with the check value given).
    pub created: bool,
}

pub struct Session {
    config: Config,
    shown: String,
    client: Option<Client>,
    ledger: Option<Ledger>,
    /// Other replicas' writes seen while writing, not yet handed over.
    pending: Vec<Delivered>,
}

impl Session {
    pub fn new(config: Config, shown: String) -> Self {
        Self {
            config,
            shown,
            client: None,
            ledger: None,
            pending: Vec::new(),
        }
    }

    /// The connection, made again if the last one broke.
    fn client(&mut self) -> Result<&mut Client, StoreError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = None;
            let client = self
                .config
                .connect(NoTls)
                .map_err(|e| StoreError::Unavailable(format!("{}: {e}", self.shown)))?;
            self.client = Some(client);
        }
        self.client
            .as_mut()
            .ok_or_else(|| StoreError::Unavailable(self.shown.clone()))
    }

    /// What a database error means for us: the database going away (or
    /// refusing connections while it starts or stops) is
    /// [`StoreError::Unavailable`], and the connection is made again next
    /// time; anything else is [`StoreError::Database`].
    fn failed(&mut self, e: postgres::Error) -> StoreError {
        let gone = match e.as_db_error() {
            None => true,
            Some(db) => {
                let class = &db.code().code()[..2];
                class == "08" || class == "57" || class == "53"
            }
        };
        if gone || e.is_closed() {
            self.client = None;
            StoreError::Unavailable(format!("{}: {e}", self.shown))
        } else {
            StoreError::Database(format!("{}: {e}", self.shown))
        }
    }

    /// Creates the tables if needed and reads the header; an empty
    /// database is initialised with `create` (a new root key's check
    /// word), if given.
    pub fn prepare(&mut self, create: Option<u64>) -> Result<Header, StoreError> {
        let shown = self.shown.clone();
        let result = (|| {
            let mut tx = self.client()?.transaction().map_err(Raw)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SETUP_LOCK])
                .map_err(Raw)?;
            tx.batch_execute(SCHEMA).map_err(Raw)?;
            let get = |tx: &mut Transaction, name: &str| -> Result<Option<Vec<u8>>, Fault> {
                let row = tx
                    .query_opt("SELECT value FROM minikms_header WHERE name = $1", &[&name])
                    .map_err(Raw)?;
                Ok(row.map(|r| r.get(0)))
            };
            let format = get(&mut tx, "format")?;
            let check = get(&mut tx, "seal_check")?;
            let recovery = get(&mut tx, "recovery")?;
            let header = match (check, create) {
                (Some(check), _) => {
                    if format.as_deref() != Some(FORMAT.to_le_bytes().as_slice()) {
                        return Err(Problem(StoreError::Database(format!(
                            "{shown} holds a key store of another format than {FORMAT}"
                        ))));
                    }
                    let check: [u8; 8] = check.as_slice().try_into().map_err(|_| {
                        Problem(StoreError::Tampered("the header's seal_check".into()))
                    })?;
                    Header {
                        check: u64::from_le_bytes(check),
                        recovery,
                        created: false,
                    }
                }
                (None, None) => {
                    return Err(Problem(StoreError::ForeignKey(format!(
                        "{shown} is empty, but this data dir keeps the root key of a \
                         key store: give the --storage that goes with it, or a new --data-dir"
                    ))))
                }
                (None, Some(check)) => {
                    let put = "INSERT INTO minikms_header (name, value) VALUES ($1, $2)";
                    tx.execute(put, &[&"format", &FORMAT.to_le_bytes().as_slice()])
                        .map_err(Raw)?;
                    tx.execute(put, &[&"seal_check", &check.to_le_bytes().as_slice()])
                        .map_err(Raw)?;
                    Header {
                        check,
                        recovery: None,
                        created: true,
                    }
                }
            };
            tx.commit().map_err(Raw)?;
            Ok(header)
        })();
        result.map_err(|e| self.fault(e))
    }

    /// Reads and checks every record, under `sealer`; the index is kept
    /// for the writes and catch-ups that follow.
    pub fn load(
        &mut self,
        sealer: Sealer,
    ) -> Result<(Records, Versions, Arc<Freshness>), StoreError> {
        let rows = self
            .client()?
            .query("SELECT tbl, id, sealed FROM minikms_records", &[])
            .map_err(Raw);
        let rows = rows.and_then(rows_of).map_err(|e| self.fault(e))?;
        let mut ledger = Ledger::new(sealer, false);
        let records = ledger.load(rows)?;
        let versions = ledger.versions();
        let freshness = ledger.freshness();
        self.ledger = Some(ledger);
        Ok((records, versions, freshness))
    }

    fn ledger(&mut self) -> Result<&mut Ledger, StoreError> {
        self.ledger
            .as_mut()
            .ok_or_else(|| StoreError::Database("the store is not open".into()))
    }

    /// What other replicas wrote since we last looked (and what was seen
    /// while writing).
    pub fn catch_up(&mut self) -> Result<Vec<Delivered>, StoreError> {
        let since = self.ledger()?.generation();
        let start = std::time::Instant::now();
        let rows = (|| {
            let since = version_sql(since)?;
            rows_of(self.client()?.query(NEWER, &[&since]).map_err(Raw)?)
        })();
        let metrics = crate::metrics::get();
        metrics.postgres("catch_up", start);
        let rows = rows.map_err(|e| self.fault(e))?;
        let mut delivered = self.ledger()?.catch_up(rows)?;
        let caught = i64::try_from(delivered.len()).unwrap_or(i64::MAX);
        metrics.postgres_catch_up_records.set(caught);
        if !self.pending.is_empty() {
            let mut all = std::mem::take(&mut self.pending);
            all.append(&mut delivered);
            delivered = all;
        }
        Ok(delivered)
    }

    /// One write transaction (see [`super`]).
    pub fn write(&mut self, changes: &[Change]) -> Result<u64, StoreError> {
        if changes.is_empty() {
            return Ok(self.ledger()?.generation());
        }
        let mut ledger = self
            .ledger
            .take()
            .ok_or_else(|| StoreError::Database("the store is not open".into()))?;
        let start = std::time::Instant::now();
        let result = self.write_with(&mut ledger, changes);
        crate::metrics::get().postgres("write", start);
        self.ledger = Some(ledger);
        result
    }

    fn write_with(&mut self, ledger: &mut Ledger, changes: &[Change]) -> Result<u64, StoreError> {
        let mut staged: Option<Staged> = None;
        let mut seen = Vec::new();
        let result = (|| {
            let mut tx = self.client()?.transaction().map_err(Raw)?;
            tx.query_one(
                "SELECT value FROM minikms_header WHERE name = 'seal_check' FOR UPDATE",
                &[],
            )
            .map_err(Raw)?;
            let newer = rows_of(
                tx.query(NEWER, &[&version_sql(ledger.generation())?])
                    .map_err(Raw)?,
            )?;
            seen = ledger.catch_up(newer).map_err(Problem)?;
            let ready = staged.insert(ledger.stage(changes, false, true).map_err(Problem)?);
            // One statement for every row put and one for every row
            // removed: a round trip each, however many rows.
            let version = version_sql(ready.version)?;
            let (mut put, mut gone) = (Columns::default(), Columns::default());
            for (table, id, value) in &ready.rows {
                let columns = if value.is_some() { &mut put } else { &mut gone };
                columns.tables.push(table.name());
                columns.ids.push(id.as_str());
                if let Some(sealed) = value {
                    columns.sealed.push(sealed.as_slice());
                }
            }
            if !put.ids.is_empty() {
                tx.execute(
                    "INSERT INTO minikms_records (tbl, id, version, sealed) \
                     SELECT t, i, $3, s FROM unnest($1::text[], $2::text[], $4::bytea[]) \
                     AS r(t, i, s) ON CONFLICT (tbl, id) \
                     DO UPDATE SET version = EXCLUDED.version, sealed = EXCLUDED.sealed",
                    &[&put.tables, &put.ids, &version, &put.sealed],
                )
                .map_err(Raw)?;
            }
            if !gone.ids.is_empty() {
                tx.execute(
                    "DELETE FROM minikms_records WHERE (tbl, id) IN \
                     (SELECT t, i FROM unnest($1::text[], $2::text[]) AS r(t, i))",
                    &[&gone.tables, &gone.ids],
                )
                .map_err(Raw)?;
            }
            tx.commit().map_err(Raw)
        })();
        self.pending.append(&mut seen);
        match (result, staged) {
            (Ok(()), Some(staged)) => {
                let version = staged.version;
                ledger.committed(staged);
                Ok(version)
            }
            (result, staged) => {
                if let Some(staged) = staged {
                    ledger.abort(staged);
                }
                Err(match result {
                    Err(e) => self.fault(e),
                    Ok(()) => StoreError::Database("nothing was staged".into()),
                })
            }
        }
    }

    /// Replaces the public recovery facts.
    pub fn set_recovery(&mut self, recovery: &[u8]) -> Result<(), StoreError> {
        let done = self.client()?.execute(
            "INSERT INTO minikms_header (name, value) VALUES ('recovery', $1) \
             ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
            &[&recovery],
        );
        done.map(drop).map_err(|e| self.failed(e))
    }

    fn fault(&mut self, e: Fault) -> StoreError {
        match e {
            Raw(e) => self.failed(e),
            Problem(e) => e,
        }
    }
}

/// Rows of one statement, column by column.
#[derive(Default)]
struct Columns<'a> {
    tables: Vec<&'a str>,
    ids: Vec<&'a str>,
    sealed: Vec<&'a [u8]>,
}

/// The index root, and every row the database says was written after a
/// version: the root's sealed version, not this column, tells what
/// changed ([`Ledger::catch_up`]), so the root comes whatever its column
/// says, in the same round trip.
const NEWER: &str = "SELECT tbl, id, sealed FROM minikms_records \
                     WHERE version > $1 OR (tbl = 'meta' AND id = 'index')";

/// What went wrong inside a transaction: the database's error, or ours.
enum Fault {
    Raw(postgres::Error),
    Problem(StoreError),
}
use Fault::{Problem, Raw};

impl From<StoreError> for Fault {
    fn from(e: StoreError) -> Self {
        Problem(e)
    }
}

fn version_sql(version: u64) -> Result<i64, StoreError> {
    i64::try_from(version).map_err(|_| StoreError::Database("version overflow".into()))
}

/// Rows of `(tbl, id, sealed)`, by table and id.
fn rows_of(rows: Vec<postgres::Row>) -> Result<Rows, Fault> {
    let mut out = Rows::new();
    for row in rows {
        let table: &str = row.try_get(0).map_err(Raw)?;
        let table = Table::from_name(table).ok_or_else(|| {
            Problem(StoreError::Tampered(format!(
                "a record of an unknown table {table:?}"
            )))
        })?;
        let id: String = row.try_get(1).map_err(Raw)?;
        let sealed: Vec<u8> = row.try_get(2).map_err(Raw)?;
        out.insert((table, id), sealed);
    }
    Ok(out)
}

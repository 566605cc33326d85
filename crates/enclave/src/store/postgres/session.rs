//! The writing connection of a shared store (on the database thread):
//! setup, the first load, and the write transactions. The index it writes
//! through is shared with the catch-up rounds ([`super::follower`]).

use std::sync::Arc;

use postgres::{Config, SimpleQueryMessage, Transaction};

use super::conn::{table_of, version_of, Conn};
use super::follower::{absorb, Known};
use crate::store::freshness::Freshness;
use crate::store::ledger::{Ledger, Rows, Staged};
use crate::store::seal::Sealer;
use crate::store::{Change, Delivered, Fetched, Records, StoreError, Versions};

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
    conn: Conn,
    known: Arc<Known>,
}

impl Session {
    pub fn new(config: Config, shown: String, known: Arc<Known>) -> Self {
        Self {
            conn: Conn::new(config, shown),
            known,
        }
    }

    /// Creates the tables if needed and reads the header; an empty
    /// database is initialised with `create` (a new root key's check
    /// word), if given.
    pub fn prepare(&mut self, create: Option<u64>) -> Result<Header, StoreError> {
        let shown = self.conn.shown.clone();
        let result = (|| {
            let mut tx = self.conn.client()?.transaction().map_err(Raw)?;
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
            .conn
            .client()?
            .query("SELECT tbl, id, sealed FROM minikms_records", &[])
            .map_err(Raw);
        let rows = rows.and_then(rows_of).map_err(|e| self.fault(e))?;
        let mut ledger = Ledger::new(sealer, false);
        let records = ledger.load(rows)?;
        let versions = ledger.versions();
        let freshness = ledger.freshness();
        self.known.lock().ledger = Some(ledger);
        Ok((records, versions, freshness))
    }

    /// What other replicas wrote since we last looked (and what was seen
    /// while writing), on this connection.
    pub fn catch_up(&mut self) -> Result<Vec<Delivered>, StoreError> {
        let start = std::time::Instant::now();
        let fetched = self.conn.fetch(self.known.generation()?);
        crate::metrics::get().postgres("catch_up", start);
        self.known.take_in(fetched?)
    }

    /// One write transaction (see [`super`]), in two round trips: BEGIN,
    /// the writers' lock and what other replicas committed since; then the
    /// rows and COMMIT. Each is one simple-query message (statements with
    /// parameters would cost a round trip each); every value in them is
    /// hex (or a number we make), so nothing a user named is SQL.
    pub fn write(&mut self, changes: &[Change]) -> Result<u64, StoreError> {
        if changes.is_empty() {
            return self.known.generation();
        }
        let start = std::time::Instant::now();
        let written = self.write_now(changes);
        crate::metrics::get().postgres("write", start);
        written
    }

    fn write_now(&mut self, changes: &[Change]) -> Result<u64, StoreError> {
        let since = self.known.generation()?;
        let begin = format!(
            "BEGIN; SELECT 1 FROM minikms_header WHERE name = 'seal_check' FOR UPDATE; \
             SELECT tbl, id, version, encode(sealed, 'hex') FROM minikms_records \
             WHERE version > {since} OR (tbl = 'meta' AND id = 'index')"
        );
        let newer = match self.conn.client()?.simple_query(&begin) {
            Ok(answer) => text_rows(since, answer),
            Err(e) => Err(self.conn.failed(e)),
        };
        let not_open = || StoreError::Database("the store is not open".into());
        let staged = newer.and_then(|newer| {
            let mut held = self.known.lock();
            let mut seen = absorb(&mut held, newer)?;
            held.pending.append(&mut seen);
            let ledger = held.ledger.as_mut().ok_or_else(not_open)?;
            let staged = ledger.stage(changes, false, true)?;
            held.writing = true;
            Ok(staged)
        });
        let staged = match staged {
            Ok(staged) => staged,
            Err(e) => return Err(self.rolled_back(e)),
        };
        let sql = write_sql(&staged);
        let committed = match self.conn.client() {
            Ok(client) => match client.simple_query(&sql) {
                Ok(_) => Ok(()),
                Err(e) => Err(self.conn.failed(e)),
            },
            Err(e) => Err(e),
        };
        let version = staged.version;
        {
            let mut held = self.known.lock();
            held.writing = false;
            if let Some(ledger) = held.ledger.as_mut() {
                match committed {
                    Ok(()) => ledger.committed(staged),
                    Err(_) => ledger.abort(staged),
                }
            }
        }
        self.known.settled();
        match committed {
            Ok(()) => Ok(version),
            Err(e) => Err(self.rolled_back(e)),
        }
    }

    /// Ends a failed transaction (on a connection still open) and
    /// answers `e`.
    fn rolled_back(&mut self, e: StoreError) -> StoreError {
        if let Some(client) = self.conn.existing() {
            if let Err(broken) = client.batch_execute("ROLLBACK") {
                self.conn.failed(broken);
            }
        }
        e
    }

    /// Replaces the public recovery facts.
    pub fn set_recovery(&mut self, recovery: &[u8]) -> Result<(), StoreError> {
        let done = self.conn.client()?.execute(
            "INSERT INTO minikms_header (name, value) VALUES ('recovery', $1) \
             ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
            &[&recovery],
        );
        done.map(drop).map_err(|e| self.conn.failed(e))
    }

    fn fault(&mut self, e: Fault) -> StoreError {
        match e {
            Raw(e) => self.conn.failed(e),
            Problem(e) => e,
        }
    }
}

/// The rows of one statement, column by column (hex literals).
#[derive(Default)]
struct Columns {
    tables: Vec<String>,
    ids: Vec<String>,
    sealed: Vec<String>,
}

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

/// The rows of [`Session::write`]'s first message: each `(tbl, id,
/// version, hex(sealed))`.
fn text_rows(since: u64, answer: Vec<SimpleQueryMessage>) -> Result<Fetched, StoreError> {
    let mut rows = Vec::new();
    for message in answer {
        let SimpleQueryMessage::Row(row) = message else {
            continue;
        };
        if row.len() != 4 {
            continue; // the lock's row
        }
        let cell = |i: usize| {
            row.get(i)
                .ok_or_else(|| StoreError::Database("a NULL in minikms_records".into()))
        };
        let version: i64 = cell(2)?
            .parse()
            .map_err(|_| StoreError::Database("an unreadable version".into()))?;
        let sealed = hex::decode(cell(3)?)
            .map_err(|_| StoreError::Database("an unreadable sealed value".into()))?;
        rows.push((
            table_of(cell(0)?)?,
            cell(1)?.to_string(),
            version_of(version)?,
            sealed,
        ));
    }
    Ok(Fetched { since, rows })
}

/// [`Session::write`]'s second message: the rows put, those removed, and
/// COMMIT. Only hex digits and our own numbers go into it.
fn write_sql(staged: &Staged) -> String {
    let (mut put, mut gone) = (Columns::default(), Columns::default());
    for (table, id, value) in &staged.rows {
        let columns = if value.is_some() { &mut put } else { &mut gone };
        columns.tables.push(hex_literal(table.name().as_bytes()));
        columns.ids.push(hex_literal(id.as_bytes()));
        if let Some(sealed) = value {
            columns.sealed.push(hex_literal(sealed));
        }
    }
    let text = |x: &str| format!("convert_from(decode({x}, 'hex'), 'UTF8')");
    let mut sql = String::new();
    if !put.ids.is_empty() {
        sql.push_str(&format!(
            "INSERT INTO minikms_records (tbl, id, version, sealed) \
             SELECT {}, {}, {}, decode(s, 'hex') \
             FROM unnest(ARRAY[{}]::text[], ARRAY[{}]::text[], ARRAY[{}]::text[]) AS r(t, i, s) \
             ON CONFLICT (tbl, id) DO UPDATE SET version = EXCLUDED.version, sealed = EXCLUDED.sealed; ",
            text("t"),
            text("i"),
            staged.version,
            put.tables.join(","),
            put.ids.join(","),
            put.sealed.join(","),
        ));
    }
    if !gone.ids.is_empty() {
        sql.push_str(&format!(
            "DELETE FROM minikms_records WHERE (tbl, id) IN \
             (SELECT {}, {} FROM unnest(ARRAY[{}]::text[], ARRAY[{}]::text[]) AS r(t, i)); ",
            text("t"),
            text("i"),
            gone.tables.join(","),
            gone.ids.join(","),
        ));
    }
    sql.push_str("COMMIT");
    sql
}

fn hex_literal(bytes: &[u8]) -> String {
    format!("'{}'", hex::encode(bytes))
}

/// Rows of `(tbl, id, sealed)`, by table and id.
fn rows_of(rows: Vec<postgres::Row>) -> Result<Rows, Fault> {
    let mut out = Rows::new();
    for row in rows {
        let table: &str = row.try_get(0).map_err(Raw)?;
        let id: String = row.try_get(1).map_err(Raw)?;
        let sealed: Vec<u8> = row.try_get(2).map_err(Raw)?;
        out.insert((table_of(table)?, id), sealed);
    }
    Ok(out)
}

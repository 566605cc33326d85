//! One connection to the database, made again after it broke, with the
//! catch-up query prepared once (so a catch-up costs one round trip).

use postgres::{Client, Config, NoTls, Statement};

use crate::store::{Fetched, StoreError, Table};

/// The index root, and every row the database says was written after a
/// version: the root's sealed version, not this column, tells what
/// changed ([`crate::store::ledger::Ledger::catch_up`]), so the root comes
/// whatever its column says, in the same round trip.
pub const NEWER: &str = "SELECT tbl, id, version, sealed FROM minikms_records \
                         WHERE version > $1 OR (tbl = 'meta' AND id = 'index')";

pub struct Conn {
    config: Config,
    pub shown: String,
    client: Option<Client>,
    newer: Option<Statement>,
}

impl Conn {
    pub fn new(config: Config, shown: String) -> Self {
        Self {
            config,
            shown,
            client: None,
            newer: None,
        }
    }

    /// The connection, made again if the last one broke.
    pub fn client(&mut self) -> Result<&mut Client, StoreError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = None;
            self.newer = None;
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

    /// The connection if one is open (none is made).
    pub fn existing(&mut self) -> Option<&mut Client> {
        self.client.as_mut().filter(|c| !c.is_closed())
    }

    /// What a database error means for us: the database going away (or
    /// refusing connections while it starts or stops) is
    /// [`StoreError::Unavailable`], and the connection is made again next
    /// time; anything else is [`StoreError::Database`].
    pub fn failed(&mut self, e: postgres::Error) -> StoreError {
        let gone = match e.as_db_error() {
            None => true,
            Some(db) => {
                let class = &db.code().code()[..2];
                class == "08" || class == "57" || class == "53"
            }
        };
        if gone || e.is_closed() {
            self.client = None;
            self.newer = None;
            StoreError::Unavailable(format!("{}: {e}", self.shown))
        } else {
            StoreError::Database(format!("{}: {e}", self.shown))
        }
    }

    /// The root and every row newer than `since` (one round trip).
    pub fn fetch(&mut self, since: u64) -> Result<Fetched, StoreError> {
        let at = i64::try_from(since).map_err(|_| overflow())?;
        let rows = (|| {
            if self.newer.is_none() {
                let prepared = self.client()?.prepare(NEWER).map_err(Raw::Pg)?;
                self.newer = Some(prepared);
            }
            let newer = self.newer.clone().ok_or_else(overflow)?;
            self.client()?.query(&newer, &[&at]).map_err(Raw::Pg)
        })();
        let rows = rows.map_err(|e| match e {
            Raw::Pg(e) => self.failed(e),
            Raw::Ours(e) => e,
        })?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let cell = |e: postgres::Error| StoreError::Database(e.to_string());
            let table: &str = row.try_get(0).map_err(cell)?;
            let version: i64 = row.try_get(2).map_err(cell)?;
            out.push((
                table_of(table)?,
                row.try_get(1).map_err(cell)?,
                version_of(version)?,
                row.try_get(3).map_err(cell)?,
            ));
        }
        Ok(Fetched { since, rows: out })
    }
}

/// A failure inside [`Conn::fetch`]: the database's, or ours.
enum Raw {
    Pg(postgres::Error),
    Ours(StoreError),
}
impl From<StoreError> for Raw {
    fn from(e: StoreError) -> Self {
        Raw::Ours(e)
    }
}

fn overflow() -> StoreError {
    StoreError::Database("version overflow".into())
}

pub fn table_of(name: &str) -> Result<Table, StoreError> {
    Table::from_name(name)
        .ok_or_else(|| StoreError::Tampered(format!("a record of an unknown table {name:?}")))
}

pub fn version_of(column: i64) -> Result<u64, StoreError> {
    u64::try_from(column)
        .map_err(|_| StoreError::Tampered(format!("a record's version column is {column}")))
}

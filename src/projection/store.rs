//! The view file: one document table per projection table, plus checkpoints.
//!
//! Table names are `<projection>/<table>`; keys are strings chosen by the projection (ordered
//! byte-wise, so `committee-1/appointee-9` style keys group naturally); values are JSON
//! documents. Checkpoints live in `_checkpoints` (projection name → last applied position).

use redb::{ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::ProjectionError;

/// The checkpoint table: projection name → last applied log position.
pub(crate) const CHECKPOINTS: TableDefinition<&str, u64> = TableDefinition::new("_checkpoints");

fn table_name(projection: &str, table: &str) -> String {
    format!("{projection}/{table}")
}

fn decode<T: DeserializeOwned>(table: &str, key: &str, bytes: &[u8]) -> Result<T, ProjectionError> {
    serde_json::from_slice(bytes).map_err(|e| ProjectionError::Decode {
        what: format!("document {key:?} of view table {table}"),
        detail: e.to_string(),
    })
}

/// Write access for one projection inside the runner's transaction.
pub struct ViewWrite<'t> {
    pub(crate) txn: &'t WriteTransaction,
    pub(crate) projection: &'static str,
}

impl ViewWrite<'_> {
    /// Reads a document.
    pub fn get<T: DeserializeOwned>(
        &self,
        table: &str,
        key: &str,
    ) -> Result<Option<T>, ProjectionError> {
        let name = table_name(self.projection, table);
        let definition: TableDefinition<&str, &[u8]> = TableDefinition::new(&name);
        let table = self.txn.open_table(definition)?;
        let value = table.get(key)?;
        value.map(|v| decode(&name, key, v.value())).transpose()
    }

    /// Writes (replaces) a document.
    pub fn put<T: Serialize>(
        &mut self,
        table: &str,
        key: &str,
        value: &T,
    ) -> Result<(), ProjectionError> {
        let name = table_name(self.projection, table);
        let bytes = serde_json::to_vec(value).map_err(|e| ProjectionError::Decode {
            what: format!("document {key:?} for view table {name}"),
            detail: e.to_string(),
        })?;
        let definition: TableDefinition<&str, &[u8]> = TableDefinition::new(&name);
        let mut table = self.txn.open_table(definition)?;
        table.insert(key, bytes.as_slice())?;
        Ok(())
    }

    /// Removes a document; removing a missing one is not an error.
    pub fn remove(&mut self, table: &str, key: &str) -> Result<(), ProjectionError> {
        let name = table_name(self.projection, table);
        let definition: TableDefinition<&str, &[u8]> = TableDefinition::new(&name);
        let mut table = self.txn.open_table(definition)?;
        table.remove(key)?;
        Ok(())
    }

    /// Reads, changes and writes back a document, starting from `Default` when missing.
    pub fn update<T, F>(&mut self, table: &str, key: &str, change: F) -> Result<(), ProjectionError>
    where
        T: Serialize + DeserializeOwned + Default,
        F: FnOnce(&mut T),
    {
        let mut doc: T = self.get(table, key)?.unwrap_or_default();
        change(&mut doc);
        self.put(table, key, &doc)
    }
}

/// Read access to the views, from one consistent snapshot.
pub struct ViewRead {
    pub(crate) txn: ReadTransaction,
}

impl ViewRead {
    pub(crate) fn begin(db: &redb::Database) -> Result<Self, ProjectionError> {
        Ok(Self {
            txn: db.begin_read()?,
        })
    }

    /// Reads one document of a projection's table.
    pub fn get<T: DeserializeOwned>(
        &self,
        projection: &str,
        table: &str,
        key: &str,
    ) -> Result<Option<T>, ProjectionError> {
        let name = table_name(projection, table);
        let definition: TableDefinition<&str, &[u8]> = TableDefinition::new(&name);
        let table = match self.txn.open_table(definition) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let value = table.get(key)?;
        value.map(|v| decode(&name, key, v.value())).transpose()
    }

    /// Reads the documents whose keys start with `prefix`, in key order, skipping keys up to and
    /// including `after` (for pagination), at most `limit` of them.
    pub fn scan<T: DeserializeOwned>(
        &self,
        projection: &str,
        table: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, T)>, ProjectionError> {
        let name = table_name(projection, table);
        let definition: TableDefinition<&str, &[u8]> = TableDefinition::new(&name);
        let table = match self.txn.open_table(definition) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let start = match after {
            Some(after) if after >= prefix => after,
            _ => prefix,
        };
        let mut out = Vec::new();
        for entry in table.range(start..)? {
            let (key, value) = entry?;
            let key = key.value();
            if !key.starts_with(prefix) {
                break;
            }
            if after == Some(key) {
                continue;
            }
            out.push((key.to_string(), decode(&name, key, value.value())?));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// The last position a projection has applied.
    pub fn checkpoint(&self, projection: &str) -> Result<u64, ProjectionError> {
        read_checkpoint(&self.txn, projection)
    }
}

pub(crate) fn read_checkpoint(
    txn: &ReadTransaction,
    projection: &str,
) -> Result<u64, ProjectionError> {
    let table = match txn.open_table(CHECKPOINTS) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    Ok(table.get(projection)?.map_or(0, |v| v.value()))
}

/// Drops every table of a projection and resets its checkpoint, in the caller's transaction.
pub(crate) fn drop_projection(
    txn: &WriteTransaction,
    projection: &str,
) -> Result<(), ProjectionError> {
    let prefix = format!("{projection}/");
    let names: Vec<String> = txn
        .list_tables()?
        .map(|handle| redb::TableHandle::name(&handle).to_string())
        .filter(|name| name.starts_with(&prefix))
        .collect();
    for name in names {
        let definition: TableDefinition<&str, &[u8]> = TableDefinition::new(&name);
        txn.delete_table(definition)?;
    }
    let mut checkpoints = txn.open_table(CHECKPOINTS)?;
    checkpoints.insert(projection, 0)?;
    Ok(())
}

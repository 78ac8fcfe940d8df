//! The view file: one document table per projection table, plus checkpoints.
//!
//! Table names are `<projection>/<table>`; keys are strings chosen by the projection (ordered
//! byte-wise, so `committee-1/appointee-9` style keys group naturally); values are JSON
//! documents. Checkpoints live in `_checkpoints` (projection name → last applied position).

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;

use redb::{
    ReadTransaction, ReadableDatabase, ReadableTable, Table, TableDefinition, WriteTransaction,
};
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

/// A document table of a projection, open in the runner's transaction.
type DocTable<'t> = Table<'t, &'static str, &'static [u8]>;

/// Write access for one projection inside the runner's transaction.
///
/// Each table is opened once, on first use, and kept open until the `ViewWrite` is dropped (the
/// end of the projection's batch): opening a table costs a lookup in the file's table tree, and
/// a batch reads and writes thousands of documents.
pub struct ViewWrite<'t> {
    txn: &'t WriteTransaction,
    projection: &'static str,
    tables: RefCell<HashMap<String, DocTable<'t>>>,
    /// Documents changed with [`ViewWrite::update_deferred`], written by [`ViewWrite::flush`].
    deferred: HashMap<(String, String), Box<dyn DeferredDoc>>,
}

/// A document held in memory until the end of the batch.
trait DeferredDoc {
    fn encode(&self) -> Result<Vec<u8>, serde_json::Error>;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Serialize + 'static> DeferredDoc for T {
    fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl<'t> ViewWrite<'t> {
    /// Write access for `projection` in `txn`.
    pub(crate) fn new(txn: &'t WriteTransaction, projection: &'static str) -> Self {
        Self {
            txn,
            projection,
            tables: RefCell::new(HashMap::new()),
            deferred: HashMap::new(),
        }
    }

    /// Runs `f` on the projection's `table`, opening it on first use.
    fn with_table<R>(
        &self,
        table: &str,
        f: impl FnOnce(&mut DocTable<'t>) -> Result<R, ProjectionError>,
    ) -> Result<R, ProjectionError> {
        let mut tables = self.tables.borrow_mut();
        if let Some(open) = tables.get_mut(table) {
            return f(open);
        }
        let name = table_name(self.projection, table);
        let definition: TableDefinition<&str, &[u8]> = TableDefinition::new(&name);
        let mut open = self.txn.open_table(definition)?;
        let result = f(&mut open);
        tables.insert(table.to_string(), open);
        result
    }

    /// Reads a document.
    pub fn get<T: DeserializeOwned>(
        &self,
        table: &str,
        key: &str,
    ) -> Result<Option<T>, ProjectionError> {
        self.with_table(table, |open| {
            let value = open.get(key)?;
            value
                .map(|v| decode(&table_name(self.projection, table), key, v.value()))
                .transpose()
        })
    }

    /// Writes (replaces) a document.
    pub fn put<T: Serialize>(
        &mut self,
        table: &str,
        key: &str,
        value: &T,
    ) -> Result<(), ProjectionError> {
        self.write_encoded(table, key, serde_json::to_vec(value))
    }

    /// Inserts a document's encoding, or names the document whose encoding failed.
    fn write_encoded(
        &self,
        table: &str,
        key: &str,
        encoded: Result<Vec<u8>, serde_json::Error>,
    ) -> Result<(), ProjectionError> {
        let bytes = encoded.map_err(|e| ProjectionError::Decode {
            what: format!(
                "document {key:?} for view table {}",
                table_name(self.projection, table)
            ),
            detail: e.to_string(),
        })?;
        self.with_table(table, |open| {
            open.insert(key, bytes.as_slice())?;
            Ok(())
        })
    }

    /// Removes a document; removing a missing one is not an error.
    pub fn remove(&mut self, table: &str, key: &str) -> Result<(), ProjectionError> {
        self.with_table(table, |open| {
            open.remove(key)?;
            Ok(())
        })
    }

    /// Like [`ViewWrite::update`], but keeps the changed document in memory and writes it once,
    /// when the batch ends ([`ViewWrite::flush`]): a document changed by many events of a batch
    /// (a board's counts) is then read, decoded, encoded and written once per batch instead of
    /// once per event. A table changed this way must be changed only this way within a batch:
    /// [`ViewWrite::get`] does not see the deferred documents.
    pub fn update_deferred<T, F>(
        &mut self,
        table: &str,
        key: &str,
        change: F,
    ) -> Result<(), ProjectionError>
    where
        T: Serialize + DeserializeOwned + Default + 'static,
        F: FnOnce(&mut T),
    {
        let id = (table.to_string(), key.to_string());
        if let Some(held) = self.deferred.get_mut(&id) {
            let doc =
                held.as_any_mut()
                    .downcast_mut::<T>()
                    .ok_or_else(|| ProjectionError::Decode {
                        what: format!(
                            "document {key:?} of view table {}",
                            table_name(self.projection, table)
                        ),
                        detail: "changed as two different document types in one batch".to_string(),
                    })?;
            change(doc);
            return Ok(());
        }
        let mut doc: T = self.get(table, key)?.unwrap_or_default();
        change(&mut doc);
        self.deferred.insert(id, Box::new(doc));
        Ok(())
    }

    /// Writes every document held by [`ViewWrite::update_deferred`]. The runner calls it after
    /// the projection's batch, before the checkpoint is written.
    pub(crate) fn flush(&mut self) -> Result<(), ProjectionError> {
        for ((table, key), doc) in std::mem::take(&mut self.deferred) {
            self.write_encoded(&table, &key, doc.encode())?;
        }
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn deferred_updates_accumulate_and_are_written_once_flushed() {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("views.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut view = ViewWrite::new(&txn, "p");
            view.put("t", "k", &BTreeMap::from([("a".to_string(), 1u64)]))
                .unwrap();
            for _ in 0..3 {
                view.update_deferred("t", "k", |doc: &mut BTreeMap<String, u64>| {
                    *doc.entry("a".to_string()).or_insert(0) += 1;
                })
                .unwrap();
            }
            // A second type for the same held document is refused, not silently replaced.
            let mismatch = view.update_deferred("t", "k", |n: &mut u64| *n += 1);
            assert!(matches!(mismatch, Err(ProjectionError::Decode { .. })));
            // Not written before the flush.
            let before: Option<BTreeMap<String, u64>> = view.get("t", "k").unwrap();
            assert_eq!(before, Some(BTreeMap::from([("a".to_string(), 1)])));
            view.flush().unwrap();
            let after: Option<BTreeMap<String, u64>> = view.get("t", "k").unwrap();
            assert_eq!(after, Some(BTreeMap::from([("a".to_string(), 4)])));
        }
        txn.commit().unwrap();
        let read = ViewRead::begin(&db).unwrap();
        let stored: Option<BTreeMap<String, u64>> = read.get("p", "t", "k").unwrap();
        assert_eq!(stored, Some(BTreeMap::from([("a".to_string(), 4)])));
    }
}

//! The view files: one redb file per projection, holding one document table per projection
//! table plus the projection's checkpoint.
//!
//! Table names are `<projection>/<table>`; keys are strings chosen by the projection (ordered
//! byte-wise, so `committee-1/appointee-9` style keys group naturally); values are JSON
//! documents, except in index tables, whose keys end with a document's id and whose values are
//! empty ([`ViewWrite::put_key`]). Checkpoints live in `_checkpoints` (projection name → last applied position).

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use redb::{
    ReadTransaction, ReadableDatabase, ReadableTable, Table, TableDefinition, WriteTransaction,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::ProjectionError;

/// The checkpoint table: projection name → last applied log position.
pub(crate) const CHECKPOINTS: TableDefinition<&str, u64> = TableDefinition::new("_checkpoints");
/// The shape of each projection's documents the file holds: projection name → its
/// [`super::Projection::version`] when its tables were last folded.
pub(crate) const VERSIONS: TableDefinition<&str, u32> = TableDefinition::new("_versions");

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
/// Writes are held back for the batch: [`ViewWrite::put`], [`ViewWrite::update`] and
/// [`ViewWrite::remove`] change a per-batch cache of typed documents, [`ViewWrite::get`] serves a
/// document written earlier in the batch from that cache (without decoding it), and
/// [`ViewWrite::flush`] — called by the runner after the projection's batch, before its
/// checkpoint, in the same transaction — encodes every changed document once and writes it, in
/// key order. A document changed by several events of a batch (a finding raised and assigned,
/// a board's counts) is so encoded and written once per batch, not once per event. Documents
/// not written in the batch are read from the file.
///
/// Each table is opened once, on first use, and kept open until the `ViewWrite` is dropped (the
/// end of the projection's batch): opening a table costs a lookup in the file's table tree.
pub struct ViewWrite<'t> {
    txn: &'t WriteTransaction,
    projection: &'static str,
    tables: RefCell<HashMap<String, DocTable<'t>>>,
    /// The documents changed in this batch, by table and key, not yet written. Hashed, not
    /// ordered: a batch puts tens of thousands of index keys that share long prefixes, which an
    /// ordered map compares byte by byte at every step; [`ViewWrite::flush`] sorts them once.
    pending: foldhash::HashMap<String, foldhash::HashMap<String, Pending>>,
    /// The index entries made or taken out in this batch, by table, in the order they came
    /// (`true`: made). Not hashed: an entry is written once and never read back in the batch.
    keys: foldhash::HashMap<String, Vec<(String, bool)>>,
}

/// A change held until [`ViewWrite::flush`].
enum Pending {
    /// The document's new value.
    Put(Box<dyn HeldDoc>),
    /// The document is removed.
    Removed,
}

/// A document held in memory until the end of the batch.
trait HeldDoc {
    fn encode(&self) -> Result<Vec<u8>, serde_json::Error>;
    fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Serialize + 'static> HeldDoc for T {
    fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        serde_json::to_writer(out, self)
    }

    fn as_any(&self) -> &dyn Any {
        self
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
            pending: foldhash::HashMap::default(),
            keys: foldhash::HashMap::default(),
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

    fn encode_error(&self, table: &str, key: &str, e: serde_json::Error) -> ProjectionError {
        ProjectionError::Decode {
            what: format!(
                "document {key:?} for view table {}",
                table_name(self.projection, table)
            ),
            detail: e.to_string(),
        }
    }

    /// Reads a document: the one written earlier in this batch if any, else the stored one.
    pub fn get<T: DeserializeOwned + Clone + 'static>(
        &self,
        table: &str,
        key: &str,
    ) -> Result<Option<T>, ProjectionError> {
        match self.pending.get(table).and_then(|docs| docs.get(key)) {
            Some(Pending::Removed) => Ok(None),
            Some(Pending::Put(held)) => match held.as_any().downcast_ref::<T>() {
                Some(doc) => Ok(Some(doc.clone())),
                // Written as another type: read it back through its encoding, as from the file.
                None => {
                    let bytes = held
                        .encode()
                        .map_err(|e| self.encode_error(table, key, e))?;
                    decode(&table_name(self.projection, table), key, &bytes).map(Some)
                }
            },
            None => self.with_table(table, |open| {
                let value = open.get(key)?;
                value
                    .map(|v| decode(&table_name(self.projection, table), key, v.value()))
                    .transpose()
            }),
        }
    }

    fn hold(&mut self, table: &str, key: &str, change: Pending) {
        match self.pending.get_mut(table) {
            Some(docs) => {
                docs.insert(key.to_string(), change);
            }
            None => {
                let mut docs = foldhash::HashMap::default();
                docs.insert(key.to_string(), change);
                self.pending.insert(table.to_string(), docs);
            }
        }
    }

    /// Writes (replaces) a document.
    pub fn put<T: Serialize + Clone + 'static>(
        &mut self,
        table: &str,
        key: &str,
        value: &T,
    ) -> Result<(), ProjectionError> {
        self.put_owned(table, key, value.clone())
    }

    /// Writes (replaces) a document, taking it (no copy is made).
    pub fn put_owned<T: Serialize + 'static>(
        &mut self,
        table: &str,
        key: &str,
        value: T,
    ) -> Result<(), ProjectionError> {
        self.hold(table, key, Pending::Put(Box::new(value)));
        Ok(())
    }

    /// Removes a document; removing a missing one is not an error.
    pub fn remove(&mut self, table: &str, key: &str) -> Result<(), ProjectionError> {
        self.hold(table, key, Pending::Removed);
        Ok(())
    }

    /// Reads, changes and writes back a document, starting from `Default` when missing. A
    /// document already written in this batch as `T` is changed in place.
    pub fn update<T, F>(&mut self, table: &str, key: &str, change: F) -> Result<(), ProjectionError>
    where
        T: Serialize + DeserializeOwned + Clone + Default + 'static,
        F: FnOnce(&mut T),
    {
        if let Some(Pending::Put(held)) = self
            .pending
            .get_mut(table)
            .and_then(|docs| docs.get_mut(key))
            && let Some(doc) = held.as_any_mut().downcast_mut::<T>()
        {
            change(doc);
            return Ok(());
        }
        let mut doc: T = self.get(table, key)?.unwrap_or_default();
        change(&mut doc);
        self.put_owned(table, key, doc)
    }

    /// Makes an entry of an index table: the key says everything (it ends with the id of the
    /// document it points to, see [`indexed_id`]), the value is empty. Index tables are written
    /// only through [`ViewWrite::put_key`] and [`ViewWrite::remove_key`] and read with
    /// [`ViewRead::scan_keys`].
    pub fn put_key(&mut self, table: &str, key: String) {
        self.key_change(table, key, true);
    }

    /// Takes an entry out of an index table; taking a missing one is not an error.
    pub fn remove_key(&mut self, table: &str, key: String) {
        self.key_change(table, key, false);
    }

    fn key_change(&mut self, table: &str, key: String, present: bool) {
        match self.keys.get_mut(table) {
            Some(changes) => changes.push((key, present)),
            None => {
                self.keys.insert(table.to_string(), vec![(key, present)]);
            }
        }
    }

    /// Whether the batch changed anything (a document or an index entry) so far.
    pub(crate) fn has_changes(&self) -> bool {
        !self.pending.is_empty() || !self.keys.is_empty()
    }

    /// Encodes and writes every document changed in this batch, table by table in key order.
    /// The runner calls it after the projection's batch, before the checkpoint is written;
    /// until then nothing of the batch is in the file.
    pub(crate) fn flush(&mut self) -> Result<(), ProjectionError> {
        let mut tables: Vec<_> = std::mem::take(&mut self.pending).into_iter().collect();
        tables.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (table, docs) in tables {
            // In key order: neighbouring keys land in the same B-tree pages.
            let mut docs: Vec<_> = docs.into_iter().collect();
            docs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            let mut encoded = Vec::new();
            self.with_table(&table, |open| {
                for (key, change) in &docs {
                    match change {
                        Pending::Put(held) => {
                            encoded.clear();
                            if let Err(e) = held.encode_into(&mut encoded) {
                                return Err(self.encode_error(&table, key, e));
                            }
                            open.insert(key.as_str(), encoded.as_slice())?;
                        }
                        Pending::Removed => {
                            open.remove(key.as_str())?;
                        }
                    }
                }
                Ok(())
            })?;
        }
        let mut tables: Vec<_> = std::mem::take(&mut self.keys).into_iter().collect();
        tables.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (table, mut changes) in tables {
            // Stable: of several changes to one key, the last one made stays last.
            changes.sort_by(|a, b| a.0.cmp(&b.0));
            self.with_table(&table, |open| {
                for (i, (key, present)) in changes.iter().enumerate() {
                    if changes.get(i + 1).is_some_and(|next| next.0 == *key) {
                        continue;
                    }
                    if *present {
                        open.insert(key.as_str(), [].as_slice())?;
                    } else {
                        open.remove(key.as_str())?;
                    }
                }
                Ok(())
            })?;
        }
        Ok(())
    }
}

/// The id of the document an index entry points to: what its key ends with, after its last `|`
/// or `/` (ids contain neither).
pub fn indexed_id(key: &str) -> &str {
    key.rsplit(['|', '/']).next().unwrap_or(key)
}

/// `name`'s bytes in lowercase hex, as a free-text name (an organ's) is written into a key, so
/// that it holds no separator. The characters of `hex::encode`, made with its table-driven
/// `encode_to_slice` instead of a character iterator (a visit's key costs one of these).
pub fn hex_key(name: &str) -> String {
    let mut out = vec![0u8; name.len() * 2];
    match hex::encode_to_slice(name.as_bytes(), &mut out) {
        // Hex digits are ASCII.
        Ok(()) => String::from_utf8(out).unwrap_or_else(|_| hex::encode(name.as_bytes())),
        Err(_) => hex::encode(name.as_bytes()),
    }
}

/// Index entries read at a time by [`ViewRead::for_each_indexed_in`].
const INDEX_PAGE: usize = 512;

/// The keys `start <= key < end` of a table (no `end`: up to the last key), scanned together
/// with a prefix ([`ViewRead::scan_keys_in`]): a key must start with both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRange {
    /// The first key (inclusive); empty: from the prefix.
    pub start: String,
    /// The key the range stops before; `None`: no bound but the prefix.
    pub end: Option<String>,
}

impl KeyRange {
    /// Every key (the prefix alone bounds the scan).
    pub fn all() -> Self {
        Self::default()
    }
}

/// Read access to the views: one consistent snapshot of each projection's file, all taken when
/// the read began. Each projection's documents agree with its own checkpoint; two projections
/// may stand at different positions (wait for each with [`super::Views::wait_for`]).
pub struct ViewRead {
    snapshots: Vec<Snapshot>,
}

/// One projection's snapshot.
struct Snapshot {
    projection: &'static str,
    txn: ReadTransaction,
    /// The file it reads, kept open until the snapshot ends (a rebuild may put another file in
    /// its place meanwhile). Declared after `txn`, so it is dropped after it.
    _file: Arc<redb::Database>,
}

impl ViewRead {
    pub(crate) fn begin(
        files: impl IntoIterator<Item = (&'static str, Arc<redb::Database>)>,
    ) -> Result<Self, ProjectionError> {
        let snapshots = files
            .into_iter()
            .map(|(projection, file)| {
                Ok(Snapshot {
                    projection,
                    txn: file.begin_read()?,
                    _file: file,
                })
            })
            .collect::<Result<_, ProjectionError>>()?;
        Ok(Self { snapshots })
    }

    /// The snapshot of `projection`'s file.
    fn txn(&self, projection: &str) -> Result<&ReadTransaction, ProjectionError> {
        self.snapshots
            .iter()
            .find(|snapshot| snapshot.projection == projection)
            .map(|snapshot| &snapshot.txn)
            .ok_or_else(|| ProjectionError::UnknownProjection(projection.to_string()))
    }

    /// Reads one document of a projection's table.
    pub fn get<T: DeserializeOwned>(
        &self,
        projection: &str,
        table: &str,
        key: &str,
    ) -> Result<Option<T>, ProjectionError> {
        let mut one = self.get_many(projection, table, [key])?;
        Ok(one.pop().flatten())
    }

    /// The documents of `keys` in one table, in the order given (`None` for a key with no
    /// document), with the table opened once rather than once per key as [`ViewRead::get`] does.
    pub fn get_many<T: DeserializeOwned, K: AsRef<str>>(
        &self,
        projection: &str,
        table: &str,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<Vec<Option<T>>, ProjectionError> {
        let name = table_name(projection, table);
        let definition: TableDefinition<&str, &[u8]> = TableDefinition::new(&name);
        let keys = keys.into_iter();
        let open = match self.txn(projection)?.open_table(definition) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(keys.map(|_| None).collect()),
            Err(e) => return Err(e.into()),
        };
        keys.map(|key| {
            let key = key.as_ref();
            let value = open.get(key)?;
            value.map(|v| decode(&name, key, v.value())).transpose()
        })
        .collect()
    }

    /// Every document that the entries of index table `index` starting with `prefix` point at
    /// (each key ends with the id of a document of `table`, [`indexed_id`]), in index order; an
    /// entry whose document is gone is skipped.
    pub fn indexed_documents<T: DeserializeOwned>(
        &self,
        projection: &str,
        index: &str,
        prefix: &str,
        table: &str,
    ) -> Result<Vec<T>, ProjectionError> {
        self.indexed_documents_in(projection, index, prefix, &[KeyRange::all()], table)
    }

    /// [`ViewRead::indexed_documents`] of the entries within `ranges` (read in the order given).
    pub fn indexed_documents_in<T: DeserializeOwned>(
        &self,
        projection: &str,
        index: &str,
        prefix: &str,
        ranges: &[KeyRange],
        table: &str,
    ) -> Result<Vec<T>, ProjectionError> {
        let mut out = Vec::new();
        self.for_each_indexed_in(projection, index, prefix, ranges, table, |doc| {
            out.push(doc);
            Ok::<_, ProjectionError>(())
        })?;
        Ok(out)
    }

    /// Gives `each` every document that the entries of `index` under `prefix` and within
    /// `ranges` point at, in the order of [`ViewRead::indexed_documents_in`], reading
    /// [`INDEX_PAGE`] entries at a time (so memory stays bounded however many there are).
    pub fn for_each_indexed_in<T: DeserializeOwned, E: From<ProjectionError>>(
        &self,
        projection: &str,
        index: &str,
        prefix: &str,
        ranges: &[KeyRange],
        table: &str,
        mut each: impl FnMut(T) -> Result<(), E>,
    ) -> Result<(), E> {
        for range in ranges {
            let mut after: Option<String> = None;
            loop {
                let keys = self.scan_keys_in(
                    projection,
                    index,
                    prefix,
                    range,
                    after.as_deref(),
                    INDEX_PAGE,
                )?;
                let docs =
                    self.get_many(projection, table, keys.iter().map(|key| indexed_id(key)))?;
                for doc in docs.into_iter().flatten() {
                    each(doc)?;
                }
                if keys.len() < INDEX_PAGE {
                    break;
                }
                after = keys.into_iter().next_back();
            }
        }
        Ok(())
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
        self.scan_with(
            projection,
            table,
            prefix,
            &KeyRange::all(),
            after,
            limit,
            |name, key, value| Ok((key.to_string(), decode(name, key, value)?)),
        )
    }

    /// The keys of an index table (written with [`ViewWrite::put_key`]) that start with
    /// `prefix`, in key order, skipping keys up to and including `after`, at most `limit`.
    /// [`indexed_id`] reads the document id off each.
    pub fn scan_keys(
        &self,
        projection: &str,
        table: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, ProjectionError> {
        self.scan_keys_in(projection, table, prefix, &KeyRange::all(), after, limit)
    }

    /// [`ViewRead::scan_keys`] within `range` as well.
    pub fn scan_keys_in(
        &self,
        projection: &str,
        table: &str,
        prefix: &str,
        range: &KeyRange,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, ProjectionError> {
        self.scan_with(
            projection,
            table,
            prefix,
            range,
            after,
            limit,
            |_, key, _| Ok(key.to_string()),
        )
    }

    /// The entries whose keys start with `prefix` and lie in `range`, after `after`, at most
    /// `limit`, each made into an `R` by `each` (given the table's full name, the key and the
    /// value).
    #[allow(clippy::too_many_arguments)]
    fn scan_with<R>(
        &self,
        projection: &str,
        table: &str,
        prefix: &str,
        range: &KeyRange,
        after: Option<&str>,
        limit: usize,
        mut each: impl FnMut(&str, &str, &[u8]) -> Result<R, ProjectionError>,
    ) -> Result<Vec<R>, ProjectionError> {
        let name = table_name(projection, table);
        let definition: TableDefinition<&str, &[u8]> = TableDefinition::new(&name);
        let table = match self.txn(projection)?.open_table(definition) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut start = prefix.max(range.start.as_str());
        if let Some(after) = after {
            start = start.max(after);
        }
        let end = range.end.as_deref();
        if end.is_some_and(|end| end <= start) {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for entry in table.range(start..)? {
            if out.len() >= limit {
                break;
            }
            let (key, value) = entry?;
            let key = key.value();
            if !key.starts_with(prefix) || end.is_some_and(|end| key >= end) {
                break;
            }
            if after != Some(key) {
                out.push(each(&name, key, value.value())?);
            }
        }
        Ok(out)
    }

    /// The position a projection's file is folded to. It may be below the position the
    /// projection has applied ([`super::Views::checkpoint`]) by events that changed none of its
    /// documents.
    pub fn checkpoint(&self, projection: &str) -> Result<u64, ProjectionError> {
        read_checkpoint(self.txn(projection)?, projection)
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

/// What [`check_shape`] found of a projection's shape in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// The file holds the code's version: nothing written.
    Current,
    /// A file new to the projection: the version is recorded.
    Recorded,
    /// Folded at version `found`: nothing written; the views must be dropped (the caller puts
    /// an empty file in this one's place) and folded again from position 0.
    Other {
        /// The version the file held.
        found: u32,
    },
}

/// Checks, in the caller's transaction, the shape in which the file holds a projection's
/// documents against the code's ([`super::Projection::version`]), and records the code's version
/// in a file new to the projection. A projection with a checkpoint but no recorded version was
/// folded before versions were recorded: version 1.
pub(crate) fn check_shape(
    txn: &WriteTransaction,
    projection: &str,
    version: u32,
) -> Result<Shape, ProjectionError> {
    let found = {
        let versions = txn.open_table(VERSIONS)?;
        let checkpoints = txn.open_table(CHECKPOINTS)?;
        match versions.get(projection)? {
            Some(found) => Some(found.value()),
            None => checkpoints.get(projection)?.map(|_| 1),
        }
    };
    match found {
        Some(found) if found == version => Ok(Shape::Current),
        Some(found) => Ok(Shape::Other { found }),
        None => {
            txn.open_table(VERSIONS)?.insert(projection, version)?;
            Ok(Shape::Recorded)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn stored(txn: &WriteTransaction, key: &str) -> Option<Vec<u8>> {
        let table = txn
            .open_table(TableDefinition::<&str, &[u8]>::new("p/t"))
            .unwrap();
        table.get(key).unwrap().map(|v| v.value().to_vec())
    }

    /// A view file whose table `p/t` holds `old` = {"a": 1} and `doomed` = 7, flushed and
    /// committed by an earlier batch.
    fn seeded() -> (tempfile::TempDir, redb::Database) {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("views.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut view = ViewWrite::new(&txn, "p");
            view.put("t", "old", &BTreeMap::from([("a".to_string(), 1u64)]))
                .unwrap();
            view.put("t", "doomed", &7u64).unwrap();
            view.flush().unwrap();
        }
        txn.commit().unwrap();
        (dir, db)
    }

    #[test]
    fn a_batch_reads_its_own_writes_and_writes_each_document_once_flushed() {
        // Documents stored by an earlier batch.
        let (_dir, db) = seeded();

        let txn = db.begin_write().unwrap();
        {
            let mut view = ViewWrite::new(&txn, "p");
            // Put, then read in the same batch: served as written.
            view.put("t", "k", &BTreeMap::from([("a".to_string(), 1u64)]))
                .unwrap();
            for _ in 0..3 {
                view.update("t", "k", |doc: &mut BTreeMap<String, u64>| {
                    *doc.entry("a".to_string()).or_insert(0) += 1;
                })
                .unwrap();
            }
            let held: Option<BTreeMap<String, u64>> = view.get("t", "k").unwrap();
            assert_eq!(held, Some(BTreeMap::from([("a".to_string(), 4)])));
            // A stored document is read from the file, then changed in the batch.
            view.update("t", "old", |doc: &mut BTreeMap<String, u64>| {
                doc.insert("b".to_string(), 2);
            })
            .unwrap();
            // Removed in the batch: gone for the rest of it.
            view.remove("t", "doomed").unwrap();
            assert_eq!(view.get::<u64>("t", "doomed").unwrap(), None);
            // Read as another type: through the encoding, as from the file.
            let as_json: Option<serde_json::Value> = view.get("t", "k").unwrap();
            assert_eq!(as_json, Some(serde_json::json!({"a": 4})));
            // Changed as a type its encoding does not fit: refused, not silently replaced.
            let mismatch = view.update("t", "k", |n: &mut u64| *n += 1);
            assert!(matches!(mismatch, Err(ProjectionError::Decode { .. })));
            drop(view);
            // Nothing of the batch is in the file before the flush.
            assert_eq!(stored(&txn, "k"), None);
            assert_eq!(stored(&txn, "doomed"), Some(b"7".to_vec()));
        }
        {
            let mut view = ViewWrite::new(&txn, "p");
            view.update("t", "k", |doc: &mut BTreeMap<String, u64>| {
                doc.insert("z".to_string(), 9);
            })
            .unwrap();
            view.remove("t", "doomed").unwrap();
            view.flush().unwrap();
        }
        txn.commit().unwrap();
        let read = ViewRead::begin([("p", Arc::new(db))]).unwrap();
        let k: Option<BTreeMap<String, u64>> = read.get("p", "t", "k").unwrap();
        assert_eq!(k, Some(BTreeMap::from([("z".to_string(), 9)])));
        let old: Option<BTreeMap<String, u64>> = read.get("p", "t", "old").unwrap();
        assert_eq!(old, Some(BTreeMap::from([("a".to_string(), 1)])));
        assert_eq!(read.get::<u64>("p", "t", "doomed").unwrap(), None);
    }

    #[test]
    fn many_documents_are_read_in_the_order_asked_with_none_for_the_missing() {
        let (_dir, db) = seeded();
        let read = ViewRead::begin([("p", Arc::new(db))]).unwrap();
        let many: Vec<Option<serde_json::Value>> = read
            .get_many("p", "t", ["doomed", "nothing", "old", "doomed"])
            .unwrap();
        assert_eq!(
            many,
            vec![
                Some(serde_json::json!(7)),
                None,
                Some(serde_json::json!({"a": 1})),
                Some(serde_json::json!(7)),
            ]
        );
        // A table never written: every key has no document.
        let none: Vec<Option<u64>> = read.get_many("p", "absent", ["a", "b"]).unwrap();
        assert_eq!(none, vec![None, None]);
        // A document that is not what the caller reads it as is an error, not a None.
        assert!(matches!(
            read.get_many::<u64, _>("p", "t", ["old"]),
            Err(ProjectionError::Decode { .. })
        ));
    }

    #[test]
    fn an_index_reads_the_documents_it_points_at_in_its_order_skipping_the_gone() {
        let (_dir, db) = seeded();
        let txn = db.begin_write().unwrap();
        {
            let mut view = ViewWrite::new(&txn, "p");
            for key in ["a|1|old", "a|2|gone", "a|3|doomed", "b|1|old"] {
                view.put_key("idx", key.into());
            }
            view.flush().unwrap();
        }
        txn.commit().unwrap();
        let read = ViewRead::begin([("p", Arc::new(db))]).unwrap();
        let docs: Vec<serde_json::Value> = read.indexed_documents("p", "idx", "a|", "t").unwrap();
        assert_eq!(docs, [serde_json::json!({"a": 1}), serde_json::json!(7)]);
        let none: Vec<u64> = read.indexed_documents("p", "idx", "c|", "t").unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn a_range_of_an_index_is_read_within_its_bounds_and_its_prefix() {
        let (_dir, db) = seeded();
        let txn = db.begin_write().unwrap();
        {
            let mut view = ViewWrite::new(&txn, "p");
            for key in ["a|1|old", "a|2|y", "a|3|z", "a|4|doomed", "b|1|v"] {
                view.put_key("idx", key.into());
            }
            view.flush().unwrap();
        }
        txn.commit().unwrap();
        let read = ViewRead::begin([("p", Arc::new(db))]).unwrap();
        let range = |start: &str, end: Option<&str>| KeyRange {
            start: start.into(),
            end: end.map(Into::into),
        };
        let keys = |r: &KeyRange, after: Option<&str>, limit| {
            read.scan_keys_in("p", "idx", "a|", r, after, limit)
                .unwrap()
        };
        // Start inclusive, end exclusive.
        assert_eq!(
            keys(&range("a|2", Some("a|4")), None, 10),
            ["a|2|y", "a|3|z"]
        );
        // No end: up to the prefix's last key, never past it.
        assert_eq!(keys(&range("a|3", None), None, 10), ["a|3|z", "a|4|doomed"]);
        // A start below the prefix reads from the prefix.
        assert_eq!(keys(&range("", Some("a|2")), None, 10), ["a|1|old"]);
        // Paging within a range: `after` and `limit` as for a whole prefix.
        assert_eq!(
            keys(&range("a|1", Some("a|4")), None, 2),
            ["a|1|old", "a|2|y"]
        );
        assert_eq!(
            keys(&range("a|1", Some("a|4")), Some("a|2|y"), 2),
            ["a|3|z"]
        );
        // An empty or inverted range reads nothing.
        assert!(keys(&range("a|3", Some("a|3")), None, 10).is_empty());
        assert!(keys(&range("a|4", Some("a|2")), None, 10).is_empty());
        assert!(keys(&range("a|2", Some("a|4")), Some("a|5"), 10).is_empty());
        // Documents of several ranges, in the order of the ranges.
        let docs: Vec<serde_json::Value> = read
            .indexed_documents_in(
                "p",
                "idx",
                "a|",
                &[range("a|4", None), range("a|1", Some("a|2"))],
                "t",
            )
            .unwrap();
        assert_eq!(docs, [serde_json::json!(7), serde_json::json!({"a": 1})]);
    }

    #[test]
    fn every_indexed_document_is_given_in_order_across_pages_and_ranges() {
        let (_dir, db) = seeded();
        let n = 2 * INDEX_PAGE + 3;
        let txn = db.begin_write().unwrap();
        {
            let mut view = ViewWrite::new(&txn, "p");
            for i in 0..n {
                view.put("docs", &format!("d{i:05}"), &(i as u64)).unwrap();
                view.put_key("idx", format!("a|{i:05}|d{i:05}"));
            }
            view.flush().unwrap();
        }
        txn.commit().unwrap();
        let read = ViewRead::begin([("p", Arc::new(db))]).unwrap();
        let ranges = [
            KeyRange::all(),
            KeyRange {
                start: "a|00001".into(),
                end: Some("a|00003".into()),
            },
        ];
        let mut seen = Vec::new();
        read.for_each_indexed_in("p", "idx", "a|", &ranges, "docs", |doc: u64| {
            seen.push(doc);
            Ok::<_, ProjectionError>(())
        })
        .unwrap();
        let mut expected: Vec<u64> = (0..n as u64).collect();
        expected.extend([1, 2]);
        assert_eq!(seen, expected);
        // What `each` refuses ends the walk with its error.
        let mut given = 0;
        let stopped = read.for_each_indexed_in("p", "idx", "a|", &ranges, "docs", |_: u64| {
            given += 1;
            if given == 3 {
                Err(ProjectionError::Storage("enough".into()))
            } else {
                Ok(())
            }
        });
        assert!(matches!(stopped, Err(ProjectionError::Storage(_))));
        assert_eq!(given, 3);
    }

    #[test]
    fn index_entries_are_keys_the_last_change_to_each_wins_and_scans_page_through_them() {
        let (_dir, db) = seeded();
        let txn = db.begin_write().unwrap();
        {
            let mut view = ViewWrite::new(&txn, "p");
            view.put_key("idx", "a|2|v2".into());
            view.put_key("idx", "a|1|v1".into());
            view.put_key("idx", "b|1|v3".into());
            // Made then taken out in the same batch: absent. Taken out then made: present.
            view.put_key("idx", "a|3|gone".into());
            view.remove_key("idx", "a|3|gone".into());
            view.remove_key("idx", "a|4|v4".into());
            view.put_key("idx", "a|4|v4".into());
            view.flush().unwrap();
        }
        txn.commit().unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut view = ViewWrite::new(&txn, "p");
            view.remove_key("idx", "a|1|v1".into());
            view.remove_key("idx", "never|made".into());
            view.flush().unwrap();
        }
        txn.commit().unwrap();
        let read = ViewRead::begin([("p", Arc::new(db))]).unwrap();
        let all = read.scan_keys("p", "idx", "a|", None, 10).unwrap();
        assert_eq!(all, ["a|2|v2", "a|4|v4"]);
        let ids: Vec<&str> = all.iter().map(|k| indexed_id(k)).collect();
        assert_eq!(ids, ["v2", "v4"]);
        let first = read.scan_keys("p", "idx", "a|", None, 1).unwrap();
        assert_eq!(first, ["a|2|v2"]);
        let next = read.scan_keys("p", "idx", "a|", Some("a|2|v2"), 1).unwrap();
        assert_eq!(next, ["a|4|v4"]);
        assert!(
            read.scan_keys("p", "idx", "c|", None, 10)
                .unwrap()
                .is_empty()
        );
        assert!(
            read.scan_keys("p", "none", "", None, 10)
                .unwrap()
                .is_empty()
        );
        assert_eq!(indexed_id("c|o/7b|2025/f-1"), "f-1");
        assert_eq!(indexed_id("plain"), "plain");
    }

    #[test]
    fn a_flushed_batch_stores_every_change_in_it() {
        let (_dir, db) = seeded();
        let txn = db.begin_write().unwrap();
        {
            let mut view = ViewWrite::new(&txn, "p");
            view.update("t", "old", |doc: &mut BTreeMap<String, u64>| {
                doc.insert("b".to_string(), 2);
            })
            .unwrap();
            view.put_owned("t", "new", 3u64).unwrap();
            view.update("t", "new", |n: &mut u64| *n += 1).unwrap();
            view.remove("t", "doomed").unwrap();
            view.flush().unwrap();
        }
        txn.commit().unwrap();
        let read = ViewRead::begin([("p", Arc::new(db))]).unwrap();
        let old: Option<BTreeMap<String, u64>> = read.get("p", "t", "old").unwrap();
        assert_eq!(
            old,
            Some(BTreeMap::from([("a".to_string(), 1), ("b".to_string(), 2)]))
        );
        assert_eq!(read.get::<u64>("p", "t", "new").unwrap(), Some(4));
        assert_eq!(read.get::<u64>("p", "t", "doomed").unwrap(), None);
    }

    #[test]
    fn a_read_sees_each_projection_in_its_own_file_and_refuses_an_unknown_one() {
        let (_dir, p) = seeded();
        let other_dir = tempfile::tempdir().unwrap();
        let q = redb::Database::create(other_dir.path().join("q.redb")).unwrap();
        let txn = q.begin_write().unwrap();
        {
            let mut view = ViewWrite::new(&txn, "q");
            view.put_owned("t", "old", 5u64).unwrap();
            view.flush().unwrap();
            txn.open_table(CHECKPOINTS)
                .unwrap()
                .insert("q", 12)
                .unwrap();
        }
        txn.commit().unwrap();

        let read = ViewRead::begin([("p", Arc::new(p)), ("q", Arc::new(q))]).unwrap();
        let from_p: Option<BTreeMap<String, u64>> = read.get("p", "t", "old").unwrap();
        assert_eq!(from_p, Some(BTreeMap::from([("a".to_string(), 1)])));
        assert_eq!(read.get::<u64>("q", "t", "old").unwrap(), Some(5));
        assert_eq!(read.checkpoint("q").unwrap(), 12);
        assert_eq!(read.checkpoint("p").unwrap(), 0);
        assert!(matches!(
            read.get::<u64>("r", "t", "old"),
            Err(ProjectionError::UnknownProjection(name)) if name == "r"
        ));
        assert!(matches!(
            read.scan_keys("r", "t", "", None, 10),
            Err(ProjectionError::UnknownProjection(_))
        ));
    }

    #[test]
    fn hex_keys_are_the_hex_crate_encoding() {
        for name in ["", "organ 1", "县公安局交警大队", "a|b/c", "\u{1F600}"] {
            assert_eq!(hex_key(name), hex::encode(name.as_bytes()), "{name}");
        }
        assert_eq!(hex_key("A|"), "417c");
    }
}

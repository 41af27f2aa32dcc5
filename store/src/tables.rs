//! The node's own small tables beside the documents: memberships,
//! revocations, peers, what peers hold, client tokens, the audit log and
//! local settings.
//!
//! Owns: which tables exist, their key prefixes and the encoding of their
//! values (raw bytes, or JSON for the typed ones). Must never: decide what
//! a value means (a membership is verified by `network`, a client token by
//! `clients`), or write without making it durable before returning.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::kv::Batch;
use super::{versioned, Store, StoreWriter, VALUE_VERSION};
use ayni_model::error::{Error, Result};

/// One of the node's own tables. Every row is `PREFIX:name` → `1` + value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// `n:` node ID → a membership of the node's network (signed bytes, as
    /// received; verified when read).
    Members,
    /// `r:` node ID → a revocation (signed bytes, as received).
    Revocations,
    /// `p:` node ID, or `addr-ADDRESS` before the first contact → what this
    /// node knows of a peer (JSON).
    Peers,
    /// `q:` node ID `.at` → this store's change-feed position at the last
    /// completed sync with the peer; `q:` node ID → the replication summary
    /// a peer's bundle said it held (zstd of id(16) + state hash(16)
    /// pairs); `q:` node ID `.sha256`, written by earlier builds → the
    /// SHA-256 of those pairs. Layout and reading: `node/src/peer_state.rs`.
    PeerSummaries,
    /// `cl:` client name → a client token, its secret hashed (JSON).
    Clients,
    /// `cr:` gateway node ID `-` client name → a client's revocation, signed
    /// by the node that issued the client (bytes, as received; verified
    /// when read).
    ClientRevocations,
    /// `a:` time-change → a refused change (JSON): the audit log.
    Audit,
    /// `self:` setting → a local setting of this node (UTF-8), e.g. the
    /// address it last listened on.
    Local,
}

/// The prefixes whose rows the store keeps in a redb table of their own
/// (`kv`'s `apart`): a peer's summary runs to megabytes (3.2 MB at
/// 100,000 records), and among the other rows it shared its page with the
/// peers' rows, so that every read of a peer's row read it and every write
/// of one copied it.
pub(crate) const APART: &[&[u8]] = &[b"q:"];

impl Table {
    fn prefix(self) -> &'static str {
        match self {
            Table::Members => "n",
            Table::Revocations => "r",
            Table::Peers => "p",
            Table::PeerSummaries => "q",
            Table::Clients => "cl",
            Table::ClientRevocations => "cr",
            Table::Audit => "a",
            Table::Local => "self",
        }
    }

    fn key(self, name: &str) -> String {
        format!("{}:{name}", self.prefix())
    }
}

impl Store {
    /// One row.
    pub fn row(&self, table: Table, name: &str) -> Result<Option<Vec<u8>>> {
        match self.get(table.key(name).as_bytes())? {
            Some(v) if v.first() == Some(&VALUE_VERSION) => Ok(Some(v[1..].to_vec())),
            Some(_) => Err(Error::Damaged { id: table.key(name), reason: "unknown value format".into() }),
            None => Ok(None),
        }
    }

    /// Every row of a table, in key order: `(name, value)`.
    pub fn rows(&self, table: Table) -> Result<Vec<(String, Vec<u8>)>> {
        let p = format!("{}:", table.prefix());
        let mut out = vec![];
        for item in self.read()?.prefix(p.as_bytes()).map_err(|e| self.err(e))? {
            let (k, v) = item.map_err(|e| self.err(e))?;
            if v.first() == Some(&VALUE_VERSION) {
                out.push((String::from_utf8_lossy(&k[p.len()..]).into_owned(), v[1..].to_vec()));
            }
        }
        Ok(out)
    }

    /// One JSON row; a row that does not decode is reported damaged.
    pub fn row_json<T: DeserializeOwned>(&self, table: Table, name: &str) -> Result<Option<T>> {
        match self.row(table, name)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::Damaged { id: table.key(name), reason: e.to_string() }),
            None => Ok(None),
        }
    }

    /// Every JSON row of a table that decodes, in key order.
    pub fn rows_json<T: DeserializeOwned>(&self, table: Table) -> Result<Vec<(String, T)>> {
        Ok(self
            .rows(table)?
            .into_iter()
            .filter_map(|(name, v)| serde_json::from_slice(&v).ok().map(|t| (name, t)))
            .collect())
    }
}

impl StoreWriter {
    /// Stores a row durably.
    pub fn put(&self, table: Table, name: &str, value: &[u8]) -> Result<()> {
        let mut batch = Batch::default();
        batch.insert(table.key(name), versioned(value));
        self.after_write(table, batch)
    }

    fn after_write(&self, table: Table, batch: Batch) -> Result<()> {
        let durable = self.commit(batch);
        if matches!(table, Table::Members | Table::Revocations | Table::Clients | Table::ClientRevocations) {
            self.policy_changed();
        }
        durable
    }

    /// Stores a row and removes others of the same table, in one durable
    /// commit.
    pub fn put_removing(&self, table: Table, name: &str, value: &[u8], gone: &[&str]) -> Result<()> {
        let mut batch = Batch::default();
        for g in gone {
            batch.remove(table.key(g));
        }
        batch.insert(table.key(name), versioned(value));
        self.after_write(table, batch)
    }

    /// Removes a row durably.
    pub fn remove(&self, table: Table, name: &str) -> Result<()> {
        let mut batch = Batch::default();
        batch.remove(table.key(name));
        self.after_write(table, batch)
    }

    /// Stores a row as JSON, durably.
    pub fn put_json<T: Serialize>(&self, table: Table, name: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec(value).map_err(|e| Error::Internal(format!("{}: {e}", table.key(name))))?;
        self.put(table, name, &bytes)
    }
}

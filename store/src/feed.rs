//! The change feed's half in the store: positions given out in write
//! order, read back from a position, and watched for durability.
//!
//! Owns: the `f:`/`fi:` keys and the `m:feed` migration of a store from
//! before the feed. Must never: hand a follower a position that is not
//! durable yet.

use super::*;

impl StoreWriter {
    /// Gives every document without a feed entry one, once per store (a
    /// store written before the change feed existed), in one atomic batch.
    pub(super) fn feed_every_document(&self) -> Result<()> {
        if self.get(b"m:feed")?.is_some() {
            return Ok(());
        }
        let mut batch = kv::Batch::default();
        let mut feed = self.feed.lock().unwrap_or_else(|p| p.into_inner());
        let mut position = *feed;
        let stored = self.read()?;
        for (id, _) in self.summary_on_disk()? {
            if stored.get(&key(b"fi:", &id)).map_err(|e| self.err(e))?.is_none() {
                position += 1;
                let mut k = b"f:".to_vec();
                k.extend_from_slice(&position.to_be_bytes());
                batch.insert(k, id.as_bytes());
                batch.insert(key(b"fi:", &id), position.to_be_bytes());
            }
        }
        batch.insert(b"m:feed", b"1");
        drop(stored);
        self.db.apply(batch, false).map_err(|e| self.err(e))?;
        *feed = position;
        drop(feed);
        self.durable()
    }
}

impl Store {
    /// Follows the change feed: the receiver holds the last durable
    /// position and wakes when it moves.
    pub fn feed_watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.feed_durable.subscribe()
    }

    /// The last durable change-feed position.
    pub fn feed_position(&self) -> u64 {
        *self.feed_durable.borrow()
    }

    /// The last change-feed position given out, durable or not yet.
    pub fn feed_written(&self) -> u64 {
        *self.feed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every document with a change-feed entry after position `after`,
    /// durable or not yet: what was written here since the feed stood
    /// there.
    pub fn written_after(&self, after: u64) -> Result<std::collections::HashSet<DocumentId>> {
        let mut out = std::collections::HashSet::new();
        self.walk_feed(&self.read()?, after, |_, id| {
            out.insert(id);
            Ok(true)
        })?;
        Ok(out)
    }

    /// Change-feed entries after `after`, in order: `(position, document)`,
    /// at most `limit`, none beyond the last durable position.
    pub fn feed_since(&self, after: u64, limit: usize) -> Result<Vec<(u64, DocumentId)>> {
        let durable = self.feed_position();
        let mut out = vec![];
        self.walk_feed(&self.read()?, after, |position, id| {
            if out.len() >= limit || position > durable {
                return Ok(false);
            }
            out.push((position, id));
            Ok(true)
        })?;
        Ok(out)
    }

    /// Walks the change feed in `stored` after position `after`, in order,
    /// durable or not: `f(position, document)` for each entry until it
    /// answers `false`. The one reader of `f:` ranges.
    pub(crate) fn walk_feed(
        &self,
        stored: &kv::Reader,
        after: u64,
        mut f: impl FnMut(u64, DocumentId) -> Result<bool>,
    ) -> Result<()> {
        let mut start = b"f:".to_vec();
        start.extend_from_slice(&(after.saturating_add(1)).to_be_bytes());
        for item in stored.from(&start).map_err(|e| self.err(e))? {
            let (k, v) = item.map_err(|e| self.err(e))?;
            if !k.starts_with(b"f:") {
                break;
            }
            let position = k.get(2..10).and_then(|b| <[u8; 8]>::try_from(b).ok()).map(u64::from_be_bytes);
            let id = <[u8; 16]>::try_from(v.as_ref()).ok().map(DocumentId::from_bytes);
            if let (Some(position), Some(id)) = (position, id) {
                if !f(position, id)? {
                    break;
                }
            }
        }
        Ok(())
    }
}

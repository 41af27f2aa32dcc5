//! The change feed: every record write this node makes durable — local
//! edits, syncs, bundles, the HTTP API alike — in the order it landed, to
//! follow from a position (`ayni watch`, `GET /api/v1/changes`, the
//! PostgreSQL mirror).
//!
//! Owns: reading the feed as records (`follow` follows it through a
//! node's handle). Must never: write (the store adds a
//! document's entry in the same atomic batch as the document, see
//! `store`), or promise more than it keeps: the feed holds each document
//! once, at the position of its latest write, so a follower that resumes
//! from position P gets every record changed since P, in its latest state
//! (not every intermediate state).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::node::{Reader, Record};

/// One entry of the feed (`ayni watch --json` prints one per line).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Change {
    /// Where it is in the feed: resume after it.
    pub position: u64,
    /// The record as it is now.
    pub record: Record,
}

impl Reader {
    /// Feed entries after position `after` (0: from the start), of `kind`
    /// only if given, at most `limit`. Returns them and the position to
    /// resume from (past entries of other kinds too).
    pub fn changes_since(&self, after: u64, kind: Option<&str>, limit: usize) -> Result<(Vec<Change>, u64)> {
        if let Some(k) = kind {
            self.kind(k)?;
        }
        let mut out = vec![];
        let mut resume = after;
        for (position, id) in self.store().feed_since(after, limit)? {
            resume = position;
            let Some(bytes) = self.store().view(&id)? else { continue };
            let record: Record = serde_json::from_slice(&bytes)
                .map_err(|e| Error::Damaged { id: id.to_string(), reason: format!("view: {e}") })?;
            if kind.is_none_or(|k| k == record.kind) {
                out.push(Change { position, record: self.shown(record) });
            }
        }
        Ok((out, resume))
    }

    /// Follows the feed: holds the last durable position, wakes when it
    /// moves (only writes made by this process are seen).
    pub fn feed_watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.store().feed_watch()
    }
}

#[cfg(test)]
mod tests {
    use crate::node::Node;
    use serde_json::json;

    #[test]
    fn the_feed_holds_each_record_once_at_its_latest_write_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::init(dir.path(), "hq").unwrap();
        let mut watch = node.feed_watch();
        let a = node.add("person", Some("a"), json!({"full_name": "A"})).unwrap();
        node.add("person", Some("b"), json!({"full_name": "B"})).unwrap();
        node.add("team", Some("t"), json!({"name": "T"})).unwrap();
        assert!(watch.has_changed().unwrap());
        assert_eq!(*watch.borrow_and_update(), 3);
        node.set("person:a", &[("position".into(), json!("x"))]).unwrap();
        let (all, resume) = node.changes_since(0, None, 100).unwrap();
        let keys: Vec<&str> = all.iter().map(|c| c.record.key.as_str()).collect();
        assert_eq!(keys, ["b", "t", "a"], "a moved to its latest write");
        assert_eq!(resume, 4);
        assert_eq!(all[2].record.fields["position"], "x");
        assert_eq!(all[2].record.id, a.id);
        let (people, resume) = node.changes_since(0, Some("person"), 100).unwrap();
        assert_eq!(people.len(), 2);
        assert_eq!(resume, 4);
        let (after, _) = node.changes_since(2, None, 100).unwrap();
        assert_eq!(after.iter().map(|c| c.position).collect::<Vec<_>>(), [3, 4]);
        assert!(node.changes_since(0, Some("spaceship"), 1).is_err());
        drop(node);
        let node = Node::open(dir.path()).unwrap();
        node.add("person", Some("c"), json!({"full_name": "C"})).unwrap();
        let (after, resume) = node.changes_since(4, None, 100).unwrap();
        assert_eq!((after.len(), after[0].position, resume), (1, 5, 5));
    }
}

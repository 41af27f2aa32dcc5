//! What each peer is known to hold, for `bundle export --since`: the
//! bundle then carries only what that peer lacks.
//!
//! Owns: the `q:` rows (table `PeerSummaries`) and reading them back as
//! [`Known`]. Must never: say a peer holds a document that neither a
//! completed sync nor its bundle vouched for (every doubt — no row, a mark
//! ahead of this store's feed, rows that disagree — sends the document),
//! or cost a completed sync work in proportion to the replica.
//!
//! Two records, one per peer at a time:
//! - after a completed sync, a **feed mark**, `q:` node ID `.at`: format
//!   byte `1`, then a change-feed position of this store (u64 BE): the
//!   last durable one as the sync is recorded, or the one just before
//!   the first entry written after the session began that the session
//!   does not vouch for ([`Exchanged`]): one written by another door
//!   while it ran, or a document the session wrote not as it arrived
//!   (changes refused, a stored copy merged in). Every document with no
//!   feed entry after the mark counts as held by the peer; entries after
//!   it count as not held, even the session's own (a bundle sends them
//!   again rather than miss one). A sync writes 9 bytes, where the
//!   summary it replaces ran to 3.2 MB at 100,000 records. What it takes
//!   on trust: that a completed session left the peer holding every
//!   document written here before it began as it is here. A change the
//!   peer refused, or one this side still had to send for a document it
//!   blocked after refusing some of the peer's, is not known here
//!   (ARCHITECTURE.md, "Deliberately absent").
//! - after a bundle import, the **summary** its exporter held, `q:` node ID:
//!   zstd of ID (16) + state hash (16) pairs — what the bundle says it
//!   holds, which is not this node's state.
//!
//! Writing one removes the other in the same durable commit. A build from
//! before the mark wrote a summary after every sync and a SHA-256 of it
//! (`q:` node ID `.sha256`); such a row left beside a mark is read too, and
//! a document is then held only where both say so.

use std::collections::{BTreeMap, HashSet};

use crate::error::{Error, Result};
use crate::id::DocumentId;
use crate::identity::NodeId;
use crate::node::{Node, Reader};
use crate::store::Table;

/// The feed mark's format byte.
const MARK: u8 = 1;

/// What a peer is known to hold.
#[derive(Debug, Default)]
pub(crate) struct Known {
    /// Documents written here after the peer's last completed sync, when
    /// there is a mark.
    written_since: Option<HashSet<DocumentId>>,
    /// The summary recorded from its bundle (or by an earlier build).
    summary: Option<BTreeMap<DocumentId, [u8; 16]>>,
}

impl Known {
    /// Whether the peer holds `id` at state `hash`.
    pub(crate) fn holds(&self, id: &DocumentId, hash: &[u8; 16]) -> bool {
        if self.written_since.is_none() && self.summary.is_none() {
            return false;
        }
        self.written_since.as_ref().is_none_or(|w| !w.contains(id))
            && self.summary.as_ref().is_none_or(|s| s.get(id) == Some(hash))
    }
}

/// What one sync session vouches the peer holds once it completes:
/// every document written here before it began, and those it wrote
/// itself as they arrived, each while still in the state it wrote.
#[derive(Debug, Default, Clone)]
pub(crate) struct Exchanged {
    /// The last change-feed position given out when the session began.
    pub start: u64,
    /// The documents it wrote as they arrived, and the state hash of each
    /// as written ([`crate::sync_store::SyncStore::take_written`]).
    pub wrote: std::collections::HashMap<DocumentId, [u8; 16]>,
}

fn mark_key(peer: &NodeId) -> String {
    format!("{peer}.at")
}

fn digest_key(peer: &NodeId) -> String {
    format!("{peer}.sha256")
}

impl Reader {
    /// What `peer` is known to hold: nothing, if this node never completed
    /// a sync with it nor imported its bundle.
    pub(crate) fn known_to(&self, peer: &NodeId) -> Result<Known> {
        let store = self.store();
        let damaged = |what: String, reason: String| Error::Damaged { id: what, reason };
        let written_since = match store.row(Table::PeerSummaries, &mark_key(peer))? {
            None => None,
            Some(v) => {
                let at = match v.split_first() {
                    Some((&MARK, p)) => <[u8; 8]>::try_from(p).ok().map(u64::from_be_bytes),
                    _ => None,
                }
                .ok_or_else(|| damaged(format!("q:{}", mark_key(peer)), "not a feed mark of format 1".into()))?;
                if at > store.feed_position() {
                    // a mark this store's feed has not reached (a file
                    // damaged or edited by hand; the mark and the feed
                    // live in one file, so a copy put back brings both):
                    // nothing is known
                    return Ok(Known::default());
                }
                Some(store.written_after(at)?)
            }
        };
        let summary = match store.row(Table::PeerSummaries, &peer.to_string())? {
            None => None,
            Some(bytes) => {
                let raw =
                    zstd::stream::decode_all(&bytes[..]).map_err(|e| damaged(format!("q:{peer}"), e.to_string()))?;
                Some(
                    raw.chunks_exact(32)
                        .filter_map(|c| {
                            Some((DocumentId::from_bytes(c[..16].try_into().ok()?), c[16..].try_into().ok()?))
                        })
                        .collect(),
                )
            }
        };
        Ok(Known { written_since, summary })
    }
}

impl Node {
    /// Records what `peer` holds as a bundle said (`items` in ID order).
    pub(crate) fn set_peer_summary<'a>(
        &self,
        peer: &NodeId,
        items: impl ExactSizeIterator<Item = (&'a DocumentId, &'a [u8; 16])>,
    ) -> Result<()> {
        let mut raw = Vec::with_capacity(items.len() * 32);
        for (id, h) in items {
            raw.extend_from_slice(id.as_bytes());
            raw.extend_from_slice(h);
        }
        let z = zstd::stream::encode_all(&raw[..], 3).map_err(|e| Error::Internal(e.to_string()))?;
        self.writer().put_removing(Table::PeerSummaries, &peer.to_string(), &z, &[&mark_key(peer), &digest_key(peer)])
    }

    /// Records what `peer` holds after a completed sync, for later `bundle
    /// export --since`: a feed mark up to the first entry the session does
    /// not vouch for (one written after it began, by another door or not
    /// as the session wrote it), else this store's last durable position;
    /// unless that is what is recorded already (a sync with nothing to
    /// exchange writes nothing).
    pub(crate) fn remember_peer_state(&self, peer: &NodeId, session: &Exchanged) -> Result<()> {
        let store = self.store();
        let mut at = store.feed_position();
        // the entries after the session began, a page at a time: the
        // session's own writes, then (rarely) one it does not vouch for
        let mut after = session.start;
        'walk: loop {
            let entries = store.feed_since(after, 1024)?;
            let Some(&(last, _)) = entries.last() else { break };
            for (position, id) in entries {
                let wrote = session.wrote.get(&id);
                if wrote.is_none() || store.state_hash(&id)?.as_ref() != wrote {
                    at = position - 1;
                    break 'walk;
                }
            }
            after = last;
        }
        let mut mark = vec![MARK];
        mark.extend_from_slice(&at.to_be_bytes());
        if self.store().row(Table::PeerSummaries, &mark_key(peer))?.as_deref() == Some(&mark[..]) {
            return Ok(());
        }
        self.writer().put_removing(
            Table::PeerSummaries,
            &mark_key(peer),
            &mark,
            &[&peer.to_string(), &digest_key(peer)],
        )
    }
}

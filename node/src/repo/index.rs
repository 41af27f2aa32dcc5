//! The index document: automerge-repo has no "list documents" message, so
//! a client finds records through one document that lists them — by kind
//! and key, with their automerge URLs, titles and states — kept current by
//! the node, readable by every client, writable by none.
//!
//! Owns: the index's document ID, its layout and keeping it current from
//! the change feed. Must never: list a record the index's readers may not
//! read, take a client's change, or enter the record tables (it is no
//! record: it does not replicate between nodes, each node keeps its own
//! copy from what it holds).
//!
//! # Layout, version 2
//! ```text
//! { "ayni_index": 2, "network": ID, "scope": "all" | "entity:ID",
//!   "records": { KIND: { KEY: { "url": "automerge:…", "title": …, "status": …,
//!                               "event": "automerge:…" } } } }
//! ```
//! `event` (version 2) is the URL of the emergency a record belongs to (an
//! EDAN's `event_id`, a mission's `emergency_event_id`), so an app groups
//! them without opening each. A stored version 1 copy is brought to version
//! 2 in place (every record listed again, the same document continued).
//! Its document ID is the first 16 bytes of SHA-256(`"ayni index 1\0"`,
//! network ID, `\0`, scope), so every node of a network serves the same URL
//! for it (a node outside any network uses its node ID). Clients that read
//! everything share the network's index (`scope: all`); a partner's `read`
//! client bound to its entity gets that entity's index, listing only what
//! it may read (`Client::may_read`). Each node writes its copy with its own
//! actor; a client that syncs with two nodes merges both copies, which
//! agree once both have seen the same records.
//!
//! The document is kept in the node's local table (`self:index-SCOPE`, its
//! automerge bytes, and `self:index-at-SCOPE`, the feed position it is
//! current to) and in memory; it is brought up to date when a client asks
//! for it, from the feed entries since (each changed record is put or, once
//! deleted or unreadable, removed), under the node's index lock.

use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, ObjType, ReadDoc, ROOT};
use sha2::{Digest, Sha256};

use crate::clients::Client;
use crate::error::{Error, Result};
use crate::id::DocumentId;
use crate::node::{Node, Reader, Record};
use crate::store::Table;

/// Layout version of the index document.
pub const LAYOUT: u64 = 2;

/// Whose index: every record, or what one partner entity may read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every record (clients bound to no entity).
    All,
    /// What a partner's client bound to this entity (document ID) reads.
    Entity(String),
}

impl Scope {
    /// The index `client` reads.
    pub fn of(client: &Client) -> Scope {
        match &client.entity {
            None => Scope::All,
            Some(e) => Scope::Entity(e.clone()),
        }
    }

    /// As written in the document and its ID: `all` or `entity:ID`.
    pub fn name(&self) -> String {
        match self {
            Scope::All => "all".into(),
            Scope::Entity(e) => format!("entity:{e}"),
        }
    }

    fn may_read(&self, node: &Reader, rec: &Record) -> bool {
        match self {
            Scope::All => true,
            Scope::Entity(e) => {
                let catalogue = node.kind(&rec.kind).map(|k| k.catalogue).unwrap_or(false);
                crate::clients::entity_may_read(Some(e), rec, catalogue)
            }
        }
    }
}

impl Reader {
    /// The document ID of the index for `scope` on this node's network.
    pub fn index_id(&self, scope: &Scope) -> Result<DocumentId> {
        let network = self.index_network()?;
        let mut h = Sha256::new();
        h.update(b"ayni index 1\0");
        h.update(network.as_bytes());
        h.update(b"\0");
        h.update(scope.name().as_bytes());
        let digest = h.finalize();
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        Ok(DocumentId::from_bytes(id))
    }

    /// What the index is of: the network's ID, or outside any network
    /// this node's.
    fn index_network(&self) -> Result<String> {
        Ok(match self.network()? {
            Some(n) => n.id,
            None => self.id().to_string(),
        })
    }

    /// The index for `scope` if it is current with the feed — the copy in
    /// memory, or the stored one — without writing anything (`None`: it
    /// must be brought up to date first, by [`Node::refresh_index`] on the
    /// engine). What the read path serves.
    pub(crate) fn index_current(&self, scope: &Scope) -> Result<Option<Automerge>> {
        let name = scope.name();
        let mut cache = self.index_cache().lock().unwrap_or_else(|e| e.into_inner());
        let feed = self.store().feed_position();
        if let Some((at, doc)) = cache.get(&name) {
            return Ok((*at == feed).then(|| doc.clone()));
        }
        if self.store().row(Table::Local, &format!("index-{name}"))?.is_none() {
            return Ok(None);
        }
        let (at, doc) = self.stored_index(scope)?;
        if at != feed || doc.get_heads().is_empty() {
            return Ok(None);
        }
        cache.insert(name, (at, doc.clone()));
        Ok(Some(doc))
    }

    /// The index as stored, or a new one.
    fn stored_index(&self, scope: &Scope) -> Result<(u64, Automerge)> {
        let name = scope.name();
        let damaged = |reason: String| Error::Damaged { id: format!("self:index-{name}"), reason };
        if let Some(bytes) = self.store().row(Table::Local, &format!("index-{name}"))? {
            let at = self
                .store()
                .row(Table::Local, &format!("index-at-{name}"))?
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            // its own actor again (the document's first change's)
            let doc = Automerge::load(&bytes).map_err(|e| damaged(e.to_string()))?;
            let actor = doc.get_changes(&[]).first().map(|c| c.actor_id().clone()).unwrap_or_else(ActorId::random);
            let mut doc = doc.with_actor(actor);
            let layout = doc.get(ROOT, "ayni_index").ok().flatten().and_then(|(v, _)| v.as_u64()).unwrap_or(0);
            if layout < LAYOUT {
                // an older layout: list every record again, in this document
                let mut tx = doc.transaction();
                tx.put(ROOT, "ayni_index", LAYOUT).map_err(|e| damaged(e.to_string()))?;
                tx.commit();
                return Ok((0, doc));
            }
            return Ok((at, doc));
        }
        let network = self.index_network()?;
        // a new actor for a new copy: one rebuilt after its stored copy was
        // lost must not reuse sequence numbers clients already hold
        let mut doc = Automerge::new().with_actor(ActorId::random());
        let mut tx = doc.transaction();
        let done = (|| {
            tx.put(ROOT, "ayni_index", LAYOUT)?;
            tx.put(ROOT, "network", network.as_str())?;
            tx.put(ROOT, "scope", name.as_str())?;
            tx.put_object(ROOT, "records", ObjType::Map)?;
            Ok::<_, automerge::AutomergeError>(())
        })();
        done.map_err(|e| damaged(e.to_string()))?;
        tx.commit();
        Ok((0, doc))
    }
}

impl Node {
    /// Brings the index for `scope` up to date with every durable write and
    /// stores it: a write (the engine's), so that what clients were served
    /// is what the node continues after a restart.
    pub(crate) fn refresh_index(&self, scope: &Scope) -> Result<Automerge> {
        let name = scope.name();
        let mut cache = self.index_cache().lock().unwrap_or_else(|e| e.into_inner());
        let feed = self.store().feed_position();
        if let Some((at, doc)) = cache.get(&name) {
            if *at == feed {
                return Ok(doc.clone());
            }
        }
        let (mut at, mut doc) = match cache.remove(&name) {
            Some(kept) => kept,
            None => self.stored_index(scope)?,
        };
        let before = doc.get_heads();
        loop {
            let changed = self.store().feed_since(at, 10_000)?;
            let Some((last, _)) = changed.last() else { break };
            let last = *last;
            self.update_index(&mut doc, scope, changed.iter().map(|(_, id)| id))?;
            at = last;
        }
        if doc.get_heads() != before {
            self.writer().put(Table::Local, &format!("index-{name}"), &doc.save())?;
        }
        self.writer().put(Table::Local, &format!("index-at-{name}"), at.to_string().as_bytes())?;
        cache.insert(name, (at, doc.clone()));
        Ok(doc)
    }

    /// Puts or removes the entries of the records `ids`.
    fn update_index<'a>(
        &self,
        doc: &mut Automerge,
        scope: &Scope,
        ids: impl Iterator<Item = &'a DocumentId>,
    ) -> Result<()> {
        let damaged = |e: automerge::AutomergeError| Error::Damaged { id: scope.name(), reason: e.to_string() };
        let mut tx = doc.transaction();
        let records = match tx.get(ROOT, "records").map_err(damaged)? {
            Some((_, obj)) => obj,
            None => tx.put_object(ROOT, "records", ObjType::Map).map_err(damaged)?,
        };
        for id in ids {
            let Some(view) = self.store().view(id)? else { continue };
            let Ok(rec) = serde_json::from_slice::<Record>(&view) else { continue };
            let listed = !rec.deleted && scope.may_read(self, &rec);
            let kind = match tx.get(&records, rec.kind.as_str()).map_err(damaged)? {
                Some((_, obj)) => obj,
                None if listed => tx.put_object(&records, rec.kind.as_str(), ObjType::Map).map_err(damaged)?,
                None => continue,
            };
            let url = crate::id::automerge_url(&rec.id);
            let existing = tx.get(&kind, rec.key.as_str()).map_err(damaged)?;
            // the entry is this record's (two records created with one key
            // offline: the index keeps the first it saw until HQ settles it)
            let ours = match &existing {
                Some((_, entry)) => {
                    tx.get(entry, "url").map_err(damaged)?.is_some_and(|(v, _)| v.as_str() == Some(url.as_str()))
                }
                None => true,
            };
            if !ours {
                continue;
            }
            if !listed {
                if existing.is_some() {
                    tx.delete(&kind, rec.key.as_str()).map_err(damaged)?;
                }
                continue;
            }
            let entry = match existing {
                Some((_, entry)) => entry,
                None => tx.put_object(&kind, rec.key.as_str(), ObjType::Map).map_err(damaged)?,
            };
            let event = ["event_id", "emergency_event_id"]
                .iter()
                .find_map(|f| rec.fields.get(*f).and_then(serde_json::Value::as_str))
                .map(crate::id::automerge_url);
            for (field, value) in [
                ("url", Some(url.as_str())),
                ("title", rec.title.as_deref()),
                ("status", rec.status.as_deref()),
                ("event", event.as_deref()),
            ] {
                let now = tx.get(&entry, field).map_err(damaged)?.and_then(|(v, _)| v.as_str().map(str::to_string));
                match value {
                    Some(v) if now.as_deref() != Some(v) => tx.put(&entry, field, v).map_err(damaged)?,
                    None if now.is_some() => tx.delete(&entry, field).map_err(damaged)?,
                    _ => {}
                }
            }
        }
        tx.commit();
        Ok(())
    }
}

/// One record as the index lists it.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct Entry {
    /// Its automerge URL.
    pub url: String,
    /// Its title, if its kind has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Its lifecycle state, if its kind has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The URL of the emergency event it belongs to (EDANs, emergency missions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
}

/// An index as JSON (`GET /api/v1/index`, `ayni url --json`): its URL, its
/// scope and what it lists.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Listing {
    /// The index document's automerge URL.
    pub url: String,
    /// `all`, or `entity:ID` (see [`Scope`]).
    pub scope: String,
    /// Kind → key → entry.
    pub records: std::collections::BTreeMap<String, std::collections::BTreeMap<String, Entry>>,
}

/// The index document `doc` of `scope` as JSON.
pub(crate) fn listing(doc: &Automerge, id: DocumentId, scope: &Scope) -> Listing {
    let mut records = std::collections::BTreeMap::new();
    let text = |obj: &automerge::ObjId, field: &str| {
        doc.get(obj, field).ok().flatten().and_then(|(v, _)| v.as_str().map(str::to_string))
    };
    if let Some((_, all)) = doc.get(ROOT, "records").ok().flatten() {
        for kind in doc.keys(&all) {
            let Some((_, kind_obj)) = doc.get(&all, kind.as_str()).ok().flatten() else { continue };
            let mut entries = std::collections::BTreeMap::new();
            for key in doc.keys(&kind_obj) {
                let Some((_, e)) = doc.get(&kind_obj, key.as_str()).ok().flatten() else { continue };
                let Some(url) = text(&e, "url") else { continue };
                entries.insert(
                    key,
                    Entry { url, title: text(&e, "title"), status: text(&e, "status"), event: text(&e, "event") },
                );
            }
            records.insert(kind, entries);
        }
    }
    Listing { url: crate::id::automerge_url(id), scope: scope.name(), records }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Node {
        fn index_listing(&self, scope: &Scope) -> Result<Listing> {
            let doc = self.refresh_index(scope)?;
            Ok(listing(&doc, self.index_id(scope)?, scope))
        }

        fn index(&self, scope: &Scope) -> Result<Automerge> {
            self.refresh_index(scope)
        }
    }

    #[test]
    fn the_index_follows_adds_edits_and_deletes_and_a_partners_lists_only_what_it_reads() {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::init(dir.path(), "hq").unwrap();
        node.seed().unwrap();
        let all = node.index_listing(&Scope::All).unwrap();
        let edan = &all.records["edan"]["edan-sama-1"];
        let rec = node.get("edan:edan-sama-1").unwrap();
        assert_eq!(edan.url, crate::id::automerge_url(&rec.id));
        assert_eq!(edan.title, rec.title);
        assert_eq!(edan.status.as_deref(), Some("submitted"));
        let event = node.get(rec.fields["event_id"].as_str().unwrap()).unwrap();
        assert_eq!(edan.event, Some(crate::id::automerge_url(&event.id)), "an EDAN names its event");
        let heads = node.index(&Scope::All).unwrap().get_heads();
        assert_eq!(node.index(&Scope::All).unwrap().get_heads(), heads, "nothing written, nothing changes");
        let read = node.index_current(&Scope::All).unwrap().expect("current, read without a write");
        assert_eq!(read.get_heads(), heads);

        node.add("person", Some("p-nueva"), serde_json::json!({"full_name": "Persona nueva"})).unwrap();
        node.delete("edan:edan-sama-1").unwrap();
        assert!(node.index_current(&Scope::All).unwrap().is_none(), "behind the feed: the read path says so");
        let after = node.index_listing(&Scope::All).unwrap();
        assert_eq!(after.records["person"]["p-nueva"].title.as_deref(), Some("Persona nueva"));
        assert!(!after.records.get("edan").is_some_and(|k| k.contains_key("edan-sama-1")));
        // the index history goes on from the stored copy after a restart
        let index_id = node.index_id(&Scope::All).unwrap();
        let before = node.index(&Scope::All).unwrap();
        let node = node.reopen().unwrap();
        let again = node.index(&Scope::All).unwrap();
        assert_eq!(again.get_heads(), before.get_heads());
        assert_eq!(node.index_id(&Scope::All).unwrap(), index_id);

        let entity = node.entity_id("e-trinidad").unwrap();
        let partner = node.index_listing(&Scope::Entity(entity)).unwrap();
        assert_ne!(partner.url, after.url);
        assert!(partner.records.contains_key("practice"));
        assert!(!partner.records.contains_key("person") && !partner.records.contains_key("event"));
    }

    #[test]
    fn a_copy_in_the_first_layout_is_brought_to_the_second_in_the_same_document() {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::init(dir.path(), "hq").unwrap();
        node.seed().unwrap();
        // a version 1 copy: no `event`s
        let mut old = node.index(&Scope::All).unwrap();
        let mut tx = old.transaction();
        let (_, records) = tx.get(ROOT, "records").unwrap().unwrap();
        let (_, edans) = tx.get(&records, "edan").unwrap().unwrap();
        let (_, entry) = tx.get(&edans, "edan-sama-1").unwrap().unwrap();
        tx.delete(&entry, "event").unwrap();
        tx.put(ROOT, "ayni_index", 1u64).unwrap();
        tx.commit();
        node.writer().put(Table::Local, "index-all", &old.save()).unwrap();
        let old_heads = old.get_heads();
        drop(node);

        let node = Node::open(dir.path()).unwrap();
        let listing = node.index_listing(&Scope::All).unwrap();
        assert!(listing.records["edan"]["edan-sama-1"].event.is_some());
        let doc = node.index(&Scope::All).unwrap();
        assert!(old_heads.iter().all(|h| doc.get_change_by_hash(h).is_some()), "the same document, continued");
        assert_eq!(doc.get(ROOT, "ayni_index").unwrap().unwrap().0.as_u64(), Some(LAYOUT));
    }
}

//! Documents recently loaded from the store, so the several loads one
//! sync session makes of a document (to offer it, to apply the peer's
//! changes, to admit them) parse its bytes once.
//!
//! Owns: a bounded set of loaded documents (the least recently used goes
//! first) and a generation that every write of a document moves. Must
//! never: hand out a document a write has replaced — a write forgets the
//! documents it touches, and a load that began before a write does not
//! put what it read (the generation moved under it) — or hand out a
//! shared document: callers get their own copy.

use std::collections::HashMap;
use std::sync::Mutex;

use automerge::Automerge;

use crate::id::DocumentId;

/// Documents kept at most.
const CAPACITY: usize = 128;

#[derive(Default)]
pub(crate) struct DocCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    generation: u64,
    tick: u64,
    docs: HashMap<DocumentId, (u64, Automerge)>,
}

impl DocCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the document, if it is here.
    pub(crate) fn get(&self, id: &DocumentId) -> Option<Automerge> {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let (used, doc) = inner.docs.get_mut(id)?;
        *used = tick;
        Some(doc.clone())
    }

    /// Where writes stand: take it before reading the store, give it back
    /// to [`DocCache::put`].
    pub(crate) fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Keeps `doc` as read from the store, unless a write came since
    /// `generation`.
    pub(crate) fn put(&self, id: DocumentId, doc: Automerge, generation: u64) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        if inner.docs.len() >= CAPACITY && !inner.docs.contains_key(&id) {
            if let Some(oldest) = inner.docs.iter().min_by_key(|(_, (used, _))| *used).map(|(id, _)| *id) {
                inner.docs.remove(&oldest);
            }
        }
        inner.tick += 1;
        let tick = inner.tick;
        inner.docs.insert(id, (tick, doc));
    }

    /// Forgets documents about to be (or just) written.
    pub(crate) fn forget<'a>(&self, ids: impl IntoIterator<Item = &'a DocumentId>) {
        let mut inner = self.lock();
        inner.generation += 1;
        for id in ids {
            inner.docs.remove(id);
        }
    }

    /// Forgets everything (repair may have touched anything).
    pub(crate) fn clear(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.docs.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_during_a_load_keeps_the_stale_read_out() {
        let cache = DocCache::default();
        let id = DocumentId::random().unwrap();
        let seen = cache.generation();
        cache.forget([&id]);
        cache.put(id, Automerge::new(), seen);
        assert!(cache.get(&id).is_none(), "read before the write: not kept");
        let seen = cache.generation();
        cache.put(id, Automerge::new(), seen);
        assert!(cache.get(&id).is_some());
        cache.forget([&id]);
        assert!(cache.get(&id).is_none());
    }

    #[test]
    fn the_least_recently_used_goes_first() {
        let cache = DocCache::default();
        let ids: Vec<DocumentId> = (0..=CAPACITY).map(|_| DocumentId::random().unwrap()).collect();
        for id in &ids[..CAPACITY] {
            cache.put(*id, Automerge::new(), cache.generation());
        }
        assert!(cache.get(&ids[0]).is_some());
        cache.put(ids[CAPACITY], Automerge::new(), cache.generation());
        assert!(cache.get(&ids[0]).is_some(), "used lately");
        assert!(cache.get(&ids[1]).is_none(), "the oldest went");
        assert_eq!(cache.lock().docs.len(), CAPACITY);
    }
}

//! Documents recently loaded from the store, so the several loads one
//! sync session makes of a document (to offer it, to apply the peer's
//! changes, to admit them) parse its bytes once.
//!
//! Owns: a bounded set of loaded documents (128, 16 MiB of stored bytes;
//! the least recently used goes first) and a generation that every write
//! of a document moves. Must never: hand out a document a write has
//! replaced — a write lands with the cache held and forgets the documents
//! it touches, and a load that began before a write does not put what it
//! read (the generation moved under it) — or hand out a shared document:
//! callers get their own copy. Scans of every document and checks of the
//! disk read past it ([`super::Store::load_uncached`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use automerge::Automerge;

use ayni_model::id::DocumentId;

/// Documents kept at most.
const CAPACITY: usize = 128;
/// Their stored size at most (parsed, a document takes several times it).
const BUDGET_BYTES: usize = 16 * 1024 * 1024;

#[derive(Default)]
pub(crate) struct DocCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    generation: u64,
    tick: u64,
    bytes: usize,
    /// id → (last used, stored size, document)
    docs: HashMap<DocumentId, (u64, usize, Arc<Automerge>)>,
}

impl Inner {
    fn remove(&mut self, id: &DocumentId) {
        if let Some((_, size, _)) = self.docs.remove(id) {
            self.bytes -= size;
        }
    }
}

impl DocCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the document, if it is here (copied outside the lock).
    pub(crate) fn get(&self, id: &DocumentId) -> Option<Automerge> {
        let shared = {
            let mut inner = self.lock();
            inner.tick += 1;
            let tick = inner.tick;
            let (used, _, doc) = inner.docs.get_mut(id)?;
            *used = tick;
            doc.clone()
        };
        Some((*shared).clone())
    }

    /// Where writes stand: take it before reading the store, give it back
    /// to [`DocCache::put`].
    pub(crate) fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Keeps a copy of `doc` as read from the store (`size` stored bytes),
    /// unless a write came since `generation`.
    pub(crate) fn put(&self, id: DocumentId, doc: &Automerge, size: usize, generation: u64) {
        if size > BUDGET_BYTES / 4 || self.generation() != generation {
            return;
        }
        let copy = Arc::new(doc.clone());
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        inner.remove(&id);
        while inner.docs.len() >= CAPACITY || inner.bytes + size > BUDGET_BYTES {
            let Some(oldest) = inner.docs.iter().min_by_key(|(_, (used, ..))| *used).map(|(id, _)| *id) else {
                break;
            };
            inner.remove(&oldest);
        }
        inner.tick += 1;
        let tick = inner.tick;
        inner.bytes += size;
        inner.docs.insert(id, (tick, size, copy));
    }

    /// Runs `write` (which replaces the stored bytes of `ids`) with the
    /// cache held, then forgets them: no load sees the new bytes elsewhere
    /// while the cache still hands out the old document.
    pub(crate) fn writing<'a, T>(&self, ids: impl IntoIterator<Item = &'a DocumentId>, write: impl FnOnce() -> T) -> T {
        let mut inner = self.lock();
        let done = write();
        inner.generation += 1;
        for id in ids {
            inner.remove(id);
        }
        done
    }

    /// Forgets everything (repair may have touched anything).
    pub(crate) fn clear(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.docs.clear();
        inner.bytes = 0;
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
        cache.writing([&id], || ());
        cache.put(id, &Automerge::new(), 10, seen);
        assert!(cache.get(&id).is_none(), "read before the write: not kept");
        let seen = cache.generation();
        cache.put(id, &Automerge::new(), 10, seen);
        assert!(cache.get(&id).is_some());
        cache.writing([&id], || ());
        assert!(cache.get(&id).is_none());
        assert_eq!(cache.lock().bytes, 0);
    }

    #[test]
    fn the_least_recently_used_goes_first() {
        let cache = DocCache::default();
        let ids: Vec<DocumentId> = (0..=CAPACITY).map(|_| DocumentId::random().unwrap()).collect();
        for id in &ids[..CAPACITY] {
            cache.put(*id, &Automerge::new(), 1, cache.generation());
        }
        assert!(cache.get(&ids[0]).is_some());
        cache.put(ids[CAPACITY], &Automerge::new(), 1, cache.generation());
        assert!(cache.get(&ids[0]).is_some(), "used lately");
        assert!(cache.get(&ids[1]).is_none(), "the oldest went");
        assert_eq!(cache.lock().docs.len(), CAPACITY);
        // and the stored bytes are bounded too
        let big = BUDGET_BYTES / 4;
        for id in &ids[..5] {
            cache.put(*id, &Automerge::new(), big, cache.generation());
        }
        assert!(cache.lock().bytes <= BUDGET_BYTES);
    }
}

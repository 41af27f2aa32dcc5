//! Loading whole documents ahead: while the engine judges one `DocFull`
//! of a packed run of frames, a second thread loads the next ones and
//! reads them as values ([`Loaded::read_ahead`]: the inflation bound
//! checked, automerge's load, then the reading admission makes of a new
//! document), each of at most [`AHEAD_BYTES`] inflated. On a fresh
//! laptop's first sync, these are about half of what the receiver does,
//! and its second core was idle.
//!
//! Owns: that thread, and the order in which what it loaded meets the
//! frames. Must never: hand the session a document loaded from other bytes
//! than its frame's, hold more than [`AHEAD`] loaded documents (or one
//! larger than [`AHEAD_BYTES`]), or outlive
//! the run (it is a scoped thread: the run waits for it, and it stops when
//! the run stops taking what it loads).

use std::sync::mpsc;

use crate::sync::wire::Frame;
use crate::sync::{Loaded, SyncError};
use ayni_model::id::DocumentId;

/// Loaded documents waiting for the engine, at most.
const AHEAD: usize = 16;
/// The inflated bytes of a document loaded ahead, at most (a seed EDAN
/// has ~2.5 KB): a larger one is loaded when the engine comes to it, so
/// what waits stays small whatever a peer sends (a document may inflate
/// to 64 MiB, and its reading to many times that).
const AHEAD_BYTES: u64 = 64 * 1024;

/// One frame of a run, as [`each`] hands it over.
pub(super) enum Item<'a> {
    /// Any frame but a `DocFull`.
    Frame(Frame),
    /// A `DocFull` frame: the document, its bytes, and what loading them gave.
    Whole(DocumentId, &'a [u8], Loaded),
}

/// Where a frame of the run is.
enum Slot {
    Frame(Frame),
    /// The document and the index of its bytes in the run's `DocFull` bodies.
    Whole(DocumentId, usize),
}

/// Calls `take` with each frame of `frames`, in order, each `DocFull`
/// loaded: ahead on a second thread when there are several and a second
/// core, else as it comes. Stops at `take`'s first error.
pub(super) fn each(
    frames: Vec<Frame>,
    take: &mut dyn FnMut(Item<'_>) -> Result<(), SyncError>,
) -> Result<(), SyncError> {
    let wholes = frames.iter().filter(|f| matches!(f, Frame::DocFull(..))).count();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let mut bodies = Vec::with_capacity(wholes);
    let mut order = Vec::with_capacity(frames.len());
    for frame in frames {
        match frame {
            Frame::DocFull(id, bytes) => {
                order.push(Slot::Whole(id, bodies.len()));
                bodies.push(bytes);
            }
            other => order.push(Slot::Frame(other)),
        }
    }
    let bodies = &bodies;
    std::thread::scope(|scope| {
        // loaded in the order of `bodies`, which is the frames' order
        let loader = (wholes >= 2 && cores >= 2)
            .then(|| {
                let (tx, rx) = mpsc::sync_channel(AHEAD);
                let thread = std::thread::Builder::new().name("ayni-load".into()).spawn_scoped(scope, move || {
                    for bytes in bodies {
                        if tx.send(Loaded::read_ahead(bytes, AHEAD_BYTES)).is_err() {
                            // the run stopped at an error
                            return;
                        }
                    }
                });
                // no thread: loaded as they come
                thread.ok().map(|_| rx)
            })
            .flatten();
        for slot in order {
            match slot {
                Slot::Frame(frame) => take(Item::Frame(frame))?,
                Slot::Whole(id, i) => {
                    let ahead = match &loader {
                        Some(rx) => rx.recv().map_err(|_| {
                            SyncError::Protocol(format!("document {id}: the thread loading documents ahead stopped"))
                        })?,
                        None => None,
                    };
                    // too large to load ahead, or no loader: loaded now
                    let loaded = ahead.unwrap_or_else(|| Loaded::of(&bodies[i]));
                    take(Item::Whole(id, &bodies[i], loaded))?;
                }
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use automerge::{transaction::Transactable, Automerge, ROOT};

    use super::*;

    /// `n` documents as `DocFull` frames, each with a `Want` frame before it.
    fn run(n: usize) -> (Vec<Frame>, Vec<Automerge>) {
        let mut frames = vec![];
        let mut docs = vec![];
        for i in 0..n {
            let mut doc = Automerge::new();
            let mut tx = doc.transaction();
            tx.put(ROOT, "i", i as u64).unwrap();
            tx.commit();
            let id = DocumentId::random().unwrap();
            frames.push(Frame::Want(vec![id]));
            frames.push(Frame::DocFull(id, doc.save()));
            docs.push(doc);
        }
        (frames, docs)
    }

    #[test]
    fn every_frame_comes_in_order_with_its_own_document_loaded() {
        for n in [0, 1, 2, 3 * AHEAD + 1] {
            let (mut frames, docs) = run(n);
            // one too large to load ahead (loaded when its turn comes)
            let mut large = Automerge::new();
            let mut tx = large.transaction();
            tx.put(ROOT, "text", "x".repeat(AHEAD_BYTES as usize + 1)).unwrap();
            tx.commit();
            let at = frames.len() / 2;
            frames.insert(at, Frame::DocFull(DocumentId::random().unwrap(), large.save_nocompress()));
            let mut docs = docs;
            docs.insert(at / 2, large);
            // one that does not load, one past the inflation bound's check
            let (bad, junk) = (DocumentId::random().unwrap(), DocumentId::random().unwrap());
            let mut broken = docs.first().map_or_else(|| Automerge::new().save(), Automerge::save);
            let last = broken.len() - 1;
            broken[last] ^= 0xff;
            frames.push(Frame::DocFull(bad, broken));
            frames.push(Frame::DocFull(junk, b"not automerge".to_vec()));
            let expected: Vec<Frame> = frames.clone();
            // each item as a frame again, with the heads of what loaded
            let mut seen = vec![];
            each(frames, &mut |item| {
                seen.push(match item {
                    Item::Frame(f) => (f, None),
                    Item::Whole(id, bytes, loaded) => {
                        (Frame::DocFull(id, bytes.to_vec()), Some(loaded.document().map(Automerge::get_heads)))
                    }
                });
                Ok(())
            })
            .unwrap();
            assert_eq!(seen.len(), expected.len(), "{n} documents");
            let mut doc = docs.iter();
            for ((item, loaded), frame) in seen.iter().zip(&expected) {
                assert_eq!(item, frame);
                match (frame, loaded) {
                    (Frame::DocFull(id, _), Some(None)) => assert!(*id == bad || *id == junk, "{id} loads"),
                    (Frame::DocFull(id, _), Some(heads)) => {
                        assert!(*id != bad && *id != junk, "{id} does not load");
                        assert_eq!(heads.as_ref(), Some(&doc.next().unwrap().get_heads()));
                    }
                    (Frame::DocFull(..), None) => panic!("a document handed over as a frame"),
                    (_, loaded) => assert!(loaded.is_none(), "a frame handed over as a document"),
                }
            }
        }
    }

    #[test]
    fn a_run_stopped_by_an_error_ends_with_it_and_its_loader() {
        let (frames, _) = run(4 * AHEAD);
        let mut taken = 0;
        let stopped = each(frames, &mut |_| {
            taken += 1;
            if taken == 5 {
                return Err(SyncError::Protocol("stop here".into()));
            }
            Ok(())
        });
        // the loader, blocked on a full queue, stops when the run drops it
        assert!(matches!(stopped, Err(SyncError::Protocol(why)) if why == "stop here"));
        assert_eq!(taken, 5);
    }
}

//! Ingest: the one path by which another replica's changes enter this node
//! — a sync session, a bundle, `merge_document`.
//!
//! Owns: merging an incoming copy of a document with the stored one, then
//! admission (`trust`), then the record's view, and the store write that
//! follows from them. Must never: let a change in without admission, or
//! decide when the write becomes durable (a sync defers it to its next
//! commit, a bundle writes all its documents in one batch, one document
//! is written durably at once: the caller chooses).

use std::collections::HashMap;

use automerge::{Automerge, ChangeHash, ReadDoc};

use crate::admission::Offered;
use crate::attest::{Proof, Signed};
use crate::error::{Error, Result};
use crate::id::DocumentId;
use crate::node::{Node, Reader, Record};
use crate::store::{DocWrite, Payload};

/// A document that gained admitted changes: what to store.
pub(crate) struct Ingested {
    /// The document.
    pub id: DocumentId,
    /// Stored copy plus the admitted changes.
    pub doc: Automerge,
    /// The stored copy's heads; `None` for a document new to this node.
    pub stored_heads: Option<Vec<ChangeHash>>,
    /// Its view.
    pub record: Record,
    /// Signatures of the admitted changes.
    pub sigs: Vec<Signed>,
    /// The hashes of the document's changes when it is new to this node
    /// (as admission listed them, or read from `doc` as it is written).
    pub hashes: Vec<ChangeHash>,
    /// Whether a new document was admitted whole (its received bytes may
    /// be stored as they are).
    pub whole: bool,
    /// Whether `doc` is the copy it arrived as, whole: not so when some of
    /// its changes were refused, or when it was merged with a stored copy
    /// holding more (written meanwhile by another door), which the sender
    /// may lack.
    pub as_arrived: bool,
}

/// What is known of a copy that arrived whole (a `DocFull`).
#[derive(Default)]
pub(crate) struct Whole {
    /// It was loaded from one document chunk and nothing else
    /// ([`crate::sync::sigs::is_saved_document`]).
    pub saved: bool,
    /// It read as values at its heads, when the session read it ahead.
    pub read: Option<crate::effect::Snapshot>,
}

/// What ingesting one document came to.
pub(crate) struct Outcome {
    /// What to store; `None` when nothing new was admitted.
    pub ingested: Option<Ingested>,
    /// How many changes were refused (see `ayni audit`).
    pub refused: usize,
    /// Why each was refused.
    pub reasons: Vec<crate::admission::Refusal>,
}

/// Whom a node vouches for when it attests changes (see
/// [`Node::ingest_attested`]).
pub(crate) struct Vouched<'a> {
    /// A client's name, or `import:TOOL` for the node's own form imports
    /// (no client token may carry a `:`).
    pub name: &'a str,
    /// The role it acts in.
    pub role: crate::attest::ClientRole,
    /// The team whose tallies it writes.
    pub team: Option<&'a str>,
}

/// What became of a client's changes to one document (see
/// [`Node::ingest_from_client`]).
#[derive(Debug, Default)]
pub struct ClientChanges {
    /// How many were admitted and stored.
    pub admitted: usize,
    /// Those refused, and why (also in the audit log).
    pub refused: Vec<crate::admission::Refusal>,
}

impl Node {
    /// Merges `incoming`, another replica's copy of document `id`, with the
    /// stored copy and judges every change the store lacks; `whole`: what is
    /// known of it when it arrived whole. The caller holds the replica lock
    /// until it has written the outcome.
    pub(crate) fn ingest(
        &self,
        id: &DocumentId,
        incoming: Automerge,
        whole: Option<Whole>,
        sigs: &HashMap<[u8; 32], Proof>,
        from: &str,
    ) -> Result<Outcome> {
        let Whole { saved, read } = whole.unwrap_or_default();
        let stored = self.store().load(id)?;
        let (candidate, as_arrived) = match &stored {
            // a sync session's copy is the stored one and what arrived: it
            // holds every stored change, so it is the merge already
            Some(ours) if incoming.get_missing_deps(&ours.get_heads()).is_empty() => {
                if incoming.get_heads() == ours.get_heads() {
                    return Ok(Outcome { ingested: None, refused: 0, reasons: vec![] });
                }
                (incoming, true)
            }
            Some(ours) => {
                let mut merged = ours.clone();
                merged
                    .merge(&mut incoming.clone())
                    .map_err(|e| Error::Damaged { id: id.to_string(), reason: e.to_string() })?;
                if merged.get_heads() == ours.get_heads() {
                    return Ok(Outcome { ingested: None, refused: 0, reasons: vec![] });
                }
                (merged, false)
            }
            // changes whose dependencies are missing (chunks trailing a
            // document) are never judged, so the copy is stored without them
            None if !incoming.get_missing_deps(&[]).is_empty() => (without_orphans(id, &incoming)?, false),
            None => (incoming, true),
        };
        let offered = match (&stored, saved && as_arrived) {
            // `candidate` is `incoming`: what was read of it holds
            (None, true) => Offered::Saved(&candidate, read),
            _ => Offered::Document(&candidate),
        };
        let admitted = self.admit(id, stored.as_ref(), offered, sigs, from)?;
        self.outcome(id, stored.map(|s| s.get_heads()), admitted, as_arrived)
    }

    /// What to store of what admission decided, over the stored copy's
    /// heads (`None`: a document new to this node); `offered_whole`: what
    /// was judged is the copy that arrived, nothing stored merged in.
    fn outcome(
        &self,
        id: &DocumentId,
        stored_heads: Option<Vec<ChangeHash>>,
        admitted: crate::admission::Admitted,
        offered_whole: bool,
    ) -> Result<Outcome> {
        let (refused, reasons) = (admitted.refused.len(), admitted.refused);
        let Some(doc) = admitted.doc else { return Ok(Outcome { ingested: None, refused, reasons }) };
        if stored_heads.as_ref() == Some(&doc.get_heads()) {
            return Ok(Outcome { ingested: None, refused, reasons });
        }
        let record = self.view_for_sync(id, &doc, admitted.read)?;
        let hashes = admitted.hashes;
        let whole = stored_heads.is_none() && admitted.whole && offered_whole;
        Ok(Outcome {
            ingested: Some(Ingested {
                id: *id,
                doc,
                stored_heads,
                record,
                sigs: admitted.sigs,
                hashes,
                whole,
                as_arrived: offered_whole && refused == 0,
            }),
            refused,
            reasons,
        })
    }

    /// The store write of an ingested document. A new document is stored
    /// as `received` (the bytes it arrived as) when it was admitted whole,
    /// else as a snapshot saved into `saved`.
    pub(crate) fn ingest_write<'a>(
        &self,
        ing: &'a mut Ingested,
        received: Option<&'a [u8]>,
        saved: &'a mut Vec<u8>,
    ) -> Result<DocWrite<'a>> {
        // every debug build (the test suite's) checks admission's list
        debug_assert!(
            ing.hashes.is_empty() || {
                let (mut listed, mut read) = (ing.hashes.clone(), crate::sync::sigs::document_hashes(&ing.doc));
                listed.sort();
                read.sort();
                listed == read
            },
            "the change hashes of {}",
            ing.id
        );
        let payload = match (&ing.stored_heads, received) {
            (Some(heads), _) => Payload::Changed { doc: &ing.doc, stored_heads: heads },
            // stored as it arrived: with the hashes admission read from a
            // saved document (those its bytes load with); changes as they
            // arrived may hash otherwise than `doc` lists them, so without
            (None, Some(bytes)) if ing.whole => Payload::New { bytes, hashes: &ing.hashes },
            (None, _) => {
                *saved = ing.doc.save_nocompress();
                if ing.hashes.is_empty() {
                    ing.hashes = crate::sync::sigs::document_hashes(&ing.doc);
                }
                Payload::New { bytes: saved, hashes: &ing.hashes }
            }
        };
        self.doc_write_for(ing.id, payload, &ing.record, std::mem::take(&mut ing.sigs))
    }
}

/// `doc` without the changes it holds whose dependencies are missing.
fn without_orphans(id: &DocumentId, doc: &Automerge) -> Result<Automerge> {
    let options = automerge::SaveOptions { deflate: false, retain_orphans: false };
    Automerge::load(&doc.save_with_options(options))
        .map_err(|e| Error::Damaged { id: id.to_string(), reason: e.to_string() })
}

impl Reader {
    /// A record's document as it travels between replicas: every change
    /// with its proof (a `Proofs` and a `DocFull` frame of the replication
    /// protocol, version 3).
    pub fn document_bytes(&self, reference: &str) -> Result<Vec<u8>> {
        let id = self.resolve(reference)?;
        let doc = self.load(&id)?;
        let whole = crate::sync::sigs::WholeDocument::new(id, &doc, 3, |h| self.signatures_of(h))?;
        let mut out = vec![];
        whole.sigs.encode(&mut out);
        whole.doc.encode(&mut out);
        Ok(out)
    }
}

impl Node {
    /// Merges another replica's [`Node::document_bytes`] of document `id`
    /// into this node's copy (creating it if new), admitting only signed
    /// changes of enrolled members, as a sync does. Returns the record.
    pub fn merge_document(&self, id: &DocumentId, bytes: &[u8]) -> Result<Record> {
        use crate::sync::wire::Frame;
        let bad = |why: String| Error::Damaged { id: id.to_string(), reason: why };
        let mut sigs = crate::sync::sigs::Collector::default();
        let mut incoming: Option<(Automerge, bool)> = None;
        let mut rest = bytes;
        while !rest.is_empty() {
            let prefix: [u8; 4] =
                rest.get(..4).and_then(|p| p.try_into().ok()).ok_or_else(|| bad("truncated".into()))?;
            let len = Frame::body_len(prefix).map_err(|e| bad(e.to_string()))?;
            let body = rest.get(4..4 + len).ok_or_else(|| bad("truncated".into()))?;
            match sigs.take(Frame::decode(body).map_err(|e| bad(e.to_string()))?) {
                None => {}
                Some(Frame::DocFull(of, raw)) => {
                    crate::inflate::chunks(&raw, crate::inflate::MAX_INFLATED).map_err(bad)?;
                    let doc = Automerge::load(&raw).map_err(|e| bad(e.to_string()))?;
                    sigs.arrived(&of, || Ok(crate::sync::sigs::document_hashes(&doc))).map_err(bad)?;
                    incoming = Some((doc, crate::sync::sigs::is_saved_document(&raw)));
                }
                Some(other) => return Err(bad(format!("unexpected {} frame", other.name()))),
            }
            rest = &rest[4 + len..];
        }
        let (incoming, saved) = incoming.ok_or_else(|| bad("no document".into()))?;
        let _guard = self.write_lock();
        let whole = Whole { saved, read: None };
        let outcome = self.ingest(id, incoming, Some(whole), sigs.by_hash(), "merge_document")?;
        match outcome.ingested {
            Some(mut ing) => {
                let mut saved = vec![];
                {
                    let write = self.ingest_write(&mut ing, None, &mut saved)?;
                    self.writer().write(&[write])?;
                }
                Ok(self.shown(ing.record))
            }
            // nothing new was admitted: the record as stored, if there is one
            None if self.store().contains(id)? => self.get(&id.to_string()),
            None => {
                Err(Error::refused(format!("document {id}"), "none of its new changes is admitted (see `ayni audit`)"))
            }
        }
    }

    /// Takes a client's changes to document `id` (stored, or new: one the
    /// client made): an automerge-repo app synced them to this node, its
    /// gateway. Every
    /// change `incoming` holds that the store lacks and whose actor is not
    /// a node's key is attested for `client` (its name, role and team,
    /// now), then judged like any replica's change — under the client's
    /// role and team — and the admitted ones are stored durably, with
    /// their attestations, which travel with them to every peer. Refused
    /// ones go to the audit log and are returned.
    pub fn ingest_from_client(
        &self,
        client: &crate::clients::Client,
        id: &DocumentId,
        incoming: &Automerge,
    ) -> Result<ClientChanges> {
        let vouched = Vouched { name: &client.name, role: client.role, team: client.team.as_deref() };
        self.ingest_attested(&vouched, id, incoming, &format!("client {}", client.name))
    }

    /// This node's attestations, for `who`, of every change of `incoming`
    /// since `since` whose actor is not a node's key.
    pub(crate) fn attest_for(
        &self,
        who: &Vouched<'_>,
        incoming: &Automerge,
        since: &[ChangeHash],
    ) -> Result<HashMap<[u8; 32], Proof>> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut proofs = HashMap::new();
        for c in incoming.get_changes(since) {
            if crate::identity::NodeId::from_actor(c.actor_id()).is_some() {
                continue;
            }
            let a = crate::attest::Attestation::sign(self.secret(), c.hash().0, who.name, who.role, who.team, now)
                .map_err(Error::Forbidden)?;
            proofs.insert(c.hash().0, Proof::Attested(Box::new(a)));
        }
        Ok(proofs)
    }

    /// [`Node::ingest_from_client`] for whoever this node vouches for: a
    /// client, or one of its own imports (`import:odk`).
    pub(crate) fn ingest_attested(
        &self,
        who: &Vouched<'_>,
        id: &DocumentId,
        incoming: &Automerge,
        from: &str,
    ) -> Result<ClientChanges> {
        let _guard = self.write_lock();
        // a document new to the node: the client made it
        let stored_heads = self.store().load(id)?.map(|d| d.get_heads()).unwrap_or_default();
        let proofs = self.attest_for(who, incoming, &stored_heads)?;
        let outcome = self.ingest(id, incoming.clone(), None, &proofs, from)?;
        let mut out = ClientChanges { admitted: 0, refused: outcome.reasons };
        if let Some(mut ing) = outcome.ingested {
            out.admitted = ing.sigs.iter().filter(|(h, _)| proofs.contains_key(h)).count();
            let mut saved = vec![];
            let write = self.ingest_write(&mut ing, None, &mut saved)?;
            self.writer().write(&[write])?;
        }
        Ok(out)
    }
}

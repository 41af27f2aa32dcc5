//! automerge-repo's messages and one client session (`repo`): any bytes a
//! WebSocket client sends are a message or an error answer, never a panic;
//! every message decoded re-encodes to the same message; a session fed the
//! bytes after a `join` answers without panicking (it may write: what a
//! client's sync message brings is stored, whatever it is).
#![no_main]

use std::collections::HashMap;

use automerge::transaction::Transactable;
use automerge::{Automerge, ROOT};
use ayni_node::repo::message::Message;
use ayni_node::repo::{Docs, Session, Written};
use ayni_node::DocumentId;
use libfuzzer_sys::fuzz_target;

struct One(HashMap<DocumentId, Automerge>);

impl Docs for One {
    fn may_write(&self) -> bool {
        true
    }

    fn write(&mut self, id: &DocumentId, doc: &Automerge) -> ayni_node::Result<Written> {
        self.0.insert(*id, doc.clone());
        Ok(Ok(ayni_node::ClientChanges::default()))
    }

    fn readable(&mut self, id: &DocumentId) -> ayni_node::Result<Option<Automerge>> {
        Ok(self.0.get(id).cloned())
    }

    fn state_hash(&mut self, id: &DocumentId) -> ayni_node::Result<Option<[u8; 16]>> {
        Ok(self.0.get(id).map(|d| ayni_node::sync::state_hash(id, &d.get_heads())))
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::decode(data) {
        if !matches!(m, Message::Peer { .. }) {
            // `peer` is read for what a client needs of it, not whole
            assert_eq!(Message::decode(&m.encode()).expect("a re-encoded message decodes"), m);
        }
    }
    let id = DocumentId::from_bytes([7; 16]);
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    let _ = tx.put(ROOT, "n", 1);
    tx.commit();
    let mut docs = One(HashMap::from([(id, doc)]));
    let mut s = Session::new("node", "storage");
    let join = Message::Join { sender: "c".into(), storage_id: None, ephemeral: true, versions: vec!["1".into()] };
    let _ = s.receive(&join.encode(), &mut docs);
    let _ = s.receive(data, &mut docs);
});

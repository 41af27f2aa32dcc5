//! Differential testing of admission against the reference model
//! ([`crate::permits::model`]): a generator of arbitrary automerge edits — puts,
//! deletes, whole-map replaces, list edits, edits made beside others (on an
//! earlier state), new and edited transition entries, amendments, envelope
//! keys, deletion and undeletion, creations — by any author (HQ, field
//! members in and out of a team, field and hq clients through gateways),
//! on records shaped like the seed's; for every generated change,
//! admission admits it exactly when the model allows it.
//!
//! The generator reads its choices from a byte string, so proptest (in the
//! suite) and libFuzzer (`fuzz/fuzz_targets/permits.rs`) drive the same
//! code. Owns: the world (keys, policy, base records) and the generator.
//! Must never: be compiled outside tests and fuzzing.

use std::collections::HashMap;
use std::sync::OnceLock;

use automerge::{ActorId, Automerge, ReadDoc, ROOT};
use serde_json::{json, Value};

use crate::attest::{Attestation, ClientRole, Proof};
use crate::id::DocumentId;
use crate::identity::SecretKey;
use crate::network::Role;
use crate::policy::Policy;
use crate::record::Envelope;

mod edits;
use edits::edit;

const NOW: &str = "2026-12-06T00:00:00Z";

/// Choices read from the input, then from a counter once it runs out.
struct Choices<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Choices<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.bytes.get(self.at).copied().unwrap_or((self.at as u8).wrapping_mul(31));
        self.at += 1;
        b
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        usize::from(self.byte()) % n
    }

    fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, in_256: u8) -> bool {
        self.byte() < in_256
    }
}

/// Who makes the generated change.
#[derive(Clone, Copy, Debug)]
enum Maker {
    Hq,
    /// A field member of team GAEM-1.
    Field1,
    /// A field member of team GAEM-2.
    Field2,
    /// A field client of team GAEM-1 through the HQ node.
    FieldClientViaHq,
    /// A field client of team GAEM-1 through the GAEM-1 laptop.
    FieldClientViaField1,
    /// A field client claiming GAEM-1 through the GAEM-2 laptop.
    FieldClientViaField2,
    /// An hq client through the HQ node.
    HqClient,
}

const MAKERS: [Maker; 7] = [
    Maker::Hq,
    Maker::Field1,
    Maker::Field2,
    Maker::FieldClientViaHq,
    Maker::FieldClientViaField1,
    Maker::FieldClientViaField2,
    Maker::HqClient,
];

/// The keys, the policies and the records every case starts from.
struct World {
    hq: SecretKey,
    f1: SecretKey,
    f2: SecretKey,
    /// The policy as HQ holds it, and as the GAEM-1 laptop does.
    at_hq: Policy,
    at_field: Policy,
    /// Base records: document ID, document, proofs of its changes.
    bases: Vec<(DocumentId, Automerge)>,
    proofs: HashMap<[u8; 32], Proof>,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(build_world)
}

fn envelope(kind: &str, key: &str, id: &DocumentId, by: &SecretKey) -> Envelope {
    Envelope {
        kind: kind.into(),
        key: key.into(),
        id: id.to_string(),
        created_at: NOW.into(),
        created_by: by.public().node_id().to_string(),
    }
}

/// A record created by HQ, then moved through `states` by HQ.
fn base(hq: &SecretKey, kind: &str, key: &str, n: u8, data: Value, states: &[&str]) -> (DocumentId, Automerge) {
    let id = DocumentId::from_bytes([n; 16]);
    let mut doc = Automerge::new().with_actor(hq.public().actor_id());
    let mut tx = doc.transaction();
    if crate::record::create(&mut tx, &id.to_string(), &envelope(kind, key, &id, hq), &data).is_err() {
        unreachable_base(kind);
    }
    tx.commit();
    let schemas = crate::schema::schemas().ok();
    let lc = schemas.and_then(|s| s.kind(kind).ok()).and_then(|k| k.lifecycle.as_ref());
    let mut from = lc.map(|l| l.initial.clone()).unwrap_or_default();
    for (i, to) in states.iter().enumerate() {
        let t = crate::lifecycle::Transition {
            id: format!("01BASE{n:02}{i:02}"),
            from: from.clone(),
            to: to.to_string(),
            seq: i as u64 + 1,
            at: NOW.into(),
            by: hq.public().node_id().to_string(),
            note: None,
            resolves: vec![],
        };
        let mut tx = doc.transaction();
        let _ = crate::record::append_transition(&mut tx, "base", &t);
        let _ = crate::record::touch(&mut tx, "base");
        tx.commit();
        from = to.to_string();
    }
    (id, doc)
}

fn unreachable_base(kind: &str) {
    panic!("the differential world's {kind} record could not be built");
}

fn build_world() -> World {
    let (hq, f1, f2) = (SecretKey::from_seed([1; 32]), SecretKey::from_seed([2; 32]), SecretKey::from_seed([3; 32]));
    let (hq_id, f1_id, f2_id) = (hq.public().node_id(), f1.public().node_id(), f2.public().node_id());
    let policy = |own: &SecretKey| {
        crate::policy::Policy::new(crate::schema::schemas().expect("schemas"))
            .in_network()
            .with_member(hq_id, Role::Hq)
            .with_member(f1_id, Role::Field)
            .with_member(f2_id, Role::Field)
            .with_team("GAEM-1", vec![f1_id.to_string()])
            .with_team("GAEM-2", vec![f2_id.to_string()])
            .of(own.public().node_id())
    };
    let event = DocumentId::from_bytes([99; 16]).to_string();
    let tally = |d: u64| json!({"dead": d, "injured": 1, "families_affected": 5, "livestock_dead": {"ovino": 3}});
    let edan = |title: &str| {
        json!({
            "title": title, "event_id": event, "edan_type": "preliminar",
            "info_sources": ["direct_observation", "key_informant"], "evaluators": ["Ana", "Luis"],
            "zones": {"z1": {"name": "Zona 1", "assigned_team": "GAEM-1", "geo": {"lat": -21.4, "lon": -64.8}},
                      "z2": {"name": "Zona 2", "assigned_team": "GAEM-2"}},
            "tallies": {"z1": {"GAEM-1": tally(1)}, "z2": {"GAEM-2": tally(0), "GAEM-1": {"families_affected": 19}}},
            "needs": {"n1": {"sector": "alimentos", "item": "ración", "quantity": 10, "unit": "raciones", "priority": "alta", "status": "identified"}},
            "services": {"s1": {"service": "agua_potable", "status": "parcial"}},
            "amendments": {"a1": {"by": "x", "proposed": {"tallies.z1.GAEM-1.dead": 2}, "status": "proposed"}},
        })
    };
    let bases = vec![
        base(&hq, "edan", "edan-1", 1, edan("EDAN en curso"), &["submitted"]),
        base(&hq, "edan", "edan-2", 2, edan("EDAN validada"), &["submitted", "consolidated", "validated"]),
        base(&hq, "team", "GAEM-1", 3, json!({"name": "GAEM-1", "node_ids": [f1_id.to_string()]}), &[]),
        base(
            &hq,
            "practice",
            "BP-X",
            4,
            json!({"code": "BP-X", "kind": "bpm", "title_es": "Práctica"}),
            &["prioritised"],
        ),
        base(
            &hq,
            "event",
            "ev-1",
            5,
            json!({"name": "Incendio", "hazard_type": "incendio_forestal", "scope": [{"department": "tarija"}],
                   "declaration": [{"level": "municipal", "kind": "alerta"}]}),
            &[],
        ),
        base(
            &hq,
            "mission",
            "m-1",
            6,
            json!({"type": "technical_assistance", "title": "Misión", "log": {"l1": {"text": "día 1"}}}),
            &["authorised", "in_progress"],
        ),
        base(&hq, "person", "p-1", 7, json!({"full_name": "Ana"}), &[]),
    ];
    let mut proofs = HashMap::new();
    for (_, doc) in &bases {
        for c in doc.get_changes(&[]) {
            proofs.insert(c.hash().0, Proof::Signature(hq.sign(&c.hash().0)));
        }
    }
    let (at_hq, at_field) = (policy(&hq), policy(&f1));
    World { hq, f1, f2, at_hq, at_field, bases, proofs }
}

/// What one generated case came to.
#[derive(Debug)]
pub struct Case {
    /// Whether admission admitted the change.
    pub admitted: bool,
    /// Why it refused it, if it did.
    pub reason: Option<String>,
    /// A short account of the case (author, record, context).
    pub what: String,
}

/// Generates one change from `data`, judges it with admission and with the
/// model; `Err` when they disagree (with the case).
pub fn check(data: &[u8]) -> Result<Option<Case>, String> {
    let w = world();
    let mut ch = Choices { bytes: data, at: 0 };
    let maker = *ch.pick(&MAKERS);
    let policy = if ch.chance(128) { &w.at_hq } else { &w.at_field };
    // the record: a base one, or a new document
    let creating = ch.chance(40);
    let (id, base) = if creating {
        (DocumentId::from_bytes([200; 16]), None)
    } else {
        let (id, doc) = ch.pick(&w.bases);
        (*id, Some(doc))
    };
    let (author_key, gateway, client) = match maker {
        Maker::Hq => (Some(&w.hq), None, None),
        Maker::Field1 => (Some(&w.f1), None, None),
        Maker::Field2 => (Some(&w.f2), None, None),
        Maker::FieldClientViaHq => (None, Some(&w.hq), Some((ClientRole::Field, "GAEM-1"))),
        Maker::FieldClientViaField1 => (None, Some(&w.f1), Some((ClientRole::Field, "GAEM-1"))),
        Maker::FieldClientViaField2 => (None, Some(&w.f2), Some((ClientRole::Field, "GAEM-1"))),
        Maker::HqClient => (None, Some(&w.hq), Some((ClientRole::Hq, ""))),
    };
    let actor = match author_key {
        Some(k) => k.public().actor_id(),
        None => ActorId::from(vec![0xC1; 16]),
    };
    let label = match (gateway, client) {
        (Some(g), Some(_)) => format!("client tablet via {}", g.public().node_id()),
        _ => author_key.map(|k| k.public().node_id().to_string()).unwrap_or_default(),
    };
    let mut names = vec![match (author_key, gateway) {
        (Some(k), _) => k.public().node_id().to_string(),
        (None, Some(g)) => g.public().node_id().to_string(),
        _ => String::new(),
    }];
    names.push(w.hq.public().node_id().to_string());
    names.push("someone".into());
    // the context: the record now, or an earlier state of it
    let mut ctx = match base {
        Some(doc) => {
            let changes = doc.get_changes(&[]);
            // (the base records are HQ's: HQ's own device never forgets its changes)
            if ch.chance(60) && !changes.is_empty() && !matches!(maker, Maker::Hq) {
                let n = ch.below(changes.len() + 1);
                let heads: Vec<automerge::ChangeHash> = if n == 0 { vec![] } else { vec![changes[n - 1].hash()] };
                doc.fork_at(&heads).map_err(|e| e.to_string())?
            } else {
                doc.fork()
            }
        }
        None => Automerge::new(),
    }
    .with_actor(actor);
    let mut tx = ctx.transaction();
    if creating || tx.get(ROOT, "kind").ok().flatten().is_none() {
        let kind = *ch.pick(&["edan", "person", "practice", "event", "team", "mission"]);
        let env = Envelope {
            kind: kind.into(),
            key: if ch.chance(240) { "new-1".into() } else { "bad key!".into() },
            id: if ch.chance(230) { id.to_string() } else { DocumentId::from_bytes([201; 16]).to_string() },
            created_at: NOW.into(),
            created_by: if ch.chance(230) { names[0].clone() } else { "someone".into() },
        };
        let fields = match kind {
            "edan" => json!({"event_id": DocumentId::from_bytes([99; 16]).to_string(), "edan_type": "preliminar"}),
            "person" => json!({"full_name": "Nuevo"}),
            "practice" => json!({"code": "BP-N", "kind": "bpm", "title_es": "Nueva"}),
            "event" => json!({"name": "Nuevo", "hazard_type": "sismo", "scope": [{"department": "oruro"}]}),
            "team" => json!({"name": "GAEM-9"}),
            _ => json!({"type": "training", "title": "Nueva"}),
        };
        let _ = crate::record::create(&mut tx, "gen", &env, &fields);
    }
    let edits = 1 + ch.below(3);
    for _ in 0..edits {
        edit(&mut tx, &mut ch, &names);
    }
    let (hash, _) = tx.commit();
    let Some(hash) = hash else { return Ok(None) };
    let Some(change) = ctx.get_change_by_hash(&hash) else { return Ok(None) };
    // what the judging node receives: its record plus the new change
    let mut incoming = base.cloned().unwrap_or_default();
    if incoming.apply_changes([change.clone()]).is_err() {
        return Ok(None);
    }
    let mut proofs = w.proofs.clone();
    let proof = match (author_key, gateway, client) {
        (Some(k), _, _) => Proof::Signature(k.sign(&hash.0)),
        (None, Some(g), Some((role, team))) => {
            let team = (!team.is_empty()).then_some(team);
            Proof::Attested(Box::new(
                Attestation::sign(g, hash.0, "tablet", role, team, 10).map_err(|e| e.to_string())?,
            ))
        }
        _ => return Ok(None),
    };
    proofs.insert(hash.0, proof);
    let known = |h: &[u8; 32]| Ok(proofs.get(h).cloned());
    let decided = crate::admission::admit(
        policy,
        &id,
        base,
        crate::admission::Offered::Document(&incoming),
        &known,
        "differential",
        NOW,
    )
    .map_err(|e| format!("admission failed: {e}"))?;
    let admitted = decided.refused.is_empty();
    let reason = decided.refused.first().map(|r| r.reason.clone());

    // the model, on the change's context rebuilt with fork_at
    let before = incoming.fork_at(change.deps()).map_err(|e| e.to_string())?;
    let after = incoming.fork_at(&[hash]).map_err(|e| e.to_string())?;
    let schemas = crate::schema::schemas().map_err(|e| e.to_string())?;
    let table: Value = serde_json::from_str(crate::permits::FILE).map_err(|e| e.to_string())?;
    let (role, teams): (&str, Vec<String>) = match maker {
        Maker::Hq | Maker::HqClient => ("hq", vec![]),
        Maker::Field1 | Maker::FieldClientViaHq | Maker::FieldClientViaField1 => ("field", vec!["GAEM-1".into()]),
        Maker::Field2 => ("field", vec!["GAEM-2".into()]),
        Maker::FieldClientViaField2 => ("field", vec![]),
    };
    let model_names = match gateway {
        Some(g) if client.is_some() => vec![label.clone(), g.public().node_id().to_string()],
        _ => vec![label.clone()],
    };
    let who = crate::permits::model::Who { role, names: model_names, teams };
    let permitted = crate::permits::model::allowed(&table, schemas, &id.to_string(), &who, &before, &after);
    // and the rules beside the permits: a record is created once; what a
    // change leaves is valid; frozen figures change only by HQ
    let recreated =
        base.is_some_and(|b| crate::record::envelope(b).is_some()) && crate::record::envelope(&before).is_none();
    let kind = crate::record::envelope(&after).map(|e| e.kind).unwrap_or_default();
    let valid = schemas.kind(&kind).is_ok_and(|s| s.validate(&crate::record::fields(&after)).is_ok());
    let frozen = role != "hq"
        && base.is_some_and(|b| {
            let Ok(schema) = schemas.kind(&kind) else { return false };
            let state = schema.lifecycle.as_ref().map(|lc| lc.fold(&crate::record::transitions(b)).state);
            let changed: Vec<Vec<String>> = {
                let (x, y) = (crate::permits::model::read(&before), crate::permits::model::read(&after));
                x.keys()
                    .chain(y.keys())
                    .filter(|p| p.len() > 1 && p[0] == "data" && x.get(*p) != y.get(*p))
                    .map(|p| p[1..].to_vec())
                    .collect()
            };
            !crate::amend::frozen_paths(schema, state.as_deref(), &changed).is_empty()
        });
    let expected = permitted && !recreated && valid && !frozen;
    let what = format!("{maker:?} on {} ({}), creating: {creating}, edits: {edits}", kind, id);
    if admitted != expected {
        return Err(format!(
            "admission {} but the model {} — {what}; admission's reason: {reason:?}; permitted {permitted}, recreated {recreated}, valid {valid}, frozen {frozen}\nbefore: {:?}\nafter: {:?}",
            if admitted { "admitted" } else { "refused" },
            if expected { "allows it" } else { "refuses it" },
            crate::permits::model::read(&before),
            crate::permits::model::read(&after),
        ));
    }
    Ok(Some(Case { admitted, reason, what }))
}

#[cfg(test)]
mod tests {
    //! Admission against the reference model, on generated changes.

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]
        /// Admitted ⇔ permitted (and valid, not a re-creation, not a frozen edit).
        #[test]
        fn admission_agrees_with_the_model(data in proptest::collection::vec(any::<u8>(), 0..160)) {
            if let Err(disagreement) = super::check(&data) {
                prop_assert!(false, "{}", disagreement);
            }
        }
    }

    /// The generator reaches both verdicts for every kind of author: a
    /// differential test that only ever refused (or admitted) would prove
    /// nothing.
    #[test]
    fn the_generator_reaches_admitted_and_refused_changes_of_every_author() {
        use std::collections::BTreeMap;
        let mut seen: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..4000 {
            let data: Vec<u8> = (0..96)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            match super::check(&data) {
                Err(d) => panic!("{d}"),
                Ok(None) => {}
                Ok(Some(case)) => {
                    let maker = case.what.split(' ').next().unwrap_or_default().to_string();
                    let e = seen.entry(maker).or_default();
                    if case.admitted {
                        e.0 += 1
                    } else {
                        e.1 += 1
                    }
                }
            }
        }
        assert_eq!(seen.len(), 7, "{seen:?}");
        for (maker, (admitted, refused)) in &seen {
            assert!(*admitted >= 10 && *refused >= 10, "{maker}: {admitted} admitted, {refused} refused");
        }
    }
}

//! Sneakernet: two field nodes that never connect exchange everything
//! through bundle files, in both directions, and converge; damaged bundles
//! are refused whole.

mod support;

use support::{assign_teams, heads, network, Ayni};

fn path(dir: &tempfile::TempDir, name: &str) -> String {
    dir.path().join(name).to_str().unwrap().to_string()
}

#[test]
fn two_nodes_that_never_meet_converge_through_bundles() {
    let (hq, field) = network(2);
    let (a, b) = (&field[0], &field[1]);
    let dir = tempfile::tempdir().unwrap();
    hq.ok(&["seed"]);
    assign_teams(&hq, &[a, b]);
    // HQ hands A everything on a stick
    let all = path(&dir, "hq-all.aynib");
    assert_eq!(hq.json(&["bundle", "export", &all, "--all"])["header"]["documents"], 113);
    let r = a.json(&["bundle", "import", &all]);
    assert_eq!(r["documents_changed"], 113);
    assert_eq!(heads(a), heads(&hq));
    // importing the same bundle twice changes nothing
    let before = heads(a);
    assert_eq!(a.json(&["bundle", "import", &all])["documents_changed"], 0);
    assert_eq!(heads(a), before);
    // A passes everything to B, who never meets anyone
    let a_all = path(&dir, "a-all.aynib");
    a.ok(&["bundle", "export", &a_all]);
    b.json(&["bundle", "import", &a_all]);
    assert_eq!(heads(b), heads(a));
    // both work offline; each sends the other only what changed since
    a.ok(&["set", "edan:edan-sama-1", "tallies.z3.GAEM-1.families_affected=11"]);
    b.ok(&["set", "edan:edan-sama-1", "tallies.z3.GAEM-2.families_affected=8"]);
    b.add(&["person", "--key", "p-ana", "--set", "full_name=Ana Quispe"]);
    let b_id = b.json(&["id"])["node_id"].as_str().unwrap().to_string();
    let a_id = a.json(&["id"])["node_id"].as_str().unwrap().to_string();
    // B learned what A holds from A's bundle: it sends only its changes
    let b_to_a = path(&dir, "b-to-a.aynib");
    let r = b.json(&["bundle", "export", &b_to_a, "--since", &a_id]);
    assert_eq!(r["header"]["documents"], 2, "the EDAN and the new person: {r}");
    a.ok(&["bundle", "import", &b_to_a]);
    // and now A knows what B holds: only the merged EDAN goes back
    let a_to_b = path(&dir, "a-to-b.aynib");
    let r = a.json(&["bundle", "export", &a_to_b, "--since", &b_id]);
    assert_eq!(r["header"]["documents"], 1, "only the merged EDAN: {r}");
    b.ok(&["bundle", "import", &a_to_b]);
    assert_eq!(heads(a), heads(b));
    let report = a.json(&["report", "edan:edan-sama-1"]);
    assert_eq!(report["zones"][2]["observations"]["GAEM-1"]["families_affected"], 11);
    assert_eq!(report["zones"][2]["observations"]["GAEM-2"]["families_affected"], 8);
}

#[test]
fn tampered_truncated_and_foreign_bundles_are_refused_whole() {
    let (hq, field) = network(1);
    let a = &field[0];
    hq.ok(&["seed"]);
    let dir = tempfile::tempdir().unwrap();
    let good = path(&dir, "good.aynib");
    hq.ok(&["bundle", "export", &good]);
    let bytes = std::fs::read(&good).unwrap();
    let before = heads(a);
    for (name, bad) in [
        ("flipped", {
            let mut b = bytes.clone();
            let i = b.len() / 2;
            b[i] ^= 0x01;
            b
        }),
        ("truncated", bytes[..bytes.len() - 100].to_vec()),
        ("header-only", bytes[..40].to_vec()),
        ("not-a-bundle", b"PK\x03\x04 this is a zip".to_vec()),
    ] {
        let p = path(&dir, name);
        std::fs::write(&p, bad).unwrap();
        let err = a.fails(&["bundle", "import", &p], 2);
        assert!(err.contains("bundle refused: ") && err.contains("nothing was written"), "{name}: {err}");
        assert_eq!(heads(a), before, "{name} wrote something");
    }
    // a bundle of another network
    let (other, _) = network(0);
    other.ok(&["seed"]);
    let foreign = path(&dir, "foreign.aynib");
    other.ok(&["bundle", "export", &foreign]);
    let err = a.fails(&["bundle", "import", &foreign], 2);
    assert!(err.contains("from network"), "{err}");
    assert_eq!(heads(a), before);
    // the good one still works
    a.ok(&["bundle", "import", &good]);
    assert_eq!(heads(a), heads(&hq));
    let _ = Ayni::empty();
}

#[test]
fn field_limits_are_refused_locally_and_refusals_on_receipt_are_audited() {
    let (hq, field) = network(2);
    let (a, lost) = (&field[0], &field[1]);
    hq.ok(&["seed"]);
    assign_teams(&hq, &[a, lost]);
    let dir = tempfile::tempdir().unwrap();
    let all = path(&dir, "all.aynib");
    hq.ok(&["bundle", "export", &all]);
    a.ok(&["bundle", "import", &all]);
    lost.ok(&["bundle", "import", &all]);
    // a field node is told at once what its role does not allow; nothing is written
    let before = heads(a);
    let err = a.fails(&["set", "practice:BP-MMS", "title_es=Otro modelo"], 2);
    assert!(err.contains("not allowed: role: field may not change title_es in practice records"), "{err}");
    let err = a.fails(&["set", "edan:edan-sama-1", "tallies.z2.GAEM-2.dead=3"], 2);
    assert!(err.contains("may not change tallies.z2.GAEM-2.dead in edan records"), "{err}");
    let err = a.fails(&["add", "team", "--key", "GAEM-9", "--set", "name=GAEM-9"], 2);
    assert!(err.contains("role: field may not create team records"), "{err}");
    assert_eq!(heads(a), before);
    // HQ revokes the lost laptop; A learns of it by bundle
    let lost_id = lost.json(&["id"])["node_id"].as_str().unwrap().to_string();
    hq.ok(&["revoke", &lost_id, "--reason", "lost"]);
    let rev = path(&dir, "rev.aynib");
    hq.ok(&["bundle", "export", &rev]);
    a.ok(&["bundle", "import", &rev]);
    // what the lost laptop writes afterwards reaches A on a stick, and is refused
    lost.ok(&["set", "edan:edan-sama-1", "tallies.z1.GAEM-2.dead=5"]);
    let stick = path(&dir, "stick.aynib");
    lost.ok(&["bundle", "export", &stick]);
    let r = a.json(&["bundle", "import", &stick]);
    assert_eq!(r["changes_refused"], 1, "{r}");
    let audit = a.json(&["audit"]);
    assert_eq!(audit.as_array().unwrap().len(), 1, "{audit}");
    assert!(audit[0]["reason"].as_str().unwrap().contains("was revoked"), "{audit}");
    assert_eq!(audit[0]["author"], lost_id.as_str());
    assert!(a.ok(&["audit"]).contains("was revoked"));
    assert_eq!(a.json(&["report", "edan:edan-sama-1"])["zones"][0]["observations"]["GAEM-2"], serde_json::Value::Null);
}

/// A raw DEFLATE chunk of automerge's "compressed change" type that
/// inflates to `size` bytes of zeros: a few kilobytes on the stick.
fn deflate_bomb(size: usize) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::DeflateEncoder::new(vec![], flate2::Compression::best());
    enc.write_all(&vec![0u8; size]).unwrap();
    let body = enc.finish().unwrap();
    let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2];
    let mut len = body.len() as u64;
    loop {
        let b = (len & 0x7f) as u8;
        len >>= 7;
        chunk.push(if len == 0 { b } else { b | 0x80 });
        if len == 0 {
            break;
        }
    }
    chunk.extend(&body);
    chunk
}

#[test]
fn a_bundle_carrying_a_compression_bomb_is_refused_whole_and_the_node_unharmed() {
    use ayni_node::sync::wire::Frame;
    use sha2::Digest;
    let (hq, field) = network(1);
    let a = &field[0];
    hq.ok(&["seed"]);
    let dir = tempfile::tempdir().unwrap();
    let good = path(&dir, "good.aynib");
    hq.ok(&["bundle", "export", &good, "--all"]);
    // the same bundle, re-sealed, with one document's bytes swapped for a bomb
    let bytes = std::fs::read(&good).unwrap();
    let hlen = u32::from_be_bytes(bytes[9..13].try_into().unwrap()) as usize;
    let at = 13 + hlen;
    let blen = u64::from_be_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
    let raw = zstd::stream::decode_all(&bytes[at + 8..at + 8 + blen]).unwrap();
    let (mut frames, mut rest, mut swapped) = (vec![], &raw[..], false);
    while !rest.is_empty() {
        let len = Frame::body_len(rest[..4].try_into().unwrap()).unwrap();
        let frame = match Frame::decode(&rest[4..4 + len]).unwrap() {
            Frame::DocFull(id, _) if !swapped => {
                swapped = true;
                Frame::DocFull(id, deflate_bomb(512 << 20))
            }
            f => f,
        };
        frame.encode(&mut frames);
        rest = &rest[4 + len..];
    }
    let body = zstd::stream::encode_all(&frames[..], 3).unwrap();
    let mut out = bytes[..at].to_vec();
    out.extend((body.len() as u64).to_be_bytes());
    out.extend(&body);
    out.extend(sha2::Sha256::digest(&out));
    assert!(out.len() < bytes.len() + 1024 * 1024, "the bomb is small on the stick");
    let bomb = path(&dir, "bomb.aynib");
    std::fs::write(&bomb, &out).unwrap();
    let before = heads(a);
    let s = a.serve();
    let err = a.fails(&["bundle", "import", &bomb], 2);
    assert!(err.contains("inflates to more than 64 MiB"), "{err}");
    assert_eq!(heads(a), before, "nothing of it was written");
    assert!(a.json(&["status"])["serving"].is_object(), "the serving node is unharmed");
    a.ok(&["bundle", "import", &good]);
    drop(s);
}

/// After a sync over QUIC, a laptop's bundle for its peer carries only
/// what changed since: nothing after the sync, exactly the edited record
/// after an edit, and nothing again after the next sync — nor in the
/// serving side's bundle for the laptop, until it edits the record itself.
#[test]
fn a_bundle_since_a_sync_carries_only_what_changed_after_it() {
    let (hq, field) = network(1);
    let a = &field[0];
    let dir = tempfile::tempdir().unwrap();
    hq.ok(&["seed"]);
    assign_teams(&hq, &[a]);
    let hq_id = hq.json(&["id"])["node_id"].as_str().unwrap().to_string();
    let documents = |name: &str| {
        let file = path(&dir, name);
        a.json(&["bundle", "export", &file, "--since", &hq_id])["header"]["documents"].as_u64().unwrap()
    };
    let s = hq.serve();
    assert!(a.json(&["sync", &s.addr])["docs_received"].as_u64().unwrap() > 100);
    assert_eq!(documents("after-sync.aynib"), 0, "HQ holds everything the laptop holds");
    a.ok(&["set", "edan:edan-sama-1", "tallies.z3.GAEM-1.families_affected=11"]);
    assert_eq!(documents("after-edit.aynib"), 1, "only the edited EDAN");
    a.json(&["sync", &s.addr]);
    assert_eq!(documents("after-second-sync.aynib"), 0);
    // and the serving side, which took the edit in that session, vouches
    // for it as it arrived: its bundle for the laptop carries nothing
    let a_id = a.json(&["id"])["node_id"].as_str().unwrap().to_string();
    let file = path(&dir, "hq-after-second-sync.aynib");
    let hq_documents =
        || hq.json(&["bundle", "export", &file, "--since", &a_id])["header"]["documents"].as_u64().unwrap();
    // (the serving side records the session once its connection closes,
    // which may be after the laptop's command returns)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while hq_documents() != 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(hq_documents(), 0);
    // a write there by another door while no session runs: exactly it
    hq.ok(&["set", "edan:edan-sama-1", "tallies.z3.GAEM-1.families_affected=12"]);
    assert_eq!(hq_documents(), 1);
    assert!(s.stop().success());
}

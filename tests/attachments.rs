//! Photos and documents as content-addressed attachments, through the
//! real binary and the real HTTP socket: EXIF time and place read, blobs
//! verified on the way in and on `ayni check`, a tampered or mismatched
//! blob refused whole, limits and media types enforced, read rights
//! respected.

mod support;

use exif::experimental::Writer;
use exif::{Field, In, Rational, Tag, Value as Exif};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use support::http::request;
use support::Ayni;

/// A JPEG as a phone writes it: EXIF with when (and its offset) and where
/// (21°28'48" S, 64°48' W: the Sama fire), then the image data.
fn photo(extra: usize) -> Vec<u8> {
    let ascii = |tag, s: &str| Field { tag, ifd_num: In::PRIMARY, value: Exif::Ascii(vec![s.as_bytes().to_vec()]) };
    let dms = |tag, d: u32, m: u32, s: u32| Field {
        tag,
        ifd_num: In::PRIMARY,
        value: Exif::Rational(vec![Rational::from((d, 1)), Rational::from((m, 1)), Rational::from((s, 1))]),
    };
    let fields = [
        ascii(Tag::DateTimeOriginal, "2026:11:20 10:20:30"),
        ascii(Tag::OffsetTimeOriginal, "-04:00"),
        dms(Tag::GPSLatitude, 21, 28, 48),
        ascii(Tag::GPSLatitudeRef, "S"),
        dms(Tag::GPSLongitude, 64, 48, 0),
        ascii(Tag::GPSLongitudeRef, "W"),
    ];
    let mut w = Writer::new();
    for f in &fields {
        w.push_field(f);
    }
    let mut tiff = std::io::Cursor::new(vec![]);
    w.write(&mut tiff, false).unwrap();
    let tiff = tiff.into_inner();
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE1];
    jpeg.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
    jpeg.extend_from_slice(b"Exif\0\0");
    jpeg.extend_from_slice(&tiff);
    jpeg.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x02]);
    jpeg.extend((0..extra).map(|i| (i * 7 % 251) as u8));
    jpeg.extend_from_slice(&[0xFF, 0xD9]);
    jpeg
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_photo_is_attached_with_its_exif_verified_and_checked() {
    let a = Ayni::new("hq");
    a.ok(&["seed"]);
    let dir = tempfile::tempdir().unwrap();
    let bytes = photo(4000);
    let file = dir.path().join("z1-casa.jpg");
    std::fs::write(&file, &bytes).unwrap();
    let hash = hex(&bytes);

    let out = a.json(&["attach", "edan:edan-sama-1", file.to_str().unwrap(), "--caption", "Vivienda destruida, z1"]);
    assert_eq!(out["blob"], json!({"hash": hash, "size": bytes.len(), "mime": "image/jpeg"}));
    assert_eq!(out["path"], format!("attachments.{hash}"));
    let entry = &a.json(&["get", "edan:edan-sama-1"])["fields"]["attachments"][&hash];
    assert_eq!(entry["caption"], "Vivienda destruida, z1");
    assert_eq!(entry["name"], "z1-casa.jpg");
    assert_eq!(entry["author"], "hq");
    assert_eq!(entry["captured_at"], "2026-11-20T10:20:30-04:00");
    assert_eq!(entry["geo"]["lat"], json!(-21.48));
    assert_eq!(entry["geo"]["lon"], json!(-64.8));
    // the same photo again is the same entry and the same blob
    let again = a.json(&["attach", "edan:edan-sama-1", file.to_str().unwrap()]);
    assert_eq!(again["new_blob"], json!(false));

    let listed = a.json(&["blob", "list"]);
    assert_eq!(listed[0]["hash"], hash);
    assert_eq!(listed[0]["references"], json!([{"kind": "edan", "key": "edan-sama-1", "field": "attachments"}]));
    let back = dir.path().join("back.jpg");
    a.ok(&["blob", "get", &hash, "-o", back.to_str().unwrap()]);
    assert_eq!(std::fs::read(&back).unwrap(), bytes);
    let check = a.json(&["check"]);
    assert_eq!((check["blobs"].as_u64(), check["damaged_blobs"].as_array().unwrap().len()), (Some(1), 0));

    // refused, nothing written: not a photo or PDF, over the limit, a
    // field that takes no attachments, a kind that has none
    let before = a.json(&["get", "edan:edan-sama-1"]);
    let script = dir.path().join("run.sh");
    std::fs::write(&script, "#!/bin/sh\nrm -rf /\n").unwrap();
    let e = a.fails(&["attach", "edan:edan-sama-1", script.to_str().unwrap()], 2);
    assert!(e.contains("run.sh") && e.contains("image/jpeg"), "{e}");
    let big = dir.path().join("big.jpg");
    std::fs::write(&big, photo(1_200_000)).unwrap();
    let e = a.fails(&["attach", "edan:edan-sama-1", big.to_str().unwrap(), "--max-blob-mb", "1"], 2);
    assert!(e.contains("big.jpg"), "{e}");
    let e = a.fails(&["attach", "edan:edan-sama-1", file.to_str().unwrap(), "--field", "needs"], 2);
    assert!(e.contains("takes: attachments"), "{e}");
    a.fails(&["attach", "event:ev-sama", file.to_str().unwrap()], 2);
    assert_eq!(a.json(&["get", "edan:edan-sama-1"]), before);
    assert_eq!(a.json(&["blob", "list"]).as_array().unwrap().len(), 1);
    let e = a.fails(&["blob", "get", "abc", "-o", back.to_str().unwrap()], 2);
    assert!(e.contains("SHA-256"), "{e}");

    // a blob changed on disk: check names it (exit 1), get refuses it
    let stored = a.home().join("blobs/sha256").join(&hash[..2]).join(&hash);
    std::fs::write(&stored, b"not the photo").unwrap();
    let out = a.run(&["check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("damaged blob: {hash}")));
    let out = a.run(&["blob", "get", &hash, "-o", dir.path().join("x.jpg").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!dir.path().join("x.jpg").exists());
}

#[test]
fn the_http_api_takes_and_serves_blobs_within_limits_and_rights() {
    let a = Ayni::new("hq");
    a.ok(&["seed"]);
    a.ok(&["network", "create", "--name", "gamlp"]);
    let token = |name: &str, role: &str, extra: &[&str]| {
        let mut args = vec!["client", "add", name, "--role", role];
        args.extend_from_slice(extra);
        a.json(&args)["token"].as_str().unwrap().to_string()
    };
    let (field, reader, partner) = (
        token("tablet", "field", &[]),
        token("panel", "read", &[]),
        token("tarija", "read", &["--entity", "e-tarija-gam"]),
    );
    let s = a.serve_with(&["--http", "127.0.0.1:0", "--max-blob-mb", "1"]);
    let http = s.http.clone().unwrap();
    let bytes = photo(2000);
    let hash = hex(&bytes);
    let path = format!("/api/v1/blobs/{hash}");

    let put = request(&http, "PUT", &path, Some(&field), Some(&bytes));
    assert_eq!(put.status, 201, "{}", String::from_utf8_lossy(&put.body));
    assert_eq!(put.json(), json!({"hash": hash, "size": bytes.len(), "mime": "image/jpeg"}));
    assert_eq!(request(&http, "PUT", &path, Some(&field), Some(&bytes)).status, 200, "idempotent");

    // refused whole: bytes that hash otherwise, over the limit, a script,
    // a read-only client, no token
    let other = photo(2001);
    let bad = request(&http, "PUT", &path.replace(&hash[..8], "00000000"), Some(&field), Some(&other));
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"]["message"].as_str().unwrap().contains("refused whole"));
    let big = photo(1_100_000);
    let too_big = request(&http, "PUT", &format!("/api/v1/blobs/{}", hex(&big)), Some(&field), Some(&big));
    assert_eq!(too_big.status, 413);
    assert_eq!(too_big.json()["error"]["kind"], "too_large");
    let script = b"<script>alert(1)</script>".to_vec();
    let html = request(&http, "PUT", &format!("/api/v1/blobs/{}", hex(&script)), Some(&field), Some(&script));
    assert_eq!(html.status, 415);
    assert_eq!(
        request(&http, "PUT", &format!("/api/v1/blobs/{}", hex(&other)), Some(&reader), Some(&other)).status,
        403
    );
    assert_eq!(request(&http, "PUT", &format!("/api/v1/blobs/{}", hex(&other)), None, Some(&other)).status, 401);
    let listed: Vec<String> =
        a.json(&["blob", "list"]).as_array().unwrap().iter().map(|b| b["hash"].as_str().unwrap().to_string()).collect();
    assert_eq!(listed, [hash.clone()], "nothing refused was kept");

    // referenced from a record by a PATCH; served as a download, verified
    let entry = json!({"hash": hash, "mime": "image/jpeg", "size": bytes.len(), "caption": "z2"});
    let body = json!({"set": {format!("attachments.{hash}"): entry}}).to_string();
    let patched = request(&http, "PATCH", "/api/v1/records/edan/edan-sama-1", Some(&field), Some(body.as_bytes()));
    assert_eq!(patched.status, 200, "{}", String::from_utf8_lossy(&patched.body));
    let got = request(&http, "GET", &path, Some(&reader), None);
    assert_eq!(got.status, 200);
    assert_eq!(got.body, bytes);
    assert_eq!(got.header("content-type"), Some("image/jpeg"));
    assert_eq!(got.header("x-content-type-options"), Some("nosniff"));
    assert!(got.header("content-disposition").unwrap().starts_with("attachment"));
    // a partner reads no EDAN, so not its photos either
    assert_eq!(request(&http, "GET", &path, Some(&partner), None).status, 404);
    assert_eq!(request(&http, "GET", "/api/v1/blobs/nothex", Some(&reader), None).status, 400);
    assert_eq!(request(&http, "GET", &format!("/api/v1/blobs/{}", "a".repeat(64)), Some(&reader), None).status, 404);
    // the CLI through the serving node sees the same
    let listed = a.json(&["blob", "list"]);
    assert_eq!(listed[0]["references"][0]["key"], Value::from("edan-sama-1"));
}

mod replication {
    use super::*;
    use std::time::{Duration, Instant};
    use support::link::{self, Profile};
    use support::{network, Served};

    fn slow(rate_bps: u64) -> Profile {
        Profile {
            delay: Duration::from_millis(20),
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            rate_bps,
            outage: None,
            queue: Duration::ZERO,
        }
    }

    /// HQ and a field node holding the seed, the field node with a photo
    /// of `size` bytes attached to the EDAN.
    fn field_with_photo(size: usize) -> (Ayni, Ayni, Vec<u8>, String) {
        let (hq, mut field) = network(1);
        let a = field.remove(0);
        hq.ok(&["seed"]);
        {
            let s = hq.serve();
            a.ok(&["sync", &s.addr]);
        }
        let bytes = photo(size);
        let file = a.dir.path().join("foto.jpg");
        std::fs::write(&file, &bytes).unwrap();
        a.ok(&["attach", "edan:edan-sama-1", file.to_str().unwrap()]);
        let hash = hex(&bytes);
        (hq, a, bytes, hash)
    }

    /// HQ serving with a 3 s stall timeout, reached through a link of
    /// `rate_bps` (the link lives on the runtime returned with it).
    fn behind_slow_link(hq: &Ayni, rate_bps: u64, seed: u64) -> (Served, tokio::runtime::Runtime, link::Link) {
        let served = hq.serve_with(&["--stall-timeout", "3"]);
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let proxy = rt.block_on(link::start(served.addr.parse().unwrap(), slow(rate_bps), seed));
        (served, rt, proxy)
    }

    #[test]
    fn blobs_follow_their_records_and_a_cut_transfer_resumes_where_it_stopped() {
        let (hq, a, bytes, hash) = field_with_photo(1_500_000);
        let (served, _rt, proxy) = behind_slow_link(&hq, 1_000_000, 7);
        // sync through a 1 Mbit/s link; cut it once part of the photo is kept
        let child = a
            .cmd(&["--json", "sync", &proxy.addr.to_string(), "--stall-timeout", "3"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let partial = hq.home().join("blobs/partial").join(&hash);
        let started = Instant::now();
        while std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0) < 256 * 1024 {
            assert!(started.elapsed() < Duration::from_secs(60), "no piece of the photo arrived");
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(proxy);
        let out = child.wait_with_output().unwrap();
        assert_ne!(out.status.code(), Some(0), "the cut sync cannot have succeeded");
        // the record arrived first; the photo's first pieces are kept
        assert!(hq.json(&["get", "edan:edan-sama-1"])["fields"]["attachments"].get(&hash).is_some());
        let kept = std::fs::metadata(&partial).unwrap().len();
        assert!(kept > 0 && kept < bytes.len() as u64, "{kept}");
        assert!(hq.json(&["blob", "list"]).as_array().unwrap().is_empty(), "nothing unverified is a blob");

        // the next sync sends only the rest; the whole is verified
        let r = a.json(&["sync", &served.addr]);
        let now_kept = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
        assert_eq!(now_kept, 0, "the partial file is gone once the blob is whole");
        assert_eq!(r["blobs"]["sent"], 1, "{r}");
        let resent = r["blobs"]["bytes_sent"].as_u64().unwrap();
        assert!(resent <= bytes.len() as u64 - kept, "resumed at {kept}: sent {resent} of {}", bytes.len());
        let back = hq.dir.path().join("back.jpg");
        hq.ok(&["blob", "get", &hash, "-o", back.to_str().unwrap()]);
        assert_eq!(std::fs::read(&back).unwrap(), bytes);
        let check = hq.json(&["check"]);
        assert_eq!((check["blobs"].as_u64(), check["missing_blobs"].as_array().unwrap().len()), (Some(1), 0));
    }

    /// At 500 kbit/s a 256 KiB piece takes over 4 s to arrive: the stall
    /// timeout (3 s) is about a link that goes quiet, not a slow one.
    #[test]
    fn a_photo_crosses_a_link_slower_than_a_piece_per_stall_timeout() {
        let (hq, a, bytes, hash) = field_with_photo(300_000);
        let (_served, _rt, proxy) = behind_slow_link(&hq, 500_000, 11);
        let r = a.json(&["sync", &proxy.addr.to_string(), "--stall-timeout", "3"]);
        assert_eq!(
            (r["blobs"]["sent"].as_u64(), r["blobs"]["bytes_sent"].as_u64()),
            (Some(1), Some(bytes.len() as u64)),
            "{r}"
        );
        let back = hq.dir.path().join("back.jpg");
        hq.ok(&["blob", "get", &hash, "-o", back.to_str().unwrap()]);
        assert_eq!(std::fs::read(&back).unwrap(), bytes);
    }

    #[test]
    fn a_tampered_blob_is_refused_whole_and_a_node_may_decline_blobs() {
        let (hq, a, _bytes, hash) = field_with_photo(600_000);
        // the field node's copy changed on disk: HQ verifies and refuses it
        let stored = a.home().join("blobs/sha256").join(&hash[..2]).join(&hash);
        let mut tampered = std::fs::read(&stored).unwrap();
        tampered[300_000] ^= 0xff;
        std::fs::write(&stored, &tampered).unwrap();
        {
            let served = hq.serve();
            a.ok(&["sync", &served.addr]);
        }
        assert!(hq.json(&["blob", "list"]).as_array().unwrap().is_empty());
        assert!(!hq.home().join("blobs/partial").join(&hash).exists());
        assert_eq!(hq.json(&["check"])["missing_blobs"], json!([hash]));

        // the field node repairs its copy (the photo again); a HQ that
        // declines blobs still takes nothing, one that takes them gets it
        std::fs::remove_file(&stored).unwrap();
        let file = a.dir.path().join("foto.jpg");
        a.ok(&["attach", "edan:edan-sama-1", file.to_str().unwrap()]);
        {
            let served = hq.serve_with(&["--blobs", "none"]);
            let r = a.json(&["sync", &served.addr]);
            assert_eq!(r["blobs"]["sent"], 0, "{r}");
        }
        assert!(hq.json(&["blob", "list"]).as_array().unwrap().is_empty());
        {
            let served = hq.serve();
            let r = a.json(&["sync", &served.addr, "--blobs", "none"]);
            assert_eq!(r["blobs"]["sent"], 0, "a field node that declines sends none either: {r}");
            a.ok(&["sync", &served.addr]);
        }
        assert_eq!(hq.json(&["blob", "list"])[0]["hash"], hash);
    }
}

#[test]
fn a_bundle_with_blobs_carries_the_photos_verified_all_or_nothing() {
    let (hq, mut field) = support::network(1);
    let a = field.remove(0);
    hq.ok(&["seed"]);
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.bundle");
    hq.ok(&["bundle", "export", seed.to_str().unwrap()]);
    a.ok(&["bundle", "import", seed.to_str().unwrap()]);
    let bytes = photo(50_000);
    let file = dir.path().join("foto.jpg");
    std::fs::write(&file, &bytes).unwrap();
    a.ok(&["attach", "edan:edan-sama-1", file.to_str().unwrap()]);
    let hash = hex(&bytes);

    // without --with-blobs the record travels, the photo does not
    let plain = dir.path().join("plain.bundle");
    a.ok(&["bundle", "export", plain.to_str().unwrap()]);
    let with = dir.path().join("with.bundle");
    let out = a.json(&["bundle", "export", with.to_str().unwrap(), "--with-blobs"]);
    assert_eq!(out["blobs"], 1, "{out}");
    assert_eq!(std::fs::read(&with).unwrap()[8], 4, "format 4");

    // a blob altered inside the bundle, checksum made to match: refused whole
    let mut altered = std::fs::read(&with).unwrap();
    let n = altered.len();
    altered[n - 32 - 1000] ^= 0x55;
    let sum = Sha256::digest(&altered[..n - 32]);
    altered[n - 32..].copy_from_slice(&sum);
    let bad = dir.path().join("altered.bundle");
    std::fs::write(&bad, &altered).unwrap();
    let before = hq.json(&["get", "edan:edan-sama-1"]);
    let e = hq.fails(&["bundle", "import", bad.to_str().unwrap()], 2);
    assert!(e.contains("blob") && e.contains("nothing was written"), "{e}");
    assert_eq!(hq.json(&["get", "edan:edan-sama-1"]), before);
    assert!(hq.json(&["blob", "list"]).as_array().unwrap().is_empty());

    let r = hq.json(&["bundle", "import", with.to_str().unwrap()]);
    assert_eq!(r["blobs"], 1, "{r}");
    let back = dir.path().join("back.jpg");
    hq.ok(&["blob", "get", &hash, "-o", back.to_str().unwrap()]);
    assert_eq!(std::fs::read(&back).unwrap(), bytes);
    assert_eq!(hq.json(&["bundle", "import", with.to_str().unwrap()])["blobs"], 0, "twice changes nothing");
    hq.ok(&["bundle", "import", plain.to_str().unwrap()]);
}
